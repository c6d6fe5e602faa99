// Buckets in Redis, shared by every replica: the fleet-wide BucketStore.
// Each Acquire is one EVALSHA of the GCRA script (redis_gcra_script.h) on
// the shared RedisExecutor, which pipelines, times out and reconnects (see
// redis_executor.h for the completion contract).
//
// Completion: `done` runs on an executor worker thread. A reply gives the
// GcraResult computed by Redis on Redis's clock; an error reply, a lost or
// absent connection give UNAVAILABLE; a missed deadline DEADLINE_EXCEEDED.
#ifndef CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_

#include "server/store/bucket_store.h"
#include "server/store/redis_executor.h"

namespace crossbridge {

class RedisStore final : public BucketStore {
 public:
  // Registers the GCRA script: construct before executor.Start(). The
  // executor must outlive the store.
  explicit RedisStore(RedisExecutor& executor);

  void Acquire(absl::string_view bucket_key, const GcraRule& rule,
               int64_t cost, AcquireCallback done) override;

 private:
  RedisExecutor& executor_;
  const RedisExecutor::Script script_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_
