// A BucketStore kept in this process: a BucketTable (common/bucket_table.h:
// sharding, exact eviction and the memory bound are described there) read
// with the clock's monotonic time. Used when storage.type is memory, and as
// the `local` fallback while Redis is unavailable.
//
// Thread safety: Acquire, Return and size() may be called from any thread
// concurrently; concurrent acquires on one bucket are exact.
//
// Completion: `done` is called exactly once, inline on the calling thread,
// after the shard lock is released (it may call back into the store). It
// receives a GcraResult; InvalidArgument if cost < 0, cost > capacity or the
// rule did not come from GcraRule::Create; or UNAVAILABLE ("memory store
// full") for a new bucket at storage.memory.max_buckets, counted in
// refused_new_buckets() and logged (throttled), so the caller's
// on_store_failure decides.
//
// Time: bucket arithmetic runs on the clock's monotonic time, so a wall
// clock step never refills or locks a bucket.
#ifndef CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "common/bucket_table.h"
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
  // Updates an existing bucket only (see BucketTable::Return).
  void Return(absl::string_view bucket_key, const GcraRule& rule,
              int64_t count, AcquireCallback done) override;

  // Live buckets over all shards (a snapshot).
  int64_t size() const { return table_.size(); }
  // New buckets refused at the memory bound so far.
  int64_t refused_new_buckets() const { return table_.refused_new_buckets(); }

 private:
  int64_t NowMicros() const;

  const Clock& clock_;
  BucketTable table_;
  LogThrottle refused_log_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_MEMORY_STORE_H_
