#include "server/service/retry_advisor_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "server/service/call_auth.h"
#include "server/service/raw_message.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {
namespace {

v1::JitterMode JitterToProto(JitterMode mode) {
  switch (mode) {
    case JitterMode::kNone: return v1::JITTER_NONE;
    case JitterMode::kFull: return v1::JITTER_FULL;
    case JitterMode::kEqual: return v1::JITTER_EQUAL;
    case JitterMode::kDecorrelated: return v1::JITTER_DECORRELATED;
  }
  return v1::JITTER_MODE_UNSPECIFIED;
}

v1::RetryReason ReasonToProto(RetryReason reason) {
  switch (reason) {
    case RetryReason::kRetryable: return v1::RETRYABLE;
    case RetryReason::kNotRetryable: return v1::NOT_RETRYABLE;
    case RetryReason::kAttemptsExhausted: return v1::ATTEMPTS_EXHAUSTED;
    case RetryReason::kDeadlineTooShort: return v1::DEADLINE_TOO_SHORT;
    case RetryReason::kBudgetExhausted: return v1::BUDGET_EXHAUSTED;
    case RetryReason::kDependencyUnhealthy: return v1::DEPENDENCY_UNHEALTHY;
  }
  return v1::RETRY_REASON_UNSPECIFIED;
}

// The request as the domain's RetryRequest, or INVALID_ARGUMENT.
absl::StatusOr<RetryRequest> FromProto(const v1::DecideRetryRequest& req) {
  RetryRequest out;
  if (req.attempt() < 1) {
    return absl::InvalidArgumentError("attempt: must be >= 1 (1 is the first call)");
  }
  if (req.attempt() > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("attempt: ", req.attempt(), " is above the limit of 1000"));
  }
  out.attempt = static_cast<int>(req.attempt());
  switch (req.failure_case()) {
    case v1::DecideRetryRequest::kGrpcCode: {
      absl::StatusOr<absl::StatusCode> code = ParseGrpcCode(req.grpc_code());
      if (!code.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("grpc_code: ", code.status().message()));
      }
      out.failure.grpc_code = *code;
      break;
    }
    case v1::DecideRetryRequest::kHttpStatus:
      if (req.http_status() < 100 || req.http_status() > 599) {
        return absl::InvalidArgumentError(absl::StrCat(
            "http_status: ", req.http_status(), " is not in 100..599"));
      }
      out.failure.http_status = static_cast<int>(req.http_status());
      break;
    case v1::DecideRetryRequest::FAILURE_NOT_SET:
      return absl::InvalidArgumentError(
          "failure: set grpc_code or http_status to the failure to decide about");
  }
  if (req.has_retry_after_ms()) {
    out.retry_after = absl::Milliseconds(static_cast<int64_t>(
        std::min<uint64_t>(req.retry_after_ms(), uint64_t{1} << 40)));
  }
  if (req.has_deadline_ms()) {
    out.deadline = absl::Milliseconds(static_cast<int64_t>(
        std::min<uint64_t>(req.deadline_ms(), uint64_t{1} << 40)));
  }
  return out;
}

}  // namespace

v1::RetryPolicy RetryPolicyToProto(absl::string_view name,
                                   const RetryPolicyConfig& policy) {
  v1::RetryPolicy out;
  out.set_name(std::string(name));
  out.set_max_attempts(static_cast<uint32_t>(policy.max_attempts));
  out.set_base_delay_ms(absl::ToInt64Milliseconds(policy.base_delay));
  out.set_max_delay_ms(absl::ToInt64Milliseconds(policy.max_delay));
  out.set_exponential_base(policy.exponential_base);
  out.set_jitter(JitterToProto(policy.jitter));
  for (int code : policy.retryable_codes) out.add_retryable_http_statuses(code);
  for (absl::StatusCode code : policy.retryable_grpc_codes) {
    out.add_retryable_grpc_codes(absl::StatusCodeToString(code));
  }
  out.set_min_attempt_ms(absl::ToInt64Milliseconds(policy.min_attempt_time));
  out.mutable_budget()->set_max_tokens(policy.budget.max_tokens);
  out.mutable_budget()->set_token_ratio(policy.budget.token_ratio);
  return out;
}

grpc::ServerUnaryReactor* RetryAdvisorService::DecideRetry(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(decide_retry_);
  if (absl::StatusOr<Caller> caller = auth_.Authorize(
          AuthorizationOf(*context), Scope::kRetry, "", "DecideRetry");
      !caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  v1::DecideRetryRequest proto;
  if (grpc::Status parsed = ParseRawRequest(*request, proto); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  absl::StatusOr<RetryRequest> req = FromProto(proto);
  if (!req.ok()) {
    timer.Finish(reactor, ToGrpcStatus(req.status()));
    return reactor;
  }
  advisor_.Decide(proto.policy(), *req, proto.dependency(),
                  [reactor, response, timer](absl::StatusOr<RetryDecision> d) {
                    if (!d.ok()) return timer.Finish(reactor, ToGrpcStatus(d.status()));
                    v1::DecideRetryResponse out;
                    out.set_retry(d->retry);
                    out.set_delay_ms(absl::ToInt64Milliseconds(d->delay));
                    out.set_reason(ReasonToProto(d->reason));
                    out.set_attempts_remaining(
                        static_cast<uint32_t>(d->attempts_remaining));
                    timer.Finish(reactor, SerializeRawResponse(out, *response));
                  });
  return reactor;
}

grpc::ServerUnaryReactor* RetryAdvisorService::GetRetryPolicy(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(get_retry_policy_);
  if (absl::StatusOr<Caller> caller = auth_.Authorize(
          AuthorizationOf(*context), Scope::kRead, "", "GetRetryPolicy");
      !caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  v1::GetRetryPolicyRequest proto;
  if (grpc::Status parsed = ParseRawRequest(*request, proto); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  absl::StatusOr<RetryPolicyConfig> policy = advisor_.Policy(proto.name());
  if (!policy.ok()) {
    timer.Finish(reactor, ToGrpcStatus(policy.status()));
    return reactor;
  }
  timer.Finish(reactor, SerializeRawResponse(
      RetryPolicyToProto(proto.name().empty() ? "default" : proto.name(), *policy),
      *response));
  return reactor;
}

}  // namespace crossbridge
