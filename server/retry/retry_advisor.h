// The retry domain: resolves a named policy, runs the shared decision math
// (common/retry.h), refuses retries into a NOT_SERVING dependency, and draws
// on the policy's fleet-wide retry budget. Knows no gRPC.
//
// Thread safety: all methods may be called concurrently; a call runs on the
// policies current when it started (Apply swaps them).
// Metrics: each decision is counted by policy and reason; the last budget
// value seen is kept per policy for crossbridge_retry_budget_tokens.
// Completion: `done` exactly once, inline or on a Redis connection's thread.
// Errors (messages name the request field): NotFound for an unknown policy
// or dependency. A store failure never fails a decision: the budget falls
// back to this replica's in-process budget until the store answers again.
#ifndef CROSSBRIDGE_SERVER_RETRY_RETRY_ADVISOR_H_
#define CROSSBRIDGE_SERVER_RETRY_RETRY_ADVISOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/config.h"
#include "common/published.h"
#include "common/retry.h"
#include "server/health/health_registry.h"
#include "server/metrics/metrics.h"
#include "server/retry/budget_store.h"

namespace crossbridge {

class RetryAdvisor {
 public:
  using Callback = std::function<void(absl::StatusOr<RetryDecision>)>;

  // One config's policies, built by BuildPolicies, immutable afterwards.
  struct PolicyEntry {
    RetryPolicyConfig config;
    const RetryPolicyMetrics* metrics = nullptr;  // null: metrics off
    // The budget's token count as this replica last saw it (the budget
    // itself lives in the BudgetStore). Shared by every snapshot that has
    // this policy, so it survives reloads.
    std::shared_ptr<std::atomic<double>> tokens;
  };
  struct PolicySet {
    bool enabled = true;
    std::map<std::string, PolicyEntry, std::less<>> policies;
  };

  // `budgets` is the shared store, `local_budgets` the in-process fallback
  // (may be the same object for the memory backend); `health` and `metrics`
  // may be null. All must outlive the advisor. `seed` fixes the jitter for
  // tests.
  RetryAdvisor(const RetryConfig& config, BudgetStore& budgets,
               BudgetStore& local_budgets, const HealthRegistry* health,
               uint32_t seed = std::random_device{}(), Metrics* metrics = nullptr);

  // Reload: BuildPolicies resolves `config`'s metrics; Apply makes calls
  // that start afterwards use it. Budgets live in the BudgetStore under the
  // policy's name, so a policy that keeps its name keeps its budget.
  std::shared_ptr<const PolicySet> BuildPolicies(const RetryConfig& config) const;
  void Apply(std::shared_ptr<const PolicySet> policies);

  // The policy called `name` ("" = "default"); NotFound naming it otherwise.
  absl::StatusOr<RetryPolicyConfig> Policy(absl::string_view name) const;

  // Decides about the failed `request` under `policy`, checking
  // `dependency` (may be empty) and the budget.
  void Decide(absl::string_view policy, const RetryRequest& request,
              absl::string_view dependency, Callback done);

  // A success under `policy`: deposits into its budget (fire and forget).
  void RecordSuccess(absl::string_view policy);

  // (policy, tokens) for every current policy with a budget, as this
  // replica last saw it (max_tokens before the first withdrawal or
  // deposit: a budget never used is full).
  std::vector<std::pair<std::string, double>> BudgetTokens() const;

 private:
  using PolicySetPtr = std::shared_ptr<const PolicySet>;

  // The entry for `name` in `set`, or NotFound / InvalidArgument.
  static absl::StatusOr<const PolicyEntry*> Find(const PolicySet& set,
                                            absl::string_view name);
  RetryDecision Compute(const RetryPolicyConfig& policy,
                        const RetryRequest& request);

  BudgetStore& budgets_;
  BudgetStore& local_budgets_;
  const HealthRegistry* const health_;
  Metrics* const metrics_;
  Published<PolicySet> policies_;
  absl::Mutex rng_mu_;
  std::mt19937 rng_ ABSL_GUARDED_BY(rng_mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_RETRY_RETRY_ADVISOR_H_
