// tcp: a non-blocking connect() to host:port, bounded by the timeout with
// poll(). Every address getaddrinfo returns is tried in turn within the one
// budget. Name resolution itself is blocking (getaddrinfo has no timeout);
// with numeric hosts, as in the shipped config, it never touches the network.
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "server/health/probers_internal.h"

namespace crossbridge {
namespace health_internal {
namespace {

struct AddrInfoDeleter {
  void operator()(addrinfo* ai) const { freeaddrinfo(ai); }
};
using AddrInfoPtr = std::unique_ptr<addrinfo, AddrInfoDeleter>;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string AddrText(const sockaddr* addr, socklen_t len) {
  char host[NI_MAXHOST], port[NI_MAXSERV];
  if (getnameinfo(addr, len, host, sizeof(host), port, sizeof(port),
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    return "?";
  }
  return addr->sa_family == AF_INET6 ? absl::StrCat("[", host, "]:", port)
                                     : absl::StrCat(host, ":", port);
}

// One address: OK, or the failure (DEADLINE_EXCEEDED when `deadline` passes).
absl::Status ConnectOne(const addrinfo& ai, absl::Time deadline,
                        absl::Duration timeout) {
  std::string where = AddrText(ai.ai_addr, ai.ai_addrlen);
  Fd fd(socket(ai.ai_family, ai.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
               ai.ai_protocol));
  if (fd.get() < 0) {
    return absl::UnavailableError(
        absl::StrCat("socket for ", where, ": ", std::strerror(errno)));
  }
  if (connect(fd.get(), ai.ai_addr, ai.ai_addrlen) == 0) return absl::OkStatus();
  if (errno != EINPROGRESS) {
    return absl::UnavailableError(
        absl::StrCat("connect ", where, ": ", std::strerror(errno)));
  }
  for (;;) {
    auto left = absl::ToChronoMilliseconds(
        absl::Ceil(deadline - RealClock::Get().MonotonicNow(), absl::Milliseconds(1)));
    if (left.count() <= 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("connect ", where, ": ", TimedOut(timeout)));
    }
    pollfd p{fd.get(), POLLOUT, 0};
    int n = poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(
          absl::StrCat("poll ", where, ": ", std::strerror(errno)));
    }
    if (n == 0) continue;  // the deadline check above answers
    int err = 0;
    socklen_t err_len = sizeof(err);
    if (getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
      err = errno;
    }
    if (err == 0) return absl::OkStatus();
    return absl::UnavailableError(
        absl::StrCat("connect ", where, ": ", std::strerror(err)));
  }
}

}  // namespace

absl::Status TcpProber::Probe(const HealthProviderConfig& provider,
                              absl::Duration timeout) const {
  // Real sockets: the process clock (monotonic), not an injected one.
  const absl::Time deadline = RealClock::Get().MonotonicNow() + timeout;
  absl::StatusOr<HostPort> hp = ParseHostPort(provider.target);
  if (!hp.ok()) return hp.status();

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* raw = nullptr;
  std::string port = std::to_string(hp->port);
  int rc = getaddrinfo(hp->host.c_str(), port.c_str(), &hints, &raw);
  AddrInfoPtr list(raw);
  if (rc != 0) {
    return absl::UnavailableError(absl::StrCat(
        "resolve ", hp->host, ": ",
        rc == EAI_SYSTEM ? std::strerror(errno) : gai_strerror(rc)));
  }
  absl::Status last = absl::UnavailableError(
      absl::StrCat("resolve ", hp->host, ": no addresses"));
  for (const addrinfo* ai = list.get(); ai != nullptr; ai = ai->ai_next) {
    last = ConnectOne(*ai, deadline, timeout);
    if (last.ok() || absl::IsDeadlineExceeded(last)) return last;
  }
  return last;
}

}  // namespace health_internal
}  // namespace crossbridge
