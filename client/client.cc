#include "client/client.h"

#include <grpc/support/time.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/gcra.h"
#include "common/grpc_status.h"
#include "common/read_file.h"
#include "common/grpc_time.h"
#include "common/quote.h"
#include "common/mutex.h"
#include "common/status.h"

namespace crossbridge {
namespace {

using HealthProto = grpc::health::v1::HealthCheckResponse;

// How long a path may be in a message (PATH_MAX), escaped.
constexpr size_t kMaxQuotedPath = 4096;
// A certificate, key or token file larger than this is not one.
constexpr size_t kMaxOptionFileBytes = 1 << 20;

// The whole file at `path`, for option `option`. INVALID_ARGUMENT naming the
// option and the path when it cannot be read. The contents (keys, tokens)
// never go into a message.
absl::StatusOr<std::string> ReadOptionFile(absl::string_view option,
                                           const std::string& path) {
  absl::StatusOr<std::string> contents =
      ReadFileText(option, path, kMaxOptionFileBytes);
  // The SDK's contract: every bad option is INVALID_ARGUMENT.
  if (!contents.ok()) return absl::InvalidArgumentError(contents.status().message());
  return contents;
}

// A PEM file's contents for option `option`: at least one PEM block.
absl::StatusOr<std::string> ReadPemFile(absl::string_view option,
                                        const std::string& path) {
  ASSIGN_OR_RETURN(std::string pem, ReadOptionFile(option, path));
  if (!absl::StrContains(pem, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(option, ": ", QuoteForMessage(path, kMaxQuotedPath),
                     " holds no PEM block (-----BEGIN ...)"));
  }
  return pem;
}

// A token must be a valid header value and is sent after "Bearer ": visible
// ASCII only. The message names the option and the offending offset, never
// the token's text.
absl::Status CheckToken(absl::string_view option, absl::string_view token) {
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    if (c < 0x21 || c > 0x7e) {
      return absl::InvalidArgumentError(absl::StrCat(
          option, ": the token must be printable ASCII without spaces or "
          "controls (byte ", i, " of ", token.size(), " is not)"));
    }
  }
  return absl::OkStatus();
}

// Sets options.token from token_file (read once, trimmed) and checks it.
absl::Status ResolveToken(ClientOptions& options) {
  if (!options.token.empty() && !options.token_file.empty()) {
    return absl::InvalidArgumentError(
        "token, token_file: set at most one of them");
  }
  if (options.token_file.empty()) return CheckToken("token", options.token);
  ASSIGN_OR_RETURN(std::string contents,
                   ReadOptionFile("token_file", options.token_file));
  const absl::string_view token = absl::StripAsciiWhitespace(contents);
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "token_file: ", QuoteForMessage(options.token_file, kMaxQuotedPath),
        " is empty (or only whitespace)"));
  }
  RETURN_IF_ERROR(CheckToken("token_file", token));
  options.token = std::string(token);
  return absl::OkStatus();
}

// The channel credentials `options` ask for: `credentials`, TLS built from
// `tls`'s files, or plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> BuildCredentials(
    const ClientOptions& options) {
  if (!options.tls.has_value()) {
    return options.credentials != nullptr
               ? options.credentials
               : grpc::InsecureChannelCredentials();
  }
  if (options.credentials != nullptr) {
    return absl::InvalidArgumentError(
        "tls, credentials: set at most one of them");
  }
  const ClientOptions::Tls& tls = *options.tls;
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        tls.cert_file.empty()
            ? "tls.cert_file: must be set when tls.key_file is (mTLS needs both)"
            : "tls.key_file: must be set when tls.cert_file is (mTLS needs "
              "both)");
  }
  grpc::SslCredentialsOptions ssl;
  if (!tls.ca_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_root_certs,
                     ReadPemFile("tls.ca_file", tls.ca_file));
  }
  if (!tls.cert_file.empty()) {
    ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                     ReadPemFile("tls.cert_file", tls.cert_file));
    ASSIGN_OR_RETURN(ssl.pem_private_key,
                     ReadPemFile("tls.key_file", tls.key_file));
  }
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      grpc::SslCredentials(ssl);
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("tls: cannot create TLS credentials");
  }
  return credentials;
}

v1::AcquirePermitRequest MakeRequest(absl::string_view operation,
                                     absl::string_view key,
                                     const AcquireOptions& options) {
  v1::AcquirePermitRequest request;
  request.set_operation(std::string(operation));
  request.set_key(std::string(key));
  // Always explicit: 0 (peek) must reach the server, which reads unset as 1.
  request.set_cost(options.cost);
  return request;
}

absl::StatusOr<Permit> ToPermit(const grpc::Status& status,
                                const v1::AcquirePermitResponse& response) {
  if (!status.ok()) return FromGrpcStatus(status);
  Permit permit;
  permit.allowed = response.allowed();
  permit.limit = response.limit();
  permit.remaining = response.remaining();
  permit.retry_after_ms = response.retry_after_ms();
  permit.reset_after_ms = response.reset_after_ms();
  permit.granted = response.granted();
  return permit;
}

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

// Checked before sending: gRPC may still complete a call whose deadline is
// already past if the server is fast enough, which would make the contract racy.
absl::Status CheckDeadline(absl::Duration deadline) {
  if (deadline > absl::ZeroDuration()) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "deadline ", absl::FormatDuration(deadline), " is not positive"));
}

// State of one async AcquirePermit; owned by the call, freed when it ends.
struct AcquireCall {
  grpc::ClientContext context;
  v1::AcquirePermitRequest request;
  v1::AcquirePermitResponse response;
  Client::PermitCallback done;
  // The Client's destructor waits for in-flight calls (see ReportCall).
  std::shared_ptr<Client::AsyncTracker> tracker;
};

}  // namespace

absl::string_view ServingStatusName(ServingStatus status) {
  switch (status) {
    case ServingStatus::kServing:
      return "SERVING";
    case ServingStatus::kNotServing:
      return "NOT_SERVING";
    case ServingStatus::kServiceUnknown:
      return "SERVICE_UNKNOWN";
    case ServingStatus::kUnknown:
      break;
  }
  return "UNKNOWN";
}

// The channel's service config: the load-balancing policy, and one retry
// (on the next address, with round_robin) of a call that failed
// UNAVAILABLE or that the server cancelled.
//  - CANCELLED: gRPC drops calls that reach a server after its drain closed
//    the listener, without running them (CrossBridge itself never answers
//    CANCELLED), so a retry cannot count anything twice.
//  - UNAVAILABLE: the replica went away or could not decide. A call that
//    did run before its connection broke may then take a permit twice
//    (the safe side) or withdraw a retry token twice; ReportOutcome is not
//    retried on UNAVAILABLE, so a failure is never counted twice.
static std::string ServiceConfig(absl::string_view load_balancing) {
  constexpr absl::string_view kRetry =
      R"("retryPolicy":{"maxAttempts":2,"initialBackoff":"0.01s",)"
      R"("maxBackoff":"0.05s","backoffMultiplier":2,"retryableStatusCodes":)";
  return absl::StrCat(
      R"({"loadBalancingConfig":[{")", load_balancing, R"(":{}}],)",
      R"("methodConfig":[)",
      R"({"name":[{"service":"crossbridge.v1.RateLimiter"},)",
      R"({"service":"crossbridge.v1.RetryAdvisor"},)",
      R"({"service":"crossbridge.v1.HealthReporter","method":"GetHealth"},)",
      R"({"service":"grpc.health.v1.Health","method":"Check"}],)", kRetry,
      R"(["CANCELLED","UNAVAILABLE"]}},)",
      R"({"name":[{"service":"crossbridge.v1.HealthReporter","method":"ReportOutcome"}],)",
      kRetry, R"(["CANCELLED"]}}]})");
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  if (options.target.empty()) {
    return absl::InvalidArgumentError("target: must not be empty");
  }
  if (options.default_deadline <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("default_deadline: must be positive");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                   BuildCredentials(options));
  RETURN_IF_ERROR(ResolveToken(options));
  if (options.load_balancing != "pick_first" &&
      options.load_balancing != "round_robin") {
    return absl::InvalidArgumentError(absl::StrCat(
        "load_balancing: ", QuoteForMessage(options.load_balancing),
        " is not pick_first or round_robin"));
  }
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(ServiceConfig(options.load_balancing));
  if (options.tls.has_value() && !options.tls->server_name.empty()) {
    // GRPC_SSL_TARGET_NAME_OVERRIDE_ARG: the name checked against the
    // server certificate, sent as SNI and as the default :authority.
    args.SetSslTargetNameOverride(options.tls->server_name);
  }
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options.target, credentials, args);
  if (channel == nullptr) {
    return absl::InvalidArgumentError("target: cannot create a channel to " +
                                      options.target);
  }
  if (options.policy_cache_ttl < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("policy_cache_ttl: must not be negative");
  }
  if (options.executor_threads < 1) {
    return absl::InvalidArgumentError("executor_threads: must be >= 1");
  }
  if (absl::Status s = GcraRule::Create(options.local_fallback.capacity,
                                        options.local_fallback.window)
                           .status();
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("local_fallback: ", s.message()));
  }
  return std::make_unique<Client>(std::move(channel), std::move(options));
}

Client::Client(std::shared_ptr<grpc::Channel> channel,
               absl::Duration default_deadline)
    : Client(std::move(channel), [&] {
        ClientOptions options;
        options.default_deadline = default_deadline;
        return options;
      }()) {}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      default_deadline_(options.default_deadline),
      options_(std::move(options)),
      authorization_(options_.token.empty()
                         ? std::string()
                         : absl::StrCat("Bearer ", options_.token)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock::Get()),
      rate_limiter_(v1::RateLimiter::NewStub(channel_)),
      health_(grpc::health::v1::Health::NewStub(channel_)),
      retry_advisor_(v1::RetryAdvisor::NewStub(channel_)),
      health_reporter_(v1::HealthReporter::NewStub(channel_)),
      async_tracker_(std::make_shared<AsyncTracker>()),
      rng_(options_.rng_seed.has_value() ? *options_.rng_seed
                                         : std::random_device{}()) {}

Client::~Client() {
  std::vector<std::thread> workers;
  {
    MutexLock lock(&mu_);
    shutting_down_ = true;
    workers.swap(workers_);
  }
  for (std::thread& worker : workers) worker.join();
  // Every ReportOutcomeAsync has a deadline, so this wait is bounded.
  MutexLock lock(&async_tracker_->mu);
  AsyncTracker& tracker = *async_tracker_;
  lock.Await([&tracker]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return tracker.in_flight == 0;
  });
}

absl::Duration Client::DeadlineOr(
    std::optional<absl::Duration> deadline) const {
  return deadline.value_or(default_deadline_);
}

// Every ClientContext this Client sends an RPC with passes through here.
void Client::PrepareContext(grpc::ClientContext& context,
                            absl::Duration deadline) const {
  context.set_deadline(GrpcTimeout(deadline));
  if (!authorization_.empty()) {
    context.AddMetadata("authorization", authorization_);
  }
}

absl::StatusOr<Permit> Client::AcquirePermit(absl::string_view operation,
                                             absl::string_view key,
                                             const AcquireOptions& options) {
  const absl::Duration deadline = DeadlineOr(options.deadline);
  RETURN_IF_ERROR(CheckDeadline(deadline));
  grpc::ClientContext context;
  PrepareContext(context, deadline);
  const v1::AcquirePermitRequest request = MakeRequest(operation, key, options);
  v1::AcquirePermitResponse response;
  const grpc::Status status =
      rate_limiter_->AcquirePermit(&context, request, &response);
  return ToPermit(status, response);
}

void Client::AcquirePermitAsync(absl::string_view operation,
                                absl::string_view key,
                                const AcquireOptions& options,
                                PermitCallback done) {
  const absl::Duration deadline = DeadlineOr(options.deadline);
  if (absl::Status s = CheckDeadline(deadline); !s.ok()) {
    done(std::move(s));
    return;
  }
  auto* call = new AcquireCall;
  PrepareContext(call->context, deadline);
  call->request = MakeRequest(operation, key, options);
  call->done = std::move(done);
  call->tracker = async_tracker_;
  {
    MutexLock lock(&async_tracker_->mu);
    ++async_tracker_->in_flight;
  }
  rate_limiter_->async()->AcquirePermit(
      &call->context, &call->request, &call->response,
      [call](grpc::Status status) {
        std::unique_ptr<AcquireCall> owned(call);
        absl::StatusOr<Permit> result = ToPermit(status, owned->response);
        PermitCallback callback = std::move(owned->done);
        std::shared_ptr<Client::AsyncTracker> tracker =
            std::move(owned->tracker);
        owned.reset();  // Free the call before user code runs.
        {
          MutexLock lock(&tracker->mu);
          --tracker->in_flight;
        }
        callback(std::move(result));
      });
}

absl::StatusOr<ServingStatus> Client::CheckHealth(
    absl::string_view service, std::optional<absl::Duration> deadline) {
  const absl::Duration call_deadline = DeadlineOr(deadline);
  RETURN_IF_ERROR(CheckDeadline(call_deadline));
  grpc::ClientContext context;
  PrepareContext(context, call_deadline);
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


absl::Status Client::WatchHealth(absl::string_view service,
                                 absl::Duration max_duration,
                                 std::function<bool(ServingStatus)> on_change) {
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

namespace {

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

// Whole milliseconds, rounded up, never negative.
uint64_t CeilMillis(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<uint64_t>(
      absl::ToInt64Milliseconds(absl::Ceil(d, absl::Milliseconds(1))));
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

}  // namespace

absl::StatusOr<RetryDecision> Client::DecideRetry(absl::string_view policy,
                                                  const RetryRequest& request,
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
  decision.delay = decision.retry
                       ? absl::Milliseconds(static_cast<int64_t>(
                             std::min<uint64_t>(response.delay_ms(),
                                                uint64_t{1} << 40)))
                       : absl::ZeroDuration();
  decision.reason = FromProtoReason(response.reason(), response.retry());
  decision.attempts_remaining = static_cast<int>(response.attempts_remaining());
  return decision;
}

absl::StatusOr<RetryPolicyConfig> Client::GetRetryPolicy(
    absl::string_view name) {
  return FetchRetryPolicy(name, default_deadline_);
}

absl::StatusOr<RetryPolicyConfig> Client::FetchRetryPolicy(
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
  const auto millis = [](uint64_t ms) {
    return absl::Milliseconds(
        static_cast<int64_t>(std::min<uint64_t>(ms, uint64_t{1} << 40)));
  };
  policy.base_delay = millis(response.base_delay_ms());
  policy.max_delay = std::max(policy.base_delay, millis(response.max_delay_ms()));
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
  policy.min_attempt_time = millis(response.min_attempt_ms());
  policy.budget.max_tokens = response.budget().max_tokens();
  policy.budget.token_ratio = response.budget().token_ratio();
  return policy;
}

absl::StatusOr<v1::HealthReport> Client::GetHealth() {
  RETURN_IF_ERROR(CheckDeadline(default_deadline_));
  grpc::ClientContext context;
  PrepareContext(context, default_deadline_);
  v1::HealthReport response;
  const grpc::Status status = health_reporter_->GetHealth(
      &context, v1::GetHealthRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

namespace {

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

struct ReportCall {
  grpc::ClientContext context;
  v1::ReportOutcomeRequest request;
  v1::ReportOutcomeResponse response;
  std::function<void(absl::Status)> done;
  // The Client's destructor waits for this count to reach 0: the channel must
  // not be destroyed by its own callback thread (the last reference dropped
  // there shuts the callback queue down from inside itself and aborts).
  std::shared_ptr<Client::AsyncTracker> tracker;
};

}  // namespace

absl::StatusOr<v1::DependencyHealth> Client::ReportOutcome(
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

void Client::ReportOutcomeAsync(absl::string_view provider, bool success,
                                absl::Duration latency, absl::string_view code,
                                std::function<void(absl::Status)> done) {
  auto* call = new ReportCall;
  PrepareContext(call->context, default_deadline_);
  call->request = MakeOutcome(provider, success, latency, code);
  call->done = std::move(done);
  call->tracker = async_tracker_;
  {
    MutexLock lock(&async_tracker_->mu);
    ++async_tracker_->in_flight;
  }
  health_reporter_->async()->ReportOutcome(
      &call->context, &call->request, &call->response,
      [call](grpc::Status status) {
        std::unique_ptr<ReportCall> owned(call);
        std::function<void(absl::Status)> callback = std::move(owned->done);
        std::shared_ptr<Client::AsyncTracker> tracker =
            std::move(owned->tracker);
        owned.reset();
        {
          // Before user code, so a callback may destroy the Client.
          MutexLock lock(&tracker->mu);
          --tracker->in_flight;
        }
        if (callback) callback(FromGrpcStatus(status));
      });
}

}  // namespace crossbridge
