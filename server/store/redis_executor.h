// The Redis plumbing every fleet-wide store shares: a few connections, each
// owned by one worker thread, running registered Lua scripts.
//
// Eval() only queues the call on a worker (round robin) and returns; the
// worker drains its whole queue, writes it as one pipeline of EVALSHA calls
// and completes each call from its reply, in order. No caller thread ever
// waits on Redis.
//
// Completion: `done` runs exactly once on a worker thread and must not block.
//  - The script's reply (which may be a Redis error reply, e.g. WRONGTYPE).
//  - Redis unreachable, connection lost: UNAVAILABLE.
//  - No reply within storage.redis.timeout of the Eval call (a slow Redis,
//    a long queue): DEADLINE_EXCEEDED, at the deadline.
// While a worker has no connection it fails calls at once (UNAVAILABLE) and
// reconnects in the background with capped, jittered exponential backoff.
// Every (re)connection loads the scripts; a NOSCRIPT reply (SCRIPT FLUSH)
// reloads them and retries the call once.
//
// Health: the listener given to Start is told of every transition between
// reachable and unreachable, on a worker thread; each transition is also
// logged once (logger "redis").
#ifndef CROSSBRIDGE_SERVER_STORE_REDIS_EXECUTOR_H_
#define CROSSBRIDGE_SERVER_STORE_REDIS_EXECUTOR_H_

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/config.h"
#include "server/store/redis_connection.h"

namespace crossbridge {

class RedisExecutor {
 public:
  using ReplyCallback = std::function<void(absl::StatusOr<ReplyPtr>)>;
  using HealthListener = std::function<void(bool reachable)>;
  using Args = absl::InlinedVector<std::string, 4>;

  // A script known to the executor; the handle Register returns.
  struct Script {
    size_t index = 0;
  };

  // `clock` times the per-call deadlines; it must outlive the executor.
  RedisExecutor(const RedisStorageConfig& config, const Clock& clock);
  // Stops the workers; calls still queued complete with UNAVAILABLE.
  ~RedisExecutor();

  // Adds a Lua script. REQUIRES: before Start.
  Script Register(const char* lua_source);

  // Starts the workers, which connect at once. Call once, before Eval.
  void Start(HealthListener listener);

  // EVALSHA `script` with one key and `args`.
  void Eval(Script script, std::string key, Args args, ReplyCallback done);

  // Whether the last connection attempt or call succeeded.
  bool reachable() const { return reachable_.load(std::memory_order_relaxed); }

 private:
  class Worker;

  // Records a transition (logs and notifies once per change).
  void SetReachable(bool reachable, absl::string_view why);

  const RedisStorageConfig config_;
  const Clock& clock_;
  std::vector<const char*> scripts_;
  HealthListener listener_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> next_worker_{0};
  std::mutex transition_mu_;  // serializes SetReachable
  std::atomic<bool> reachable_{false};
  std::atomic<bool> ever_reported_{false};
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_REDIS_EXECUTOR_H_
