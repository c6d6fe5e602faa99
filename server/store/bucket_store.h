// Where bucket state lives. MemoryStore keeps it in this process; RedisStore
// (fleet-wide) in Redis. Both evaluate common/gcra.h atomically per bucket.
//
// Thread safety: Acquire may be called from any thread concurrently.
// Completion: `done` is called exactly once, either inline (memory store) or
// on a Redis connection's thread; it must not block. On store failure it
// receives a non-OK status (UNAVAILABLE for I/O and Redis errors,
// DEADLINE_EXCEEDED for a timeout, DATA_LOSS for a malformed reply,
// RESOURCE_EXHAUSTED when the memory store is at its bound); the caller
// applies the operation's store-failure policy.
#ifndef CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_

#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/gcra.h"

namespace crossbridge {

class BucketStore {
 public:
  using AcquireCallback = absl::AnyInvocable<void(absl::StatusOr<GcraResult>)>;

  virtual ~BucketStore() = default;

  // Takes `cost` permits (0 = peek; with `up_to`, between 1 and cost, see
  // GcraAcquire) from the bucket named `bucket_key` (built by BucketKey() in
  // server/redis/keyspace.h, the one owner of bucket names) under `rule`.
  // REQUIRES: cost <= rule.capacity.
  virtual void Acquire(absl::string_view bucket_key, const GcraRule& rule,
                       int64_t cost, bool up_to, AcquireCallback done) = 0;

  // One Acquire of a batch; `rule` must stay valid during AcquireBatch.
  struct Take {
    absl::string_view bucket_key;
    const GcraRule* rule = nullptr;
    int64_t cost = 1;
    bool up_to = false;
    AcquireCallback done;
  };
  // Every take as Acquire would (each `done` moved out, exactly once); the
  // Redis store sends them together, as one pipeline. This default runs
  // them one by one.
  virtual void AcquireBatch(absl::Span<Take> takes) {
    for (Take& t : takes) Acquire(t.bucket_key, *t.rule, t.cost, t.up_to, std::move(t.done));
  }

  // Gives back `count` unused permits to the bucket (GcraReturn): answers
  // the bucket after the return (remaining, limit, reset_after_ms).
  // REQUIRES: 1 <= count <= rule.capacity.
  virtual void Return(absl::string_view bucket_key, const GcraRule& rule,
                      int64_t count, AcquireCallback done) = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_
