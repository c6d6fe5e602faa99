// Fleet-wide health counts in Redis: keys "cb:v1:{health:<provider>}" hold
// the consecutive failures, "cb:v1:{probe:<provider>}" the probe lease. Both
// expire on their own (a day; the lease after 90% of an interval). See
// outcome_store.h for the contract; calls run on the shared RedisExecutor.
#ifndef CROSSBRIDGE_SERVER_HEALTH_REDIS_OUTCOME_STORE_H_
#define CROSSBRIDGE_SERVER_HEALTH_REDIS_OUTCOME_STORE_H_

#include "server/health/outcome_store.h"
#include "server/store/redis_executor.h"

namespace crossbridge {

class RedisOutcomeStore final : public OutcomeStore {
 public:
  // Registers its scripts: construct before executor.Start().
  explicit RedisOutcomeStore(RedisExecutor& executor);

  void RecordOutcome(absl::string_view provider, bool success,
                     CountCallback done) override;
  void ClaimProbe(absl::string_view provider, absl::Duration interval,
                  ClaimCallback done) override;

 private:
  RedisExecutor& executor_;
  const RedisExecutor::Script record_;
  const RedisExecutor::Script claim_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_HEALTH_REDIS_OUTCOME_STORE_H_
