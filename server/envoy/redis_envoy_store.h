// EnvoyBucketStore in Redis, shared by every replica: one EVALSHA of a
// multi-key Lua script per request (KEYS = the request's buckets, all in
// the domain's hash slot), so the all-or-nothing of envoy_bucket_store.h
// holds across replicas and in one round trip. Time is Redis's (TIME).
//
//   EVALSHA <sha> n <key 1..n> (<T µs> <capacity> <cost> <blocking 0|1>)*n
//   -> {committed (0|1), (allowed, remaining, retry_after_ms,
//       reset_after_ms)*n}
//
// A bucket holds the TAT in µs as a decimal string with PX = time until
// full (like redis_gcra_script.h). A value the script did not write fails
// the call (UNAVAILABLE, "CROSSBRIDGE corrupt envoy bucket") and nothing is
// stored; a reply of the wrong shape is DATA_LOSS.
#ifndef CROSSBRIDGE_SERVER_ENVOY_REDIS_ENVOY_STORE_H_
#define CROSSBRIDGE_SERVER_ENVOY_REDIS_ENVOY_STORE_H_

#include <vector>

#include "server/envoy/envoy_bucket_store.h"
#include "server/redis/redis_connection.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class RedisEnvoyStore final : public EnvoyBucketStore {
 public:
  // Registers the script: construct before the executor starts. The
  // executor must outlive the store.
  explicit RedisEnvoyStore(ScriptExecutor& executor);

  void AcquireAll(std::vector<Take> takes, Callback done) override;

 private:
  ScriptExecutor& executor_;
  const ScriptExecutor::Script script_;
};

// The script's reply for `takes`, or DATA_LOSS (exposed for tests).
absl::StatusOr<EnvoyBucketStore::Outcome> ParseEnvoyReply(
    const redisReply& reply, const std::vector<EnvoyBucketStore::Take>& takes);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_ENVOY_REDIS_ENVOY_STORE_H_
