#include "client/server_rpcs.h"

#include <grpc/support/time.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "common/grpc_time.h"
#include "common/mutex.h"
#include "common/status.h"

namespace crossbridge {
namespace {

using HealthProto = grpc::health::v1::HealthCheckResponse;

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

RetryReason FromProtoReason(v1::RetryReason reason, bool retry) {
  switch (reason) {
    case v1::RETRYABLE:
      return RetryReason::kRetryable;
    case v1::NOT_RETRYABLE:
      return RetryReason::kNotRetryable;
    case v1::ATTEMPTS_EXHAUSTED:
      return RetryReason::kAttemptsExhausted;
    case v1::DEADLINE_TOO_SHORT:
      return RetryReason::kDeadlineTooShort;
    case v1::BUDGET_EXHAUSTED:
      return RetryReason::kBudgetExhausted;
    case v1::DEPENDENCY_UNHEALTHY:
      return RetryReason::kDependencyUnhealthy;
    default:  // Unspecified or newer than this proto.
      return retry ? RetryReason::kRetryable : RetryReason::kNotRetryable;
  }
}

JitterMode FromProtoJitter(v1::JitterMode mode) {
  switch (mode) {
    case v1::JITTER_NONE:
      return JitterMode::kNone;
    case v1::JITTER_EQUAL:
      return JitterMode::kEqual;
    case v1::JITTER_DECORRELATED:
      return JitterMode::kDecorrelated;
    default:  // JITTER_FULL, unspecified, newer values: the default.
      return JitterMode::kFull;
  }
}

// Whole milliseconds, rounded up, never negative.
uint64_t CeilMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<uint64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1))));
}

// Milliseconds from the wire, bounded so a hostile value cannot overflow.
absl::Duration WireMillis(uint64_t ms) {
  return absl::Milliseconds(
      static_cast<int64_t>(std::min<uint64_t>(ms, uint64_t{1} << 40)));
}

v1::ReportOutcomeRequest MakeOutcome(absl::string_view provider, bool success,
                                     absl::Duration latency,
                                     absl::string_view code) {
  v1::ReportOutcomeRequest request;
  request.set_provider(std::string(provider));
  request.set_success(success);
  request.set_latency_ms(static_cast<uint64_t>(
      std::max<int64_t>(0, absl::ToInt64Milliseconds(latency))));
  request.set_code(std::string(code));
  return request;
}

// State of one async unary call; owned by the call, freed when it ends.
template <typename Request, typename Response>
struct AsyncCall {
  grpc::ClientContext context;
  Request request;
  Response response;
  absl::AnyInvocable<void(const grpc::Status&, const Response&)> finish;
};

}  // namespace

absl::Status CheckDeadline(absl::Duration deadline) {
  if (deadline > absl::ZeroDuration()) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "deadline ", absl::FormatDuration(deadline), " is not positive"));
}

Permit ToPermit(const v1::AcquirePermitResponse& response) {
  Permit permit;
  permit.allowed = response.allowed();
  permit.limit = response.limit();
  permit.remaining = response.remaining();
  permit.retry_after_ms = response.retry_after_ms();
  permit.reset_after_ms = response.reset_after_ms();
  permit.granted = response.granted();
  return permit;
}

absl::StatusOr<Permit> FromPermitResult(const v1::PermitResult& result) {
  if (result.has_permit()) return ToPermit(result.permit());
  if (!result.has_error()) {
    return absl::InternalError("the server's permit result holds no outcome");
  }
  const int code = result.error().code();
  // An out-of-range or OK code is not a usable error: UNKNOWN keeps it one.
  const absl::StatusCode status_code =
      code > 0 && code <= 16 ? static_cast<absl::StatusCode>(code)
                             : absl::StatusCode::kUnknown;
  return absl::Status(status_code, result.error().message());
}

ServerRpcs::ServerRpcs(std::shared_ptr<grpc::Channel> channel,
                       absl::Duration default_deadline, absl::string_view token)
    : channel_(std::move(channel)),
      default_deadline_(default_deadline),
      authorization_(token.empty() ? std::string()
                                   : absl::StrCat("Bearer ", token)),
      rate_limiter_(v1::RateLimiter::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)),
      retry_advisor_(v1::RetryAdvisor::NewStub(channel_)),
      health_reporter_(v1::HealthReporter::NewStub(channel_)),
      in_flight_(std::make_shared<InFlight>()) {}

ServerRpcs::~ServerRpcs() {
  // Every async call has a deadline, so this wait is bounded.
  MutexLock lock(&in_flight_->mu);
  InFlight& in_flight = *in_flight_;
  lock.Await([&in_flight]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return in_flight.count == 0;
  });
}

void ServerRpcs::PrepareContext(grpc::ClientContext& context,
                                std::optional<absl::Duration> deadline) const {
  if (deadline.has_value()) context.set_deadline(GrpcTimeout(*deadline));
  if (!authorization_.empty()) {
    context.AddMetadata("authorization", authorization_);
  }
}

template <typename Request, typename Response, typename Start, typename Finish>
void ServerRpcs::StartAsync(Request request, absl::Duration deadline,
                            Start start, Finish finish) {
  auto* call = new AsyncCall<Request, Response>;
  PrepareContext(call->context, deadline);
  call->request = std::move(request);
  call->finish = std::move(finish);
  {
    MutexLock lock(&in_flight_->mu);
    ++in_flight_->count;
  }
  start(&call->context, &call->request, &call->response,
        [call, in_flight = in_flight_](grpc::Status status) {
          std::unique_ptr<AsyncCall<Request, Response>> owned(call);
          Response response = std::move(owned->response);
          auto finish = std::move(owned->finish);
          owned.reset();  // Free the call before user code runs.
          {
            MutexLock lock(&in_flight->mu);
            --in_flight->count;
          }
          // The Client (and this object) may be gone from here on.
          finish(status, response);
        });
}

absl::StatusOr<Permit> ServerRpcs::AcquirePermit(
    const v1::AcquirePermitRequest& request, absl::Duration deadline) {
  RETURN_IF_ERROR(CheckDeadline(deadline));
  grpc::ClientContext context;
  PrepareContext(context, deadline);
  v1::AcquirePermitResponse response;
  const grpc::Status status =
      rate_limiter_->AcquirePermit(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return ToPermit(response);
}

void ServerRpcs::AcquirePermitAsync(v1::AcquirePermitRequest request,
                                    absl::Duration deadline, PermitDone done) {
  if (absl::Status s = CheckDeadline(deadline); !s.ok()) {
    done(std::move(s));
    return;
  }
  StartAsync<v1::AcquirePermitRequest, v1::AcquirePermitResponse>(
      std::move(request), deadline,
      [this](auto* context, auto* req, auto* resp, auto on_done) {
        rate_limiter_->async()->AcquirePermit(context, req, resp,
                                              std::move(on_done));
      },
      [done = std::move(done)](const grpc::Status& status,
                               const v1::AcquirePermitResponse& response) mutable {
        if (!status.ok()) return done(FromGrpcStatus(status));
        done(ToPermit(response));
      });
}

void ServerRpcs::ReturnPermitsAsync(
    absl::string_view operation, absl::string_view key, uint32_t count,
    absl::AnyInvocable<void(absl::Status)> done) {
  v1::ReturnPermitsRequest request;
  request.set_operation(std::string(operation));
  request.set_key(std::string(key));
  request.set_count(count);
  StartAsync<v1::ReturnPermitsRequest, v1::ReturnPermitsResponse>(
      std::move(request), default_deadline_,
      [this](auto* context, auto* req, auto* resp, auto on_done) {
        rate_limiter_->async()->ReturnPermits(context, req, resp,
                                              std::move(on_done));
      },
      [done = std::move(done)](const grpc::Status& status,
                               const v1::ReturnPermitsResponse&) mutable {
        if (done) done(FromGrpcStatus(status));
      });
}

absl::StatusOr<ServingStatus> ServerRpcs::CheckHealth(absl::string_view service,
                                                      absl::Duration deadline) {
  RETURN_IF_ERROR(CheckDeadline(deadline));
  grpc::ClientContext context;
  PrepareContext(context, deadline);
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

absl::Status ServerRpcs::WatchHealth(
    absl::string_view service, absl::Duration max_duration,
    const std::function<bool(ServingStatus)>& on_change) {
  if (max_duration <= absl::ZeroDuration()) return absl::OkStatus();
  grpc::ClientContext context;
  PrepareContext(context, max_duration);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(std::string(service));
  std::unique_ptr<grpc::ClientReader<HealthProto>> reader =
      health_->Watch(&context, request);
  HealthProto response;
  bool stopped = false;
  while (reader->Read(&response)) {
    if (stopped) continue;  // Drain after TryCancel until Read fails.
    if (!on_change(FromProto(response.status()))) {
      stopped = true;
      context.TryCancel();
    }
  }
  const grpc::Status status = reader->Finish();
  if (stopped || status.ok() ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return absl::OkStatus();  // Stopped by on_change, or the duration ended.
  }
  return FromGrpcStatus(status);
}

absl::StatusOr<RetryDecision> ServerRpcs::DecideRetry(
    absl::string_view policy, const RetryRequest& request,
    absl::string_view dependency) {
  RETURN_IF_ERROR(CheckDeadline(default_deadline_));
  if (request.attempt < 1) {
    return absl::InvalidArgumentError("attempt: must be >= 1");
  }
  v1::DecideRetryRequest proto;
  proto.set_policy(std::string(policy));
  proto.set_attempt(static_cast<uint32_t>(request.attempt));
  if (request.failure.http_status.has_value()) {
    if (*request.failure.http_status < 0) {
      return absl::InvalidArgumentError("http_status: must not be negative");
    }
    proto.set_http_status(static_cast<uint32_t>(*request.failure.http_status));
  } else if (request.failure.grpc_code.has_value()) {
    proto.set_grpc_code(absl::StatusCodeToString(*request.failure.grpc_code));
  }
  if (request.retry_after.has_value()) {
    proto.set_retry_after_ms(CeilMillis(*request.retry_after));
  }
  if (request.deadline.has_value()) {
    // Truncated: never claim more time than the caller has.
    proto.set_deadline_ms(static_cast<uint64_t>(std::max<int64_t>(
        0, absl::ToInt64Milliseconds(*request.deadline))));
  }
  proto.set_dependency(std::string(dependency));
  grpc::ClientContext context;
  PrepareContext(context, default_deadline_);
  v1::DecideRetryResponse response;
  const grpc::Status status =
      retry_advisor_->DecideRetry(&context, proto, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  RetryDecision decision;
  decision.retry = response.retry();
  decision.delay = decision.retry ? WireMillis(response.delay_ms())
                                  : absl::ZeroDuration();
  decision.reason = FromProtoReason(response.reason(), response.retry());
  decision.attempts_remaining = static_cast<int>(response.attempts_remaining());
  return decision;
}

absl::StatusOr<RetryPolicyConfig> ServerRpcs::GetRetryPolicy(
    absl::string_view name, absl::Duration deadline) {
  RETURN_IF_ERROR(CheckDeadline(deadline));
  v1::GetRetryPolicyRequest request;
  request.set_name(std::string(name));
  grpc::ClientContext context;
  PrepareContext(context, deadline);
  v1::RetryPolicy response;
  const grpc::Status status =
      retry_advisor_->GetRetryPolicy(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  RetryPolicyConfig policy;
  policy.max_attempts =
      static_cast<int>(std::max<uint32_t>(1, response.max_attempts()));
  policy.base_delay = WireMillis(response.base_delay_ms());
  policy.max_delay =
      std::max(policy.base_delay, WireMillis(response.max_delay_ms()));
  policy.exponential_base = std::max(1.0, response.exponential_base());
  policy.jitter = FromProtoJitter(response.jitter());
  policy.retryable_codes.assign(response.retryable_http_statuses().begin(),
                                response.retryable_http_statuses().end());
  policy.retryable_grpc_codes.clear();
  for (const std::string& code : response.retryable_grpc_codes()) {
    // A name this build does not know cannot match any failure: skip it.
    absl::StatusOr<absl::StatusCode> parsed = ParseGrpcCode(code);
    if (parsed.ok()) policy.retryable_grpc_codes.push_back(*parsed);
  }
  policy.min_attempt_time = WireMillis(response.min_attempt_ms());
  policy.budget.max_tokens = response.budget().max_tokens();
  policy.budget.token_ratio = response.budget().token_ratio();
  return policy;
}

absl::StatusOr<v1::HealthReport> ServerRpcs::GetHealth() {
  RETURN_IF_ERROR(CheckDeadline(default_deadline_));
  grpc::ClientContext context;
  PrepareContext(context, default_deadline_);
  v1::HealthReport response;
  const grpc::Status status = health_reporter_->GetHealth(
      &context, v1::GetHealthRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::DependencyHealth> ServerRpcs::ReportOutcome(
    absl::string_view provider, bool success, absl::Duration latency,
    absl::string_view code) {
  RETURN_IF_ERROR(CheckDeadline(default_deadline_));
  grpc::ClientContext context;
  PrepareContext(context, default_deadline_);
  const v1::ReportOutcomeRequest request =
      MakeOutcome(provider, success, latency, code);
  v1::ReportOutcomeResponse response;
  const grpc::Status status =
      health_reporter_->ReportOutcome(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response.dependency();
}

void ServerRpcs::ReportOutcomeAsync(absl::string_view provider, bool success,
                                    absl::Duration latency,
                                    absl::string_view code,
                                    std::function<void(absl::Status)> done) {
  StartAsync<v1::ReportOutcomeRequest, v1::ReportOutcomeResponse>(
      MakeOutcome(provider, success, latency, code), default_deadline_,
      [this](auto* context, auto* req, auto* resp, auto on_done) {
        health_reporter_->async()->ReportOutcome(context, req, resp,
                                                 std::move(on_done));
      },
      [done = std::move(done)](const grpc::Status& status,
                               const v1::ReportOutcomeResponse&) {
        if (done) done(FromGrpcStatus(status));
      });
}

}  // namespace crossbridge
