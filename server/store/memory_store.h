// A BucketStore kept in this process: one TAT (int64 microseconds) per bucket
// in a sharded hash map. Used when storage.type is memory, and as the `local`
// fallback while Redis is unavailable.
//
// Thread safety: Acquire and size() may be called from any thread
// concurrently. Each shard is an absl::Mutex over its own map; a bucket is
// evaluated (common/gcra.h) and updated under its shard's lock, so concurrent
// acquires on one bucket are exact (never more than the rule admits).
//
// Completion: `done` is called exactly once, inline on the calling thread,
// after the shard lock is released (it may call back into the store). It
// receives a GcraResult, or InvalidArgument if cost < 0, cost > capacity or
// the rule did not come from GcraRule::Create. The store never fails
// otherwise.
//
// Eviction (exact): a bucket whose TAT <= now is full, which is exactly what
// an absent bucket is, so erasing it changes no result. A shard sweeps out all
// such buckets when its size reaches its sweep threshold (initially
// max(1, cleanup_threshold / shards)); the next threshold is
// max(that, 2 * size after the sweep), so sweeping costs amortized O(1) per
// insert.
//
// Memory bound (inexact): at most max_buckets live buckets in total (each
// shard holds at most max_buckets / shards, at least 1; the shard count is
// reduced to max_buckets if that is smaller). When a NEW bucket arrives at a
// full shard, the shard first sweeps; if still at least 7/8 full it evicts
// the buckets with the smallest TAT (the closest to full) until 1/8 of it is
// free. An evicted bucket that was not yet full comes back full: under memory
// pressure a key may get back the few permits it was short of. Buckets
// already in the store are never refused an update.
#ifndef CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/gcra.h"
#include "server/store/bucket_store.h"

namespace crossbridge {

class MemoryStore final : public BucketStore {
 public:
  // `clock` must outlive the store. `cleanup_threshold` is
  // RateLimitingConfig::cleanup_threshold (total over all shards).
  MemoryStore(const Clock& clock, const MemoryStorageConfig& config,
              int64_t cleanup_threshold);

  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  void Acquire(absl::string_view bucket_key, const GcraRule& rule,
               int64_t cost, AcquireCallback done) override;

  // Live buckets over all shards (a snapshot; shards are read one by one).
  int64_t size() const;

 private:
  struct Shard {
    mutable absl::Mutex mu;
    // Bucket key -> TAT in Unix microseconds.
    absl::flat_hash_map<std::string, int64_t> tats ABSL_GUARDED_BY(mu);
    // Size at which the next insert sweeps out full buckets.
    int64_t sweep_at ABSL_GUARDED_BY(mu) = 0;
  };

  Shard& ShardFor(absl::string_view bucket_key);
  // Makes room for one new key in `shard` (sweep, then the memory bound).
  void MakeRoomLocked(Shard& shard, int64_t now_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Erases every bucket with TAT <= now_us and resets the sweep threshold.
  void SweepLocked(Shard& shard, int64_t now_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Erases the `count` buckets with the smallest TAT.
  static void EvictClosestToFullLocked(Shard& shard, int64_t count)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const Clock& clock_;
  const int64_t max_per_shard_;      // >= 1
  const int64_t cleanup_per_shard_;  // >= 1
  std::vector<std::unique_ptr<Shard>> shards_;  // size fixed at construction
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_
