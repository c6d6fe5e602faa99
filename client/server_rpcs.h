// The SDK's RPC wrappers: one method per CrossBridge RPC, each turning
// options into the request proto and the reply (or the grpc::Status) into
// the SDK's types, with the call's deadline and the bearer token on the
// context. No caching, no retrying, no policy: the layers above decide.
//
// Thread safety: every method may be called from any thread concurrently.
// Async calls: `done` runs exactly once, on a gRPC thread (or inline when
// the call fails before it is sent). The destructor waits for every async
// call started here to end (each is bounded by its deadline): the channel
// must not be destroyed from its own callback thread.
#ifndef CROSSBRIDGE_CLIENT_SERVER_RPCS_H_
#define CROSSBRIDGE_CLIENT_SERVER_RPCS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/options.h"
#include "common/retry.h"
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "crossbridge/v1/retry_advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace crossbridge {

using PermitDone = absl::AnyInvocable<void(absl::StatusOr<Permit>)>;

class ServerRpcs {
 public:
  // `token`: sent as "authorization: Bearer <token>" unless empty.
  ServerRpcs(std::shared_ptr<grpc::Channel> channel,
             absl::Duration default_deadline, absl::string_view token);
  ServerRpcs(const ServerRpcs&) = delete;
  ServerRpcs& operator=(const ServerRpcs&) = delete;
  ~ServerRpcs();

  absl::Duration default_deadline() const { return default_deadline_; }
  // Readies a context: the deadline (none when nullopt: streams) and, with
  // a token, the authorization header. Every RPC's context passes here.
  void PrepareContext(grpc::ClientContext& context,
                      std::optional<absl::Duration> deadline) const;
  v1::RateLimiter::Stub& rate_limiter() { return *rate_limiter_; }

  // ---- RateLimiter ----
  absl::StatusOr<Permit> AcquirePermit(const v1::AcquirePermitRequest& request,
                                       absl::Duration deadline);
  void AcquirePermitAsync(v1::AcquirePermitRequest request,
                          absl::Duration deadline, PermitDone done);
  // Fire and forget (a lease's unused permits); `done` is optional.
  void ReturnPermitsAsync(absl::string_view operation, absl::string_view key,
                          uint32_t count,
                          absl::AnyInvocable<void(absl::Status)> done = nullptr);

  // ---- grpc.health.v1 ----
  absl::StatusOr<ServingStatus> CheckHealth(absl::string_view service,
                                            absl::Duration deadline);
  absl::Status WatchHealth(absl::string_view service,
                           absl::Duration max_duration,
                           const std::function<bool(ServingStatus)>& on_change);

  // ---- RetryAdvisor ----
  absl::StatusOr<RetryDecision> DecideRetry(absl::string_view policy,
                                            const RetryRequest& request,
                                            absl::string_view dependency);
  absl::StatusOr<RetryPolicyConfig> GetRetryPolicy(absl::string_view name,
                                                   absl::Duration deadline);

  // ---- HealthReporter ----
  absl::StatusOr<v1::HealthReport> GetHealth();
  absl::StatusOr<v1::DependencyHealth> ReportOutcome(absl::string_view provider,
                                                     bool success,
                                                     absl::Duration latency,
                                                     absl::string_view code);
  void ReportOutcomeAsync(absl::string_view provider, bool success,
                          absl::Duration latency, absl::string_view code,
                          std::function<void(absl::Status)> done);

 private:
  // Async calls in flight; the destructor waits for 0. Shared with each
  // call, which decrements it before running user code (so a callback may
  // destroy the Client).
  struct InFlight {
    absl::Mutex mu;
    int count ABSL_GUARDED_BY(mu) = 0;
  };
  // Starts an async unary call on `stub_async`; `finish(status, response)`
  // runs once it ends, after the in-flight count dropped.
  template <typename Request, typename Response, typename Start,
            typename Finish>
  void StartAsync(Request request, absl::Duration deadline, Start start,
                  Finish finish);

  const std::shared_ptr<grpc::Channel> channel_;
  const absl::Duration default_deadline_;
  // "Bearer <token>", built once; "" when there is no token.
  const std::string authorization_;
  const std::unique_ptr<v1::RateLimiter::Stub> rate_limiter_;
  const std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  const std::unique_ptr<v1::RetryAdvisor::Stub> retry_advisor_;
  const std::unique_ptr<v1::HealthReporter::Stub> health_reporter_;
  const std::shared_ptr<InFlight> in_flight_;
};

// Checked before sending: gRPC may still complete a call whose deadline is
// already past if the server is fast enough, which would make the contract
// racy. DEADLINE_EXCEEDED unless deadline > 0.
absl::Status CheckDeadline(absl::Duration deadline);

// A Permit from the server's answer.
Permit ToPermit(const v1::AcquirePermitResponse& response);
// One item's answer of AcquirePermits / StreamPermits: its Permit or its
// error (code and message as the server sent them).
absl::StatusOr<Permit> FromPermitResult(const v1::PermitResult& result);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_SERVER_RPCS_H_
