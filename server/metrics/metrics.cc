#include "server/metrics/metrics.h"

#include <prometheus/text_serializer.h>

#include <utility>

#include "absl/status/status.h"
#include "common/mutex.h"
#include "server/metrics/process_collector.h"

#ifndef CROSSBRIDGE_VERSION
#error "CROSSBRIDGE_VERSION must be defined by the build"
#endif

namespace crossbridge {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Label values of crossbridge_retry_decisions_total{reason}, by RetryReason.
constexpr std::array<const char*, 6> kReasonLabels = {
    "retryable",          "not_retryable",    "attempts_exhausted",
    "deadline_too_short", "budget_exhausted", "dependency_unhealthy"};

// Label values of crossbridge_store_fallbacks_total{policy}, by
// StoreFailurePolicy.
constexpr std::array<StoreFailurePolicy, 3> kPolicies = {
    StoreFailurePolicy::kLocal, StoreFailurePolicy::kAllow,
    StoreFailurePolicy::kDeny};

size_t PolicyIndex(StoreFailurePolicy policy) {
  switch (policy) {
    case StoreFailurePolicy::kLocal: return 0;
    case StoreFailurePolicy::kAllow: return 1;
    case StoreFailurePolicy::kDeny: return 2;
  }
  return 0;
}

size_t ReasonIndex(RetryReason reason) {
  switch (reason) {
    case RetryReason::kRetryable: return 0;
    case RetryReason::kNotRetryable: return 1;
    case RetryReason::kAttemptsExhausted: return 2;
    case RetryReason::kDeadlineTooShort: return 3;
    case RetryReason::kBudgetExhausted: return 4;
    case RetryReason::kDependencyUnhealthy: return 5;
  }
  return 1;
}

prometheus::Family<prometheus::Counter>& CounterFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

// Probes take milliseconds to seconds (timeouts up to a minute or more).
const prometheus::Histogram::BucketBoundaries& ProbeBounds() {
  static const auto* bounds = new prometheus::Histogram::BucketBoundaries{
      0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
      1,     2.5,    5,     10,   30,    60};
  return *bounds;
}

}  // namespace

MetricFamily MakeFamily(std::string name, std::string help, MetricType type) {
  MetricFamily family;
  family.name = std::move(name);
  family.help = std::move(help);
  family.type = type;
  return family;
}

void AddSample(MetricFamily& family, std::vector<ClientMetric::Label> labels,
               double value) {
  ClientMetric m;
  m.label = std::move(labels);
  switch (family.type) {
    case MetricType::Counter: m.counter.value = value; break;
    case MetricType::Gauge: m.gauge.value = value; break;
    default: m.untyped.value = value; break;
  }
  family.metric.push_back(std::move(m));
}

// ---- per-name children ------------------------------------------------------

void PermitMetrics::Record(const absl::StatusOr<GcraResult>& result,
                           int64_t cost) const {
  if (!result.ok()) {
    error->Increment();
  } else if (result->allowed) {
    allowed->Increment();
    if (cost > 0) granted->Increment(static_cast<double>(cost));
  } else {
    refused->Increment();
  }
}

void PermitMetrics::RecordFallback(StoreFailurePolicy policy) const {
  fallbacks[PolicyIndex(policy)]->Increment();
}

void RetryPolicyMetrics::Record(RetryReason reason) const {
  decisions[ReasonIndex(reason)]->Increment();
}

GrpcMethodMetrics::GrpcMethodMetrics(const Clock& clock)
    : clock_(clock), latency_(RequestLatencyBounds()) {}

void GrpcMethodMetrics::Record(int code, absl::Duration latency) {
  if (code < 0 || code >= static_cast<int>(codes_.size())) code = 2;  // UNKNOWN
  codes_[code].fetch_add(1, std::memory_order_relaxed);
  latency_.Observe(latency);
}

void GrpcMethodMetrics::Collect(const std::string& method,
                                MetricFamily& requests,
                                MetricFamily& duration) const {
  for (size_t code = 0; code < codes_.size(); ++code) {
    const uint64_t n = codes_[code].load(std::memory_order_relaxed);
    // Codes never returned are left out, except OK (so a method that was
    // never called still has a series to rate() over).
    if (n == 0 && code != 0) continue;
    AddSample(requests,
              {{"code", std::string(absl::StatusCodeToString(
                            static_cast<absl::StatusCode>(code)))},
               {"method", method}},
              static_cast<double>(n));
  }
  ClientMetric h = latency_.Collect();
  h.label = {{"method", method}};
  duration.metric.push_back(std::move(h));
}

// ---- families outside the registry -----------------------------------------

// gRPC calls and store round trips: lock-free children, collected here.
class Metrics::RequestFamilies final : public prometheus::Collectable {
 public:
  explicit RequestFamilies(const Clock& clock) : clock_(clock) {}

  GrpcMethodMetrics& Method(const std::string& method) {
    MutexLock lock(&mu_);
    auto& slot = methods_[method];
    if (slot == nullptr) slot = std::make_unique<GrpcMethodMetrics>(clock_);
    return *slot;
  }

  LatencyHistogram& Store(const std::string& store) {
    MutexLock lock(&mu_);
    auto& slot = stores_[store];
    if (slot == nullptr) {
      slot = std::make_unique<LatencyHistogram>(RequestLatencyBounds());
    }
    return *slot;
  }

  std::vector<MetricFamily> Collect() const override {
    MetricFamily requests = MakeFamily(
        "crossbridge_grpc_requests_total",
        "CrossBridge RPCs answered, by method and gRPC status code.",
        MetricType::Counter);
    MetricFamily duration = MakeFamily(
        "crossbridge_grpc_request_duration_seconds",
        "Time from receiving a CrossBridge RPC to finishing it.",
        MetricType::Histogram);
    MetricFamily store = MakeFamily(
        "crossbridge_store_request_duration_seconds",
        "Store round trips (Redis: from queueing a call to its reply).",
        MetricType::Histogram);
    MutexLock lock(&mu_);
    for (const auto& [name, method] : methods_) {
      method->Collect(name, requests, duration);
    }
    for (const auto& [name, histogram] : stores_) {
      ClientMetric h = histogram->Collect();
      h.label = {{"store", name}};
      store.metric.push_back(std::move(h));
    }
    return {std::move(requests), std::move(duration), std::move(store)};
  }

 private:
  const Clock& clock_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<GrpcMethodMetrics>> methods_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<LatencyHistogram>> stores_
      ABSL_GUARDED_BY(mu_);
};

// The state collector, called under a mutex so that clearing it waits for
// a scrape in progress.
class Metrics::StateFamilies final : public prometheus::Collectable {
 public:
  void Set(StateCollector collector) {
    MutexLock lock(&mu_);
    collector_ = std::move(collector);
  }

  std::vector<MetricFamily> Collect() const override {
    MutexLock lock(&mu_);
    if (!collector_) return {};
    return collector_();
  }

 private:
  mutable absl::Mutex mu_;
  StateCollector collector_ ABSL_GUARDED_BY(mu_);
};

// ---- Metrics ------------------------------------------------------------------

Metrics::Metrics(const Clock& clock)
    : registry_(std::make_shared<prometheus::Registry>()),
      permit_requests_(CounterFamily(
          *registry_, "crossbridge_permit_requests_total",
          "AcquirePermit calls by operation and result (allowed, refused, "
          "error).")),
      permits_granted_(CounterFamily(*registry_, "crossbridge_permits_granted_total",
                                     "Sum of the cost of granted permits.")),
      store_fallbacks_(CounterFamily(
          *registry_, "crossbridge_store_fallbacks_total",
          "AcquirePermit calls answered by on_store_failure because the store "
          "failed.")),
      retry_decisions_(CounterFamily(*registry_, "crossbridge_retry_decisions_total",
                                     "DecideRetry answers by policy and reason.")),
      dependency_failures_(CounterFamily(
          *registry_, "crossbridge_dependency_failures_total",
          "Failed calls to a dependency, from probes or from callers' "
          "reports.")),
      probe_duration_(prometheus::BuildHistogram()
                          .Name("crossbridge_probe_duration_seconds")
                          .Help("Health probe duration by provider.")
                          .Register(*registry_)),
      reloads_(CounterFamily(*registry_, "crossbridge_config_reloads_total",
                             "Config reloads by result (success, failure).")),
      reload_success_(reloads_.Add({{"result", "success"}})),
      reload_failure_(reloads_.Add({{"result", "failure"}})),
      last_reload_successful_(
          GaugeFamily(*registry_, "crossbridge_config_last_reload_successful",
                      "1 if the last config load or reload succeeded, else 0.")
              .Add({})),
      last_reload_timestamp_(
          GaugeFamily(*registry_, "crossbridge_config_last_reload_timestamp_seconds",
                      "Unix time of the last successful config load or reload.")
              .Add({})),
      tls_reloads_(CounterFamily(
          *registry_, "crossbridge_tls_reloads_total",
          "Changes to the TLS certificate files by result: success (serving "
          "the new material), failure (rejected; the previous keeps serving).")),
      tls_reload_success_(tls_reloads_.Add({{"result", "success"}})),
      tls_reload_failure_(tls_reloads_.Add({{"result", "failure"}})),
      tls_expiry_(GaugeFamily(
          *registry_, "crossbridge_tls_certificate_expiry_timestamp_seconds",
          "Unix time at which the serving TLS certificate expires (notAfter); "
          "absent with TLS off.")),
      envoy_decisions_(CounterFamily(
          *registry_, "crossbridge_envoy_decisions_total",
          "Envoy ShouldRateLimit decisions per request descriptor, by domain, "
          "key (the descriptor's first entry key, configured keys only) and "
          "code (ok, over_limit, shadow_over_limit).")),
      request_families_(std::make_shared<RequestFamilies>(clock)),
      state_families_(std::make_shared<StateFamilies>()),
      process_(std::make_shared<ProcessCollector>()) {
  GaugeFamily(*registry_, "crossbridge_build_info",
              "Always 1; the label carries the server's version.")
      .Add({{"version", CROSSBRIDGE_VERSION}})
      .Set(1);
}

Metrics::~Metrics() = default;

const PermitMetrics& Metrics::Permit(const std::string& operation) {
  MutexLock lock(&mu_);
  auto [it, inserted] = permits_.try_emplace(operation);
  PermitMetrics& m = it->second;
  if (inserted) {
    auto result = [&](const char* r) {
      return &permit_requests_.Add({{"operation", operation}, {"result", r}});
    };
    m.error = result("error");
    // "_invalid" only ever counts errors: no other series for it.
    if (operation == kInvalidOperationLabel) return m;
    m.allowed = result("allowed");
    m.refused = result("refused");
    m.granted = &permits_granted_.Add({{"operation", operation}});
    for (size_t i = 0; i < kPolicies.size(); ++i) {
      m.fallbacks[i] = &store_fallbacks_.Add(
          {{"operation", operation},
           {"policy", std::string(StoreFailurePolicyName(kPolicies[i]))}});
    }
  }
  return m;
}

const RetryPolicyMetrics& Metrics::RetryPolicy(const std::string& policy) {
  MutexLock lock(&mu_);
  auto [it, inserted] = policies_.try_emplace(policy);
  if (inserted) {
    for (size_t i = 0; i < kReasonLabels.size(); ++i) {
      it->second.decisions[i] =
          &retry_decisions_.Add({{"policy", policy}, {"reason", kReasonLabels[i]}});
    }
  }
  return it->second;
}

const DependencyMetrics& Metrics::Dependency(const std::string& provider) {
  MutexLock lock(&mu_);
  auto [it, inserted] = dependencies_.try_emplace(provider);
  if (inserted) {
    DependencyMetrics& m = it->second;
    m.probe_failures =
        &dependency_failures_.Add({{"provider", provider}, {"source", "probe"}});
    m.report_failures =
        &dependency_failures_.Add({{"provider", provider}, {"source", "report"}});
    m.probe_duration = &probe_duration_.Add({{"provider", provider}}, ProbeBounds());
  }
  return it->second;
}

GrpcMethodMetrics& Metrics::GrpcMethod(const std::string& method) {
  return request_families_->Method(method);
}

LatencyHistogram& Metrics::StoreLatency(const std::string& store) {
  return request_families_->Store(store);
}

void Metrics::RecordStartupConfig(absl::Time when) {
  last_reload_successful_.Set(1);
  last_reload_timestamp_.Set(absl::ToDoubleSeconds(when - absl::UnixEpoch()));
}

void Metrics::RecordReload(bool success, absl::Time when) {
  (success ? reload_success_ : reload_failure_).Increment();
  if (success) return RecordStartupConfig(when);
  last_reload_successful_.Set(0);
}

void Metrics::RecordTlsReload(bool success) {
  (success ? tls_reload_success_ : tls_reload_failure_).Increment();
}

void Metrics::SetTlsCertificateExpiry(absl::Time not_after) {
  tls_expiry_.Add({}).Set(absl::ToDoubleSeconds(not_after - absl::UnixEpoch()));
}

void Metrics::SetStateCollector(StateCollector collector) {
  state_families_->Set(std::move(collector));
}

std::vector<std::shared_ptr<prometheus::Collectable>> Metrics::Collectables() const {
  return {registry_, request_families_, state_families_, process_};
}

std::string Metrics::Text() const {
  std::vector<MetricFamily> families;
  for (const auto& c : Collectables()) {
    for (MetricFamily& f : c->Collect()) families.push_back(std::move(f));
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace crossbridge
