#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace crossbridge::testing {
namespace {

// Reads what is available from `fd` into `sink`; false at EOF or error.
bool Drain(int fd, std::string& sink) {
  if (fd < 0) return false;
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      sink.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    if (errno == EINTR) continue;
    return errno == EAGAIN;
  }
}

int ExitCodeOf(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : -1; }

}  // namespace

// ---------------------------------------------------------------------------
// ChildProcess

absl::StatusOr<ChildProcess> ChildProcess::Spawn(
    const std::vector<std::string>& argv,
    const std::vector<std::string>& extra_env, const std::string& working_dir) {
  if (argv.empty()) return absl::InvalidArgumentError("empty argv");
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  if (pipe2(err, O_CLOEXEC) != 0) {
    int saved = errno;
    close(out[0]);
    close(out[1]);
    return absl::InternalError(absl::StrCat("pipe: ", strerror(saved)));
  }
  // Build argv/envp before fork: no allocation in the child.
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_storage;
  // The caller's CROSSBRIDGE_* settings would make tests depend on the shell.
  for (char** e = environ; *e != nullptr; ++e) {
    if (!absl::StartsWith(*e, "CROSSBRIDGE_")) env_storage.emplace_back(*e);
  }
  for (const std::string& e : extra_env) env_storage.push_back(e);
  std::vector<char*> envp;
  for (std::string& e : env_storage) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* dir = working_dir.empty() ? nullptr : working_dir.c_str();

  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    int saved = errno;
    for (int fd : {out[0], out[1], err[0], err[1]}) close(fd);
    return absl::InternalError(absl::StrCat("fork: ", strerror(saved)));
  }
  if (pid == 0) {
    // Only async-signal-safe calls from here to exec.
    // Dies with the test (killed by ctest's timeout, crashed): no server or
    // redis-server outlives the run. (The signal comes when the forking
    // thread ends: long-lived children are spawned from the main thread.)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(125);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);  // the test process may ignore it
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    // Nothing else of the test's leaks into the child (e.g. a listening
    // socket the test closes later to simulate an outage).
    close_range(3, ~0U, 0);
    if (dir != nullptr && chdir(dir) != 0) _exit(126);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  return ChildProcess(pid, out[0], err[0]);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      out_fd_(std::exchange(other.out_fd_, -1)),
      err_fd_(std::exchange(other.err_fd_, -1)),
      exit_code_(std::exchange(other.exit_code_, std::nullopt)),
      out_(std::move(other.out_)),
      err_(std::move(other.err_)) {}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Release();
    pid_ = std::exchange(other.pid_, -1);
    out_fd_ = std::exchange(other.out_fd_, -1);
    err_fd_ = std::exchange(other.err_fd_, -1);
    exit_code_ = std::exchange(other.exit_code_, std::nullopt);
    out_ = std::move(other.out_);
    err_ = std::move(other.err_);
  }
  return *this;
}

ChildProcess::~ChildProcess() { Release(); }

void ChildProcess::Release() {
  if (pid_ > 0 && !exit_code_) Kill();
  if (out_fd_ >= 0) close(out_fd_);
  if (err_fd_ >= 0) close(err_fd_);
  out_fd_ = err_fd_ = -1;
}

void ChildProcess::TryReap() {
  if (pid_ <= 0 || exit_code_) return;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_code_ = ExitCodeOf(status);
    // Whatever it wrote before exiting is in the pipes now.
    Drain(out_fd_, out_);
    Drain(err_fd_, err_);
  }
}

void ChildProcess::Signal(int signal) {
  if (pid_ > 0 && !exit_code_) kill(pid_, signal);
}

bool ChildProcess::Poll(absl::Duration timeout) {
  pollfd fds[2];
  int n = 0;
  if (out_fd_ >= 0) fds[n++] = {out_fd_, POLLIN, 0};
  if (err_fd_ >= 0) fds[n++] = {err_fd_, POLLIN, 0};
  if (!exit_code_ && timeout > absl::ZeroDuration()) {
    // Capped so that an exit with no output is noticed within 50 ms. With
    // both pipes at EOF (n == 0: the child is usually exiting) this is a
    // short wait before the next reap try.
    const int64_t cap = n > 0 ? 50 : 5;
    int ms = static_cast<int>(
        std::min<int64_t>(cap, absl::ToInt64Milliseconds(timeout) + 1));
    poll(fds, n, ms);
  }
  // A pipe at EOF would make every later poll return at once: close it.
  if (out_fd_ >= 0 && !Drain(out_fd_, out_)) {
    close(out_fd_);
    out_fd_ = -1;
  }
  if (err_fd_ >= 0 && !Drain(err_fd_, err_)) {
    close(err_fd_);
    err_fd_ = -1;
  }
  TryReap();
  return exited();
}

absl::Status ChildProcess::WaitUntil(const std::function<bool()>& ready,
                                     absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (ready()) return absl::OkStatus();
    if (exited()) {
      return absl::FailedPreconditionError(
          absl::StrCat("process ", pid_, " exited with ", *exit_code_,
                       "; stderr: ", err_));
    }
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "process ", pid_, " not ready within ", absl::FormatDuration(timeout)));
    }
    Poll(left);
  }
}

absl::StatusOr<int> ChildProcess::WaitForExit(absl::Duration timeout) {
  if (pid_ <= 0) return absl::FailedPreconditionError("no process");
  absl::Status s = WaitUntil([this] { return exited(); }, timeout);
  if (!s.ok()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "process ", pid_, " still running after ", absl::FormatDuration(timeout)));
  }
  return *exit_code_;
}

int ChildProcess::Kill() {
  if (pid_ <= 0) return -1;
  if (!exit_code_) {
    kill(pid_, SIGKILL);
    int status = 0;
    pid_t r;
    do {
      r = waitpid(pid_, &status, 0);
    } while (r < 0 && errno == EINTR);
    exit_code_ = r == pid_ ? ExitCodeOf(status) : -1;
    Drain(out_fd_, out_);
    Drain(err_fd_, err_);
  }
  return *exit_code_;
}

std::string ChildProcess::Stdout() {
  Poll();
  return out_;
}

std::string ChildProcess::Stderr() {
  Poll();
  return err_;
}

// ---------------------------------------------------------------------------
// RunCommand

std::string ServerBinary() { return CROSSBRIDGE_SERVER_BINARY; }
std::string CliBinary() { return CROSSBRIDGE_CLI_BINARY; }

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout,
                                         const std::vector<std::string>& env) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv, env);
  if (!child.ok()) return child.status();
  absl::StatusOr<int> code = child->WaitForExit(timeout);
  if (!code.ok()) {
    child->Kill();
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " did not finish within ",
                     absl::FormatDuration(timeout), "; stderr: ", child->Stderr()));
  }
  CommandResult result;
  result.exit_code = *code;
  result.out = child->Stdout();
  result.err = child->Stderr();
  return result;
}

// ---------------------------------------------------------------------------
// ServerProcess

absl::StatusOr<ServerProcess> ServerProcess::Start(
    const std::string& config_yaml, const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {ServerBinary()};
  // A free port, unless the test chose one (a server restarted in place).
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") ==
      extra_args.end()) {
    argv.push_back("--listen");
    argv.push_back("127.0.0.1:0");
  }
  // Metrics on a free port too (parallel tests would collide on the
  // default 9464), unless the test sets the address itself.
  const bool own_metrics =
      absl::StrContains(config_yaml, "metrics_listen_address") ||
      std::find(extra_args.begin(), extra_args.end(), "--metrics-listen") !=
          extra_args.end();
  if (!own_metrics) {
    argv.push_back("--metrics-listen");
    argv.push_back("127.0.0.1:0");
  }
  std::string config_path;
  if (!config_yaml.empty()) {
    char tmpl[] = "/tmp/crossbridge-test-XXXXXX.yml";
    int fd = mkstemps(tmpl, 4);
    if (fd < 0) return absl::InternalError("mkstemps failed");
    close(fd);
    config_path = tmpl;
    std::ofstream(config_path) << config_yaml;
    argv.push_back("--config");
    argv.push_back(config_path);
  }
  for (const std::string& a : extra_args) argv.push_back(a);
  // Run in an empty directory so no crossbridge.yml near the test's working
  // directory is discovered; the binary path is absolute.
  char dir_template[] = "/tmp/crossbridge-test-cwd-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    if (!config_path.empty()) unlink(config_path.c_str());
    return absl::InternalError("mkdtemp failed");
  }
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(argv, {}, dir_template);
  if (!child.ok()) {
    if (!config_path.empty()) unlink(config_path.c_str());
    rmdir(dir_template);
    return child.status();
  }
  // From here the destructor cleans up.
  ServerProcess server(std::move(*child), config_path, dir_template);

  constexpr absl::string_view kPrefix = "CROSSBRIDGE_LISTENING ";
  const std::string& out = server.child_.captured_stdout();
  absl::Status ready = server.child_.WaitUntil(
      [&] { return out.find('\n') != std::string::npos; }, absl::Seconds(10));
  if (server.child_.exited() && !ready.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("server exited with ", *server.child_.exit_code(),
                     " before listening; stderr: ", server.child_.Stderr()));
  }
  if (!ready.ok() || !absl::StartsWith(out, kPrefix)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "server did not print its listening line; stdout: ", out,
        " stderr: ", server.child_.Stderr()));
  }
  std::string line = out.substr(0, out.find('\n'));
  if (!absl::SimpleAtoi(line.substr(line.rfind(':') + 1), &server.port_)) {
    return absl::InternalError(absl::StrCat("unparseable line: ", line));
  }
  // The other listeners' lines follow at once: health, then metrics.
  auto port_of_line = [&](absl::string_view name, int* port) -> absl::Status {
    const std::string prefix = absl::StrCat("\nCROSSBRIDGE_", name, "_LISTENING ");
    absl::Status printed = server.child_.WaitUntil(
        [&] {
          size_t at = out.find(prefix);
          return at != std::string::npos && out.find('\n', at + 1) != std::string::npos;
        },
        absl::Seconds(5));
    if (!printed.ok()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "server did not print its ", name, " line; stdout: ", out,
          " stderr: ", server.child_.Stderr()));
    }
    const size_t at = out.find(prefix) + prefix.size();
    const std::string port_line = out.substr(at, out.find('\n', at) - at);
    if (!absl::SimpleAtoi(port_line.substr(port_line.rfind(':') + 1), port)) {
      return absl::InternalError(absl::StrCat("unparseable line: ", port_line));
    }
    return absl::OkStatus();
  };
  if (absl::StrContains(config_yaml, "health_listen_address: \"127.0.0.1:0\"")) {
    if (absl::Status s = port_of_line("HEALTH", &server.health_port_); !s.ok()) {
      return s;
    }
  }
  if (own_metrics) return server;
  if (absl::Status s = port_of_line("METRICS", &server.metrics_port_); !s.ok()) {
    return s;
  }
  return server;
}

ServerProcess::ServerProcess(ChildProcess child, std::string config_path,
                             std::string working_dir)
    : child_(std::move(child)),
      config_path_(std::move(config_path)),
      working_dir_(std::move(working_dir)) {}

ServerProcess::ServerProcess(ServerProcess&& other) noexcept
    : child_(std::move(other.child_)),
      port_(other.port_),
      metrics_port_(other.metrics_port_),
      health_port_(other.health_port_),
      config_path_(std::exchange(other.config_path_, {})),
      working_dir_(std::exchange(other.working_dir_, {})) {}

ServerProcess::~ServerProcess() {
  child_.Kill();  // before removing its working directory
  if (!config_path_.empty()) unlink(config_path_.c_str());
  if (!working_dir_.empty()) rmdir(working_dir_.c_str());
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void ServerProcess::Signal(int signal) { child_.Signal(signal); }

absl::StatusOr<int> ServerProcess::WaitForExit(absl::Duration timeout) {
  absl::StatusOr<int> code = child_.WaitForExit(timeout);
  if (!code.ok()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "server still running after ", absl::FormatDuration(timeout)));
  }
  return code;
}

std::string ServerProcess::Logs() { return child_.Stderr(); }

}  // namespace crossbridge::testing
