// What every example program shares: its command line, a connection to the
// server, self-checks and a little formatting. Not part of the SDK.
//
//   <example> [--target HOST:PORT] [--config PATH]
//
// --target defaults to $CROSSBRIDGE_TARGET, then 127.0.0.1:50051 (where
// `make run` listens). --config is only read by the configuration example.
//
// An example checks itself with Expect(): each check prints "ok   ..." or
// "FAIL ..." and the program exits with Finish(): 0 when every check passed,
// 1 otherwise. Usage errors exit 2, an unreachable server 3.
#ifndef CROSSBRIDGE_EXAMPLES_FAKES_EXAMPLE_SUPPORT_H_
#define CROSSBRIDGE_EXAMPLES_FAKES_EXAMPLE_SUPPORT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/hardened_call.h"

namespace crossbridge::examples {

struct ExampleArgs {
  std::string target;
  std::string config;  // empty: not given
};

class Example {
 public:
  // Parses the command line (exits 2 with usage on a bad one), prints the
  // title and connects (exits 3 if the server does not answer a health check
  // within 5 s).
  Example(absl::string_view title, int argc, char** argv);

  const ExampleArgs& args() const { return args_; }
  Client& client() { return *client_; }
  // Options used for client(); examples that need their own Client (e.g.
  // with a simulated clock) start from these.
  ClientOptions client_options() const;

  // A rate-limit key unique to this run ("<prefix>:<pid>"), so repeated runs
  // against one server do not share buckets.
  std::string UniqueKey(absl::string_view prefix) const;

  // The fakes stand in for the server's configured providers, but the server
  // also probes those providers' real targets; where nothing listens there
  // (the default crossbridge.yml on a laptop) a provider may already count
  // failures or be NOT_SERVING, and a hardened call would then stop retrying
  // early. When `provider` has consecutive failures, prints so and reports
  // one success for it, so the example starts from a healthy dependency.
  void StartFromHealthy(absl::string_view provider);

  // "== <title>" section header.
  void Step(absl::string_view title) const;
  // Records and prints one self-check.
  bool Expect(bool ok, absl::string_view what);
  // "ok" / "FAIL" summary; the process exit code.
  int Finish() const;

 private:
  ExampleArgs args_;
  std::unique_ptr<Client> client_;
  int checks_ = 0;
  std::vector<std::string> failures_;
};

// "3 attempts, delays [12ms, 40ms], permit wait 0ms".
std::string DescribeReport(const CallReport& report);
// "OK" or "RESOURCE_EXHAUSTED: HTTP 429: ... (Retry-After 30ms)".
std::string DescribeStatus(const absl::Status& status);
// A duration as whole milliseconds: "40ms".
std::string Ms(absl::Duration d);

}  // namespace crossbridge::examples

#endif  // CROSSBRIDGE_EXAMPLES_FAKES_EXAMPLE_SUPPORT_H_
