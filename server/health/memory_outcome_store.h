// An OutcomeStore kept in this process: one replica's view, for the memory
// storage backend, tests, and as the shape of the Redis one.
//
// RecordOutcome: failure -> count + 1, success -> 0; `done` gets the new
// count. ClaimProbe: true iff the provider's last granted claim is at least
// `interval` old by the injected Clock (or there was none); a granted claim
// is remembered, a refused one is not.
//
// Thread safety: all methods from any thread; one absl::Mutex over both maps.
// Completion: `done` is called exactly once, inline on the calling thread,
// after the lock is released (it may call back into the store). Never fails.
#ifndef CROSSBRIDGE_SERVER_HEALTH_MEMORY_OUTCOME_STORE_H_
#define CROSSBRIDGE_SERVER_HEALTH_MEMORY_OUTCOME_STORE_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "server/health/outcome_store.h"

namespace crossbridge {

class MemoryOutcomeStore final : public OutcomeStore {
 public:
  // `clock` must outlive the store.
  explicit MemoryOutcomeStore(const Clock& clock) : clock_(clock) {}

  MemoryOutcomeStore(const MemoryOutcomeStore&) = delete;
  MemoryOutcomeStore& operator=(const MemoryOutcomeStore&) = delete;

  void RecordOutcome(absl::string_view provider, bool success,
                     CountCallback done) override;
  void ClaimProbe(absl::string_view provider, absl::Duration interval,
                  ClaimCallback done) override;

 private:
  const Clock& clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, int64_t> failures_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Time> last_claim_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_HEALTH_MEMORY_OUTCOME_STORE_H_
