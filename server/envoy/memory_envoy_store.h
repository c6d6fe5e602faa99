// EnvoyBucketStore in this process: one map of TATs under one lock, so a
// request's takes over several buckets are atomic (envoy_bucket_store.h).
// Used for the memory backend and as the `local` fallback of the Redis one.
//
// Eviction is exact (a bucket whose TAT <= now is full, the same as absent):
// the map sweeps full buckets when it reaches its sweep size (doubling after
// a sweep). Bound: at most `max_buckets`; a request that would add a bucket
// beyond it fails UNAVAILABLE ("memory store full") and consumes nothing.
// Time: the clock's monotonic time.
#ifndef CROSSBRIDGE_SERVER_ENVOY_MEMORY_ENVOY_STORE_H_
#define CROSSBRIDGE_SERVER_ENVOY_MEMORY_ENVOY_STORE_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "server/envoy/envoy_bucket_store.h"

namespace crossbridge {

class MemoryEnvoyStore final : public EnvoyBucketStore {
 public:
  // `clock` must outlive the store.
  MemoryEnvoyStore(const Clock& clock, int64_t max_buckets);

  void AcquireAll(std::vector<Take> takes, Callback done) override;

  int64_t size() const;

 private:
  absl::StatusOr<Outcome> AcquireAllLocked(const std::vector<Take>& takes, int64_t now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  const int64_t max_buckets_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> tats_ ABSL_GUARDED_BY(mu_);
  size_t sweep_at_ ABSL_GUARDED_BY(mu_) = 1024;
};

// The verdict of one take on a bucket whose TAT is `tat_us` (shared by both
// stores' tests): GcraAcquire, except that a cost above the capacity is a
// refusal that peeks.
GcraResult EvaluateEnvoyTake(const GcraRule& rule, int64_t tat_us, int64_t now_us,
                             int64_t cost);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_ENVOY_MEMORY_ENVOY_STORE_H_
