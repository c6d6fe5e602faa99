// GCRA buckets kept in this process: one TAT (int64 microseconds) per bucket
// key in a sharded hash map. The server's memory store and the SDK's local
// limiter are both this table; they differ only in how they read time and
// report errors.
//
// Thread safety: every method may be called from any thread concurrently.
// Each shard is an absl::Mutex over its own map; a bucket is evaluated
// (common/gcra.h) and updated under its shard's lock, so concurrent acquires
// on one bucket are exact (never more than the rule admits).
//
// Time is the caller's: `now_us` is microseconds on a monotonic clock, the
// same clock for every call on one table.
//
// Eviction (exact): a bucket whose TAT <= now is full, which is exactly what
// an absent bucket is, so erasing it changes no result. A shard sweeps out
// all such buckets when its size reaches its sweep threshold (initially
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
// if none can go, Acquire answers RESOURCE_EXHAUSTED and counts it in
// refused_new_buckets(). Until the earliest bucket of that shard refills,
// further new keys are refused at once, without another sweep, so a flood
// costs O(1) per request. Existing buckets are always updated, and peeks
// (cost 0) of unknown keys always answer (they store nothing).
#ifndef CROSSBRIDGE_COMMON_BUCKET_TABLE_H_
#define CROSSBRIDGE_COMMON_BUCKET_TABLE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "common/gcra.h"

namespace crossbridge {

class BucketTable {
 public:
  struct Limits {
    int64_t max_buckets = 1'000'000;  // values < 1 count as 1
    int64_t shards = 1;               // clamped to [1, max_buckets]
    int64_t cleanup_threshold = 10'000;  // total over all shards
  };
  explicit BucketTable(const Limits& limits);

  BucketTable(const BucketTable&) = delete;
  BucketTable& operator=(const BucketTable&) = delete;

  // GcraAcquire on the bucket `key` (absent = full). INVALID_ARGUMENT if the
  // rule did not come from GcraRule::Create or cost is outside
  // [0, capacity]; RESOURCE_EXHAUSTED for a new bucket at the memory bound.
  absl::StatusOr<GcraResult> Acquire(absl::string_view key,
                                     const GcraRule& rule, int64_t now_us,
                                     int64_t cost, bool up_to = false);
  // GcraReturn on an existing bucket only: an absent one is full, and a
  // bucket a return fills is erased, so returns never count against
  // max_buckets. INVALID_ARGUMENT if count is outside [1, capacity].
  absl::StatusOr<GcraResult> Return(absl::string_view key,
                                    const GcraRule& rule, int64_t now_us,
                                    int64_t count);

  // Live buckets over all shards (a snapshot; shards are read one by one).
  int64_t size() const;
  int64_t max_buckets() const { return max_buckets_; }
  // New buckets refused at the memory bound so far.
  int64_t refused_new_buckets() const {
    return refused_new_buckets_.load(std::memory_order_relaxed);
  }

 private:
  struct Shard {
    mutable absl::Mutex mu;
    absl::flat_hash_map<std::string, int64_t> tats ABSL_GUARDED_BY(mu);
    // Size at which the next insert sweeps out full buckets.
    int64_t sweep_at ABSL_GUARDED_BY(mu) = 0;
    // At the bound: the earliest TAT in the shard after the last sweep (no
    // sweep can free anything before then).
    int64_t refills_at ABSL_GUARDED_BY(mu) = 0;
  };

  Shard& ShardFor(absl::string_view key);
  // Makes room for one new key in `shard` (sweep, then the memory bound).
  // False if the shard is at its bound with no full bucket to drop.
  bool MakeRoomLocked(Shard& shard, int64_t now_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // Erases every bucket with TAT <= now_us, resets the sweep threshold and
  // records the earliest remaining TAT.
  void SweepLocked(Shard& shard, int64_t now_us)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const int64_t max_buckets_;        // >= 1
  const int64_t max_per_shard_;      // >= 1
  const int64_t cleanup_per_shard_;  // >= 1
  std::vector<std::unique_ptr<Shard>> shards_;  // size fixed at construction
  std::atomic<int64_t> refused_new_buckets_{0};
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_BUCKET_TABLE_H_
