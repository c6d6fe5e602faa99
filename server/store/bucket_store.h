// Where bucket state lives. MemoryStore keeps it in this process; RedisStore
// (fleet-wide) in Redis. Both evaluate common/gcra.h atomically per bucket.
//
// Thread safety: Acquire may be called from any thread concurrently.
// Completion: `done` is called exactly once, either inline (memory store) or
// on a store worker thread (Redis); it must not block. On store failure it
// receives UNAVAILABLE (I/O, connection) or DEADLINE_EXCEEDED (timeout); the
// caller applies the operation's store-failure policy.
#ifndef CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/gcra.h"

namespace crossbridge {

class BucketStore {
 public:
  using AcquireCallback = std::function<void(absl::StatusOr<GcraResult>)>;

  virtual ~BucketStore() = default;

  // Takes `cost` permits (0 = peek) from the bucket named `bucket_key` (see
  // BucketKey()) under `rule`. REQUIRES: cost <= rule.capacity.
  virtual void Acquire(absl::string_view bucket_key, const GcraRule& rule,
                       int64_t cost, AcquireCallback done) = 0;
};

// The storage key of a bucket: "cb:v1:{<operation>:<key>}". Operation names
// contain no ':' (config validation), so distinct (operation, key) pairs never
// share a key; the hash tag keeps a bucket on one Redis Cluster slot.
std::string BucketKey(absl::string_view operation, absl::string_view key);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_BUCKET_STORE_H_
