// gRPC adapter for crossbridge.v1.RateLimiter on the callback API. Thin:
// parses the request, authorizes it (scope acquire, its operation;
// server/service/call_auth.h), calls RateLimiter::Acquire with the caller's
// tenant and finishes the reactor from the completion callback; never
// blocks a gRPC thread. A request whose bytes do not parse is
// INVALID_ARGUMENT before any auth check (its operation is needed first).
//
// The method is registered raw (server/service/raw_message.h).
#ifndef CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_
#define CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_

#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "server/auth/authenticator.h"
#include "server/rate_limiter.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {

class RateLimiterService final
    : public v1::RateLimiter::WithRawCallbackMethod_AcquirePermit<
          v1::RateLimiter::Service> {
 public:
  // `limiter` and `auth` must outlive the service; `metrics` may be null
  // (off).
  RateLimiterService(RateLimiter& limiter, const Authenticator& auth,
                     Metrics* metrics = nullptr)
      : limiter_(limiter),
        auth_(auth),
        acquire_permit_(
            MethodMetrics(metrics, "crossbridge.v1.RateLimiter/AcquirePermit")) {}

  grpc::ServerUnaryReactor* AcquirePermit(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

 private:
  RateLimiter& limiter_;
  const Authenticator& auth_;
  GrpcMethodMetrics* const acquire_permit_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_
