// All-or-nothing GCRA over the several buckets of one ShouldRateLimit
// request. MemoryEnvoyStore keeps them in this process; RedisEnvoyStore in
// Redis, as one multi-key script call (all keys in one cluster slot: the
// keyspace hashes Envoy buckets by domain alone, server/redis/keyspace.h).
//
// AcquireAll semantics (both stores, atomic against every other call):
//  - The takes are evaluated in order at one instant (a bucket named twice
//    sees the earlier take's cost). A take of cost 0 peeks; a take whose
//    cost exceeds its capacity is refused (it could never be admitted).
//  - If any `blocking` take is refused (a peek too: no permit left), nothing is stored
//    (no take consumes) and `committed` is false. Otherwise every admitted
//    take is stored and `committed` is true; non-blocking refused takes
//    (shadow mode) consume nothing.
//  - results[i] is take i's own verdict: allowed, remaining (after its
//    cost, had it been taken), retry_after_ms, reset_after_ms.
//
// Thread safety: AcquireAll may be called from any thread. Completion:
// `done` runs exactly once, inline (memory) or on a Redis connection's
// thread; it must not block. Store failure: UNAVAILABLE (I/O, error reply,
// corrupt bucket, memory store full), DEADLINE_EXCEEDED, DATA_LOSS (a reply
// of the wrong shape); the caller applies envoy.on_store_failure.
#ifndef CROSSBRIDGE_SERVER_ENVOY_ENVOY_BUCKET_STORE_H_
#define CROSSBRIDGE_SERVER_ENVOY_ENVOY_BUCKET_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/gcra.h"

namespace crossbridge {

class EnvoyBucketStore {
 public:
  struct Take {
    std::string bucket_key;  // EnvoyBucketKey(), server/redis/keyspace.h
    GcraRule rule;
    int64_t cost = 1;  // >= 0
    bool blocking = true;  // false: shadow mode, never blocks the others
  };
  struct Outcome {
    bool committed = false;
    std::vector<GcraResult> results;  // one per take, in order
  };
  using Callback = absl::AnyInvocable<void(absl::StatusOr<Outcome>)>;

  virtual ~EnvoyBucketStore() = default;
  // REQUIRES: takes not empty; every rule from GcraRule::Create.
  virtual void AcquireAll(std::vector<Take> takes, Callback done) = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_ENVOY_ENVOY_BUCKET_STORE_H_
