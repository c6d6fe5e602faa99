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
                           const HealthRegistry* health, uint32_t seed,
                           Metrics* metrics)
    : budgets_(budgets),
      local_budgets_(local_budgets),
      health_(health),
      metrics_(metrics),
      policies_(std::make_shared<const PolicySet>()),
      rng_(seed) {
  Apply(BuildPolicies(config));
}

std::shared_ptr<const RetryAdvisor::PolicySet> RetryAdvisor::BuildPolicies(
    const RetryConfig& config) const {
  const PolicySetPtr running = policies_.Get();
  auto set = std::make_shared<PolicySet>();
  set->enabled = config.enabled;
  for (const auto& [name, policy] : config.policies) {
    PolicyEntry& p = set->policies[name];
    p.config = policy;
    p.metrics = metrics_ != nullptr ? &metrics_->RetryPolicy(name) : nullptr;
    auto old = running->policies.find(name);
    p.tokens = old != running->policies.end()
                   ? old->second.tokens
                   : std::make_shared<std::atomic<double>>(policy.budget.max_tokens);
  }
  return set;
}

void RetryAdvisor::Apply(PolicySetPtr policies) {
  policies_.Publish(std::move(policies));
}

absl::StatusOr<const RetryAdvisor::PolicyEntry*> RetryAdvisor::Find(
    const PolicySet& set, absl::string_view name) {
  if (name.empty()) name = "default";
  auto it = set.policies.find(name);
  if (it != set.policies.end()) return &it->second;
  if (!IsValidPolicyName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy: ", QuoteForMessage(name), " ", kPolicyNameRule));
  }
  std::vector<std::string> known;
  for (const auto& [n, p] : set.policies) known.push_back(n);
  return absl::NotFoundError(absl::StrCat("policy: unknown retry policy \"",
                                          name, "\" (known: ",
                                          absl::StrJoin(known, ", "), ")"));
}

absl::StatusOr<RetryPolicyConfig> RetryAdvisor::Policy(absl::string_view name) const {
  const PolicySetPtr set = policies_.Get();
  absl::StatusOr<const PolicyEntry*> found = Find(*set, name);
  if (!found.ok()) return found.status();
  return (*found)->config;
}

RetryDecision RetryAdvisor::Compute(const RetryPolicyConfig& policy,
                                    const RetryRequest& request) {
  MutexLock lock(&rng_mu_);
  return DecideRetry(policy, request, rng_);
}

void RetryAdvisor::Decide(absl::string_view policy_name,
                          const RetryRequest& request,
                          absl::string_view dependency, Callback done) {
  PolicySetPtr set = policies_.Get();
  absl::StatusOr<const PolicyEntry*> found = Find(*set, policy_name);
  if (!found.ok()) return done(found.status());
  const PolicyEntry& policy = **found;
  if (!dependency.empty() && health_ != nullptr) {
    if (absl::Status s = health_->Get(dependency).status(); !s.ok()) {
      return done(absl::NotFoundError(
          absl::StrCat("dependency: ", s.message())));
    }
  }
  // Every decision is counted; `policy` lives as long as `set`.
  auto answer = [&policy](Callback& done, RetryDecision d) {
    if (policy.metrics != nullptr) policy.metrics->Record(d.reason);
    done(d);
  };
  if (!set->enabled) return answer(done, NoRetry(RetryReason::kNotRetryable));

  RetryDecision decision = Compute(policy.config, request);
  if (!decision.retry) return answer(done, decision);
  if (!dependency.empty() && health_ != nullptr && !health_->IsServing(dependency)) {
    return answer(done, NoRetry(RetryReason::kDependencyUnhealthy));
  }
  const RetryBudgetRule rule = BudgetRule(policy.config);
  if (rule.max_tokens <= 0) return answer(done, decision);
  const std::string name(policy_name.empty() ? "default" : policy_name);
  budgets_.Withdraw(
      name, rule,
      [this, set = std::move(set), &policy, name, rule, decision, answer,
       done = std::move(done)](absl::StatusOr<BudgetUpdate> update) mutable {
        // An update from either store moves the tokens gauge; with both
        // stores failing the retry goes ahead (a budget is a brake, not a
        // gate) and the gauge keeps its last value.
        auto finish = [set, &policy, decision, answer, done = std::move(done)](
                          const absl::StatusOr<BudgetUpdate>& u) mutable {
          if (u.ok()) policy.tokens->store(u->tokens, std::memory_order_relaxed);
          answer(done, !u.ok() || u->retry_allowed
                           ? decision
                           : NoRetry(RetryReason::kBudgetExhausted));
        };
        if (update.ok()) return finish(update);
        // The shared budget is unreachable: this replica's own budget.
        local_budgets_.Withdraw(name, rule,
                                [finish = std::move(finish)](
                                    absl::StatusOr<BudgetUpdate> local) mutable {
                                  finish(local);
                                });
      });
}

void RetryAdvisor::RecordSuccess(absl::string_view policy_name) {
  PolicySetPtr set = policies_.Get();
  absl::StatusOr<const PolicyEntry*> found = Find(*set, policy_name);
  if (!found.ok()) return;
  const PolicyEntry& policy = **found;
  const RetryBudgetRule rule = BudgetRule(policy.config);
  if (rule.max_tokens <= 0) return;
  const std::string name(policy_name.empty() ? "default" : policy_name);
  std::shared_ptr<std::atomic<double>> tokens = policy.tokens;
  budgets_.Deposit(name, rule, [this, name, rule, tokens](absl::StatusOr<BudgetUpdate> u) {
    if (u.ok()) return tokens->store(u->tokens, std::memory_order_relaxed);
    local_budgets_.Deposit(name, rule, [tokens](absl::StatusOr<BudgetUpdate> local) {
      if (local.ok()) tokens->store(local->tokens, std::memory_order_relaxed);
    });
  });
}

std::vector<std::pair<std::string, double>> RetryAdvisor::BudgetTokens() const {
  const PolicySetPtr set = policies_.Get();
  std::vector<std::pair<std::string, double>> out;
  for (const auto& [name, policy] : set->policies) {
    if (policy.config.budget.max_tokens <= 0) continue;
    out.emplace_back(name, policy.tokens->load(std::memory_order_relaxed));
  }
  return out;
}

}  // namespace crossbridge
