// Where bucket state lives. MemoryStore keeps it in this process; RedisStore
// (fleet-wide) in Redis. Both evaluate common/gcra.h atomically per bucket.
//
// Thread safety: Acquire may be called from any thread concurrently.
// Completion: `done` is called exactly once, either inline (memory store) or
// on a store worker thread (Redis); it must not block. On store failure it
// receives a non-OK status (UNAVAILABLE for I/O and Redis errors,
// DEADLINE_EXCEEDED for a timeout, DATA_LOSS for a malformed reply,
// RESOURCE_EXHAUSTED when the memory store is at its bound); the caller
// applies the operation's store-failure policy.
#ifndef CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/gcra.h"

namespace crossbridge {

class BucketStore {
 public:
  using AcquireCallback = std::function<void(absl::StatusOr<GcraResult>)>;

  virtual ~BucketStore() = default;

  // Takes `cost` permits (0 = peek) from the bucket named `bucket_key` (built
  // by BucketKey() in server/redis/keyspace.h, the one owner of bucket
  // names) under `rule`. REQUIRES: cost <= rule.capacity.
  virtual void Acquire(absl::string_view bucket_key, const GcraRule& rule,
                       int64_t cost, AcquireCallback done) = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_
