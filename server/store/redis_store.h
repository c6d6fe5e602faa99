// Buckets in Redis, shared by every replica: the fleet-wide BucketStore.
//
// A few connections, each owned by one worker thread. Acquire() only queues
// the request on a worker (round robin) and returns; the worker drains its
// whole queue, writes it as one pipeline of EVALSHA calls of the GCRA script
// (server/store/redis_gcra_script.h) and completes each request from its
// reply, in order. No caller thread ever waits on Redis.
//
// Completion: `done` runs on a worker thread and must not block.
//  - A reply: the GcraResult computed by Redis (on Redis's clock).
//  - Redis unreachable, connection lost, error reply: UNAVAILABLE.
//  - No reply within storage.redis.timeout of the Acquire call (a slow Redis,
//    a long queue): DEADLINE_EXCEEDED, at the deadline.
// While a worker has no connection it fails requests at once (UNAVAILABLE)
// and reconnects in the background with capped, jittered exponential backoff.
// Every (re)connection loads the script; a NOSCRIPT reply (SCRIPT FLUSH)
// reloads it and retries the call once.
//
// Health: `listener` (given to Start) is told of every transition between
// reachable and unreachable, on a worker thread; each transition is also
// logged once (logger "redis").
#ifndef CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_
#define CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "common/clock.h"
#include "common/config.h"
#include "server/store/bucket_store.h"

namespace crossbridge {

class RedisStore final : public BucketStore {
 public:
  using HealthListener = std::function<void(bool reachable)>;

  // `clock` times the per-call deadlines; it must outlive the store.
  RedisStore(const RedisStorageConfig& config, const Clock& clock);
  // Stops the workers; requests still queued complete with UNAVAILABLE.
  ~RedisStore() override;

  // Starts the workers, which connect at once. Call once, before Acquire.
  void Start(HealthListener listener);

  void Acquire(absl::string_view bucket_key, const GcraRule& rule,
               int64_t cost, AcquireCallback done) override;

  // Whether the last connection attempt or call succeeded.
  bool reachable() const { return reachable_.load(std::memory_order_relaxed); }

 private:
  class Worker;
  friend class Worker;

  // Records a transition (logs and notifies once per change).
  void SetReachable(bool reachable, absl::string_view why);

  const RedisStorageConfig config_;
  const Clock& clock_;
  HealthListener listener_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> next_worker_{0};
  std::mutex transition_mu_;  // serializes SetReachable
  std::atomic<bool> reachable_{false};
  std::atomic<bool> ever_reported_{false};
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_REDIS_STORE_H_
