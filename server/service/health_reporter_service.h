// gRPC adapter for crossbridge.v1.HealthReporter on the callback API.
// GetHealth answers from the HealthRegistry's snapshot, plus the shared
// store's own state (Redis: reachable, or why not); ReportOutcome feeds a
// caller's outcome to the registry (fleet-wide failure count) and, on
// success, deposits into the retry budget of the provider's retry_policy
// (as the registry's current config names it).
// Both methods are registered raw (server/service/raw_message.h) and
// authorized first (scope read for GetHealth, report for ReportOutcome;
// server/service/call_auth.h). ReportOutcome errors: INVALID_ARGUMENT for an empty provider or a code
// that is longer than 64 bytes or not printable UTF-8 (it is shown as
// last_error, so no terminal escape may pass); NOT_FOUND for an unknown
// provider.
#ifndef CROSSBRIDGE_SERVER_SERVICE_HEALTH_REPORTER_SERVICE_H_
#define CROSSBRIDGE_SERVER_SERVICE_HEALTH_REPORTER_SERVICE_H_

#include <functional>
#include <optional>

#include "common/config.h"
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "server/auth/authenticator.h"
#include "server/health/health_registry.h"
#include "server/retry/retry_advisor.h"
#include "server/service/rpc_timer.h"

namespace crossbridge {

class HealthReporterService final
    : public v1::HealthReporter::WithRawCallbackMethod_GetHealth<
          v1::HealthReporter::WithRawCallbackMethod_ReportOutcome<
              v1::HealthReporter::Service>> {
 public:
  // The shared store's state for GetHealth; nullopt: no shared store.
  using StoreHealth = std::function<std::optional<DependencySnapshot>()>;

  // All must outlive the service. `store_health` may be empty, `metrics`
  // null (metrics off).
  HealthReporterService(HealthRegistry& registry, RetryAdvisor& advisor,
                        const Authenticator& auth,
                        StoreHealth store_health = nullptr,
                        Metrics* metrics = nullptr)
      : registry_(registry),
        advisor_(advisor),
        auth_(auth),
        store_health_(std::move(store_health)),
        get_health_(MethodMetrics(metrics, "crossbridge.v1.HealthReporter/GetHealth")),
        report_outcome_(
            MethodMetrics(metrics, "crossbridge.v1.HealthReporter/ReportOutcome")) {}

  grpc::ServerUnaryReactor* GetHealth(grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ReportOutcome(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;

 private:
  HealthRegistry& registry_;
  RetryAdvisor& advisor_;
  const Authenticator& auth_;
  const StoreHealth store_health_;
  GrpcMethodMetrics* const get_health_;
  GrpcMethodMetrics* const report_outcome_;
};

// OK, or INVALID_ARGUMENT naming `code` (exposed for tests).
absl::Status CheckOutcomeCode(absl::string_view code);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_HEALTH_REPORTER_SERVICE_H_
