// grpc: grpc.health.v1.Health/Check(service "") on a fresh insecure channel
// with its own subchannel pool, so each probe really connects: a shared,
// cached channel could sit in reconnect backoff long after the target is
// back, and would report a recovered target as down.
#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "server/health/probers_internal.h"

namespace crossbridge {
namespace health_internal {

absl::Status GrpcProber::Probe(const HealthProviderConfig& provider,
                               absl::Duration timeout) const {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::shared_ptr<grpc::Channel> channel = grpc::CreateCustomChannel(
      provider.target, grpc::InsecureChannelCredentials(), args);
  auto stub = grpc::health::v1::Health::NewStub(channel);

  grpc::ClientContext context;
  context.set_deadline(GrpcTimeout(timeout));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  std::string where = absl::StrCat("grpc ", provider.target);
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::DeadlineExceededError(absl::StrCat(where, ": ", TimedOut(timeout)));
  }
  if (!status.ok()) {
    // grpc::StatusCode and absl::StatusCode share their numbering.
    return absl::UnavailableError(absl::StrCat(
        where, ": ",
        absl::StatusCodeToString(static_cast<absl::StatusCode>(status.error_code())),
        ": ", status.error_message()));
  }
  if (response.status() != grpc::health::v1::HealthCheckResponse::SERVING) {
    return absl::UnavailableError(absl::StrCat(
        where, ": status ",
        grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status())));
  }
  return absl::OkStatus();
}

}  // namespace health_internal
}  // namespace crossbridge
