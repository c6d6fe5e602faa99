// The Redis plumbing every fleet-wide store shares: a few connections, each
// owned by one worker thread, running registered Lua scripts (the
// ScriptExecutor contract in script_executor.h).
//
// Routing: Eval() hands the call to a worker that is connected (round robin
// over those) and returns; the worker drains its whole queue, writes it as
// one pipeline of EVALSHA calls and completes each call from its reply, in
// order. No caller thread ever waits on Redis. When no worker is connected,
// Eval completes the call at once, inline, with UNAVAILABLE and the reason
// the last attempt failed; a worker that is reconnecting or backing off is
// never given calls, so a healthy connection is never held up by a broken
// one.
//
// Deadlines: every call has storage.redis.timeout from its Eval. A worker
// reads replies with a socket timeout no later than the earliest deadline
// in flight, so a hung Redis (SIGSTOP, DEBUG SLEEP) answers every call by
// its deadline: calls still queued fail then too. A read that times out
// breaks the connection (replies would be out of step): the worker drops it
// and reconnects in the background. The commands of such calls were already
// sent, so Redis may still run them when it wakes up (a permit taken but
// answered DEADLINE_EXCEEDED: the safe side). stats().sent_unanswered counts
// them, and a throttled warning logs them; at most one pipeline per worker
// per hang.
//
// Reconnects run on the worker's own thread while it is out of the routing,
// with capped, jittered exponential backoff after a refused connection and a
// short fixed pause after one that timed out (a hung Redis: each attempt
// already waited connect_timeout, and the next one should catch Redis the
// moment it wakes). The first worker to reconnect wakes the others. Every
// (re)connection loads the scripts; a NOSCRIPT reply (SCRIPT FLUSH) reloads
// them and retries the call once.
//
// Health: reachable() is true while at least one worker is connected; a
// connection idle for a second is checked with a PING, so a Redis that died
// or hung is noticed without traffic. the
// listener given to Start hears every change (on a worker thread), and each
// change is logged once with the reason (logger "redis"). last_error() is
// the reason of the last failure ("NOAUTH ...", "connection refused", ...).
// Redis error replies are logged once per kind (the first word: OOM,
// WRONGTYPE, ...) and then at most once a minute with a count.
//
// Bounds: at most kMaxQueuedPerWorker calls wait per worker; beyond that
// Eval fails the call at once (UNAVAILABLE), so no queue grows without
// bound when Redis is slow.
#ifndef CROSSBRIDGE_SERVER_REDIS_REDIS_EXECUTOR_H_
#define CROSSBRIDGE_SERVER_REDIS_REDIS_EXECUTOR_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/log_throttle.h"
#include "server/metrics/latency_histogram.h"
#include "server/redis/redis_connection.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class RedisExecutor final : public ScriptExecutor {
 public:
  using HealthListener = std::function<void(bool reachable)>;

  static constexpr size_t kMaxQueuedPerWorker = 16384;

  // What the executor has done so far (monotonic counters).
  struct Stats {
    uint64_t calls = 0;              // Eval calls
    uint64_t failed_unconnected = 0; // completed at once: no connected worker
    uint64_t failed_queue_full = 0;  // completed at once: queues full
    uint64_t timed_out_queued = 0;   // deadline passed before being sent
    uint64_t sent_unanswered = 0;    // sent, then no reply by the deadline or
                                     // the connection broke: may have run
    uint64_t error_replies = 0;      // Redis error replies passed on
    uint64_t connects = 0;           // successful (re)connections
  };

  // `clock` times the per-call deadlines and the backoff; it must outlive
  // the executor. `round_trips` (may be null) observes, for every reply,
  // the time from Eval to the reply.
  RedisExecutor(const RedisStorageConfig& config, const Clock& clock,
                LatencyHistogram* round_trips = nullptr);
  // Stops the workers; calls still queued complete with UNAVAILABLE.
  ~RedisExecutor() override;

  RedisExecutor(const RedisExecutor&) = delete;
  RedisExecutor& operator=(const RedisExecutor&) = delete;

  Script Register(const char* lua_source) override;

  // Starts the workers, which connect at once. Call once, before Eval.
  void Start(HealthListener listener);

  void Eval(Script script, absl::string_view key, Args args,
            ReplyCallback done) override;
  void EvalBatch(absl::Span<BatchCall> calls) override;

  // Whether at least one worker holds a working connection.
  bool reachable() const { return connected_workers_.load(std::memory_order_acquire) > 0; }
  // Why Redis was last unusable; empty if it never failed.
  std::string last_error() const;
  Stats stats() const;

  // "host:port", for messages.
  const std::string& where() const { return where_; }

 private:
  class Worker;
  friend class Worker;

  // A worker joined the routing with a new connection.
  void OnWorkerConnected(Worker& worker);
  // A worker lost its connection (it has already left connected_workers_)
  // or failed to make one: records why, logs and reports a change.
  void OnWorkerDisconnected(const absl::Status& why);
  // Counts and logs (throttled) a Redis error reply.
  void NoteErrorReply(absl::string_view text);
  // Counts and logs (throttled) calls sent whose replies never came.
  void NoteSentUnanswered(size_t n);

  const RedisStorageConfig config_;
  const Clock& clock_;
  LatencyHistogram* const round_trips_;
  const std::string where_;
  std::vector<const char*> scripts_;
  std::vector<std::string> shas_;  // SHA-1 of each script, by index
  HealthListener listener_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<uint64_t> next_worker_{0};
  std::atomic<int> connected_workers_{0};

  mutable absl::Mutex state_mu_;  // serializes transitions and their logs
  bool ever_connected_ ABSL_GUARDED_BY(state_mu_) = false;
  bool reported_down_ ABSL_GUARDED_BY(state_mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(state_mu_);
  LogThrottle error_reply_log_;

  struct Counters {
    std::atomic<uint64_t> calls{0}, failed_unconnected{0}, failed_queue_full{0},
        timed_out_queued{0}, sent_unanswered{0}, error_replies{0}, connects{0};
  };
  Counters counters_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_REDIS_EXECUTOR_H_
