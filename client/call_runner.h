// The Call/Retry runner: the steps of a hardened call (client/hardened_call.h
// describes them) — permit, attempt, outcome report, retry decision, health
// check, backoff — within the call's deadline. Time and sleeps are the
// executor's clock; randomness (jitter) is this runner's generator.
//
// Thread safety: Run may be called from any thread concurrently; the lock
// here guards only the generator and the fail-open hold.
#ifndef CROSSBRIDGE_CLIENT_CALL_RUNNER_H_
#define CROSSBRIDGE_CLIENT_CALL_RUNNER_H_

#include <functional>
#include <random>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/executor.h"
#include "client/hardened_call.h"
#include "client/local_limiter.h"
#include "client/options.h"
#include "client/policy_cache.h"
#include "client/server_rpcs.h"
#include "common/clock.h"

namespace crossbridge {

class CallRunner {
 public:
  // How the runner takes a permit: the Client's AcquirePermit (leases,
  // stream or unary).
  using AcquireFn = std::function<absl::StatusOr<Permit>(
      absl::string_view operation, absl::string_view key,
      const AcquireOptions& options)>;

  // Every reference outlives the runner.
  CallRunner(ServerRpcs& rpcs, PolicyCache& policies, LocalLimiter& local,
             Executor& executor, const Clock& clock, uint64_t seed,
             AcquireFn acquire);

  // One hardened call (rate_limited) or retry (!rate_limited); fn returns
  // OK after storing its value.
  absl::Status Run(absl::string_view operation, absl::string_view key,
                   bool rate_limited,
                   const std::function<absl::Status(const AttemptInfo&)>& fn,
                   const CallOptions& options, CallReport* report);

 private:
  // Step 1: a permit, waiting or failing open as the options say. `end` is
  // the call's deadline on the clock's monotonic time.
  absl::Status AcquirePermit(absl::string_view operation,
                             absl::string_view key, const CallOptions& options,
                             absl::Time end, CallReport& report);
  RetryDecision DecideLocally(const RetryPolicyConfig& policy,
                              const RetryRequest& request);

  ServerRpcs& rpcs_;
  PolicyCache& policies_;
  LocalLimiter& local_;
  Executor& executor_;
  const Clock& clock_;
  const AcquireFn acquire_;
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  // fail_open calls skip the server until then (monotonic) after it was
  // unreachable.
  absl::Time server_down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_CALL_RUNNER_H_
