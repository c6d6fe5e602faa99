// The fleet-wide store's Redis as the server sees it, whichever shape it has:
// one Redis (RedisExecutor) or a Redis Cluster (RedisClusterExecutor). The
// stores run their scripts through it (the ScriptExecutor contract); the
// server starts it, reports its health and exports its counters.
#ifndef CROSSBRIDGE_SERVER_REDIS_REDIS_BACKEND_H_
#define CROSSBRIDGE_SERVER_REDIS_REDIS_BACKEND_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/time/time.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class RedisBackend : public ScriptExecutor {
 public:
  using HealthListener = std::function<void(bool reachable)>;

  // What the store's Redis calls have done so far (monotonic counters; a
  // cluster's are the sum over its nodes).
  struct Stats {
    uint64_t calls = 0;              // Eval calls
    uint64_t failed_unconnected = 0; // completed at once: no connected link
    uint64_t failed_queue_full = 0;  // completed at once: connections full
    uint64_t timed_out_queued = 0;   // deadline passed before being sent
                                     // (Redis took no more bytes)
    uint64_t sent_unanswered = 0;    // sent, then no reply by the deadline or
                                     // the connection broke: may have run
    uint64_t error_replies = 0;      // Redis error replies passed on
    uint64_t connects = 0;           // successful (re)connections

    Stats& operator+=(const Stats& o) {
      calls += o.calls;
      failed_unconnected += o.failed_unconnected;
      failed_queue_full += o.failed_queue_full;
      timed_out_queued += o.timed_out_queued;
      sent_unanswered += o.sent_unanswered;
      error_replies += o.error_replies;
      connects += o.connects;
      return *this;
    }
  };

  // Starts connecting; `listener` hears every change of reachable() (on an
  // executor thread). Call once, after the stores have registered their
  // scripts and before the first Eval.
  virtual void Start(HealthListener listener) = 0;
  // Waits (at most `timeout`) until the first attempt to reach Redis has
  // ended either way; true if Redis is reachable then.
  virtual bool AwaitFirstAttempt(absl::Duration timeout) = 0;
  // Whether calls can be served now (a cluster: every master).
  virtual bool reachable() const = 0;
  // Why Redis was last unusable; empty if it never failed.
  virtual std::string last_error() const = 0;
  // Where Redis is, for messages and GetHealth: "host:port", or the cluster's
  // seed nodes.
  virtual std::string where() const = 0;
  virtual Stats stats() const = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_REDIS_BACKEND_H_
