// Where retry budgets live (the gRPC retry-throttling token count of each
// retry policy). MemoryBudgetStore keeps them in this process;
// RedisBudgetStore in Redis, so every replica draws on one budget. Both apply
// WithdrawForRetry / DepositForSuccess (common/retry.h) atomically; a budget
// never seen starts full.
//
// Thread safety: any thread. Completion: `done` exactly once, inline or on a
// Redis connection's thread; it must not block. Store failure (the caller then
// uses its in-process fallback): UNAVAILABLE (no connection, a Redis error,
// a corrupt budget value, which the script resets to empty), DEADLINE_EXCEEDED,
// or DATA_LOSS for a malformed reply.
#ifndef CROSSBRIDGE_SERVER_RETRY_BUDGET_STORE_H_
#define CROSSBRIDGE_SERVER_RETRY_BUDGET_STORE_H_

#include <functional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/retry.h"
#include "server/redis/redis_connection.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class BudgetStore {
 public:
  using Callback = std::function<void(absl::StatusOr<BudgetUpdate>)>;
  virtual ~BudgetStore() = default;

  // A failure about to be retried: one token out.
  virtual void Withdraw(absl::string_view policy, const RetryBudgetRule& rule,
                        Callback done) = 0;
  // A success: token_ratio in.
  virtual void Deposit(absl::string_view policy, const RetryBudgetRule& rule,
                       Callback done) = 0;
};

class MemoryBudgetStore final : public BudgetStore {
 public:
  void Withdraw(absl::string_view policy, const RetryBudgetRule& rule,
                Callback done) override;
  void Deposit(absl::string_view policy, const RetryBudgetRule& rule,
               Callback done) override;

 private:
  BudgetUpdate Update(absl::string_view policy, const RetryBudgetRule& rule,
                      bool withdraw);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, double> tokens_ ABSL_GUARDED_BY(mu_);
};

// One key per policy (RetryBudgetKey in server/redis/keyspace.h); an idle
// budget expires after a day and then starts full again.
class RedisBudgetStore final : public BudgetStore {
 public:
  // Registers its script: construct before the executor starts.
  explicit RedisBudgetStore(ScriptExecutor& executor);

  void Withdraw(absl::string_view policy, const RetryBudgetRule& rule,
                Callback done) override;
  void Deposit(absl::string_view policy, const RetryBudgetRule& rule,
               Callback done) override;

 private:
  void Update(absl::string_view policy, const RetryBudgetRule& rule,
              bool withdraw, Callback done);

  ScriptExecutor& executor_;
  const ScriptExecutor::Script script_;
};

// The budget script's reply under `rule`, or DATA_LOSS (exposed for tests
// and the reply fuzzer).
absl::StatusOr<BudgetUpdate> ParseBudgetReply(const redisReply& reply,
                                              const RetryBudgetRule& rule);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_RETRY_BUDGET_STORE_H_
