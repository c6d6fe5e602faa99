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
//   one per process (it owns a gRPC channel with its connection, a timer
//   thread for the permit stream's deadlines, a lease sweeper when leases
//   are set, and, once CallAsync is first used, a few executor threads)
//   and reuse it.
// - Deadlines: every RPC carries a deadline, the per-call one when given,
//   otherwise ClientOptions::default_deadline. A zero or negative deadline
//   fails with DEADLINE_EXCEEDED without sending anything.
// - Errors: RPC failures come back as absl::Status with the gRPC code and the
//   server's message unchanged (INVALID_ARGUMENT names the bad field,
//   NOT_FOUND for an unknown operation, UNAVAILABLE when the server or its
//   store is unreachable, DEADLINE_EXCEEDED when the deadline passed first).
//   A refused permit is NOT an error: it is an OK result with allowed == false.
// - Async callbacks run exactly once, on a gRPC-owned thread (or the permit
//   stream's timer thread, for a call whose deadline passed), or possibly on
//   the calling thread before AcquirePermitAsync returns (e.g. when the call
//   fails immediately, or a lease grants it), so do not hold a lock that the
//   callback takes while starting a call. Do not destroy the Client from one
//   of its callbacks. Callbacks must not block:
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
// - Permits (ClientOptions::permit_transport, leases): concurrent permit
//   calls share one StreamPermits stream by default; leased operations are
//   granted locally from permits taken ahead (see client/options.h for the
//   trade). The destructor returns unused leased permits to the server.
//   Streams and leases time themselves on the process clock, whatever
//   ClientOptions::clock says.
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

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <grpcpp/channel.h>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/hardened_call.h"
#include "client/options.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/retry.h"
// The service stubs and messages, for callers that build their own fakes
// or print the protos.
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "crossbridge/v1/retry_advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace crossbridge {

class CallRunner;
class Executor;
class LeaseManager;
class LocalLimiter;
class PermitStreamMux;
class PolicyCache;
class ServerRpcs;

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

  // The non-template core of Call (rate_limited) and Retry (!rate_limited).
  // fn returns OK after storing its value.
  absl::Status CallImpl(absl::string_view operation, absl::string_view key,
                        bool rate_limited,
                        const std::function<absl::Status(const AttemptInfo&)>& fn,
                        const CallOptions& options, CallReport* report);

 private:
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
  // One permit request over the transport: the stream, or a unary call.
  void Send(v1::AcquirePermitRequest request, absl::Duration deadline,
            absl::AnyInvocable<void(absl::StatusOr<Permit>)> done);
  void Submit(std::function<void()> task);

  // Each job its own object (and lock), in client/: the RPC wrappers
  // (server_rpcs.h), the stream multiplexer (permit_stream_mux.h, null with
  // PermitTransport::kUnary), the lease manager (lease_manager.h, null
  // without leases), the policy cache, the local limiter, the executor and
  // the Call/Retry runner. Declared so that each is destroyed before what
  // it uses; ~Client orders the shutdown explicitly.
  const ClientOptions options_;
  const Clock& clock_;
  std::unique_ptr<ServerRpcs> rpcs_;
  std::unique_ptr<PermitStreamMux> stream_;
  std::unique_ptr<LeaseManager> leases_;
  std::unique_ptr<PolicyCache> policies_;
  std::unique_ptr<LocalLimiter> local_;
  std::unique_ptr<Executor> executor_;
  std::unique_ptr<CallRunner> runner_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_CLIENT_H_
