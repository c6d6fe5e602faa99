// CrossBridge client SDK: asks a CrossBridge server for rate-limit permits and
// checks its health (grpc.health.v1).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Client> client,
//                    Client::Create({.target = "cb.internal:50051"}));
//   ASSIGN_OR_RETURN(Permit p, client->AcquirePermit("embed", "user:123"));
//   if (!p.allowed) return Backoff(absl::Milliseconds(p.retry_after_ms));
//
// Contract:
// - Thread safety: one instance may be shared by any number of threads and
//   calls may overlap freely (its caches are internally synchronized). Create
//   one per process (it owns a gRPC channel with its connection, and, once
//   CallAsync is first used, a few executor threads) and reuse it.
// - Deadlines: every RPC carries a deadline, the per-call one when given,
//   otherwise ClientOptions::default_deadline. A zero or negative deadline
//   fails with DEADLINE_EXCEEDED without sending anything.
// - Errors: RPC failures come back as absl::Status with the gRPC code and the
//   server's message unchanged (INVALID_ARGUMENT names the bad field,
//   NOT_FOUND for an unknown operation, UNAVAILABLE when the server or its
//   store is unreachable, DEADLINE_EXCEEDED when the deadline passed first).
//   A refused permit is NOT an error: it is an OK result with allowed == false.
// - Async callbacks run exactly once, on a gRPC-owned thread, or possibly on
//   the calling thread before AcquirePermitAsync returns (e.g. when the call
//   fails immediately), so do not hold a lock that the callback takes while
//   starting a call. Callbacks must not block:
//   hand long work to your own executor. The Client's destructor waits for
//   in-flight async RPCs (each bounded by its deadline), so they complete;
//   their callbacks may still be running when it returns. (Destroying the
//   channel on gRPC's callback thread would abort the process.)
// - Hardened calls (Call, Retry, CallAsync; client/hardened_call.h describes
//   the steps): the deadline in CallOptions covers the whole call and every
//   RPC inside it gets at most what is left, so a Call never hangs, even when
//   the server is unreachable. CallAsync runs the call and `done` on the
//   Client's executor, never on the caller's thread. The destructor waits for
//   queued and running CallAsync work and in-flight ReportOutcomeAsync
//   calls; CallAsync calls still queued then, and running
//   calls at their next step, end with CANCELLED ("client is shutting
//   down"), and the built-in sleeper wakes up at once.
// - Security (ClientOptions::tls, token, token_file): TLS or mTLS from PEM
//   files and a bearer token, both read once by Create. The token goes as
//   `authorization: Bearer <token>` metadata on every RPC (plaintext
//   channels included) and never into an error message.
//
//   Client::Create({.target = "cb.internal:50051",
//                   .tls = ClientOptions::Tls{.ca_file = "/etc/cb/ca.pem"},
//                   .token_file = "/run/secrets/cb-token"});
#ifndef CROSSBRIDGE_CLIENT_CLIENT_H_
#define CROSSBRIDGE_CLIENT_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/hardened_call.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/retry.h"
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "crossbridge/v1/retry_advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace crossbridge {

struct ClientOptions {
  // host:port or any gRPC target URI (dns:///, unix:...). Must not be empty.
  std::string target = "127.0.0.1:50051";
  // Deadline of a call that does not set its own. Must be positive.
  absl::Duration default_deadline = absl::Seconds(1);
  // Channel credentials; null means insecure (plaintext) unless `tls` is
  // set. Not together with `tls`.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // How calls spread over the addresses `target` resolves to: "pick_first"
  // (one connection) or "round_robin" (every replica of a "dns:///..." or
  // "ipv4:a:p,b:p" target; a replica that goes away drops out of the
  // rotation). Every channel also retries a call once, on the next address,
  // when it failed UNAVAILABLE (a replica went away) or was CANCELLED by a
  // draining server before it ran; ReportOutcome only on CANCELLED, so a
  // reported failure never counts twice. An AcquirePermit that ran on a
  // replica dying under it may so take its permit twice: the safe side.
  std::string load_balancing = "pick_first";

  // ---- security ----
  // Files are read once, by Create (a renewed certificate or token takes a
  // new Client). An unreadable file fails Create with INVALID_ARGUMENT
  // naming the option and the path.
  struct Tls {
    // PEM roots to verify the server; "" = the system roots.
    std::string ca_file;
    // Client certificate chain (PEM) for mTLS; only together with key_file.
    std::string cert_file;
    // Its private key (PEM, unencrypted); only together with cert_file.
    std::string key_file;
    // Overrides the name checked against the server certificate (and the
    // :authority/SNI), e.g. "localhost" when connecting by IP; "" = the
    // host of `target`.
    std::string server_name;
  };
  // Set: TLS (server verified; mTLS with cert_file/key_file). Unset:
  // plaintext (unless `credentials` is given). Not together with
  // `credentials`.
  std::optional<Tls> tls;
  // Bearer token sent as `authorization: Bearer <token>` on every RPC this
  // Client makes, on TLS and plaintext channels alike (local setups); ""
  // sends none. Printable ASCII without spaces or controls. Never appears
  // in an error message.
  std::string token;
  // Or: read the token from this file, once, at Create (surrounding
  // whitespace trimmed; an empty file is an error). Not with `token`.
  std::string token_file;

  // ---- hardened calls (Call, Retry, CallAsync) ----
  // Where hardened calls read time and wait (between attempts, for a
  // permit; a wait is cut short when the Client is destroyed). Null: the
  // process clock. Tests pass a SimulatedClock (common/simulated_clock.h)
  // with advance_on_wait: every wait then takes no real time, is recorded,
  // and the deadline arithmetic runs on exact simulated time. Must outlive
  // the Client.
  const Clock* clock = nullptr;
  // Seeds the jitter generator, for reproducible delays; unset: random.
  std::optional<uint64_t> rng_seed;
  // How long a policy fetched with GetRetryPolicy is used before it is
  // fetched again. >= 0 (0: every time). A failed fetch is retried after
  // at most 1 s.
  absl::Duration policy_cache_ttl = absl::Seconds(30);
  // The local limiter's rule (fail_open, server unreachable) for an
  // operation whose limit this Client never saw. capacity > 0, window > 0.
  struct LocalLimit {
    int64_t capacity = 10;
    absl::Duration window = absl::Seconds(1);
  };
  LocalLimit local_fallback;
  // Threads of the CallAsync executor (started on first use). >= 1.
  int executor_threads = 2;
};

// The server's answer to AcquirePermit. Times are milliseconds.
struct Permit {
  bool allowed = false;
  uint32_t limit = 0;           // The bucket's capacity.
  uint32_t remaining = 0;       // Whole permits left after this call.
  uint64_t retry_after_ms = 0;  // 0 when allowed; else earliest retry time.
  uint64_t reset_after_ms = 0;  // Until the bucket is full again.
  uint32_t granted = 0;         // Permits taken: the cost when allowed, else 0.
};

struct AcquireOptions {
  // Permits to take; 0 peeks at the bucket without consuming.
  uint32_t cost = 1;
  // Overrides ClientOptions::default_deadline for this call.
  std::optional<absl::Duration> deadline;
};

// grpc.health.v1 serving status.
enum class ServingStatus { kUnknown, kServing, kNotServing, kServiceUnknown };

// "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" (the proto names).
absl::string_view ServingStatusName(ServingStatus status);

class Client {
 public:
  using PermitCallback = std::function<void(absl::StatusOr<Permit>)>;

  // Builds a channel to options.target. Connects lazily: an unreachable server
  // is reported by the first call, not here (a TLS handshake failure, e.g.
  // an untrusted server certificate, too: UNAVAILABLE). INVALID_ARGUMENT for
  // an empty target, a non-positive default_deadline, `tls` together with
  // `credentials`, cert_file without key_file (or the reverse), token
  // together with token_file, an empty token file or a token that is not
  // a valid header value, and an unreadable file (the message names the
  // option and the path: `tls.ca_file: cannot read "/x": No such file or
  // directory`). Reads options.tls's files and token_file here, once.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // Uses an existing channel (e.g. an in-process one in tests).
  // REQUIRES: channel != nullptr, default_deadline > 0.
  Client(std::shared_ptr<grpc::Channel> channel,
         absl::Duration default_deadline);
  // Same, with the other options (options.target, credentials, tls and
  // token_file are not used; options.token is sent). REQUIRES: options
  // valid as Create checks them.
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  // Joins the CallAsync executor (see the contract above).
  ~Client();

  // Blocks until the server answers or the deadline passes.
  absl::StatusOr<Permit> AcquirePermit(absl::string_view operation,
                                       absl::string_view key,
                                       const AcquireOptions& options = {});

  // Returns at once; `done` receives the result as described above.
  // REQUIRES: done is callable.
  void AcquirePermitAsync(absl::string_view operation, absl::string_view key,
                          const AcquireOptions& options, PermitCallback done);

  // grpc.health.v1.Health/Check. "" is the whole server; other names are
  // CrossBridge services and configured providers (e.g. "database"). A name
  // the server does not know (Check answers NOT_FOUND) is reported as OK with
  // kServiceUnknown; other RPC failures are errors.
  absl::StatusOr<ServingStatus> CheckHealth(
      absl::string_view service = "",
      std::optional<absl::Duration> deadline = std::nullopt);

  // grpc.health.v1.Health/Watch: calls on_change with the first status and
  // with every change until on_change returns false or max_duration passes
  // (both OK), or the stream fails (its error; UNAVAILABLE when the server is
  // unreachable). A name the server does not know is reported as
  // kServiceUnknown (and watched: it may appear later).
  absl::Status WatchHealth(absl::string_view service,
                           absl::Duration max_duration,
                           std::function<bool(ServingStatus)> on_change);

  // ---- RetryAdvisor (deadline: ClientOptions::default_deadline) ----
  // The server's decision, which also applies the fleet-wide retry budget
  // and the dependency's health. request.previous_delay is not sent.
  absl::StatusOr<RetryDecision> DecideRetry(absl::string_view policy,
                                            const RetryRequest& request,
                                            absl::string_view dependency = "");
  // The named policy ("" is "default"); NOT_FOUND for an unknown name.
  absl::StatusOr<RetryPolicyConfig> GetRetryPolicy(absl::string_view name);

  // ---- HealthReporter (deadline: ClientOptions::default_deadline) ----
  absl::StatusOr<v1::HealthReport> GetHealth();
  // Passive health: one outcome of a call to `provider`. `code` is the
  // failure's code ("503", "UNAVAILABLE"), shown as last_error. Negative
  // latencies are sent as 0. NOT_FOUND for an unknown provider.
  absl::StatusOr<v1::DependencyHealth> ReportOutcome(
      absl::string_view provider, bool success, absl::Duration latency,
      absl::string_view code = "");
  // Fire and forget; `done` (optional) runs like an AcquirePermitAsync
  // callback, with the RPC's status. The Client's destructor waits for
  // these calls to end (each within default_deadline).
  void ReportOutcomeAsync(absl::string_view provider, bool success,
                          absl::Duration latency, absl::string_view code = "",
                          std::function<void(absl::Status)> done = nullptr);

  // ---- Hardened calls (client/hardened_call.h) ----
  // Rate limit + retry + health reporting around fn. T cannot be deduced
  // from a lambda: write client.Call<MyType>(...). T must be movable.
  template <typename T>
  absl::StatusOr<T> Call(
      absl::string_view operation, absl::string_view key,
      std::function<absl::StatusOr<T>(const AttemptInfo&)> fn,
      const CallOptions& options = {}, CallReport* report = nullptr) {
    std::optional<T> value;
    absl::Status status =
        CallImpl(operation, key, /*rate_limited=*/true,
                 WrapForCall<T>(fn, value), options, report);
    if (!status.ok()) return status;
    return *std::move(value);
  }

  // The retry decorator: Call without the rate limiter (options.cost,
  // wait_for_permit and fail_open are not used).
  template <typename T>
  absl::StatusOr<T> Retry(
      std::function<absl::StatusOr<T>(const AttemptInfo&)> fn,
      const CallOptions& options = {}, CallReport* report = nullptr) {
    std::optional<T> value;
    absl::Status status = CallImpl("", "", /*rate_limited=*/false,
                                   WrapForCall<T>(fn, value), options, report);
    if (!status.ok()) return status;
    return *std::move(value);
  }

  // Call on the Client's executor; returns at once. `done` runs exactly once,
  // on an executor thread (never the caller's). REQUIRES: done is callable.
  template <typename T>
  void CallAsync(absl::string_view operation, absl::string_view key,
                 std::function<absl::StatusOr<T>(const AttemptInfo&)> fn,
                 const CallOptions& options,
                 std::function<void(absl::StatusOr<T>)> done) {
    Submit([this, operation = std::string(operation), key = std::string(key),
            fn = std::move(fn), options, done = std::move(done)]() mutable {
      done(Call<T>(operation, key, std::move(fn), options));
    });
  }

  // In-flight AcquirePermitAsync / ReportOutcomeAsync calls (internal).
  struct AsyncTracker {
    absl::Mutex mu;
    int in_flight ABSL_GUARDED_BY(mu) = 0;
  };

  // The non-template core of Call (rate_limited) and Retry (!rate_limited).
  // fn returns OK after storing its value.
  absl::Status CallImpl(absl::string_view operation, absl::string_view key,
                        bool rate_limited,
                        const std::function<absl::Status(const AttemptInfo&)>& fn,
                        const CallOptions& options, CallReport* report);

 private:
  struct CachedPolicy {
    RetryPolicyConfig policy;
    absl::Time expires;  // monotonic
  };
  struct LocalBucket {
    int64_t tat_us = 0;
    int64_t capacity = 0;  // the rule the TAT was computed with
  };

  template <typename T>
  static std::function<absl::Status(const AttemptInfo&)> WrapForCall(
      std::function<absl::StatusOr<T>(const AttemptInfo&)>& fn,
      std::optional<T>& value) {
    return [&fn, &value](const AttemptInfo& attempt) -> absl::Status {
      absl::StatusOr<T> result = fn(attempt);
      if (!result.ok()) return result.status();
      value.emplace(*std::move(result));
      return absl::OkStatus();
    };
  }

  absl::Duration DeadlineOr(std::optional<absl::Duration> deadline) const;
  // Readies the context of every RPC this Client sends: the deadline and,
  // with a token, the authorization header.
  void PrepareContext(grpc::ClientContext& context,
                      absl::Duration deadline) const;
  absl::StatusOr<RetryPolicyConfig> FetchRetryPolicy(absl::string_view name,
                                                     absl::Duration deadline);
  // Hardened-call steps (hardened_call.cc).
  // `end` is the call's deadline on clock_'s monotonic time.
  absl::Status AcquireForCall(absl::string_view operation,
                              absl::string_view key, const CallOptions& options,
                              absl::Time end, CallReport& report);
  // nullopt: allowed; else the wait before the same request may pass.
  absl::StatusOr<std::optional<absl::Duration>> LocalAcquire(
      absl::string_view operation, absl::string_view key, uint32_t cost);
  RetryPolicyConfig PolicyFor(const std::string& name, absl::Duration budget);
  RetryDecision DecideLocally(const RetryPolicyConfig& policy,
                              const RetryRequest& request);
  void Sleep(absl::Duration duration);
  bool ShuttingDown() const;
  void Submit(std::function<void()> task);
  void WorkerLoop();

  const std::shared_ptr<grpc::Channel> channel_;
  const absl::Duration default_deadline_;
  const ClientOptions options_;
  // "Bearer <token>", built once; "" when there is no token.
  const std::string authorization_;
  const Clock& clock_;
  const std::unique_ptr<v1::RateLimiter::Stub> rate_limiter_;
  const std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  const std::unique_ptr<v1::RetryAdvisor::Stub> retry_advisor_;
  const std::unique_ptr<v1::HealthReporter::Stub> health_reporter_;
  const std::shared_ptr<AsyncTracker> async_tracker_;

  // Hardened-call state.
  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, CachedPolicy> policies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int64_t> seen_limits_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, LocalBucket> local_buckets_ ABSL_GUARDED_BY(mu_);
  // fail_open calls skip the server until then (monotonic) after it was
  // unreachable.
  absl::Time server_down_until_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_CLIENT_H_
