// envoy.service.ratelimit.v3.RateLimitService on gRPC's callback API: a
// thin adapter over EnvoyRateLimiter (envoy_rate_limiter.h has the
// semantics). ShouldRateLimit converts the request, hands it to the limiter
// and finishes the reactor from the limiter's completion; it never blocks.
// Errors are the limiter's, converted once (ToGrpcStatus): INVALID_ARGUMENT
// naming the field, UNAVAILABLE when the store failed under deny.
//
// Not authenticated: Envoy's ext rate-limit client sends no CrossBridge
// token, so with auth on this service stays open like grpc.health.v1
// (restrict it at the network level, or keep it on a private listener).
#ifndef CROSSBRIDGE_SERVER_ENVOY_ENVOY_RATE_LIMIT_SERVICE_H_
#define CROSSBRIDGE_SERVER_ENVOY_ENVOY_RATE_LIMIT_SERVICE_H_

#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "server/envoy/envoy_rate_limiter.h"
#include "server/metrics/metrics.h"

namespace crossbridge {

class EnvoyRateLimitService final
    : public envoy::service::ratelimit::v3::RateLimitService::CallbackService {
 public:
  // `limiter` and `metrics` (may be null: no RPC metrics) must outlive the
  // service. Calls are counted like CrossBridge's own RPCs
  // (crossbridge_grpc_requests_total{method="envoy.service.ratelimit.v3.
  // RateLimitService/ShouldRateLimit"}).
  EnvoyRateLimitService(EnvoyRateLimiter& limiter, Metrics* metrics);

  grpc::ServerUnaryReactor* ShouldRateLimit(
      grpc::CallbackServerContext* context,
      const envoy::service::ratelimit::v3::RateLimitRequest* request,
      envoy::service::ratelimit::v3::RateLimitResponse* response) override;

 private:
  EnvoyRateLimiter& limiter_;
  GrpcMethodMetrics* const should_rate_limit_;  // null: metrics off
};

// The proto request as the limiter's (exposed for tests).
EnvoyRequest FromProto(const envoy::service::ratelimit::v3::RateLimitRequest& request);
// The limiter's answer into `out`.
void ToProto(const EnvoyResponse& response,
             envoy::service::ratelimit::v3::RateLimitResponse* out);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_ENVOY_ENVOY_RATE_LIMIT_SERVICE_H_
