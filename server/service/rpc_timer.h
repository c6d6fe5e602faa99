// RpcTimer: times one RPC (unary or stream) from its handler's start to its Finish and
// counts its status code (crossbridge_grpc_requests_total and
// crossbridge_grpc_request_duration_seconds). With metrics off (a null
// method) it neither reads the clock nor counts. Copyable and small, so a
// completion callback can carry it.
#ifndef CROSSBRIDGE_SERVER_SERVICE_RPC_TIMER_H_
#define CROSSBRIDGE_SERVER_SERVICE_RPC_TIMER_H_

#include <grpcpp/support/server_callback.h>
#include <grpcpp/support/status.h>

#include "absl/time/time.h"
#include "server/metrics/metrics.h"

namespace crossbridge {

class RpcTimer {
 public:
  explicit RpcTimer(GrpcMethodMetrics* method)
      : method_(method),
        start_(method != nullptr ? method->clock().MonotonicNow()
                                 : absl::InfinitePast()) {}

  // Finishes the call with `status`, counting it. `Reactor`: a
  // grpc::ServerUnaryReactor or a stream reactor.
  template <typename Reactor>
  void Finish(Reactor* reactor, const grpc::Status& status) const {
    if (method_ != nullptr) {
      method_->Record(status.error_code(), method_->clock().MonotonicNow() - start_);
    }
    reactor->Finish(status);
  }

 private:
  GrpcMethodMetrics* method_;
  absl::Time start_;
};

// The metrics of `method` ("crossbridge.v1.RateLimiter/AcquirePermit"), or
// null when `metrics` is.
inline GrpcMethodMetrics* MethodMetrics(Metrics* metrics, const char* method) {
  return metrics != nullptr ? &metrics->GrpcMethod(method) : nullptr;
}

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_RPC_TIMER_H_
