#include "client/local_limiter.h"

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/gcra.h"
#include "common/mutex.h"
#include "common/status.h"

namespace crossbridge {
namespace {

// The local limiter's window for an operation whose limit the server told us.
constexpr absl::Duration kLearnedWindow = absl::Seconds(60);
constexpr int64_t kMaxLocalBuckets = 10000;

}  // namespace

LocalLimiter::LocalLimiter(const Clock& clock,
                           ClientOptions::LocalLimit fallback)
    : clock_(clock),
      fallback_(fallback),
      table_(BucketTable::Limits{.max_buckets = kMaxLocalBuckets,
                                 .shards = 1,
                                 .cleanup_threshold = kMaxLocalBuckets}) {}

void LocalLimiter::Learn(absl::string_view operation, uint32_t limit) {
  if (limit == 0) return;
  MutexLock lock(&mu_);
  auto it = seen_limits_.find(operation);
  if (it == seen_limits_.end()) {
    seen_limits_.emplace(std::string(operation), limit);
  } else {
    it->second = limit;
  }
}

absl::StatusOr<std::optional<absl::Duration>> LocalLimiter::Acquire(
    absl::string_view operation, absl::string_view key, uint32_t cost) {
  int64_t capacity = fallback_.capacity;
  absl::Duration window = fallback_.window;
  {
    MutexLock lock(&mu_);
    if (auto it = seen_limits_.find(operation); it != seen_limits_.end()) {
      capacity = it->second;
      window = kLearnedWindow;
    }
  }
  ASSIGN_OR_RETURN(GcraRule rule, GcraRule::Create(capacity, window));
  if (static_cast<int64_t>(cost) > rule.capacity) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rate limited (local limiter): cost ", cost,
                     " exceeds the capacity ", rule.capacity));
  }
  // The capacity is part of the bucket's name: a TAT computed under another
  // rule does not carry over (that bucket refills and is swept).
  const std::string bucket =
      absl::StrCat(operation, std::string(1, '\0'), key, std::string(1, '\0'),
                   rule.capacity);
  absl::StatusOr<GcraResult> result =
      table_.Acquire(bucket, rule, absl::ToUnixMicros(clock_.MonotonicNow()),
                     static_cast<int64_t>(cost));
  if (!result.ok()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rate limited (local limiter): ", result.status().message()));
  }
  if (result->allowed) return std::optional<absl::Duration>();
  return std::optional<absl::Duration>(
      absl::Milliseconds(std::max<int64_t>(1, result->retry_after_ms)));
}

}  // namespace crossbridge
