#include "client/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <random>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/call_runner.h"
#include "client/executor.h"
#include "client/lease_manager.h"
#include "client/local_limiter.h"
#include "client/permit_stream_mux.h"
#include "client/policy_cache.h"
#include "client/server_rpcs.h"
#include "common/gcra.h"
#include "common/mutex.h"
#include "common/quote.h"
#include "common/read_file.h"
#include "common/status.h"

namespace crossbridge {
namespace {

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
//    (the safe side) or withdraw a retry token twice; ReportOutcome and
//    ReturnPermits are not retried on UNAVAILABLE, so a failure is never
//    counted twice and permits never come back twice (which would
//    over-admit). StreamPermits is not retried by the channel: the SDK's
//    stream multiplexer resends its calls itself.
static std::string ServiceConfig(absl::string_view load_balancing) {
  constexpr absl::string_view kRetry =
      R"("retryPolicy":{"maxAttempts":2,"initialBackoff":"0.01s",)"
      R"("maxBackoff":"0.05s","backoffMultiplier":2,"retryableStatusCodes":)";
  return absl::StrCat(
      R"({"loadBalancingConfig":[{")", load_balancing, R"(":{}}],)",
      R"("methodConfig":[)",
      R"({"name":[{"service":"crossbridge.v1.RateLimiter","method":"AcquirePermit"},)",
      R"({"service":"crossbridge.v1.RateLimiter","method":"AcquirePermits"},)",
      R"({"service":"crossbridge.v1.RetryAdvisor"},)",
      R"({"service":"crossbridge.v1.HealthReporter","method":"GetHealth"},)",
      R"({"service":"grpc.health.v1.Health","method":"Check"}],)", kRetry,
      R"(["CANCELLED","UNAVAILABLE"]}},)",
      R"({"name":[{"service":"crossbridge.v1.HealthReporter","method":"ReportOutcome"},)",
      R"({"service":"crossbridge.v1.RateLimiter","method":"ReturnPermits"}],)",
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
  RETURN_IF_ERROR(LeaseManager::Validate(options.leases));
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
    : options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : RealClock::Get()),
      rpcs_(std::make_unique<ServerRpcs>(std::move(channel),
                                         options_.default_deadline,
                                         options_.token)) {
  if (options_.permit_transport == ClientOptions::PermitTransport::kStream) {
    stream_ = std::make_unique<PermitStreamMux>(*rpcs_, RealClock::Get());
  }
  if (!options_.leases.empty()) {
    leases_ = std::make_unique<LeaseManager>(
        *rpcs_, RealClock::Get(), options_.leases,
        [this](v1::AcquirePermitRequest request, absl::Duration deadline,
               PermitDone done) {
          Send(std::move(request), deadline, std::move(done));
        });
  }
  policies_ = std::make_unique<PolicyCache>(*rpcs_, clock_,
                                            options_.policy_cache_ttl);
  local_ = std::make_unique<LocalLimiter>(clock_, options_.local_fallback);
  executor_ = std::make_unique<Executor>(clock_, options_.executor_threads);
  runner_ = std::make_unique<CallRunner>(
      *rpcs_, *policies_, *local_, *executor_, clock_,
      options_.rng_seed.has_value() ? *options_.rng_seed
                                    : std::random_device{}(),
      [this](absl::string_view operation, absl::string_view key,
             const AcquireOptions& options) {
        return AcquirePermit(operation, key, options);
      });
}

Client::~Client() {
  // Hardened calls first (they use everything below), then leases (their
  // unused permits go back through rpcs_), then the stream (its calls end),
  // and last the RPC wrappers, which wait for every async RPC.
  executor_->Shutdown();
  runner_.reset();
  leases_.reset();
  stream_.reset();
  rpcs_.reset();
}

absl::Duration Client::DeadlineOr(
    std::optional<absl::Duration> deadline) const {
  return deadline.value_or(options_.default_deadline);
}

void Client::Send(v1::AcquirePermitRequest request, absl::Duration deadline,
                  PermitDone done) {
  if (stream_ != nullptr) {
    stream_->Acquire(std::move(request), deadline, std::move(done));
  } else {
    rpcs_->AcquirePermitAsync(std::move(request), deadline, std::move(done));
  }
}

absl::StatusOr<Permit> Client::AcquirePermit(absl::string_view operation,
                                             absl::string_view key,
                                             const AcquireOptions& options) {
  const absl::Duration deadline = DeadlineOr(options.deadline);
  RETURN_IF_ERROR(CheckDeadline(deadline));
  const bool leased = leases_ != nullptr && leases_->Covers(operation, options.cost);
  if (!leased && stream_ == nullptr) {
    return rpcs_->AcquirePermit(MakeRequest(operation, key, options), deadline);
  }
  // Stream or lease: wait for the async answer.
  absl::Mutex mu;
  std::optional<absl::StatusOr<Permit>> result;
  AcquirePermitAsync(operation, key, options,
                     [&mu, &result](absl::StatusOr<Permit> permit) {
                       MutexLock lock(&mu);
                       result = std::move(permit);
                     });
  MutexLock lock(&mu);
  lock.Await([&result]() { return result.has_value(); });
  return *std::move(result);
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
  if (leases_ != nullptr && leases_->Covers(operation, options.cost)) {
    return leases_->Acquire(operation, key, deadline, std::move(done));
  }
  Send(MakeRequest(operation, key, options), deadline, std::move(done));
}

absl::StatusOr<ServingStatus> Client::CheckHealth(
    absl::string_view service, std::optional<absl::Duration> deadline) {
  return rpcs_->CheckHealth(service, DeadlineOr(deadline));
}

absl::Status Client::WatchHealth(absl::string_view service,
                                 absl::Duration max_duration,
                                 std::function<bool(ServingStatus)> on_change) {
  return rpcs_->WatchHealth(service, max_duration, on_change);
}

absl::StatusOr<RetryDecision> Client::DecideRetry(absl::string_view policy,
                                                  const RetryRequest& request,
                                                  absl::string_view dependency) {
  return rpcs_->DecideRetry(policy, request, dependency);
}

absl::StatusOr<RetryPolicyConfig> Client::GetRetryPolicy(
    absl::string_view name) {
  return rpcs_->GetRetryPolicy(name, options_.default_deadline);
}

absl::StatusOr<v1::HealthReport> Client::GetHealth() {
  return rpcs_->GetHealth();
}

absl::StatusOr<v1::DependencyHealth> Client::ReportOutcome(
    absl::string_view provider, bool success, absl::Duration latency,
    absl::string_view code) {
  return rpcs_->ReportOutcome(provider, success, latency, code);
}

void Client::ReportOutcomeAsync(absl::string_view provider, bool success,
                                absl::Duration latency, absl::string_view code,
                                std::function<void(absl::Status)> done) {
  rpcs_->ReportOutcomeAsync(provider, success, latency, code, std::move(done));
}

void Client::Submit(std::function<void()> task) {
  executor_->Submit(std::move(task));
}

absl::Status Client::CallImpl(
    absl::string_view operation, absl::string_view key, bool rate_limited,
    const std::function<absl::Status(const AttemptInfo&)>& fn,
    const CallOptions& options, CallReport* report) {
  return runner_->Run(operation, key, rate_limited, fn, options, report);
}

}  // namespace crossbridge
