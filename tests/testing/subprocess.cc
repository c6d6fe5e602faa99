#include "tests/testing/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

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

struct Child {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
};

// Starts argv in `working_dir` (unchanged when empty) with `extra_env` added.
absl::StatusOr<Child> Spawn(const std::vector<std::string>& argv,
                            const std::vector<std::string>& extra_env,
                            const std::string& working_dir = "") {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
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

  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    if (!working_dir.empty() && chdir(working_dir.c_str()) != 0) _exit(126);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  fcntl(out[0], F_SETFL, O_NONBLOCK);
  fcntl(err[0], F_SETFL, O_NONBLOCK);
  return Child{pid, out[0], err[0]};
}

// Reads what is available from `fd` into `sink`; false at EOF.
bool Drain(int fd, std::string& sink) {
  char buf[4096];
  while (true) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n > 0) {
      sink.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n == 0) return false;
    return errno == EAGAIN || errno == EINTR;
  }
}

// Polls both pipes until `done` is true or the deadline passes.
template <typename Done>
bool PumpUntil(int out_fd, int err_fd, std::string& out, std::string& err,
               absl::Time deadline, Done done) {
  while (!done()) {
    absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return false;
    pollfd fds[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
    int n_fds = out_fd >= 0 ? 2 : 1;
    pollfd* first = out_fd >= 0 ? fds : fds + 1;
    poll(first, n_fds, static_cast<int>(std::min<int64_t>(
                           50, absl::ToInt64Milliseconds(left) + 1)));
    if (out_fd >= 0) Drain(out_fd, out);
    if (err_fd >= 0) Drain(err_fd, err);
  }
  return true;
}

std::optional<int> TryReap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, WNOHANG) != pid) return std::nullopt;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

std::string ServerBinary() { return CROSSBRIDGE_SERVER_BINARY; }
std::string CliBinary() { return CROSSBRIDGE_CLI_BINARY; }

absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout,
                                         const std::vector<std::string>& env) {
  absl::StatusOr<Child> child = Spawn(argv, env);
  if (!child.ok()) return child.status();
  CommandResult result;
  std::optional<int> code;
  bool finished = PumpUntil(child->out, child->err, result.out, result.err,
                            absl::Now() + timeout, [&] {
                              if (!code) code = TryReap(child->pid);
                              return code.has_value();
                            });
  if (!finished) {
    kill(child->pid, SIGKILL);
    waitpid(child->pid, nullptr, 0);
  }
  Drain(child->out, result.out);
  Drain(child->err, result.err);
  close(child->out);
  close(child->err);
  if (!finished) {
    return absl::DeadlineExceededError(
        absl::StrCat(argv[0], " did not finish within ",
                     absl::FormatDuration(timeout), "; stderr: ", result.err));
  }
  result.exit_code = *code;
  return result;
}

absl::StatusOr<ServerProcess> ServerProcess::Start(
    const std::string& config_yaml, const std::vector<std::string>& extra_args) {
  std::vector<std::string> argv = {ServerBinary(), "--listen", "127.0.0.1:0"};
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
  if (mkdtemp(dir_template) == nullptr) return absl::InternalError("mkdtemp failed");
  absl::StatusOr<Child> child = Spawn(argv, {}, dir_template);
  if (!child.ok()) return child.status();
  ServerProcess server(child->pid, child->out, child->err, config_path,
                       dir_template);

  std::string out;
  constexpr absl::string_view kPrefix = "CROSSBRIDGE_LISTENING ";
  std::optional<int> exit_code;
  bool ready = PumpUntil(child->out, child->err, out, server.logs_,
                         absl::Now() + absl::Seconds(10), [&] {
                           if (out.find('\n') != std::string::npos) return true;
                           exit_code = TryReap(child->pid);
                           return exit_code.has_value();
                         });
  if (exit_code) {
    server.exited_ = true;
    return absl::FailedPreconditionError(
        absl::StrCat("server exited with ", *exit_code,
                     " before listening; stderr: ", server.logs_));
  }
  if (!ready || !absl::StartsWith(out, kPrefix)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "server did not print its listening line; stdout: ", out,
        " stderr: ", server.logs_));
  }
  std::string line = out.substr(0, out.find('\n'));
  if (!absl::SimpleAtoi(line.substr(line.rfind(':') + 1), &server.port_)) {
    return absl::InternalError(absl::StrCat("unparseable line: ", line));
  }
  return server;
}

ServerProcess::ServerProcess(pid_t pid, int stdout_fd, int stderr_fd,
                             std::string config_path, std::string working_dir)
    : pid_(pid),
      stdout_fd_(stdout_fd),
      stderr_fd_(stderr_fd),
      config_path_(std::move(config_path)),
      working_dir_(std::move(working_dir)) {}

ServerProcess::ServerProcess(ServerProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      port_(other.port_),
      exited_(other.exited_),
      config_path_(std::move(other.config_path_)),
      working_dir_(std::move(other.working_dir_)),
      logs_(std::move(other.logs_)) {
  other.config_path_.clear();
  other.working_dir_.clear();
}

ServerProcess::~ServerProcess() {
  if (pid_ > 0 && !exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (stderr_fd_ >= 0) close(stderr_fd_);
  if (!config_path_.empty()) unlink(config_path_.c_str());
  if (!working_dir_.empty()) rmdir(working_dir_.c_str());
}

std::string ServerProcess::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void ServerProcess::Signal(int signal) {
  if (pid_ > 0 && !exited_) kill(pid_, signal);
}

absl::StatusOr<int> ServerProcess::WaitForExit(absl::Duration timeout) {
  std::string out;
  std::optional<int> code;
  bool done = PumpUntil(stdout_fd_, stderr_fd_, out, logs_,
                        absl::Now() + timeout, [&] {
                          code = TryReap(pid_);
                          return code.has_value();
                        });
  if (!done) {
    return absl::DeadlineExceededError(absl::StrCat(
        "server still running after ", absl::FormatDuration(timeout)));
  }
  exited_ = true;
  return *code;
}

std::string ServerProcess::Logs() {
  std::string out;
  Drain(stdout_fd_, out);
  Drain(stderr_fd_, logs_);
  return logs_;
}

}  // namespace crossbridge::testing
