// gRPC adapter for crossbridge.v1.HealthReporter on the callback API.
// GetHealth answers from the HealthRegistry's snapshot; ReportOutcome feeds a
// caller's outcome to the registry (fleet-wide failure count) and, on
// success, deposits into the retry budget of the provider's retry_policy.
#ifndef CROSSBRIDGE_SERVER_SERVICE_HEALTH_REPORTER_SERVICE_H_
#define CROSSBRIDGE_SERVER_SERVICE_HEALTH_REPORTER_SERVICE_H_

#include "common/config.h"
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "server/health/health_registry.h"
#include "server/retry/retry_advisor.h"

namespace crossbridge {

class HealthReporterService final : public v1::HealthReporter::CallbackService {
 public:
  // All must outlive the service.
  HealthReporterService(const HealthChecksConfig& config,
                        HealthRegistry& registry, RetryAdvisor& advisor)
      : config_(config), registry_(registry), advisor_(advisor) {}

  grpc::ServerUnaryReactor* GetHealth(grpc::CallbackServerContext* context,
                                      const v1::GetHealthRequest* request,
                                      v1::HealthReport* response) override;
  grpc::ServerUnaryReactor* ReportOutcome(
      grpc::CallbackServerContext* context,
      const v1::ReportOutcomeRequest* request,
      v1::ReportOutcomeResponse* response) override;

 private:
  const HealthChecksConfig& config_;
  HealthRegistry& registry_;
  RetryAdvisor& advisor_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_HEALTH_REPORTER_SERVICE_H_
