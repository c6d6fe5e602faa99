// A BucketStore kept in this process: one TAT (int64 microseconds) per bucket
// in a sharded hash map. Used when storage.type is memory, and as the `local`
// fallback while Redis is unavailable.
//
// Thread safety: Acquire, Return and size() may be called from any thread
// concurrently. Each shard is an absl::Mutex over its own map; a bucket is
// evaluated (common/gcra.h) and updated under its shard's lock, so concurrent
// acquires on one bucket are exact (never more than the rule admits).
//
// Completion: `done` is called exactly once, inline on the calling thread,
// after the shard lock is released (it may call back into the store). It
// receives a GcraResult; InvalidArgument if cost < 0, cost > capacity or the
// rule did not come from GcraRule::Create; or UNAVAILABLE for a new bucket
// at the memory bound (below).
//
// Time: bucket arithmetic runs on the clock's monotonic time, so a wall
// clock step never refills or locks a bucket.
//
// Eviction (exact): a bucket whose TAT <= now is full, which is exactly what
// an absent bucket is, so erasing it changes no result. A shard sweeps out all
// such buckets when its size reaches its sweep threshold (initially
// max(1, cleanup_threshold / shards)); the next threshold is
// max(that, 2 * size after the sweep), so sweeping costs amortized O(1) per
// insert.
//
// Memory bound (exact, fail closed for new keys): at most max_buckets live
// buckets in total (each shard holds at most max_buckets / shards, at least
// 1; the shard count is reduced to max_buckets if that is smaller). A bucket
// that is not full is never evicted: forgetting it would hand its permits
// back, so a flood of fresh keys could reset (over-admit) any drained key.
// When a NEW bucket arrives at a full shard, the shard sweeps full buckets;
// if none can go, the new key is refused with UNAVAILABLE ("memory store
// full") and counted in refused_new_buckets(), and the caller's
// on_store_failure decides. Until the earliest bucket of that shard refills,
// further new keys are refused at once, without another sweep, so a flood
// costs O(1) per request. Existing buckets are always updated, and peeks
// (cost 0) of unknown keys always answer (they store nothing).
#ifndef CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_

#include <atomic>
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
#include "common/log_throttle.h"
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
               int64_t cost, bool up_to, AcquireCallback done) override;
  // Updates an existing bucket only: an absent one is full, and a bucket a
  // return fills is erased, so returns never count against max_buckets.
  void Return(absl::string_view bucket_key, const GcraRule& rule,
              int64_t count, AcquireCallback done) override;

  // Live buckets over all shards (a snapshot; shards are read one by one).
  int64_t size() const;
  // New buckets refused at the memory bound so far.
  int64_t refused_new_buckets() const {
    return refused_new_buckets_.load(std::memory_order_relaxed);
  }

 private:
  struct Shard {
    mutable absl::Mutex mu;
    // Bucket key -> TAT in microseconds of the clock's monotonic time.
    absl::flat_hash_map<std::string, int64_t> tats ABSL_GUARDED_BY(mu);
    // Size at which the next insert sweeps out full buckets.
    int64_t sweep_at ABSL_GUARDED_BY(mu) = 0;
    // At the bound: the earliest TAT in the shard after the last sweep (no
    // sweep can free anything before then).
    int64_t refills_at ABSL_GUARDED_BY(mu) = 0;
  };

  Shard& ShardFor(absl::string_view bucket_key);
  // Makes room for one new key in `shard` (sweep, then the memory bound).
  // False if the shard is at its bound with no full bucket to drop.
  bool MakeRoomLocked(Shard& shard, int64_t now_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Erases every bucket with TAT <= now_us, resets the sweep threshold and
  // records the earliest remaining TAT.
  void SweepLocked(Shard& shard, int64_t now_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Logs (throttled) and counts a refused new bucket.
  void NoteRefused();

  const Clock& clock_;
  const int64_t max_buckets_;        // >= 1
  const int64_t max_per_shard_;      // >= 1
  const int64_t cleanup_per_shard_;  // >= 1
  std::vector<std::unique_ptr<Shard>> shards_;  // size fixed at construction
  std::atomic<int64_t> refused_new_buckets_{0};
  LogThrottle refused_log_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_
