// One connection of a RedisExecutor and the thread that keeps it.
//
// The path of a call, with no thread in between: the caller's thread (a
// gRPC thread) appends the call's RESP command to the link's output and
// sends it on the socket itself (non-blocking), unless another thread is
// sending already or the link's thread is awake and about to: then that
// thread takes it along, so concurrent calls coalesce into one write.
// The link's own thread
// waits on the socket, parses replies as they arrive and completes each
// call, in order, on that thread: the reply callback (a gRPC reactor's
// Finish) runs there. When Redis stops taking bytes (a full socket buffer:
// Redis hung or slow), the rest is handed to the link's thread, which sends
// it when the socket drains; callers never block on Redis.
//
// The link's thread also connects (handshake and SCRIPT LOAD, blocking, on
// its own thread while the link is out of the routing), reconnects with
// capped jittered backoff, PINGs an idle connection every second, and drops
// the connection when the oldest call in flight passes its deadline (replies
// would be out of step after that), when Redis closes it, or when a send
// fails; every call in flight then fails with the reason. A NOSCRIPT reply
// (SCRIPT FLUSH, a restarted Redis) is answered by sending that call once
// more as EVAL of the script's source, which also caches the script again.
//
// Waits on the socket are in real time: the executor's clock must be the
// real one (RealClock), as it is everywhere but in unit tests of other
// modules.
#ifndef CROSSBRIDGE_SERVER_REDIS_REDIS_LINK_H_
#define CROSSBRIDGE_SERVER_REDIS_REDIS_LINK_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "server/redis/redis_connection.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class RedisExecutor;

// One call as the executor formatted it.
struct RedisCall {
  std::string command;  // EVALSHA ... (or an internal PING) in RESP
  ScriptExecutor::ReplyCallback done;
  absl::Time deadline;  // monotonic
  int script = -1;      // index of the script EVALSHA names; -1: internal
  bool resent = false;  // already sent again as EVAL after NOSCRIPT

  // A command of the link's own (PING, ASKING) whose reply nobody reads.
  static RedisCall Internal(absl::string_view resp, absl::Time deadline) {
    RedisCall call;
    call.command = std::string(resp);
    call.done = [](absl::StatusOr<ReplyPtr>) {};
    call.deadline = deadline;
    return call;
  }
};

class RedisLink {
 public:
  // `executor` owns the link and outlives it.
  RedisLink(RedisExecutor& executor, uint32_t seed);
  // Stops the thread; calls in flight fail with UNAVAILABLE.
  ~RedisLink();

  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Starts the thread, which connects at once.
  void Start();
  void Stop();

  // Takes all of `calls` (moved out, sent together, in order) if the link
  // is connected and has room for them; otherwise leaves them and answers
  // why not.
  enum class Enqueued { kYes, kNotConnected, kFull };
  Enqueued TryEnqueue(std::vector<RedisCall>& calls);

  // Another link reached Redis: reconnect now instead of after the backoff.
  void ReconnectNow();

 private:
  // Who sends what is in out_: nobody, a caller's thread, the link's thread
  // (Redis stopped taking bytes: it waits for the socket to drain), or
  // nobody ever again on this connection (a send failed).
  enum class Sender { kNone, kCaller, kLink, kBroken };

  void Run();
  // Not connected: waits until the next attempt is due, ReconnectNow, or
  // Stop. Returns true when stopping.
  bool WaitForReconnect();
  void Connect();
  absl::Status LoadScripts();
  void ScheduleReconnect(const absl::Status& why);
  // Serves the live connection until it breaks (returns true) or the link
  // stops (false); in both cases every call in flight has been answered.
  bool Serve();
  // Receives what the socket has, completes the calls whose replies came.
  absl::Status Receive();
  // Takes the connection out of the routing and fails every call in flight
  // with `why`. Unless stopping, counts them (DEADLINE_EXCEEDED: those never
  // sent as timed out in the queue; the others as sent but unanswered) and
  // schedules the reconnect.
  void Drop(const absl::Status& why, bool stopping);
  // Completes `call` from its reply, or sends it again as EVAL after NOSCRIPT.
  void Complete(RedisCall& call, ReplyPtr reply);

  // Adds `calls` to what is in flight and sends them unless another thread
  // is sending (it takes them along). `lock` holds mu_.
  void Send(MutexLock& lock, std::vector<RedisCall>& calls)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends out_ unless another thread is sending (it takes it along).
  void FlushLocked(MutexLock& lock) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Sends out_ until it is empty, Redis stops taking bytes or a send fails.
  // REQUIRES: sender_ == who; releases mu_ while sending.
  void SendLocked(MutexLock& lock, Sender who) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wakes the link's thread from its wait on the socket.
  void Wake();

  RedisExecutor& executor_;
  std::thread thread_;
  const int wake_fd_;  // eventfd: Wake() -> the thread's poll

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;  // in the routing
  bool reconnect_now_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<RedisCall> in_flight_ ABSL_GUARDED_BY(mu_);  // in send order
  std::string out_ ABSL_GUARDED_BY(mu_);  // RESP of the last calls, not sent yet
  size_t unsent_calls_ ABSL_GUARDED_BY(mu_) = 0;  // calls wholly in out_
  Sender sender_ ABSL_GUARDED_BY(mu_) = Sender::kNone;
  // The link's thread is awake (not waiting on the socket): it sends out_
  // before it waits again, so callers need not. Set true without mu_ (a
  // caller that misses it just sends itself), false only under mu_ right
  // after that thread has flushed out_, so nothing left behind is stranded.
  std::atomic<bool> busy_{true};
  absl::Status send_error_ ABSL_GUARDED_BY(mu_);
  int fd_ ABSL_GUARDED_BY(mu_) = -1;  // the live connection's socket
  // The bytes being sent; touched only by whoever sender_ names.
  std::string sending_;

  // Owned by the link's thread.
  std::unique_ptr<RedisConnection> conn_;
  std::vector<ReplyPtr> replies_;  // scratch: replies of one receive
  std::vector<RedisCall> answered_;  // scratch: their calls
  absl::Time last_reply_at_;  // monotonic
  bool noscript_logged_ = false;  // on this connection
  absl::Time next_connect_at_ = absl::InfinitePast();  // monotonic
  absl::Duration backoff_;
  std::mt19937 rng_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_REDIS_LINK_H_
