// The Redis plumbing every fleet-wide store shares: a few connections
// (RedisLink, one thread each) running registered Lua scripts (the
// ScriptExecutor contract in script_executor.h).
//
// Routing: Eval() hands the call to a link that is connected (round robin
// over those), which writes it to the socket on the caller's thread and
// returns; the link's thread completes it from its reply (redis_link.h has
// the path). No caller thread ever waits on Redis, and no other thread
// stands between the caller and the socket. When no link is connected,
// Eval completes the call at once, inline, with UNAVAILABLE and the reason
// the last attempt failed; a link that is reconnecting or backing off is
// never given calls, so a healthy connection is never held up by a broken
// one.
//
// Deadlines: every call has storage.redis.timeout from its Eval. When the
// oldest call on a connection passes its deadline (a hung Redis: SIGSTOP,
// DEBUG SLEEP), every call on that connection fails then with
// DEADLINE_EXCEEDED and the connection is dropped and reconnected in the
// background (replies would be out of step). Calls already sent may still
// run when Redis wakes up (a permit taken but answered DEADLINE_EXCEEDED:
// the safe side). stats().sent_unanswered counts them, and a throttled
// warning logs them.
//
// Reconnects run on the link's own thread while it is out of the routing,
// with capped, jittered exponential backoff after a refused connection and a
// short fixed pause after one that timed out (a hung Redis: each attempt
// already waited connect_timeout, and the next one should catch Redis the
// moment it wakes). The first link to reconnect wakes the others. Every
// (re)connection loads the scripts; a NOSCRIPT reply (SCRIPT FLUSH) sends
// that call again once, as EVAL, which caches the script again.
//
// Health: reachable() is true while at least one link is connected; a
// connection idle for a second is checked with a PING, so a Redis that died
// or hung is noticed without traffic. The listener given to Start hears
// every change (on a link thread), and each change is logged once with the
// reason (logger "redis"). last_error() is the reason of the last failure
// ("NOAUTH ...", "connection refused", ...). Redis error replies are logged
// once per kind (the first word: OOM, WRONGTYPE, ...) and then at most once
// a minute with a count.
//
// Bounds: at most kMaxInFlightPerLink calls are in flight per connection;
// beyond that Eval fails the call at once (UNAVAILABLE), so nothing grows
// without bound when Redis is slow.
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
#include "server/redis/redis_backend.h"
#include "server/redis/redis_link.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class RedisExecutor final : public RedisBackend {
 public:
  static constexpr size_t kMaxInFlightPerLink = 16384;

  // `clock` times the per-call deadlines and the backoff; it must outlive
  // the executor. `round_trips` (may be null) observes, for every reply,
  // the time from Eval to the reply.
  RedisExecutor(const RedisStorageConfig& config, const Clock& clock,
                LatencyHistogram* round_trips = nullptr);
  // Stops the links; calls in flight complete with UNAVAILABLE.
  ~RedisExecutor() override;

  RedisExecutor(const RedisExecutor&) = delete;
  RedisExecutor& operator=(const RedisExecutor&) = delete;

  Script Register(const char* lua_source) override;

  // Starts the links, which connect at once.
  void Start(HealthListener listener) override;
  // Ends at the first link connected or the first attempt failed.
  bool AwaitFirstAttempt(absl::Duration timeout) override;

  void Eval(Script script, absl::string_view key, Args args,
            ReplyCallback done) override;
  void EvalBatch(absl::Span<BatchCall> calls) override;
  // Eval with the caller's deadline instead of now + timeout; with `asking`
  // the call goes right after an ASKING on the same connection (Redis
  // Cluster's ASK redirect). For RedisClusterExecutor, which re-sends calls
  // within their first deadline.
  // `more_keys`: KEYS[2..], as BatchCall::more_keys.
  void EvalAt(Script script, absl::string_view key, Args args, absl::Time deadline,
              bool asking, ReplyCallback done, Args more_keys = {});
  // EvalBatch with the caller's deadline.
  void EvalBatchAt(absl::Span<BatchCall> calls, absl::Time deadline) {
    Submit(calls, deadline, /*asking=*/false);
  }

  // Whether at least one link holds a working connection.
  bool reachable() const override {
    return connected_links_.load(std::memory_order_acquire) > 0;
  }
  std::string last_error() const override;
  Stats stats() const override;
  // "host:port".
  std::string where() const override { return where_; }
  const std::string& host() const { return config_.host; }

 private:
  friend class RedisLink;

  void Submit(absl::Span<BatchCall> calls, absl::Time deadline, bool asking);

  // A link joined the routing with a new connection.
  void OnLinkConnected(RedisLink& link);
  // A link lost its connection (it has already left connected_links_)
  // or failed to make one: records why, logs and reports a change.
  void OnLinkDisconnected(const absl::Status& why);
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
  std::vector<std::unique_ptr<RedisLink>> links_;
  std::atomic<uint64_t> next_link_{0};
  std::atomic<int> connected_links_{0};

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
