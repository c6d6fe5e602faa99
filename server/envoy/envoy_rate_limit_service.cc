#include "server/envoy/envoy_rate_limit_service.h"

#include <utility>

#include "common/grpc_status.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {

namespace rls = envoy::service::ratelimit::v3;

EnvoyRequest FromProto(const rls::RateLimitRequest& request) {
  EnvoyRequest r;
  r.domain = request.domain();
  r.hits_addend = request.hits_addend();
  for (const auto& d : request.descriptors()) {
    EnvoyDescriptorRequest& out = r.descriptors.emplace_back();
    for (const auto& e : d.entries()) out.entries.emplace_back(e.key(), e.value());
    if (d.has_limit()) {
      out.limit = EnvoyDescriptorRequest::Override{
          static_cast<int64_t>(d.limit().requests_per_unit()),
          static_cast<int>(d.limit().unit())};
    }
    if (d.has_hits_addend()) out.hits_addend = d.hits_addend().value();
  }
  return r;
}

void ToProto(const EnvoyResponse& response, rls::RateLimitResponse* out) {
  auto code = [](EnvoyCode c) {
    return c == EnvoyCode::kOk ? rls::RateLimitResponse::OK
                               : rls::RateLimitResponse::OVER_LIMIT;
  };
  out->set_overall_code(code(response.overall_code));
  for (const EnvoyDescriptorStatus& s : response.statuses) {
    rls::RateLimitResponse::DescriptorStatus* status = out->add_statuses();
    status->set_code(code(s.code));
    if (s.current_limit) {
      rls::RateLimitResponse::RateLimit* limit = status->mutable_current_limit();
      limit->set_requests_per_unit(static_cast<uint32_t>(s.current_limit->requests_per_unit));
      limit->set_unit(static_cast<rls::RateLimitResponse::RateLimit::Unit>(s.current_limit->unit));
      limit->set_name(s.current_limit->name);
    }
    status->set_limit_remaining(static_cast<uint32_t>(s.limit_remaining));
    google::protobuf::Duration* reset = status->mutable_duration_until_reset();
    reset->set_seconds(s.duration_until_reset_ms / 1000);
    reset->set_nanos(static_cast<int32_t>(s.duration_until_reset_ms % 1000) * 1'000'000);
  }
}

EnvoyRateLimitService::EnvoyRateLimitService(EnvoyRateLimiter& limiter, Metrics* metrics)
    : limiter_(limiter),
      should_rate_limit_(MethodMetrics(
          metrics, "envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit")) {}

grpc::ServerUnaryReactor* EnvoyRateLimitService::ShouldRateLimit(
    grpc::CallbackServerContext* context, const rls::RateLimitRequest* request,
    rls::RateLimitResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(should_rate_limit_);
  limiter_.ShouldRateLimit(FromProto(*request),
                           [reactor, response, timer](absl::StatusOr<EnvoyResponse> result) {
                             if (!result.ok()) {
                               timer.Finish(reactor, ToGrpcStatus(result.status()));
                               return;
                             }
                             ToProto(*result, response);
                             timer.Finish(reactor, grpc::Status::OK);
                           });
  return reactor;
}

}  // namespace crossbridge
