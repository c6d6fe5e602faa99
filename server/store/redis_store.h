// Buckets in Redis, shared by every replica: the fleet-wide BucketStore.
// Each Acquire (and Return) is one EVALSHA of the GCRA script (redis_gcra_script.h) on
// the shared ScriptExecutor (server/redis/), which pipelines, times out and
// reconnects (see script_executor.h for the completion contract).
//
// Completion: `done` runs on an executor thread (or inline when Redis is
// unreachable). A well-formed reply gives the GcraResult computed by Redis
// on Redis's clock. Everything else fails the call, and the caller applies
// the operation's store-failure policy:
//  - an error reply (a corrupt bucket, WRONGTYPE, OOM), a lost or absent
//    connection: UNAVAILABLE;
//  - a missed deadline: DEADLINE_EXCEEDED;
//  - a reply of the wrong shape or with values no bucket can have (a hostile
//    or broken Redis): DATA_LOSS, naming what was wrong.
#ifndef CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_

#include "server/redis/redis_connection.h"
#include "server/redis/script_executor.h"
#include "server/store/bucket_store.h"

namespace crossbridge {

class RedisStore final : public BucketStore {
 public:
  // Registers the GCRA script: construct before the executor starts. The
  // executor must outlive the store.
  explicit RedisStore(ScriptExecutor& executor);

  void Acquire(absl::string_view bucket_key, const GcraRule& rule,
               int64_t cost, bool up_to, AcquireCallback done) override;
  // One EvalBatch: the takes go to Redis as one pipeline.
  void AcquireBatch(absl::Span<Take> takes) override;
  void Return(absl::string_view bucket_key, const GcraRule& rule,
              int64_t count, AcquireCallback done) override;

 private:
  struct ScriptArgs;
  // The executor's callback for one script call: the reply parsed under
  // `rule`, or the executor's error, to `done`.
  static ScriptExecutor::ReplyCallback Parsing(const GcraRule& rule,
                                               AcquireCallback done);

  ScriptExecutor& executor_;
  const ScriptExecutor::Script script_;
};

// The script's reply as a GcraResult under `rule`, or DATA_LOSS (exposed for
// tests and the reply fuzzer).
absl::StatusOr<GcraResult> ParseGcraReply(const redisReply& reply,
                                          const GcraRule& rule);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_
