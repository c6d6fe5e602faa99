// gRPC adapter for crossbridge.v1.RateLimiter on the callback API. Thin:
// parses the request, calls RateLimiter::Acquire and finishes the reactor
// from the completion callback; never blocks a gRPC thread.
//
// The method is registered raw (server/service/raw_message.h).
#ifndef CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_
#define CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_

#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "server/rate_limiter.h"

namespace crossbridge {

class RateLimiterService final
    : public v1::RateLimiter::WithRawCallbackMethod_AcquirePermit<
          v1::RateLimiter::Service> {
 public:
  // `limiter` must outlive the service.
  explicit RateLimiterService(RateLimiter& limiter) : limiter_(limiter) {}

  grpc::ServerUnaryReactor* AcquirePermit(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

 private:
  RateLimiter& limiter_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_
