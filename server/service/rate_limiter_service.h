// gRPC adapter for crossbridge.v1.RateLimiter on the callback API. Thin:
// parses the request, authorizes it (scope acquire, its operation;
// server/service/call_auth.h), calls the RateLimiter with the caller's
// tenant and finishes the reactor from the completion callback; never
// blocks a gRPC thread. A request whose bytes do not parse is
// INVALID_ARGUMENT before any auth check (its operation is needed first).
//
//  AcquirePermit   one permit (RateLimiter::Acquire).
//  AcquirePermits  1..kMaxBatchItems items (more or none: INVALID_ARGUMENT
//                  naming `items`) through RateLimiter::AcquireBatch (one
//                  store batch); each item's answer or its own error, in
//                  request order. A bad or missing token fails the RPC
//                  (UNAUTHENTICATED); an operation the token may not use
//                  fails only its item (PERMISSION_DENIED).
//  StreamPermits   the same per item over a bidi stream (permit_stream.h).
//  ReturnPermits   RateLimiter::Return.
//
// Every method is registered raw (server/service/raw_message.h).
#ifndef CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_
#define CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_

#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "server/auth/authenticator.h"
#include "server/rate_limiter.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {

// Most items in one AcquirePermits request.
inline constexpr int kMaxBatchItems = 1000;

class RateLimiterService final
    : public v1::RateLimiter::WithRawCallbackMethod_AcquirePermit<
          v1::RateLimiter::WithRawCallbackMethod_AcquirePermits<
              v1::RateLimiter::WithRawCallbackMethod_StreamPermits<
                  v1::RateLimiter::WithRawCallbackMethod_ReturnPermits<
                      v1::RateLimiter::Service>>>> {
 public:
  // `limiter` and `auth` must outlive the service; `metrics` may be null
  // (off).
  RateLimiterService(RateLimiter& limiter, const Authenticator& auth,
                     Metrics* metrics = nullptr)
      : limiter_(limiter),
        auth_(auth),
        acquire_permit_(
            MethodMetrics(metrics, "crossbridge.v1.RateLimiter/AcquirePermit")),
        acquire_permits_(
            MethodMetrics(metrics, "crossbridge.v1.RateLimiter/AcquirePermits")),
        stream_permits_(
            MethodMetrics(metrics, "crossbridge.v1.RateLimiter/StreamPermits")),
        return_permits_(
            MethodMetrics(metrics, "crossbridge.v1.RateLimiter/ReturnPermits")) {}

  grpc::ServerUnaryReactor* AcquirePermit(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* AcquirePermits(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamPermits(
      grpc::CallbackServerContext* context) override;
  grpc::ServerUnaryReactor* ReturnPermits(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

 private:
  RateLimiter& limiter_;
  const Authenticator& auth_;
  GrpcMethodMetrics* const acquire_permit_;
  GrpcMethodMetrics* const acquire_permits_;
  GrpcMethodMetrics* const stream_permits_;
  GrpcMethodMetrics* const return_permits_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_RATE_LIMITER_SERVICE_H_
