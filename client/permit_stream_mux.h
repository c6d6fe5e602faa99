// The SDK's StreamPermits multiplexer: concurrent permit calls of one Client
// share one RateLimiter/StreamPermits stream (one per channel), each tagged
// with its own id.
//
// - Writes: one write on the stream at a time; calls arriving meanwhile
//   queue, and a queued write that has more behind it goes with
//   buffer_hint, so bursts leave in few TCP writes.
// - Deadlines: each call keeps its own. A call not answered by then ends
//   DEADLINE_EXCEEDED (its permit may still have been taken, as with a
//   unary call that timed out); a late answer is dropped.
// - A broken stream: its unanswered calls are sent again as unary
//   AcquirePermit calls with what is left of their deadlines (a call the
//   server had already decided may so take its permit twice: the safe side).
//   Calls go unary until the stream is reopened, after a backoff of 100 ms
//   doubling to 5 s (reset by an answer on a stream). UNIMPLEMENTED (a
//   server without StreamPermits) makes every later call unary.
// - `done` runs exactly once, on a gRPC thread or this object's timer
//   thread, never with a lock of this object held; never inline in Acquire.
//
// Thread safety: Acquire may be called from any thread concurrently. The
// destructor waits until every call has its answer (each within its
// deadline), then cancels the stream and waits for it to end. Do not
// destroy it from one of its callbacks.
#ifndef CROSSBRIDGE_CLIENT_PERMIT_STREAM_MUX_H_
#define CROSSBRIDGE_CLIENT_PERMIT_STREAM_MUX_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/server_rpcs.h"
#include "common/clock.h"
#include "crossbridge/v1/rate_limiter.pb.h"

namespace crossbridge {

class PermitStreamMux {
 public:
  // `rpcs` outlives this (its unary calls carry the resends); `clock`
  // (outlives this) times deadlines and the backoff on its monotonic time.
  PermitStreamMux(ServerRpcs& rpcs, const Clock& clock);
  PermitStreamMux(const PermitStreamMux&) = delete;
  PermitStreamMux& operator=(const PermitStreamMux&) = delete;
  ~PermitStreamMux();

  // REQUIRES: deadline > 0.
  void Acquire(v1::AcquirePermitRequest request, absl::Duration deadline,
               PermitDone done);

 private:
  class Stream;  // the gRPC reactor of one stream
  struct Call {
    v1::AcquirePermitRequest request;
    absl::Time deadline;
    PermitDone done;
  };
  // What to start on the stream once the lock is released.
  struct Write {
    Stream* stream = nullptr;
    bool hint = false;
  };

  // Takes the next queued call into the stream's write buffer (writing_
  // says whether there was one).
  Write NextWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  static void StartWrite(const Write& write);
  void MarkBrokenLocked(Stream& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnWriteDone(Stream* stream, bool ok);
  void OnReadFailed(Stream* stream);
  void OnAnswer(const v1::StreamPermitsResponse& response);
  void OnStreamDone(Stream* stream, const grpc::Status& status);
  // Sends `call` as a unary call (or fails it when its deadline passed).
  void SendUnary(Call call);
  void TimerLoop();

  // Ends the stream's hold once it is broken and no write is outstanding
  // (then gRPC may end it and OnDone follows). At most once per stream.
  bool ReleaseLocked(Stream& stream) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  ServerRpcs& rpcs_;
  const Clock& clock_;
  absl::Mutex mu_;
  // The open stream, null once it broke.
  Stream* stream_ ABSL_GUARDED_BY(mu_) = nullptr;
  // Every stream not yet freed (the open one, and those that ended since
  // the last one opened): freed when the next opens, or by the destructor.
  std::vector<std::unique_ptr<Stream>> streams_ ABSL_GUARDED_BY(mu_);
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Calls of the current stream not yet answered, by id; to_write_ holds
  // the ids not yet written (an id no longer in calls_ is skipped).
  absl::flat_hash_map<uint64_t, Call> calls_ ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> to_write_ ABSL_GUARDED_BY(mu_);
  std::set<std::pair<absl::Time, uint64_t>> deadlines_ ABSL_GUARDED_BY(mu_);
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // No stream before then (real time); calls go unary meanwhile.
  absl::Time reopen_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  bool unimplemented_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_timer_ ABSL_GUARDED_BY(mu_) = false;
  // Streams started and not yet done (the destructor waits for 0).
  int live_streams_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread timer_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_PERMIT_STREAM_MUX_H_
