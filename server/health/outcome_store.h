// Where the fleet-wide health of a dependency is counted: the consecutive
// failures of a provider, fed by active probes and by outcomes callers report
// (HealthReporter/ReportOutcome), shared by every replica through the store.
//
// Thread safety: all methods may be called concurrently from any thread.
// Completion: `done` is called exactly once, inline (memory) or on a
// Redis connection's thread; it must not block. Store failure: UNAVAILABLE or
// DEADLINE_EXCEEDED; the registry then counts locally.
#ifndef CROSSBRIDGE_SERVER_HEALTH_OUTCOME_STORE_H_
#define CROSSBRIDGE_SERVER_HEALTH_OUTCOME_STORE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crossbridge {

class OutcomeStore {
 public:
  using CountCallback = std::function<void(absl::StatusOr<int64_t>)>;
  using ClaimCallback = std::function<void(absl::StatusOr<bool>)>;

  virtual ~OutcomeStore() = default;

  // A failure adds one to the provider's consecutive failures; a success
  // resets them to 0. `done` receives the count after the update.
  virtual void RecordOutcome(absl::string_view provider, bool success,
                             CountCallback done) = 0;

  // Claims the right to run the next active probe of `provider` for
  // `interval`: true for exactly one caller per interval fleet-wide, so N
  // replicas do not count one outage N times nor probe a dependency N times.
  virtual void ClaimProbe(absl::string_view provider, absl::Duration interval,
                          ClaimCallback done) = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_HEALTH_OUTCOME_STORE_H_
