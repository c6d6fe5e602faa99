#include "server/service/permit_stream.h"

#include <utility>

#include "common/grpc_status.h"
#include "common/mutex.h"
#include "server/service/call_auth.h"
#include "server/service/permit_messages.h"
#include "server/service/raw_message.h"

namespace crossbridge {

PermitStream* PermitStream::Start(grpc::CallbackServerContext& context,
                                  RateLimiter& limiter, const Authenticator& auth,
                                  GrpcMethodMetrics* method) {
  return new PermitStream(context, limiter, auth, method);
}

PermitStream::PermitStream(grpc::CallbackServerContext& context, RateLimiter& limiter,
                           const Authenticator& auth, GrpcMethodMetrics* method)
    : authorization_(AuthorizationOf(context)),
      limiter_(limiter),
      auth_(auth),
      timer_(method) {
  absl::StatusOr<Caller> caller =
      auth_.Authorize(authorization_, Scope::kAcquire, "", "StreamPermits");
  if (!caller.ok()) {
    {
      MutexLock lock(&mu_);
      finished_ = true;
    }
    timer_.Finish(this, ToGrpcStatus(caller.status()));
    return;
  }
  tenant_ = std::move(caller->tenant);
  StartRead(&in_);
}

void PermitStream::OnReadDone(bool ok) {
  if (ok) {
    v1::StreamPermitsRequest request;
    grpc::Status parsed = ParseRawRequest(in_, request);
    if (parsed.ok()) {
      Dispatch(request);
      Next next;
      {
        MutexLock lock(&mu_);
        if (in_flight_ < kMaxInFlight) {
          next.read = true;
        } else {
          paused_ = true;
        }
      }
      return Do(std::move(next));
    }
    MutexLock lock(&mu_);
    status_ = parsed;
  }
  Next next;
  {
    MutexLock lock(&mu_);
    read_closed_ = true;
    next = Decide();
  }
  Do(std::move(next));
}

void PermitStream::Dispatch(const v1::StreamPermitsRequest& request) {
  const uint64_t id = request.id();
  const v1::AcquirePermitRequest& item = request.item();
  if (absl::StatusOr<Caller> allowed = auth_.Authorize(
          authorization_, Scope::kAcquire, item.operation(), "StreamPermits");
      !allowed.ok()) {
    return Answer(id, allowed.status(), /*from_limiter=*/false);
  }
  {
    MutexLock lock(&mu_);
    ++in_flight_;
  }
  // The limiter reads `item` before Acquire returns.
  limiter_.Acquire(tenant_, ToPermitRequest(item),
                   [this, id](absl::StatusOr<GcraResult> result) {
                     Answer(id, result, /*from_limiter=*/true);
                   });
}

void PermitStream::Answer(uint64_t id, const absl::StatusOr<GcraResult>& result,
                          bool from_limiter) {
  v1::StreamPermitsResponse response;
  response.set_id(id);
  FillPermitResult(result, *response.mutable_result());
  grpc::ByteBuffer bytes;
  const grpc::Status serialized = SerializeRawResponse(response, bytes);
  Next next;
  {
    MutexLock lock(&mu_);
    if (from_limiter) --in_flight_;
    if (!serialized.ok() && status_.ok()) status_ = serialized;
    if (serialized.ok() && !write_failed_) queue_.push_back(std::move(bytes));
    if (paused_ && in_flight_ < kMaxInFlight) {
      paused_ = false;
      next.read = true;
    }
    Next decided = Decide();
    next.write = decided.write;
    next.write_hint = decided.write_hint;
    next.finish = decided.finish;
    next.status = decided.status;
  }
  Do(std::move(next));
}

void PermitStream::OnWriteDone(bool ok) {
  Next next;
  {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {  // the stream broke: nobody reads the answers any more
      write_failed_ = true;
      queue_.clear();
    }
    next = Decide();
  }
  Do(std::move(next));
}

PermitStream::Next PermitStream::Decide() {
  Next next;
  if (finished_) return next;
  if (!writing_ && !queue_.empty()) {
    writing_ = true;
    out_ = std::move(queue_.front());
    queue_.pop_front();
    next.write = true;
    next.write_hint = !queue_.empty();
    return next;
  }
  if (read_closed_ && in_flight_ == 0 && !writing_ && queue_.empty()) {
    finished_ = true;
    next.finish = true;
    next.status = status_;
  }
  return next;
}

void PermitStream::Do(Next next) {
  if (next.read) StartRead(&in_);
  if (next.write) {
    grpc::WriteOptions options;
    if (next.write_hint) options.set_buffer_hint();
    // out_ is not touched again until OnWriteDone (writing_ is set).
    StartWrite(&out_, options);
  }
  if (next.finish) timer_.Finish(this, next.status);
}

void PermitStream::OnDone() { delete this; }

}  // namespace crossbridge
