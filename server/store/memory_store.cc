#include "server/store/memory_store.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

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

void MemoryStore::Acquire(absl::string_view bucket_key, const GcraRule& rule,
                          int64_t cost, AcquireCallback done) {
  if (rule.capacity <= 0 || rule.emission_interval_us <= 0) {
    done(absl::InvalidArgumentError(
        "rule not built by GcraRule::Create (capacity or emission interval "
        "is not positive)"));
    return;
  }
  if (cost < 0 || cost > rule.capacity) {
    done(absl::InvalidArgumentError(absl::StrCat(
        "cost ", cost, " is outside [0, capacity ", rule.capacity, "]")));
    return;
  }
  const int64_t now_us = absl::ToUnixMicros(clock_.Now());
  Shard& shard = ShardFor(bucket_key);
  GcraResult result;
  {
    MutexLock lock(&shard.mu);
    auto it = shard.tats.find(bucket_key);
    const int64_t tat_us = it == shard.tats.end() ? 0 : it->second;
    result = GcraAcquire(rule, tat_us, now_us, cost);
    if (result.new_tat_us != tat_us) {
      if (it != shard.tats.end()) {
        it->second = result.new_tat_us;
      } else {
        MakeRoomLocked(shard, now_us);  // invalidates `it`
        shard.tats.emplace(bucket_key, result.new_tat_us);
      }
    }
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

void MemoryStore::MakeRoomLocked(Shard& shard, int64_t now_us) {
  int64_t size = static_cast<int64_t>(shard.tats.size());
  bool swept = false;
  if (size >= shard.sweep_at) {
    SweepLocked(shard, now_us);
    swept = true;
    size = static_cast<int64_t>(shard.tats.size());
  }
  if (size < max_per_shard_) return;
  if (!swept) {
    SweepLocked(shard, now_us);
    size = static_cast<int64_t>(shard.tats.size());
  }
  // Leave 1/8 of the shard free so the next eviction is max_per_shard_ / 8
  // inserts away (amortized O(1)), even if the sweep freed only a little.
  const int64_t target = max_per_shard_ - std::max<int64_t>(1, max_per_shard_ / 8);
  if (size > target) {
    EvictClosestToFullLocked(shard, size - target);
    shard.sweep_at = std::max(cleanup_per_shard_,
                              2 * static_cast<int64_t>(shard.tats.size()));
  }
}

void MemoryStore::SweepLocked(Shard& shard, int64_t now_us) {
  for (auto it = shard.tats.begin(); it != shard.tats.end();) {
    if (it->second <= now_us) {
      shard.tats.erase(it++);
    } else {
      ++it;
    }
  }
  shard.sweep_at = std::max(cleanup_per_shard_,
                            2 * static_cast<int64_t>(shard.tats.size()));
}

void MemoryStore::EvictClosestToFullLocked(Shard& shard, int64_t count) {
  if (count <= 0) return;
  if (count >= static_cast<int64_t>(shard.tats.size())) {
    shard.tats.clear();
    return;
  }
  // Find the count-th smallest TAT, then erase everything below it and as
  // many entries equal to it as are still needed. Copies TATs, not keys.
  std::vector<int64_t> tats;
  tats.reserve(shard.tats.size());
  for (const auto& entry : shard.tats) tats.push_back(entry.second);
  std::nth_element(tats.begin(), tats.begin() + (count - 1), tats.end());
  const int64_t cutoff = tats[count - 1];
  int64_t below = 0;
  for (auto it = shard.tats.begin(); it != shard.tats.end();) {
    if (it->second < cutoff) {
      shard.tats.erase(it++);
      ++below;
    } else {
      ++it;
    }
  }
  int64_t equal_to_evict = count - below;  // >= 1 by choice of cutoff
  for (auto it = shard.tats.begin();
       it != shard.tats.end() && equal_to_evict > 0;) {
    if (it->second == cutoff) {
      shard.tats.erase(it++);
      --equal_to_evict;
    } else {
      ++it;
    }
  }
}

}  // namespace crossbridge
