#include "tests/testing/redis_server.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace crossbridge::testing {
namespace {

constexpr char kHost[] = "127.0.0.1";
constexpr absl::Duration kReadyTimeout = absl::Seconds(5);
constexpr absl::Duration kCommandTimeout = absl::Seconds(5);
constexpr int kPortAttempts = 5;

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, ContextDeleter>;
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// /usr/bin/redis-server, else the first executable redis-server on PATH.
std::string FindRedisServer() {
  constexpr char kDefault[] = "/usr/bin/redis-server";
  if (access(kDefault, X_OK) == 0) return kDefault;
  const char* path = getenv("PATH");
  if (path == nullptr) return "";
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/redis-server");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// Whether 127.0.0.1:port can be bound now.
bool CanBind(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// For a cluster node: a port below the kernel's ephemeral range whose
// cluster bus port (+10000) is free too.
absl::StatusOr<int> ProbeFreeClusterPort() {
  static std::atomic<uint32_t> counter{0};
  std::minstd_rand rng(static_cast<uint32_t>(getpid()) * 7919u + counter++);
  std::uniform_int_distribution<int> pick(20000, 31999);
  for (int i = 0; i < 200; ++i) {
    const int port = pick(rng);
    if (CanBind(port) && CanBind(port + 10000)) return port;
  }
  return absl::UnavailableError("no free port pair (p, p + 10000) in 20000..41999");
}

// A port that was free a moment ago: bind 127.0.0.1:0, read it, close.
absl::StatusOr<int> ProbeFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int saved = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("bind/getsockname: ", strerror(saved)));
  }
  close(fd);
  return ntohs(addr.sin_port);
}

absl::Status IoError(const redisContext& c, int saved_errno) {
  if (c.err == REDIS_ERR_IO &&
      (saved_errno == EAGAIN || saved_errno == EWOULDBLOCK)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "redis: no reply within ", absl::FormatDuration(kCommandTimeout)));
  }
  return absl::UnavailableError(absl::StrCat("redis: ", c.errstr));
}

void Render(const redisReply& r, std::string& out) {
  switch (r.type) {
    case REDIS_REPLY_INTEGER:
      absl::StrAppend(&out, r.integer);
      break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
      out.append(r.str, r.len);
      break;
    case REDIS_REPLY_NIL:
      out.append("(nil)");
      break;
    case REDIS_REPLY_ERROR:
      absl::StrAppend(&out, "(error) ", absl::string_view(r.str, r.len));
      break;
    case REDIS_REPLY_ARRAY:
      for (size_t i = 0; i < r.elements; ++i) {
        if (i > 0) out.push_back(' ');
        Render(*r.element[i], out);
      }
      break;
    default:
      absl::StrAppend(&out, "(reply type ", r.type, ")");
  }
}

// Sends one command on `c` and reads its reply; an error reply is UNKNOWN.
absl::StatusOr<ReplyPtr> Run(redisContext& c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> argvlen;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    argvlen.push_back(a.size());
  }
  errno = 0;
  ReplyPtr reply(static_cast<redisReply*>(redisCommandArgv(
      &c, static_cast<int>(argv.size()), argv.data(), argvlen.data())));
  int saved_errno = errno;
  if (reply == nullptr) return IoError(c, saved_errno);
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::UnknownError(std::string(reply->str, reply->len));
  }
  return reply;
}

// A connection to 127.0.0.1:port, authenticated when `password` is set.
absl::StatusOr<ContextPtr> Connect(int port, const std::string& password,
                                   absl::Duration connect_timeout) {
  ContextPtr c(redisConnectWithTimeout(kHost, port, absl::ToTimeval(connect_timeout)));
  if (c == nullptr) return absl::ResourceExhaustedError("redis: out of memory");
  if (c->err) {
    return absl::UnavailableError(
        absl::StrCat("redis: connect to ", kHost, ":", port, ": ", c->errstr));
  }
  if (redisSetTimeout(c.get(), absl::ToTimeval(kCommandTimeout)) != REDIS_OK) {
    return absl::InternalError("redis: cannot set the I/O timeout");
  }
  if (!password.empty()) {
    absl::StatusOr<ReplyPtr> auth = Run(*c, {"AUTH", password});
    if (!auth.ok()) return auth.status();
  }
  return c;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start(
    const RedisServerOptions& options) {
  std::string binary = FindRedisServer();
  if (binary.empty()) {
    return absl::FailedPreconditionError(
        "redis-server not found at /usr/bin/redis-server or on PATH; run "
        "scripts/install-deps.sh");
  }
  char dir_template[] = "/tmp/crossbridge-redis-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  }
  // From here the destructor removes the directory.
  std::unique_ptr<RedisServer> server(
      new RedisServer(std::move(binary), options, dir_template));
  absl::Status last;
  for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
    absl::StatusOr<int> port = options.cluster ? ProbeFreeClusterPort() : ProbeFreePort();
    if (!port.ok()) return port.status();
    last = server->Launch(*port);
    if (last.ok()) return server;
    // UNAVAILABLE: someone took the port between the probe and the bind.
    if (!absl::IsUnavailable(last)) return last;
  }
  return absl::UnavailableError(absl::StrCat(
      "redis-server could not bind a free port in ", kPortAttempts,
      " attempts; last: ", last.message()));
}

RedisServer::~RedisServer() {
  process_.Kill();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string RedisServer::url() const {
  if (options_.password.empty()) {
    return absl::StrCat("redis://", kHost, ":", port_, "/0");
  }
  return absl::StrCat("redis://:", options_.password, "@", kHost, ":", port_, "/0");
}

absl::Status RedisServer::Launch(int port) {
  std::vector<std::string> argv = {
      binary_,           "--port",     absl::StrCat(port),
      "--bind",          kHost,        "--save",
      "",                "--appendonly", "no",
      "--protected-mode", "yes",       "--daemonize",
      "no",              "--dir",      dir_};
  if (!options_.password.empty()) {
    argv.push_back("--requirepass");
    argv.push_back(options_.password);
  }
  if (options_.cluster) {
    // A replica must have synced once to be able to take over (no 5 s wait
    // before a diskless sync), and CLUSTER SLOTS lists a replica only once
    // its replication offset moved (the master's PINGs: every 1 s, not 10).
    argv.insert(argv.end(), {"--cluster-enabled", "yes", "--cluster-node-timeout", "1000",
                             "--cluster-config-file", "nodes.conf",
                             "--repl-diskless-sync-delay", "0",
                             "--repl-ping-replica-period", "1"});
  }
  for (const std::string& a : options_.extra_args) argv.push_back(a);

  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv, {}, dir_);
  if (!child.ok()) return child.status();
  if (process_.pid() > 0) {
    previous_logs_ += process_.Stdout() + process_.Stderr();
  }
  process_ = std::move(*child);
  port_ = port;

  absl::Status ready =
      process_.WaitUntil([this] { return Ping(); }, kReadyTimeout);
  if (ready.ok()) return ready;
  if (process_.exited()) {
    std::string logs = process_.Stdout() + process_.Stderr();
    if (absl::StrContains(logs, "Address already in use")) {
      return absl::UnavailableError(
          absl::StrCat("port ", port, " is taken: ", logs));
    }
    return absl::FailedPreconditionError(
        absl::StrCat("redis-server exited with ", *process_.exit_code(),
                     " at startup: ", logs));
  }
  process_.Kill();
  return absl::DeadlineExceededError(absl::StrCat(
      "redis-server on port ", port, " did not answer PING within ",
      absl::FormatDuration(kReadyTimeout), "; output: ", process_.Stdout(),
      process_.Stderr()));
}

bool RedisServer::Ping() {
  absl::StatusOr<ContextPtr> c =
      Connect(port_, options_.password, absl::Milliseconds(200));
  if (!c.ok()) return false;
  absl::StatusOr<ReplyPtr> pong = Run(**c, {"PING"});
  if (!pong.ok() || (*pong)->type != REDIS_REPLY_STATUS ||
      absl::string_view((*pong)->str, (*pong)->len) != "PONG") {
    return false;
  }
  // Make sure it is our redis-server that answered, not one that held the
  // port before ours could bind it.
  absl::StatusOr<ReplyPtr> info = Run(**c, {"INFO", "server"});
  if (!info.ok() || (*info)->type != REDIS_REPLY_STRING) return false;
  return absl::StrContains(absl::string_view((*info)->str, (*info)->len),
                           absl::StrCat("process_id:", process_.pid(), "\r\n"));
}

absl::Status RedisServer::Stop() {
  if (process_.pid() <= 0 || process_.exited()) return absl::OkStatus();
  process_.Signal(SIGKILL);
  absl::StatusOr<int> code = process_.WaitForExit(absl::Seconds(5));
  if (!code.ok()) return code.status();
  return absl::OkStatus();
}

absl::Status RedisServer::Restart() {
  absl::Status stopped = Stop();
  if (!stopped.ok()) return stopped;
  return Launch(port_);
}

absl::StatusOr<std::string> RedisServer::Command(
    const std::vector<std::string>& args) {
  if (args.empty()) return absl::InvalidArgumentError("empty command");
  absl::StatusOr<ContextPtr> c = Connect(port_, options_.password, absl::Seconds(1));
  if (!c.ok()) return c.status();
  absl::StatusOr<ReplyPtr> reply = Run(**c, args);
  if (!reply.ok()) return reply.status();
  std::string out;
  Render(**reply, out);
  return out;
}

std::string RedisServer::Logs() {
  if (process_.pid() <= 0) return previous_logs_;
  return previous_logs_ + process_.Stdout() + process_.Stderr();
}

}  // namespace crossbridge::testing
