#include "server/service/rate_limiter_service.h"

#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "common/grpc_status.h"

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

  v1::AcquirePermitRequest req;
  grpc::ByteBuffer copy(*request);  // the reader needs a mutable buffer
  grpc::ProtoBufferReader reader(&copy);
  if (!req.ParseFromZeroCopyStream(&reader)) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "request: not a valid crossbridge.v1.AcquirePermitRequest (truncated, "
        "malformed, or a string field is not UTF-8)"));
    return reactor;
  }
  std::optional<uint32_t> cost;
  if (req.has_cost()) cost = req.cost();

  limiter_.Acquire(
      req.operation(), req.key(), cost,
      [reactor, response](absl::StatusOr<GcraResult> result) {
        if (!result.ok()) {
          reactor->Finish(ToGrpcStatus(result.status()));
          return;
        }
        v1::AcquirePermitResponse resp;
        resp.set_allowed(result->allowed);
        resp.set_limit(ClampToUint32(result->limit));
        resp.set_remaining(ClampToUint32(result->remaining));
        resp.set_retry_after_ms(static_cast<uint64_t>(result->retry_after_ms));
        resp.set_reset_after_ms(static_cast<uint64_t>(result->reset_after_ms));
        bool own_buffer = false;
        grpc::Status status =
            grpc::GenericSerialize<grpc::ProtoBufferWriter,
                                   v1::AcquirePermitResponse>(resp, response,
                                                              &own_buffer);
        reactor->Finish(status);
      });
  return reactor;
}

}  // namespace crossbridge
