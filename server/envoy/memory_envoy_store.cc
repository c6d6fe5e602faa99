#include "server/envoy/memory_envoy_store.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace crossbridge {

GcraResult EvaluateEnvoyTake(const GcraRule& rule, int64_t tat_us, int64_t now_us,
                             int64_t cost) {
  if (cost <= rule.capacity) return GcraAcquire(rule, tat_us, now_us, cost);
  GcraResult r = GcraAcquire(rule, tat_us, now_us, 0);
  r.allowed = false;
  r.granted = 0;
  r.retry_after_ms = std::max<int64_t>(1, (rule.burst_us() + 999) / 1000);
  return r;
}

MemoryEnvoyStore::MemoryEnvoyStore(const Clock& clock, int64_t max_buckets)
    : clock_(clock), max_buckets_(std::max<int64_t>(1, max_buckets)) {}

int64_t MemoryEnvoyStore::size() const {
  MutexLock lock(&mu_);
  return static_cast<int64_t>(tats_.size());
}

void MemoryEnvoyStore::AcquireAll(std::vector<Take> takes, Callback done) {
  const int64_t now = absl::ToUnixMicros(clock_.MonotonicNow());
  absl::StatusOr<Outcome> outcome;
  {
    MutexLock lock(&mu_);
    outcome = AcquireAllLocked(takes, now);
  }
  done(std::move(outcome));
}

absl::StatusOr<EnvoyBucketStore::Outcome> MemoryEnvoyStore::AcquireAllLocked(
    const std::vector<Take>& takes, int64_t now) {
  Outcome out;
  out.results.reserve(takes.size());
  absl::flat_hash_map<std::string, int64_t> pending;  // TATs this call would store
  bool blocked = false;
  for (const Take& t : takes) {
    int64_t tat = 0;
    if (auto p = pending.find(t.bucket_key); p != pending.end()) {
      tat = p->second;
    } else if (auto s = tats_.find(t.bucket_key); s != tats_.end()) {
      tat = s->second;
    }
    GcraResult r = EvaluateEnvoyTake(t.rule, tat, now, t.cost);
    if (r.allowed && t.cost > 0) pending[t.bucket_key] = r.new_tat_us;
    if (!r.allowed && t.blocking) blocked = true;
    out.results.push_back(r);
  }
  if (blocked) {
    for (GcraResult& r : out.results) r.granted = 0;
    return out;
  }
  size_t added = 0;
  for (const auto& [key, tat] : pending) added += tats_.contains(key) ? 0 : 1;
  if (added > 0 && tats_.size() + added >= sweep_at_) {
    absl::erase_if(tats_, [now](const auto& kv) { return kv.second <= now; });
    sweep_at_ = std::max<size_t>(1024, 2 * tats_.size());
  }
  if (static_cast<int64_t>(tats_.size() + added) > max_buckets_) {
    return absl::UnavailableError(absl::StrCat(
        "memory store full: ", max_buckets_,
        " Envoy buckets still hold state (storage.memory.max_buckets)"));
  }
  for (const auto& [key, tat] : pending) tats_[key] = tat;
  out.committed = true;
  return out;
}

}  // namespace crossbridge
