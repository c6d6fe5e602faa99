#include "client/client.h"

#include <grpc/support/time.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/status.h"

namespace crossbridge {
namespace {

using HealthProto = grpc::health::v1::HealthCheckResponse;

// A relative deadline (GPR_TIMESPAN): gRPC measures it on its monotonic
// clock from the start of the call, so we never read the system clock here.
void SetDeadline(grpc::ClientContext& context, absl::Duration deadline) {
  context.set_deadline(
      gpr_time_from_nanos(absl::ToInt64Nanoseconds(deadline), GPR_TIMESPAN));
}

v1::AcquirePermitRequest MakeRequest(absl::string_view operation,
                                     absl::string_view key,
                                     const AcquireOptions& options) {
  v1::AcquirePermitRequest request;
  request.set_operation(std::string(operation));
  request.set_key(std::string(key));
  // Always explicit: 0 (peek) must reach the server, which reads unset as 1.
  request.set_cost(options.cost);
  return request;
}

absl::StatusOr<Permit> ToPermit(const grpc::Status& status,
                                const v1::AcquirePermitResponse& response) {
  if (!status.ok()) return FromGrpcStatus(status);
  Permit permit;
  permit.allowed = response.allowed();
  permit.limit = response.limit();
  permit.remaining = response.remaining();
  permit.retry_after_ms = response.retry_after_ms();
  permit.reset_after_ms = response.reset_after_ms();
  return permit;
}

ServingStatus FromProto(HealthProto::ServingStatus status) {
  switch (status) {
    case HealthProto::SERVING:
      return ServingStatus::kServing;
    case HealthProto::NOT_SERVING:
      return ServingStatus::kNotServing;
    case HealthProto::SERVICE_UNKNOWN:
      return ServingStatus::kServiceUnknown;
    default:  // UNKNOWN and values newer than this proto.
      return ServingStatus::kUnknown;
  }
}

// Checked before sending: gRPC may still complete a call whose deadline is
// already past if the server is fast enough, which would make the contract racy.
absl::Status CheckDeadline(absl::Duration deadline) {
  if (deadline > absl::ZeroDuration()) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "deadline ", absl::FormatDuration(deadline), " is not positive"));
}

// State of one async AcquirePermit; owned by the call, freed when it ends.
struct AcquireCall {
  grpc::ClientContext context;
  v1::AcquirePermitRequest request;
  v1::AcquirePermitResponse response;
  Client::PermitCallback done;
  // Keeps the channel alive if the Client is destroyed mid-call.
  std::shared_ptr<grpc::Channel> channel;
};

}  // namespace

absl::string_view ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("target: must not be empty");
  }
  if (options.default_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("default_deadline: must be positive");
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options.credentials != nullptr ? options.credentials
                                     : grpc::InsecureChannelCredentials();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(options.target, credentials);
  if (channel == nullptr) {
    return absl::InvalidArgumentError("target: cannot create a channel to " +
                                      options.target);
  }
  return std::make_unique<Client>(std::move(channel),
                                  options.default_deadline);
}

Client::Client(std::shared_ptr<grpc::Channel> channel,
               absl::Duration default_deadline)
    : channel_(std::move(channel)),
      default_deadline_(default_deadline),
      rate_limiter_(v1::RateLimiter::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)) {}

absl::Duration Client::DeadlineOr(
    std::optional<absl::Duration> deadline) const {
  return deadline.value_or(default_deadline_);
}

absl::StatusOr<Permit> Client::AcquirePermit(absl::string_view operation,
                                             absl::string_view key,
                                             const AcquireOptions& options) {
  const absl::Duration deadline = DeadlineOr(options.deadline);
  RETURN_IF_ERROR(CheckDeadline(deadline));
  grpc::ClientContext context;
  SetDeadline(context, deadline);
  const v1::AcquirePermitRequest request = MakeRequest(operation, key, options);
  v1::AcquirePermitResponse response;
  const grpc::Status status =
      rate_limiter_->AcquirePermit(&context, request, &response);
  return ToPermit(status, response);
}

void Client::AcquirePermitAsync(absl::string_view operation,
                                absl::string_view key,
                                const AcquireOptions& options,
                                PermitCallback done) {
  const absl::Duration deadline = DeadlineOr(options.deadline);
  if (absl::Status s = CheckDeadline(deadline); !s.ok()) {
    done(std::move(s));
    return;
  }
  auto* call = new AcquireCall;
  SetDeadline(call->context, deadline);
  call->request = MakeRequest(operation, key, options);
  call->done = std::move(done);
  call->channel = channel_;
  rate_limiter_->async()->AcquirePermit(
      &call->context, &call->request, &call->response,
      [call](grpc::Status status) {
        std::unique_ptr<AcquireCall> owned(call);
        absl::StatusOr<Permit> result = ToPermit(status, owned->response);
        PermitCallback callback = std::move(owned->done);
        owned.reset();  // Free the call before user code runs.
        callback(std::move(result));
      });
}

absl::StatusOr<ServingStatus> Client::CheckHealth(
    absl::string_view service, std::optional<absl::Duration> deadline) {
  const absl::Duration call_deadline = DeadlineOr(deadline);
  RETURN_IF_ERROR(CheckDeadline(call_deadline));
  grpc::ClientContext context;
  SetDeadline(context, call_deadline);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(std::string(service));
  grpc::health::v1::HealthCheckResponse response;
  const grpc::Status status = health_->Check(&context, request, &response);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) {
    return ServingStatus::kServiceUnknown;  // Check's answer to unknown names.
  }
  if (!status.ok()) return FromGrpcStatus(status);
  return FromProto(response.status());
}

}  // namespace crossbridge
