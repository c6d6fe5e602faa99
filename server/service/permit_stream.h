// One StreamPermits call: a bidirectional stream of id-tagged permit
// requests, each answered (same id) in completion order.
//
// Lifecycle: the token is checked once, at the start (a bad one finishes
// the stream with its error before anything is read). Then the reactor
// reads requests one after another and hands each to RateLimiter::Acquire
// as it arrives, so reading never waits for the store; at most
// kMaxInFlight items are with the limiter at a time (then reading pauses
// until answers drain). Each item's operation is authorized on its own: an
// operation the token may not use answers that item PERMISSION_DENIED.
// Answers are queued and written one at a time (a write with more queued
// behind it is sent with buffer_hint, so bursts coalesce). A request that
// does not parse ends the stream INVALID_ARGUMENT. The stream finishes OK
// once the client has half-closed and every item is answered and written;
// when the client cancels or the stream breaks, answers still to come are
// dropped and the stream finishes once the last of them has arrived.
//
// Threads: gRPC reactions and store completions may run concurrently; one
// mutex guards the state, and nothing is called on the reactor while it is
// held. The reactor frees itself in OnDone, which gRPC calls only after
// Finish, and Finish is called only when no item is with the limiter and
// no write is outstanding, so no completion can reach a freed stream.
#ifndef CROSSBRIDGE_SERVER_SERVICE_PERMIT_STREAM_H_
#define CROSSBRIDGE_SERVER_SERVICE_PERMIT_STREAM_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/server_callback.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "crossbridge/v1/rate_limiter.pb.h"
#include "server/auth/authenticator.h"
#include "server/rate_limiter.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {

class PermitStream final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  // Most items of one stream with the limiter at a time.
  static constexpr int kMaxInFlight = 1024;

  // Starts serving `context`'s stream; `limiter`, `auth` (and `method`,
  // may be null) must outlive it.
  static PermitStream* Start(grpc::CallbackServerContext& context,
                             RateLimiter& limiter, const Authenticator& auth,
                             GrpcMethodMetrics* method);

  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnDone() override;

 private:
  // What to do on the reactor once the lock is released.
  struct Next {
    bool read = false;
    bool write = false;
    bool write_hint = false;  // more answers queued behind this one
    bool finish = false;
    grpc::Status status;
  };

  PermitStream(grpc::CallbackServerContext& context, RateLimiter& limiter,
               const Authenticator& auth, GrpcMethodMetrics* method);

  // Handles one request read from the stream.
  void Dispatch(const v1::StreamPermitsRequest& request);
  // An item's answer: queued for writing.
  void Answer(uint64_t id, const absl::StatusOr<GcraResult>& result, bool from_limiter);
  Next Decide() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Do(Next next);

  const std::optional<absl::string_view> authorization_;
  RateLimiter& limiter_;
  const Authenticator& auth_;
  const RpcTimer timer_;
  std::string tenant_;
  grpc::ByteBuffer in_;  // the read in progress (one at a time)

  absl::Mutex mu_;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;   // items with the limiter
  bool paused_ ABSL_GUARDED_BY(mu_) = false;  // no read: too many in flight
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;  // half-closed or broken
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);  // what Finish will say
  std::deque<grpc::ByteBuffer> queue_ ABSL_GUARDED_BY(mu_);
  // The write in progress: set under mu_ by the thread that sets writing_,
  // then only gRPC reads it until OnWriteDone.
  grpc::ByteBuffer out_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_PERMIT_STREAM_H_
