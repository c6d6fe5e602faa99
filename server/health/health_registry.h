// The dependencies of runtime.health_checks.providers and their health.
//
// Each enabled provider is probed (server/health/probers.h) on the
// registry's own threads — never a gRPC thread — every `interval`, each probe
// bounded by `timeout`. Probe results and outcomes reported by callers
// (Report) go through the OutcomeStore, so failures count fleet-wide toward
// failure_threshold: NOT_SERVING after failure_threshold consecutive
// failures, SERVING again after one success. Until its first result a
// provider is UNKNOWN (treated as usable).
//
// Metrics: probe durations, and failures by source (probe, report), per
// provider.
//
// Thread safety: every method may be called from any thread. Listener calls
// happen on registry or store threads, one per status change, in order.
#ifndef CROSSBRIDGE_SERVER_HEALTH_HEALTH_REGISTRY_H_
#define CROSSBRIDGE_SERVER_HEALTH_HEALTH_REGISTRY_H_

#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/config.h"
#include "server/health/outcome_store.h"
#include "server/metrics/metrics.h"
#include "server/health/probers.h"

namespace crossbridge {

enum class DependencyState { kUnknown, kServing, kNotServing, kDisabled };

struct DependencySnapshot {
  std::string name;
  CheckType check_type = CheckType::kTcp;
  std::string target;
  DependencyState state = DependencyState::kUnknown;
  int consecutive_failures = 0;
  int failure_threshold = 0;
  absl::Duration last_latency = absl::ZeroDuration();
  std::string last_error;                       // empty after a success
  absl::Time last_check_time = absl::InfinitePast();  // never checked
  std::string retry_policy;  // the policy callers should use with it
};

class HealthRegistry {
 public:
  // Called with (provider, serving) on every SERVING <-> NOT_SERVING change
  // (UNKNOWN counts as serving); after Start, also when Reconfigure adds or
  // enables a provider (its current state), and with nullopt when it removes
  // or disables one (no call for that name follows until it is back).
  using Listener = std::function<void(const std::string& provider,
                                      std::optional<bool> serving)>;
  using ReportCallback = std::function<void(absl::StatusOr<DependencySnapshot>)>;

  // `clock`, `probers`, `store` and `metrics` (may be null: metrics off)
  // must outlive the registry.
  HealthRegistry(const HealthChecksConfig& config, const Clock& clock,
                 const Probers& probers, OutcomeStore& store,
                 Metrics* metrics = nullptr);
  // Calls Stop().
  ~HealthRegistry();

  // Starts probing (no-op when health_checks.enabled is false).
  void Start(Listener listener);

  // Stops probing and waits for a running probe (bounded by its timeout);
  // the listener is not called after Stop returns. Idempotent; the
  // destructor calls it.
  void Stop();

  // Hot reload: providers not in `config` are removed, new ones added (with
  // a first probe at once when started), and changed ones keep their state
  // and counts while their probing restarts with the new settings (a probe
  // in progress finishes first, on its own thread; the first probe with the
  // new settings comes when the interval's probe claim, ClaimProbe, runs
  // out). Never blocks on a probe.
  void Reconfigure(const HealthChecksConfig& config);

  // All configured providers, in name order.
  std::vector<DependencySnapshot> Snapshot() const;
  // NotFound for an unknown provider.
  absl::StatusOr<DependencySnapshot> Get(absl::string_view provider) const;
  // False only for a known provider that is NOT_SERVING.
  bool IsServing(absl::string_view provider) const;

  // A caller's outcome of one call to `provider`; counts like a probe.
  // `done` gets the provider's state after it (NotFound if unknown).
  void Report(absl::string_view provider, bool success, absl::Duration latency,
              absl::string_view error, ReportCallback done);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_HEALTH_HEALTH_REGISTRY_H_
