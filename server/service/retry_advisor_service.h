// gRPC adapter for crossbridge.v1.RetryAdvisor on the callback API:
// authorizes the call (scope retry for DecideRetry, read for
// GetRetryPolicy; server/service/call_auth.h), checks the request fields, calls RetryAdvisor and finishes the reactor from its
// completion. Errors: INVALID_ARGUMENT naming the field (attempt, failure,
// grpc_code, http_status, policy, and the request itself when its bytes do
// not parse), NOT_FOUND for an unknown policy or dependency. Both methods
// are registered raw (server/service/raw_message.h).
#ifndef CROSSBRIDGE_SERVER_SERVICE_RETRY_ADVISOR_SERVICE_H_
#define CROSSBRIDGE_SERVER_SERVICE_RETRY_ADVISOR_SERVICE_H_

#include "crossbridge/v1/retry_advisor.grpc.pb.h"
#include "server/auth/authenticator.h"
#include "server/retry/retry_advisor.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {

// The proto form of a policy (shared with tests).
v1::RetryPolicy RetryPolicyToProto(absl::string_view name,
                                   const RetryPolicyConfig& policy);

class RetryAdvisorService final
    : public v1::RetryAdvisor::WithRawCallbackMethod_DecideRetry<
          v1::RetryAdvisor::WithRawCallbackMethod_GetRetryPolicy<
              v1::RetryAdvisor::Service>> {
 public:
  // `advisor` and `auth` must outlive the service; `metrics` may be null
  // (off).
  RetryAdvisorService(RetryAdvisor& advisor, const Authenticator& auth,
                      Metrics* metrics = nullptr)
      : advisor_(advisor),
        auth_(auth),
        decide_retry_(MethodMetrics(metrics, "crossbridge.v1.RetryAdvisor/DecideRetry")),
        get_retry_policy_(
            MethodMetrics(metrics, "crossbridge.v1.RetryAdvisor/GetRetryPolicy")) {}

  grpc::ServerUnaryReactor* DecideRetry(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* GetRetryPolicy(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;

 private:
  RetryAdvisor& advisor_;
  const Authenticator& auth_;
  GrpcMethodMetrics* const decide_retry_;
  GrpcMethodMetrics* const get_retry_policy_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_RETRY_ADVISOR_SERVICE_H_
