// Fleet-wide health counts in Redis: HealthCountKey(provider) holds the
// consecutive failures, ProbeLeaseKey(provider) the probe lease (both from
// server/redis/keyspace.h). Both expire on their own (a day; the lease after
// 90% of an interval). See outcome_store.h for the contract; calls run on
// the shared ScriptExecutor. A count that is not an integer (or of another
// type) makes INCR fail: the registry then counts locally, and the next
// success overwrites it. A reply of the wrong shape is DATA_LOSS.
#ifndef CROSSBRIDGE_SERVER_HEALTH_REDIS_OUTCOME_STORE_H_
#define CROSSBRIDGE_SERVER_HEALTH_REDIS_OUTCOME_STORE_H_

#include "server/health/outcome_store.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class RedisOutcomeStore final : public OutcomeStore {
 public:
  // Registers its scripts: construct before the executor starts.
  explicit RedisOutcomeStore(ScriptExecutor& executor);

  void RecordOutcome(absl::string_view provider, bool success,
                     CountCallback done) override;
  void ClaimProbe(absl::string_view provider, absl::Duration interval,
                  ClaimCallback done) override;

 private:
  ScriptExecutor& executor_;
  const ScriptExecutor::Script record_;
  const ScriptExecutor::Script claim_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_HEALTH_REDIS_OUTCOME_STORE_H_
