#include "server/service/permit_messages.h"

#include <algorithm>
#include <limits>
#include <string>

#include "common/grpc_status.h"

namespace crossbridge {
namespace {

uint32_t ClampToUint32(int64_t v) {
  return static_cast<uint32_t>(std::clamp<int64_t>(
      v, 0, std::numeric_limits<uint32_t>::max()));
}

}  // namespace

PermitRequest ToPermitRequest(const v1::AcquirePermitRequest& item) {
  PermitRequest request{item.operation(), item.key(), std::nullopt, item.up_to_cost()};
  if (item.has_cost()) request.cost = item.cost();
  return request;
}

void FillPermitResponse(const GcraResult& result, v1::AcquirePermitResponse& response) {
  response.set_allowed(result.allowed);
  response.set_limit(ClampToUint32(result.limit));
  response.set_remaining(ClampToUint32(result.remaining));
  response.set_retry_after_ms(static_cast<uint64_t>(result.retry_after_ms));
  response.set_reset_after_ms(static_cast<uint64_t>(result.reset_after_ms));
  response.set_granted(ClampToUint32(result.granted));
}

void FillPermitResult(const absl::StatusOr<GcraResult>& result, v1::PermitResult& out) {
  if (result.ok()) return FillPermitResponse(*result, *out.mutable_permit());
  const grpc::Status status = ToGrpcStatus(result.status());
  v1::PermitError& error = *out.mutable_error();
  error.set_code(static_cast<int32_t>(status.error_code()));
  error.set_message(status.error_message());
}

}  // namespace crossbridge
