// Real processes for end-to-end tests: the crossbridge-server binary on a
// free loopback port, and one-shot commands such as crossbridge-cli.
//
// Nothing here sleeps to wait for a state: reads and waits poll with a
// deadline and fail the test (never hang) when it passes.
#ifndef CROSSBRIDGE_TESTS_TESTING_SUBPROCESS_H_
#define CROSSBRIDGE_TESTS_TESTING_SUBPROCESS_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crossbridge::testing {

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
  // --listen 127.0.0.1:0, waiting up to 10 s for its CROSSBRIDGE_LISTENING
  // line. `extra_args` are appended to the command line.
  static absl::StatusOr<ServerProcess> Start(
      const std::string& config_yaml,
      const std::vector<std::string>& extra_args = {});

  ServerProcess(ServerProcess&& other) noexcept;
  ServerProcess& operator=(ServerProcess&&) = delete;
  ~ServerProcess();

  int port() const { return port_; }
  std::string address() const;  // "127.0.0.1:<port>"
  pid_t pid() const { return pid_; }

  // Sends `signal` to the server.
  void Signal(int signal);
  // Waits up to `timeout` for the process to exit; returns its exit code
  // (-1 when killed by a signal). DeadlineExceeded if it is still running.
  absl::StatusOr<int> WaitForExit(absl::Duration timeout);
  // Everything the server wrote to stderr so far (its logs).
  std::string Logs();

 private:
  ServerProcess(pid_t pid, int stdout_fd, int stderr_fd, std::string config_path,
                std::string working_dir);

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int port_ = 0;
  bool exited_ = false;
  std::string config_path_;
  std::string working_dir_;  // an empty temporary directory
  std::string logs_;
};

// Paths of the built binaries (set by CMake).
std::string ServerBinary();
std::string CliBinary();

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_SUBPROCESS_H_
