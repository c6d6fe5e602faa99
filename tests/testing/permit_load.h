// Load for fault tests: threads calling AcquirePermit in a loop over a few
// operations until Stop(), each outcome recorded with when it started and
// how long it took. Plus WaitForHealth, polling grpc.health.v1 Check.
//
//   PermitLoad load({client.get()}, /*threads=*/8, {"op_allow", "op_deny"});
//   ... break something ...
//   for (const PermitLoad::Outcome& o : load.Stop()) ...
//
// Thread `t` uses clients[t % clients.size()]; keys are "client:<t>:<i % 16>".
// Header-only: tests that use it link crossbridge::client.
#ifndef CROSSBRIDGE_TESTS_TESTING_PERMIT_LOAD_H_
#define CROSSBRIDGE_TESTS_TESTING_PERMIT_LOAD_H_

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "tests/testing/wait.h"

namespace crossbridge::testing {

class PermitLoad {
 public:
  struct Outcome {
    std::string op;
    absl::StatusCode code;
    bool allowed;
    absl::Duration took;
    absl::Time at;
    std::string message;  // of an error, cut to 200 bytes
  };

  PermitLoad(std::vector<Client*> clients, int threads, std::vector<std::string> ops)
      : ops_(std::move(ops)) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, client = clients[t % clients.size()], t] {
        std::vector<Outcome> mine;
        for (int i = 0; !stop_.load() && i < 1'000'000; ++i) {
          const std::string& op = ops_[(t + i) % ops_.size()];
          const absl::Time start = absl::Now();
          absl::StatusOr<Permit> p =
              client->AcquirePermit(op, absl::StrCat("client:", t, ":", i % 16));
          mine.push_back({op, p.status().code(), p.ok() && p->allowed,
                          absl::Now() - start, start,
                          std::string(p.status().message().substr(0, 200))});
        }
        std::lock_guard<std::mutex> lock(mu_);
        outcomes_.insert(outcomes_.end(), mine.begin(), mine.end());
      });
    }
  }
  ~PermitLoad() { Stop(); }

  // Stops and joins the threads; every outcome, in no particular order.
  const std::vector<Outcome>& Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
    return outcomes_;
  }

 private:
  const std::vector<std::string> ops_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::vector<Outcome> outcomes_;
};

// Polls Check(service) until it answers `want` (true) or `timeout` passes.
inline bool WaitForHealth(Client& client, absl::string_view service,
                          ServingStatus want,
                          absl::Duration timeout = absl::Seconds(5)) {
  return WaitFor(
      [&] {
        absl::StatusOr<ServingStatus> s = client.CheckHealth(service);
        return s.ok() && *s == want;
      },
      timeout, absl::Milliseconds(5));
}

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_PERMIT_LOAD_H_
