// The proto side of a permit: crossbridge.v1 request items to the domain's
// PermitRequest, and GcraResults (or errors) back to responses. Shared by
// the unary, batch and stream handlers so the three answer alike.
#ifndef CROSSBRIDGE_SERVER_SERVICE_PERMIT_MESSAGES_H_
#define CROSSBRIDGE_SERVER_SERVICE_PERMIT_MESSAGES_H_

#include "absl/status/statusor.h"
#include "common/gcra.h"
#include "crossbridge/v1/rate_limiter.pb.h"
#include "server/rate_limiter.h"

namespace crossbridge {

// A view of `item` (it must outlive the result).
PermitRequest ToPermitRequest(const v1::AcquirePermitRequest& item);

// Fills `response` from an answered permit.
void FillPermitResponse(const GcraResult& result, v1::AcquirePermitResponse& response);

// One item's answer: the permit, or its error (code and message).
void FillPermitResult(const absl::StatusOr<GcraResult>& result, v1::PermitResult& out);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_PERMIT_MESSAGES_H_
