// The retry domain: resolves a named policy, runs the shared decision math
// (common/retry.h), refuses retries into a NOT_SERVING dependency, and draws
// on the policy's fleet-wide retry budget. Knows no gRPC.
//
// Thread safety: all methods may be called concurrently.
// Completion: `done` exactly once, inline or on a store worker thread.
// Errors (messages name the request field): NotFound for an unknown policy
// or dependency. A store failure never fails a decision: the budget falls
// back to this replica's in-process budget until the store answers again.
#ifndef CROSSBRIDGE_SERVER_RETRY_RETRY_ADVISOR_H_
#define CROSSBRIDGE_SERVER_RETRY_RETRY_ADVISOR_H_

#include <functional>
#include <map>
#include <random>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/retry.h"
#include "server/health/health_registry.h"
#include "server/retry/budget_store.h"

namespace crossbridge {

class RetryAdvisor {
 public:
  using Callback = std::function<void(absl::StatusOr<RetryDecision>)>;

  // `budgets` is the shared store, `local_budgets` the in-process fallback
  // (may be the same object for the memory backend); `health` may be null.
  // All must outlive the advisor. `seed` fixes the jitter for tests.
  RetryAdvisor(const RetryConfig& config, BudgetStore& budgets,
               BudgetStore& local_budgets, const HealthRegistry* health,
               uint32_t seed = std::random_device{}());

  // The policy called `name` ("" = "default"); NotFound naming it otherwise.
  absl::StatusOr<const RetryPolicyConfig*> Policy(absl::string_view name) const;

  // Decides about the failed `request` under `policy`, checking
  // `dependency` (may be empty) and the budget.
  void Decide(absl::string_view policy, const RetryRequest& request,
              absl::string_view dependency, Callback done);

  // A success under `policy`: deposits into its budget (fire and forget).
  void RecordSuccess(absl::string_view policy);

 private:
  RetryDecision Compute(const RetryPolicyConfig& policy,
                        const RetryRequest& request);

  const RetryConfig config_;
  BudgetStore& budgets_;
  BudgetStore& local_budgets_;
  const HealthRegistry* const health_;
  absl::Mutex rng_mu_;
  std::mt19937 rng_ ABSL_GUARDED_BY(rng_mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_RETRY_RETRY_ADVISOR_H_
