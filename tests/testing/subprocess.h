// Real processes for end-to-end tests: a generic child process with captured
// output (ChildProcess), the crossbridge-server binary on a free loopback port
// (ServerProcess), and one-shot commands such as crossbridge-cli (RunCommand).
//
// Nothing here sleeps to wait for a state: reads and waits poll with a
// deadline and fail the test (never hang) when it passes.
//
// Thread safety: none; each object belongs to one test thread.
#ifndef CROSSBRIDGE_TESTS_TESTING_SUBPROCESS_H_
#define CROSSBRIDGE_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crossbridge::testing {

// One child process whose stdout and stderr are captured through
// non-blocking pipes. Output is read only while a method of this class runs
// (Poll, WaitUntil, WaitForExit, Stdout, Stderr), so a chatty child can fill
// its pipe and block between calls; call Poll() in long loops.
//
// The destructor SIGKILLs the child if it has not been reaped and reaps it.
// The child also gets SIGKILL when the thread that spawned it ends
// (PR_SET_PDEATHSIG), so a test that crashes or is killed by its timeout
// leaves nothing running: spawn children that should outlive a helper
// thread from the test's main thread.
// Movable; a moved-from object owns no process.
class ChildProcess {
 public:
  // Starts argv[0] (a path: no PATH lookup) with the given arguments, in
  // `working_dir` (the caller's when empty), with this process's
  // environment minus CROSSBRIDGE_* variables (so tests do not depend on
  // the shell) plus `extra_env` entries ("NAME=value"). Signal dispositions
  // and the signal mask are reset to defaults in the child.
  // Errors: INTERNAL if pipe() or fork() fails. A failed exec is reported
  // as the child exiting with 127 (126: chdir failed).
  static absl::StatusOr<ChildProcess> Spawn(
      const std::vector<std::string>& argv,
      const std::vector<std::string>& extra_env = {},
      const std::string& working_dir = "");

  ChildProcess() = default;  // owns no process
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // -1 when this object owns no process. Still valid after the child exits
  // (but the kernel may reuse it once reaped).
  pid_t pid() const { return pid_; }
  // True once the child has been reaped (by WaitUntil, WaitForExit, Kill).
  bool exited() const { return exit_code_.has_value(); }
  // The exit code once exited() (-1 when killed by a signal).
  std::optional<int> exit_code() const { return exit_code_; }

  // Sends `signal` to the child; a no-op once it has been reaped.
  void Signal(int signal);

  // Reads the output that is available, waiting at most `timeout` for some
  // to arrive, and reaps the child if it has exited. Returns exited().
  bool Poll(absl::Duration timeout = absl::ZeroDuration());

  // Polls until `ready()` returns true (OK), the child exits first
  // (FAILED_PRECONDITION, with its exit code and stderr), or `timeout`
  // passes (DEADLINE_EXCEEDED). `ready` is checked before each poll and
  // may read captured_stdout()/captured_stderr().
  absl::Status WaitUntil(const std::function<bool()>& ready,
                         absl::Duration timeout);

  // Waits up to `timeout` for the child to exit; returns its exit code (-1
  // when killed by a signal). DEADLINE_EXCEEDED if it is still running.
  // Returns the recorded code at once if it has already exited.
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);

  // SIGKILL and reap (blocking: a SIGKILLed process exits). Returns the
  // exit code; a no-op returning the recorded code if already reaped.
  int Kill();

  // Everything captured so far (after reading what is available now).
  std::string Stdout();
  std::string Stderr();
  // The captured buffers without reading more (for WaitUntil predicates).
  const std::string& captured_stdout() const { return out_; }
  const std::string& captured_stderr() const { return err_; }

 private:
  ChildProcess(pid_t pid, int out_fd, int err_fd)
      : pid_(pid), out_fd_(out_fd), err_fd_(err_fd) {}

  void TryReap();
  void Release();  // kill + reap if running, close fds

  pid_t pid_ = -1;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::optional<int> exit_code_;
  std::string out_;
  std::string err_;
};

struct CommandResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out
  std::string out;
  std::string err;
};

// Runs argv[0] (a path) with the given arguments, extra environment entries
// ("NAME=value") added to this process's environment, and waits at most
// `timeout`. DeadlineExceeded if it did not finish (it is then killed).
absl::StatusOr<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                         absl::Duration timeout,
                                         const std::vector<std::string>& env = {});

// A running crossbridge-server. The destructor kills it if still running.
class ServerProcess {
 public:
  // Writes `config_yaml` to a temporary file (unless empty: then the
  // embedded default is used) and starts the server, in an empty temporary
  // working directory, with
  // --listen 127.0.0.1:0 and, unless the config or `extra_args` set the
  // metrics address, --metrics-listen 127.0.0.1:0, waiting up to 10 s for
  // its CROSSBRIDGE_LISTENING line (and the metrics line). `extra_args` are
  // appended to the command line; with a --listen among them, that address
  // replaces 127.0.0.1:0.
  static absl::StatusOr<ServerProcess> Start(
      const std::string& config_yaml,
      const std::vector<std::string>& extra_args = {});

  ServerProcess(ServerProcess&& other) noexcept;
  ServerProcess& operator=(ServerProcess&&) = delete;
  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  // The GET /metrics port; 0 when the test set the metrics address itself.
  int metrics_port() const { return metrics_port_; }
  // The plaintext grpc.health.v1 port, when the config has
  // `health_listen_address: "127.0.0.1:0"`; else 0.
  int health_port() const { return health_port_; }
  // The config file written from `config_yaml` ("" for none).
  const std::string& config_path() const { return config_path_; }
  pid_t pid() const { return child_.pid(); }

  // Sends `signal` to the server.
  void Signal(int signal);
  // Waits up to `timeout` for the process to exit; returns its exit code
  // (-1 when killed by a signal). DeadlineExceeded if it is still running.
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);
  // Everything the server wrote to stderr so far (its logs).
  std::string Logs();

 private:
  ServerProcess(ChildProcess child, std::string config_path,
                std::string working_dir);

  ChildProcess child_;
  int port_ = 0;
  int metrics_port_ = 0;
  int health_port_ = 0;
  std::string config_path_;
  std::string working_dir_;  // an empty temporary directory
};

// Paths of the built binaries (set by CMake).
std::string ServerBinary();
std::string CliBinary();

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_SUBPROCESS_H_
