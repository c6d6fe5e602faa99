// Token bucket as GCRA (generic cell rate algorithm): one stored timestamp per
// bucket (the theoretical arrival time, TAT), O(1), exact.
//
// A bucket holds at most `capacity` permits and refills continuously at
// capacity / window. Time is integer microseconds (what Redis TIME gives, and
// exact in a Lua double for any epoch date). The emission interval
// T = window / capacity is truncated to whole microseconds, so the bucket's
// burst is capacity * T (at most capacity µs short of the window).
//
// Pure functions; thread-compatible. Stores (memory, Redis) keep the TAT and
// call GcraAcquire under their own atomicity.
#ifndef CROSSBRIDGE_COMMON_GCRA_H_
#define CROSSBRIDGE_COMMON_GCRA_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crossbridge {

struct GcraRule {
  int64_t capacity = 0;
  int64_t emission_interval_us = 0;  // T = window / capacity, >= 1

  // InvalidArgument unless 0 < capacity <= 1e9, 0 < window <= 365 days and
  // window >= capacity microseconds (these bounds keep all arithmetic far
  // from int64 overflow).
  static absl::StatusOr<GcraRule> Create(int64_t capacity, absl::Duration window);
  int64_t burst_us() const { return capacity * emission_interval_us; }
};

struct GcraResult {
  bool allowed = false;
  int64_t limit = 0;           // capacity
  int64_t remaining = 0;       // whole permits left after this call
  int64_t retry_after_ms = 0;  // 0 if allowed; else ceil(time until allowed), >= 1
  int64_t reset_after_ms = 0;  // ceil(time until the bucket is full again)
  int64_t new_tat_us = 0;      // TAT to store (unchanged when refused/peek)
  int64_t granted = 0;         // permits taken: cost when allowed, 0 for a
                               // peek or a refusal; 1..cost with up_to
};

// Evaluates one request of `cost` permits against a bucket whose stored TAT
// is `tat_us` (0 or anything <= now for a full/absent bucket) at `now_us`.
// A TAT beyond now + burst (the clock went back) is taken as now + burst:
// an empty bucket.
//  - cost >= 1: admitted iff cost permits are available; a refusal consumes
//    nothing and says when the same request would be admitted.
//  - cost == 0 (peek): consumes nothing; allowed iff at least one permit is
//    available, retry_after_ms is the wait for one permit.
//  - up_to and cost >= 1: takes n = min(cost, whole permits available now)
//    when n >= 1 (granted = n); refused exactly as a cost-1 request when
//    not even one permit is there.
// REQUIRES: 0 <= cost <= rule.capacity, rule from GcraRule::Create.
GcraResult GcraAcquire(const GcraRule& rule, int64_t tat_us, int64_t now_us,
                       int64_t cost, bool up_to = false);

// Gives `count` permits back (taken and not used): the TAT moves back by
// count emission intervals, never below now, so at most what was taken
// comes back and a full bucket stays full. allowed is true, granted 0;
// remaining and reset_after_ms describe the bucket after the return, and
// new_tat_us is what to store (<= now: the bucket is full).
// REQUIRES: 0 <= count <= rule.capacity, rule from GcraRule::Create.
GcraResult GcraReturn(const GcraRule& rule, int64_t tat_us, int64_t now_us,
                      int64_t count);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_GCRA_H_
