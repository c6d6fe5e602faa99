#include "server/retry/retry_advisor.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/names.h"
#include "common/quote.h"
#include "common/mutex.h"

namespace crossbridge {
namespace {

RetryBudgetRule BudgetRule(const RetryPolicyConfig& policy) {
  return {policy.budget.max_tokens, policy.budget.token_ratio};
}

RetryDecision NoRetry(RetryReason reason) {
  RetryDecision d;
  d.retry = false;
  d.reason = reason;
  return d;
}

}  // namespace

RetryAdvisor::RetryAdvisor(const RetryConfig& config, BudgetStore& budgets,
                           BudgetStore& local_budgets,
                           const HealthRegistry* health, uint32_t seed)
    : config_(config),
      budgets_(budgets),
      local_budgets_(local_budgets),
      health_(health),
      rng_(seed) {}

absl::StatusOr<const RetryPolicyConfig*> RetryAdvisor::Policy(
    absl::string_view name) const {
  if (name.empty()) name = "default";
  auto it = config_.policies.find(std::string(name));
  if (it != config_.policies.end()) return &it->second;
  if (!IsValidPolicyName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: ", QuoteForMessage(name), " ", kPolicyNameRule));
  }
  std::vector<std::string> known;
  for (const auto& [n, p] : config_.policies) known.push_back(n);
  return absl::NotFoundError(absl::StrCat("policy: unknown retry policy \"",
                                          name, "\" (known: ",
                                          absl::StrJoin(known, ", "), ")"));
}

RetryDecision RetryAdvisor::Compute(const RetryPolicyConfig& policy,
                                    const RetryRequest& request) {
  MutexLock lock(&rng_mu_);
  return DecideRetry(policy, request, rng_);
}

void RetryAdvisor::Decide(absl::string_view policy_name,
                          const RetryRequest& request,
                          absl::string_view dependency, Callback done) {
  absl::StatusOr<const RetryPolicyConfig*> policy = Policy(policy_name);
  if (!policy.ok()) return done(policy.status());
  if (!dependency.empty() && health_ != nullptr) {
    if (absl::Status s = health_->Get(dependency).status(); !s.ok()) {
      return done(absl::NotFoundError(
          absl::StrCat("dependency: ", s.message())));
    }
  }
  if (!config_.enabled) return done(NoRetry(RetryReason::kNotRetryable));

  RetryDecision decision = Compute(**policy, request);
  if (!decision.retry) return done(decision);
  if (!dependency.empty() && health_ != nullptr && !health_->IsServing(dependency)) {
    return done(NoRetry(RetryReason::kDependencyUnhealthy));
  }
  const RetryBudgetRule rule = BudgetRule(**policy);
  if (rule.max_tokens <= 0) return done(decision);
  const std::string name(policy_name.empty() ? "default" : policy_name);
  budgets_.Withdraw(
      name, rule,
      [this, name, rule, decision, done = std::move(done)](
          absl::StatusOr<BudgetUpdate> update) mutable {
        auto finish = [decision, done](const BudgetUpdate& u) mutable {
          done(u.retry_allowed ? decision
                               : NoRetry(RetryReason::kBudgetExhausted));
        };
        if (update.ok()) return finish(*update);
        // The shared budget is unreachable: this replica's own budget.
        local_budgets_.Withdraw(name, rule,
                                [finish](absl::StatusOr<BudgetUpdate> local) mutable {
                                  finish(local.ok() ? *local : BudgetUpdate{});
                                });
      });
}

void RetryAdvisor::RecordSuccess(absl::string_view policy_name) {
  absl::StatusOr<const RetryPolicyConfig*> policy = Policy(policy_name);
  if (!policy.ok()) return;
  const RetryBudgetRule rule = BudgetRule(**policy);
  if (rule.max_tokens <= 0) return;
  const std::string name(policy_name.empty() ? "default" : policy_name);
  budgets_.Deposit(name, rule, [this, name, rule](absl::StatusOr<BudgetUpdate> u) {
    if (!u.ok()) local_budgets_.Deposit(name, rule, [](auto) {});
  });
}

}  // namespace crossbridge
