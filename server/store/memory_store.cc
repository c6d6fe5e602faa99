#include "server/store/memory_store.h"

#include <algorithm>
#include <limits>
#include <optional>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

#include "common/logging.h"
#include "common/mutex.h"

namespace crossbridge {
namespace {

// Shard count: at least 1, and no more than max_buckets so that every shard
// can hold at least one bucket without exceeding the total bound.
int64_t ShardCount(const MemoryStorageConfig& config) {
  const int64_t max_buckets = std::max<int64_t>(1, config.max_buckets);
  return std::clamp<int64_t>(config.shards, 1, max_buckets);
}

}  // namespace

MemoryStore::MemoryStore(const Clock& clock, const MemoryStorageConfig& config,
                         int64_t cleanup_threshold)
    : clock_(clock),
      max_buckets_(std::max<int64_t>(1, config.max_buckets)),
      max_per_shard_(std::max<int64_t>(
          1, std::max<int64_t>(1, config.max_buckets) / ShardCount(config))),
      cleanup_per_shard_(
          std::max<int64_t>(1, cleanup_threshold / ShardCount(config))) {
  const int64_t n = ShardCount(config);
  shards_.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    auto shard = std::make_unique<Shard>();
    MutexLock lock(&shard->mu);
    shard->sweep_at = cleanup_per_shard_;
    shards_.push_back(std::move(shard));
  }
}

MemoryStore::Shard& MemoryStore::ShardFor(absl::string_view bucket_key) {
  const uint64_t h = absl::Hash<absl::string_view>{}(bucket_key);
  // Use the high bits: flat_hash_map keeps the low 7 bits of the same hash as
  // its per-slot tag, so sharding on them would weaken every shard's probing.
  return *shards_[(h >> 32) % shards_.size()];
}

namespace {

// InvalidArgument unless `rule` came from GcraRule::Create and `n` (a cost
// or a count, named `what`) is in [min, capacity].
absl::Status CheckArgs(const GcraRule& rule, int64_t n, int64_t min, const char* what) {
  if (rule.capacity <= 0 || rule.emission_interval_us <= 0) {
    return absl::InvalidArgumentError(
        "rule not built by GcraRule::Create (capacity or emission interval "
        "is not positive)");
  }
  if (n < min || n > rule.capacity) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", n, " is outside [", min, ", capacity ", rule.capacity, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

void MemoryStore::Return(absl::string_view bucket_key, const GcraRule& rule,
                         int64_t count, AcquireCallback done) {
  if (absl::Status bad = CheckArgs(rule, count, 1, "count"); !bad.ok()) return done(bad);
  const int64_t now_us = absl::ToUnixMicros(clock_.MonotonicNow());
  Shard& shard = ShardFor(bucket_key);
  GcraResult result;
  {
    MutexLock lock(&shard.mu);
    auto it = shard.tats.find(bucket_key);
    // An absent bucket is full: nothing to give back, nothing stored.
    result = GcraReturn(rule, it == shard.tats.end() ? 0 : it->second, now_us, count);
    if (it != shard.tats.end()) {
      if (result.new_tat_us <= now_us) {
        shard.tats.erase(it);  // full again: the same as absent
      } else {
        it->second = result.new_tat_us;
      }
    }
  }
  done(std::move(result));
}

void MemoryStore::Acquire(absl::string_view bucket_key, const GcraRule& rule,
                          int64_t cost, bool up_to, AcquireCallback done) {
  if (absl::Status bad = CheckArgs(rule, cost, 0, "cost"); !bad.ok()) return done(bad);
  const int64_t now_us = absl::ToUnixMicros(clock_.MonotonicNow());
  Shard& shard = ShardFor(bucket_key);
  GcraResult result;
  bool refused = false;
  {
    MutexLock lock(&shard.mu);
    auto it = shard.tats.find(bucket_key);
    const int64_t tat_us = it == shard.tats.end() ? 0 : it->second;
    result = GcraAcquire(rule, tat_us, now_us, cost, up_to);
    if (result.new_tat_us != tat_us) {
      if (it != shard.tats.end()) {
        it->second = result.new_tat_us;
      } else if (MakeRoomLocked(shard, now_us)) {  // invalidates `it`
        shard.tats.emplace(bucket_key, result.new_tat_us);
      } else {
        refused = true;
      }
    }
  }
  if (refused) {
    NoteRefused();
    return done(absl::UnavailableError(absl::StrCat(
        "memory store full: storage.memory.max_buckets (", max_buckets_,
        ") buckets still hold state; new keys are refused until some refill")));
  }
  done(std::move(result));
}

int64_t MemoryStore::size() const {
  int64_t total = 0;
  for (const auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    total += static_cast<int64_t>(shard->tats.size());
  }
  return total;
}

bool MemoryStore::MakeRoomLocked(Shard& shard, int64_t now_us) {
  const int64_t size = static_cast<int64_t>(shard.tats.size());
  if (size >= shard.sweep_at ||
      (size >= max_per_shard_ && now_us >= shard.refills_at)) {
    SweepLocked(shard, now_us);
  }
  return static_cast<int64_t>(shard.tats.size()) < max_per_shard_;
}

void MemoryStore::SweepLocked(Shard& shard, int64_t now_us) {
  int64_t earliest = std::numeric_limits<int64_t>::max();
  for (auto it = shard.tats.begin(); it != shard.tats.end();) {
    if (it->second <= now_us) {
      shard.tats.erase(it++);
    } else {
      earliest = std::min(earliest, it->second);
      ++it;
    }
  }
  shard.refills_at = earliest;
  shard.sweep_at = std::max(cleanup_per_shard_,
                            2 * static_cast<int64_t>(shard.tats.size()));
}

void MemoryStore::NoteRefused() {
  const int64_t total =
      refused_new_buckets_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (std::optional<uint64_t> suppressed = refused_log_.Admit("full")) {
    Logger("ratelimit")->warn(
        "memory store full: {} buckets hold state (storage.memory.max_buckets); "
        "new keys get on_store_failure until some refill ({} refused so far)",
        max_buckets_, total);
  }
}

}  // namespace crossbridge
