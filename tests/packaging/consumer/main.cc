// consumer TARGET: the smallest program using an installed CrossBridge SDK.
// Creates a crossbridge::Client for TARGET (host:port), acquires one permit
// of operation "embed" (a rule of the built-in default configuration) for
// key "packaging-consumer" and prints the answer on one line:
//   allowed=true limit=60 remaining=59 retry_after_ms=0
// Exit codes: 0 the permit was allowed, 1 refused or the call failed (the
// status on stderr), 2 usage.
// It includes every installed SDK header (client.h pulls in the common/ and
// generated proto headers), so a header missing from the install fails here.
// Built twice by tests/packaging/check_install.sh: with find_package
// (CMakeLists.txt here) and with pkg-config.
#include <iostream>
#include <memory>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "client/hardened.h"
#include "client/hardened_call.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: consumer HOST:PORT\n";
    return 2;
  }
  crossbridge::ClientOptions options;
  options.target = argv[1];
  options.default_deadline = absl::Seconds(5);
  absl::StatusOr<std::unique_ptr<crossbridge::Client>> client =
      crossbridge::Client::Create(options);
  if (!client.ok()) {
    std::cerr << "consumer: Client::Create: " << client.status() << "\n";
    return 1;
  }
  absl::StatusOr<crossbridge::Permit> permit =
      (*client)->AcquirePermit("embed", "packaging-consumer");
  if (!permit.ok()) {
    std::cerr << "consumer: AcquirePermit: " << permit.status() << "\n";
    return 1;
  }
  std::cout << "allowed=" << (permit->allowed ? "true" : "false")
            << " limit=" << permit->limit << " remaining=" << permit->remaining
            << " retry_after_ms=" << permit->retry_after_ms << "\n";
  return permit->allowed ? 0 : 1;
}
