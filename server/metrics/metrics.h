// The server's Prometheus metrics: the families whose names are a contract
// (README "Metrics"; the dashboard and alerts in charts/crossbridge use
// them), and the per-name children the components resolve once.
//
// Hot path: a component asks for its children (Permit("embed"),
// RetryPolicy("default"), ...) when it builds its rules, at start and on
// each reload, and keeps the pointers. A request then only increments
// atomics: no label lookup, no string building, no lock. Children are never
// removed, so a pointer stays valid as long as the Metrics object, also for
// an in-flight call on a config a reload has replaced (a removed name's
// counters keep their last value until restart; gauges of state that can
// disappear, such as a removed provider's dependency_up, are read at scrape
// time from the components instead: SetStateCollector).
//
// Cardinality is bounded by the config: every label value is an operation,
// policy, provider, store or method name the config or the code defines,
// plus "_default" and "_invalid". No bucket key appears in any label.
//
// Thread safety: every method may be called from any thread.
#ifndef CROSSBRIDGE_SERVER_METRICS_METRICS_H_
#define CROSSBRIDGE_SERVER_METRICS_METRICS_H_

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/gcra.h"
#include "common/retry.h"
#include "server/metrics/latency_histogram.h"

namespace crossbridge {

// The operation label of requests served by default_rule, and of requests
// whose operation is unknown (no default_rule) or not a valid name.
inline constexpr char kDefaultOperationLabel[] = "_default";
inline constexpr char kInvalidOperationLabel[] = "_invalid";

// One operation's AcquirePermit counters. For "_invalid" only `error`
// exists (such a request never reaches a bucket).
struct PermitMetrics {
  prometheus::Counter* allowed = nullptr;
  prometheus::Counter* refused = nullptr;
  prometheus::Counter* error = nullptr;
  prometheus::Counter* granted = nullptr;  // sum of granted cost
  // crossbridge_store_fallbacks_total, by StoreFailurePolicy.
  std::array<prometheus::Counter*, 3> fallbacks{};

  // One answered request of `cost` permits.
  void Record(const absl::StatusOr<GcraResult>& result, int64_t cost) const;
  // The store failed and `policy` answers instead.
  void RecordFallback(StoreFailurePolicy policy) const;
};

// One retry policy's decision counters.
struct RetryPolicyMetrics {
  std::array<prometheus::Counter*, 6> decisions{};  // by RetryReason
  void Record(RetryReason reason) const;
};

// One health provider's failure counters and probe latency.
struct DependencyMetrics {
  prometheus::Counter* probe_failures = nullptr;
  prometheus::Counter* report_failures = nullptr;
  prometheus::Histogram* probe_duration = nullptr;
};

// One gRPC method: calls by status code, and latency.
class GrpcMethodMetrics {
 public:
  explicit GrpcMethodMetrics(const Clock& clock);
  const Clock& clock() const { return clock_; }
  // `code` is a grpc::StatusCode (0..16; anything else counts as UNKNOWN).
  void Record(int code, absl::Duration latency);
  // Appends this method's samples (label "method" = `method`).
  void Collect(const std::string& method, prometheus::MetricFamily& requests,
               prometheus::MetricFamily& duration) const;

 private:
  const Clock& clock_;
  std::array<std::atomic<uint64_t>, 17> codes_{};
  LatencyHistogram latency_;
};

class Metrics {
 public:
  explicit Metrics(const Clock& clock);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The children of one name, created on first use, stable afterwards.
  const PermitMetrics& Permit(const std::string& operation);
  const RetryPolicyMetrics& RetryPolicy(const std::string& policy);
  const DependencyMetrics& Dependency(const std::string& provider);
  GrpcMethodMetrics& GrpcMethod(const std::string& method);
  // crossbridge_store_request_duration_seconds{store}.
  LatencyHistogram& StoreLatency(const std::string& store);

  // The config the server started with (sets the last-reload gauges, counts
  // no reload).
  void RecordStartupConfig(absl::Time when);
  // A reload attempt.
  void RecordReload(bool success, absl::Time when);

  // TLS material: a change to the certificate files that was applied
  // (success) or rejected (failure, the old material keeps serving), and
  // the serving certificate's notAfter
  // (crossbridge_tls_certificate_expiry_timestamp_seconds; set at start).
  void RecordTlsReload(bool success);
  void SetTlsCertificateExpiry(absl::Time not_after);

  // Families computed at scrape time from state the components own
  // (store_up, dependency_up, budget tokens, store internals). Replaces the
  // previous collector; empty clears it. The collector must stay callable
  // until it is replaced or the Metrics object is destroyed.
  using StateCollector = std::function<std::vector<prometheus::MetricFamily>()>;
  void SetStateCollector(StateCollector collector);

  // crossbridge_envoy_decisions_total{domain, key, code}: the family whose
  // children server/envoy/ resolves when it builds its rules (bounded: only
  // configured domains and keys, "_other" for the rest, never values).
  prometheus::Family<prometheus::Counter>& envoy_decisions() {
    return envoy_decisions_;
  }

  // What the exposer serves: the registry, the request families, the
  // process_* families and the state collector.
  std::vector<std::shared_ptr<prometheus::Collectable>> Collectables() const;

  // Everything in the text exposition format (what GET /metrics returns).
  std::string Text() const;

 private:
  class RequestFamilies;
  class StateFamilies;

  const std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& permit_requests_;
  prometheus::Family<prometheus::Counter>& permits_granted_;
  prometheus::Family<prometheus::Counter>& store_fallbacks_;
  prometheus::Family<prometheus::Counter>& retry_decisions_;
  prometheus::Family<prometheus::Counter>& dependency_failures_;
  prometheus::Family<prometheus::Histogram>& probe_duration_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Counter& reload_success_;
  prometheus::Counter& reload_failure_;
  prometheus::Gauge& last_reload_successful_;
  prometheus::Gauge& last_reload_timestamp_;
  prometheus::Family<prometheus::Counter>& tls_reloads_;
  prometheus::Counter& tls_reload_success_;
  prometheus::Counter& tls_reload_failure_;
  prometheus::Family<prometheus::Gauge>& tls_expiry_;
  prometheus::Family<prometheus::Counter>& envoy_decisions_;
  const std::shared_ptr<RequestFamilies> request_families_;
  const std::shared_ptr<StateFamilies> state_families_;
  const std::shared_ptr<prometheus::Collectable> process_;

  absl::Mutex mu_;
  std::map<std::string, PermitMetrics> permits_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, RetryPolicyMetrics> policies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, DependencyMetrics> dependencies_ ABSL_GUARDED_BY(mu_);
};

// Building blocks for state collectors: a family of one type, and a sample
// with labels.
prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type);
void AddSample(prometheus::MetricFamily& family,
               std::vector<prometheus::ClientMetric::Label> labels, double value);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_METRICS_METRICS_H_
