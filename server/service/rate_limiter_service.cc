#include "server/service/rate_limiter_service.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "common/grpc_status.h"
#include "server/service/call_auth.h"
#include "server/service/raw_message.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {
namespace {

uint32_t ClampToUint32(int64_t v) {
  return static_cast<uint32_t>(std::clamp<int64_t>(
      v, 0, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

grpc::ServerUnaryReactor* RateLimiterService::AcquirePermit(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(acquire_permit_);

  v1::AcquirePermitRequest req;
  if (grpc::Status parsed = ParseRawRequest(*request, req); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  absl::StatusOr<Caller> caller = auth_.Authorize(
      AuthorizationOf(*context), Scope::kAcquire, req.operation(), "AcquirePermit");
  if (!caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  std::optional<uint32_t> cost;
  if (req.has_cost()) cost = req.cost();

  limiter_.Acquire(
      caller->tenant, req.operation(), req.key(), cost,
      [reactor, response, timer](absl::StatusOr<GcraResult> result) {
        if (!result.ok()) {
          timer.Finish(reactor, ToGrpcStatus(result.status()));
          return;
        }
        v1::AcquirePermitResponse resp;
        resp.set_allowed(result->allowed);
        resp.set_limit(ClampToUint32(result->limit));
        resp.set_remaining(ClampToUint32(result->remaining));
        resp.set_retry_after_ms(static_cast<uint64_t>(result->retry_after_ms));
        resp.set_reset_after_ms(static_cast<uint64_t>(result->reset_after_ms));
        timer.Finish(reactor, SerializeRawResponse(resp, *response));
      });
  return reactor;
}

}  // namespace crossbridge
