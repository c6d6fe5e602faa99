// A real listening TCP socket on 127.0.0.1 that never accepts (the kernel
// completes connects into the backlog): a dependency tests can open, close
// and reopen on the same port. CLOEXEC, so processes a test starts do not
// inherit (and keep open) it.
#ifndef CROSSBRIDGE_TESTS_TESTING_TCP_LISTENER_H_
#define CROSSBRIDGE_TESTS_TESTING_TCP_LISTENER_H_

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace crossbridge::testing {

class TcpListener {
 public:
  TcpListener() = default;
  TcpListener(const TcpListener&) = delete;
  TcpListener& operator=(const TcpListener&) = delete;
  ~TcpListener() { Close(); }

  // Open(0) binds a free port; Open(port) rebinds a known one.
  absl::Status Open(int port = 0) {
    Close();
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return absl::InternalError("socket");
    int one = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(fd_, 64) != 0) {
      Close();
      return absl::UnavailableError(absl::StrCat("bind/listen 127.0.0.1:", port));
    }
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    return absl::OkStatus();
  }

  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  int fd() const { return fd_; }
  int port() const { return port_; }
  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_TCP_LISTENER_H_
