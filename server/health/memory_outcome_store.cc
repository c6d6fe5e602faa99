#include "server/health/memory_outcome_store.h"

#include <utility>

#include "common/mutex.h"

namespace crossbridge {

void MemoryOutcomeStore::RecordOutcome(absl::string_view provider, bool success,
                                       CountCallback done) {
  int64_t count = 0;
  {
    MutexLock lock(&mu_);
    int64_t& failures = failures_[provider];
    failures = success ? 0 : failures + 1;
    count = failures;
  }
  done(count);
}

void MemoryOutcomeStore::ClaimProbe(absl::string_view provider,
                                    absl::Duration interval,
                                    ClaimCallback done) {
  absl::Time now = clock_.Now();
  bool claimed = false;
  {
    MutexLock lock(&mu_);
    auto it = last_claim_.find(provider);
    if (it == last_claim_.end()) {
      last_claim_.emplace(std::string(provider), now);
      claimed = true;
    } else if (now - it->second >= interval) {
      it->second = now;
      claimed = true;
    }
  }
  done(claimed);
}

}  // namespace crossbridge
