#include "common/bucket_table.h"

#include <algorithm>
#include <limits>

#include "absl/hash/hash.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"

namespace crossbridge {
namespace {

// InvalidArgument unless `rule` came from GcraRule::Create and `n` (a cost
// or a count, named `what`) is in [min, capacity].
absl::Status CheckArgs(const GcraRule& rule, int64_t n, int64_t min,
                       const char* what) {
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

// At least 1, and no more than max_buckets so that every shard can hold at
// least one bucket without exceeding the total bound.
int64_t ShardCount(const BucketTable::Limits& limits) {
  return std::clamp<int64_t>(limits.shards, 1,
                             std::max<int64_t>(1, limits.max_buckets));
}

}  // namespace

BucketTable::BucketTable(const Limits& limits)
    : max_buckets_(std::max<int64_t>(1, limits.max_buckets)),
      max_per_shard_(std::max<int64_t>(1, max_buckets_ / ShardCount(limits))),
      cleanup_per_shard_(std::max<int64_t>(
          1, limits.cleanup_threshold / ShardCount(limits))) {
  const int64_t n = ShardCount(limits);
  shards_.reserve(n);
  for (int64_t i = 0; i < n; ++i) {
    auto shard = std::make_unique<Shard>();
    MutexLock lock(&shard->mu);
    shard->sweep_at = cleanup_per_shard_;
    shards_.push_back(std::move(shard));
  }
}

BucketTable::Shard& BucketTable::ShardFor(absl::string_view key) {
  const uint64_t h = absl::Hash<absl::string_view>{}(key);
  // Use the high bits: flat_hash_map keeps the low 7 bits of the same hash as
  // its per-slot tag, so sharding on them would weaken every shard's probing.
  return *shards_[(h >> 32) % shards_.size()];
}

absl::StatusOr<GcraResult> BucketTable::Acquire(absl::string_view key,
                                                const GcraRule& rule,
                                                int64_t now_us, int64_t cost,
                                                bool up_to) {
  if (absl::Status bad = CheckArgs(rule, cost, 0, "cost"); !bad.ok()) return bad;
  Shard& shard = ShardFor(key);
  MutexLock lock(&shard.mu);
  auto it = shard.tats.find(key);
  const int64_t tat_us = it == shard.tats.end() ? 0 : it->second;
  GcraResult result = GcraAcquire(rule, tat_us, now_us, cost, up_to);
  if (result.new_tat_us == tat_us) return result;
  if (it != shard.tats.end()) {
    it->second = result.new_tat_us;
  } else if (MakeRoomLocked(shard, now_us)) {  // invalidates `it`
    shard.tats.emplace(key, result.new_tat_us);
  } else {
    refused_new_buckets_.fetch_add(1, std::memory_order_relaxed);
    return absl::ResourceExhaustedError(absl::StrCat(
        max_buckets_, " buckets still hold state; new keys are refused "
        "until some refill"));
  }
  return result;
}

absl::StatusOr<GcraResult> BucketTable::Return(absl::string_view key,
                                               const GcraRule& rule,
                                               int64_t now_us, int64_t count) {
  if (absl::Status bad = CheckArgs(rule, count, 1, "count"); !bad.ok()) return bad;
  Shard& shard = ShardFor(key);
  MutexLock lock(&shard.mu);
  auto it = shard.tats.find(key);
  // An absent bucket is full: nothing to give back, nothing stored.
  GcraResult result =
      GcraReturn(rule, it == shard.tats.end() ? 0 : it->second, now_us, count);
  if (it != shard.tats.end()) {
    if (result.new_tat_us <= now_us) {
      shard.tats.erase(it);  // full again: the same as absent
    } else {
      it->second = result.new_tat_us;
    }
  }
  return result;
}

int64_t BucketTable::size() const {
  int64_t total = 0;
  for (const auto& shard : shards_) {
    MutexLock lock(&shard->mu);
    total += static_cast<int64_t>(shard->tats.size());
  }
  return total;
}

bool BucketTable::MakeRoomLocked(Shard& shard, int64_t now_us) {
  const int64_t size = static_cast<int64_t>(shard.tats.size());
  if (size >= shard.sweep_at ||
      (size >= max_per_shard_ && now_us >= shard.refills_at)) {
    SweepLocked(shard, now_us);
  }
  return static_cast<int64_t>(shard.tats.size()) < max_per_shard_;
}

void BucketTable::SweepLocked(Shard& shard, int64_t now_us) {
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

}  // namespace crossbridge
