#include "common/gcra.h"

#include <algorithm>
#include <cassert>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace crossbridge {
namespace {

// Bounds that keep every intermediate value far below INT64_MAX: burst_us <=
// window_us <= 3.2e13 and cost * T <= burst_us, so base + cost * T stays
// within a few windows of the current Unix time in microseconds (~1.8e15).
constexpr int64_t kMaxCapacity = 1'000'000'000;
constexpr absl::Duration kMaxWindow = absl::Hours(24 * 365);

// Microseconds to milliseconds, rounded up. REQUIRES: us >= 0.
int64_t CeilMs(int64_t us) { return (us + 999) / 1000; }

}  // namespace

absl::StatusOr<GcraRule> GcraRule::Create(int64_t capacity,
                                          absl::Duration window) {
  if (capacity <= 0 || capacity > kMaxCapacity) {
    return absl::InvalidArgumentError(absl::StrCat(
        "capacity must be in [1, ", kMaxCapacity, "], got ", capacity));
  }
  if (window <= absl::ZeroDuration() || window > kMaxWindow) {
    return absl::InvalidArgumentError(
        absl::StrCat("window must be in (0, 365 days], got ",
                     absl::FormatDuration(window)));
  }
  const int64_t window_us = absl::ToInt64Microseconds(window);
  const int64_t emission_interval_us = window_us / capacity;
  if (emission_interval_us < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "window %s is shorter than capacity (%d) microseconds",
        absl::FormatDuration(window), capacity));
  }
  GcraRule rule;
  rule.capacity = capacity;
  rule.emission_interval_us = emission_interval_us;
  return rule;
}

GcraResult GcraAcquire(const GcraRule& rule, int64_t tat_us, int64_t now_us,
                       int64_t cost, bool up_to) {
  assert(rule.capacity > 0 && rule.emission_interval_us > 0);
  assert(cost >= 0 && cost <= rule.capacity);
  const int64_t t = rule.emission_interval_us;
  const int64_t burst = rule.burst_us();
  // No legitimate TAT is ahead of now by more than burst. One that is (the
  // clock moved backwards) counts as an empty bucket: never extra permits,
  // and a retry_after of at most one window.
  tat_us = std::min(tat_us, now_us + burst);
  // The bucket is "in debt" by base - now microseconds of refill.
  const int64_t base = std::max(tat_us, now_us);
  const int64_t debt = base - now_us;
  // Whole permits left for a given debt; never negative.
  auto remaining_for = [&](int64_t d) {
    return d >= burst ? int64_t{0} : (burst - d) / t;
  };

  GcraResult result;
  result.limit = rule.capacity;
  result.new_tat_us = tat_us;
  if (cost == 0) {  // Peek: is one permit available? Consumes nothing.
    result.allowed = debt + t <= burst;
    result.remaining = remaining_for(debt);
    result.retry_after_ms = result.allowed ? 0 : CeilMs(debt + t - burst);
  } else {
    // Up to cost: as many as there are (at least one), else the cost-1 answer.
    if (up_to) cost = std::max<int64_t>(1, std::min(cost, remaining_for(debt)));
    const int64_t new_debt = debt + cost * t;
    result.allowed = new_debt <= burst;
    if (result.allowed) {
      result.granted = cost;
      result.new_tat_us = now_us + new_debt;
      result.remaining = remaining_for(new_debt);
      result.retry_after_ms = 0;
    } else {
      result.remaining = remaining_for(debt);
      result.retry_after_ms = std::max<int64_t>(1, CeilMs(new_debt - burst));
    }
  }
  result.reset_after_ms =
      CeilMs(std::max(result.new_tat_us, now_us) - now_us);
  return result;
}

GcraResult GcraReturn(const GcraRule& rule, int64_t tat_us, int64_t now_us,
                      int64_t count) {
  assert(rule.capacity > 0 && rule.emission_interval_us > 0);
  assert(count >= 0 && count <= rule.capacity);
  const int64_t t = rule.emission_interval_us;
  const int64_t burst = rule.burst_us();
  tat_us = std::min(tat_us, now_us + burst);  // as GcraAcquire
  const int64_t new_tat = std::max(now_us, tat_us - count * t);
  const int64_t debt = new_tat - now_us;
  GcraResult result;
  result.allowed = true;
  result.limit = rule.capacity;
  result.remaining = debt >= burst ? 0 : (burst - debt) / t;
  result.reset_after_ms = CeilMs(debt);
  result.new_tat_us = new_tat;
  return result;
}

}  // namespace crossbridge
