#include "common/gcra.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/time/time.h"
#include "tests/testing/gcra_rule.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::MakeRule;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

// An arbitrary fixed "now" (Unix microseconds, year 2027).
constexpr int64_t kNow = 1'800'000'000'000'000;
constexpr int64_t kSecond = 1'000'000;

// A bucket: the TAT the store would keep.
struct Bucket {
  GcraRule rule;
  int64_t tat = 0;

  GcraResult Acquire(int64_t now, int64_t cost) {
    GcraResult r = GcraAcquire(rule, tat, now, cost);
    tat = r.new_tat_us;
    return r;
  }
  // Cost-1 acquires at `now` until one is refused; returns how many passed.
  int64_t Drain(int64_t now) {
    int64_t admitted = 0;
    while (Acquire(now, 1).allowed) ++admitted;
    return admitted;
  }
};

// ---- GcraRule::Create -------------------------------------------------------

TEST(GcraRuleTest, ComputesTruncatedEmissionInterval) {
  GcraRule rule = MakeRule(7, absl::Seconds(60));
  EXPECT_EQ(rule.capacity, 7);
  EXPECT_EQ(rule.emission_interval_us, 8'571'428);  // 60e6 / 7, truncated
  EXPECT_EQ(rule.burst_us(), 59'999'996);

  rule = MakeRule(3, absl::Seconds(10));
  EXPECT_EQ(rule.emission_interval_us, 3'333'333);
  EXPECT_EQ(rule.burst_us(), 9'999'999);

  rule = MakeRule(60, absl::Seconds(60));
  EXPECT_EQ(rule.emission_interval_us, kSecond);
  EXPECT_EQ(rule.burst_us(), 60 * kSecond);
}

TEST(GcraRuleTest, AcceptsBoundaries) {
  EXPECT_EQ(MakeRule(1000, absl::Microseconds(1000)).emission_interval_us, 1);
  EXPECT_EQ(MakeRule(1000, absl::Microseconds(1999)).emission_interval_us, 1);
  EXPECT_EQ(MakeRule(1, absl::Microseconds(1)).emission_interval_us, 1);
  EXPECT_EQ(MakeRule(1'000'000'000, absl::Hours(24 * 365)).emission_interval_us,
            31'536);
  EXPECT_EQ(MakeRule(1, absl::Hours(24 * 365)).emission_interval_us,
            int64_t{31'536'000} * kSecond);
}

TEST(GcraRuleTest, RejectsNonPositiveCapacity) {
  EXPECT_THAT(GcraRule::Create(0, absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("capacity")));
  EXPECT_THAT(GcraRule::Create(-5, absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("capacity")));
}

TEST(GcraRuleTest, RejectsCapacityAboveOneBillion) {
  EXPECT_THAT(GcraRule::Create(1'000'000'001, absl::Hours(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("capacity")));
}

TEST(GcraRuleTest, RejectsNonPositiveWindow) {
  EXPECT_THAT(GcraRule::Create(1, absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window")));
  EXPECT_THAT(GcraRule::Create(1, absl::Seconds(-1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window")));
}

TEST(GcraRuleTest, RejectsWindowShorterThanCapacityMicroseconds) {
  EXPECT_THAT(GcraRule::Create(1000, absl::Microseconds(999)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("shorter than capacity")));
  // Sub-microsecond windows truncate to 0 µs.
  EXPECT_THAT(GcraRule::Create(1, absl::Nanoseconds(999)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window")));
}

TEST(GcraRuleTest, RejectsWindowLongerThanAYear) {
  EXPECT_THAT(GcraRule::Create(1, absl::Hours(24 * 365) + absl::Seconds(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window")));
  EXPECT_THAT(GcraRule::Create(1, absl::InfiniteDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("window")));
}

// ---- Bursts -----------------------------------------------------------------

TEST(GcraTest, DocumentedExample) {
  Bucket b{MakeRule(60, absl::Seconds(60))};
  GcraResult r = b.Acquire(kNow, 1);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.limit, 60);
  EXPECT_EQ(r.remaining, 59);
  EXPECT_EQ(r.retry_after_ms, 0);
  EXPECT_EQ(r.reset_after_ms, 1000);
  EXPECT_EQ(r.new_tat_us, kNow + kSecond);
  for (int i = 2; i <= 60; ++i) {
    r = b.Acquire(kNow, 1);
    ASSERT_TRUE(r.allowed) << i;
    EXPECT_EQ(r.remaining, 60 - i);
    EXPECT_EQ(r.reset_after_ms, i * 1000);
  }
  const int64_t tat = b.tat;
  r = b.Acquire(kNow, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.retry_after_ms, 1000);
  EXPECT_EQ(r.reset_after_ms, 60'000);
  EXPECT_EQ(r.new_tat_us, tat);
}

struct BurstCase {
  int64_t capacity;
  absl::Duration window;
};

class GcraBurstTest : public ::testing::TestWithParam<BurstCase> {};

TEST_P(GcraBurstTest, AdmitsExactlyCapacityAtOneInstant) {
  Bucket b{MakeRule(GetParam().capacity, GetParam().window)};
  EXPECT_EQ(b.Drain(kNow), GetParam().capacity);
  // The clock not moving never refills.
  EXPECT_EQ(b.Drain(kNow), 0);
  EXPECT_FALSE(b.Acquire(kNow, 1).allowed);
}

TEST_P(GcraBurstTest, RefillsOnePermitPerEmissionInterval) {
  Bucket b{MakeRule(GetParam().capacity, GetParam().window)};
  const int64_t t = b.rule.emission_interval_us;
  ASSERT_EQ(b.Drain(kNow), GetParam().capacity);
  if (t > 1) {
    EXPECT_EQ(b.Drain(kNow + t - 1), 0);  // T - 1 µs: nothing yet
  }
  EXPECT_EQ(b.Drain(kNow + t), 1);        // exactly T: exactly one
  EXPECT_EQ(b.Drain(kNow + 2 * t), 1);
}

TEST_P(GcraBurstTest, FullyRefillsAfterBurst) {
  Bucket b{MakeRule(GetParam().capacity, GetParam().window)};
  ASSERT_EQ(b.Drain(kNow), GetParam().capacity);
  EXPECT_EQ(b.Drain(kNow + b.rule.burst_us()), GetParam().capacity);
  // Idle for much longer than the window: still only capacity.
  EXPECT_EQ(b.Drain(kNow + 10 * b.rule.burst_us()), GetParam().capacity);
}

INSTANTIATE_TEST_SUITE_P(
    Rules, GcraBurstTest,
    ::testing::Values(BurstCase{1, absl::Seconds(1)},
                      BurstCase{3, absl::Seconds(10)},   // T = 3333333 µs
                      BurstCase{7, absl::Seconds(60)},   // T = 8571428 µs
                      BurstCase{60, absl::Seconds(60)},
                      BurstCase{13, absl::Milliseconds(1000)},
                      BurstCase{1000, absl::Microseconds(1000)},  // T = 1 µs
                      BurstCase{1000, absl::Microseconds(1999)},  // T = 1 µs
                      BurstCase{5000, absl::Hours(24)}));

// ---- Refill -----------------------------------------------------------------

TEST(GcraTest, PartialRefill) {
  Bucket b{MakeRule(10, absl::Seconds(10))};  // T = 1 s
  ASSERT_EQ(b.Drain(kNow), 10);
  GcraResult r = b.Acquire(kNow + 2'500'000, 0);  // 2.5 T later
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 2);
  EXPECT_EQ(r.reset_after_ms, 7'500);
  EXPECT_EQ(b.Drain(kNow + 2'500'000), 2);
  r = b.Acquire(kNow + 2'500'000, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 500);  // the half-permit already refilled
}

TEST(GcraTest, SteadyRateAdmitsOnePerInterval) {
  Bucket b{MakeRule(7, absl::Seconds(60))};
  const int64_t t = b.rule.emission_interval_us;
  ASSERT_EQ(b.Drain(kNow), 7);
  for (int i = 1; i <= 100; ++i) {
    EXPECT_TRUE(b.Acquire(kNow + i * t, 1).allowed) << i;
    EXPECT_FALSE(b.Acquire(kNow + i * t, 1).allowed) << i;
  }
}

// ---- Cost > 1 ---------------------------------------------------------------

TEST(GcraTest, CostAboveOneAdmittedIffAvailable) {
  Bucket b{MakeRule(10, absl::Seconds(10))};  // T = 1 s
  GcraResult r = b.Acquire(kNow, 7);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 3);
  EXPECT_EQ(r.reset_after_ms, 7'000);

  const int64_t tat = b.tat;
  r = b.Acquire(kNow, 4);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.new_tat_us, tat);  // refusal consumes nothing
  EXPECT_EQ(r.remaining, 3);
  EXPECT_EQ(r.retry_after_ms, 1'000);  // one more permit needed
  EXPECT_EQ(r.reset_after_ms, 7'000);

  r = b.Acquire(kNow, 3);  // the 3 are still there
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.reset_after_ms, 10'000);

  r = b.Acquire(kNow, 5);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 5'000);
  // Waiting exactly retry_after admits the same request.
  EXPECT_TRUE(b.Acquire(kNow + 5 * kSecond, 5).allowed);
}

TEST(GcraTest, RefusedLargeCostDoesNotStarveSmallCost) {
  Bucket b{MakeRule(10, absl::Seconds(10))};
  ASSERT_TRUE(b.Acquire(kNow, 8).allowed);
  EXPECT_FALSE(b.Acquire(kNow, 3).allowed);
  EXPECT_TRUE(b.Acquire(kNow, 2).allowed);
}

TEST(GcraTest, CostEqualToCapacityOnFullBucket) {
  Bucket b{MakeRule(10, absl::Seconds(10))};
  GcraResult r = b.Acquire(kNow, 10);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.reset_after_ms, 10'000);

  r = b.Acquire(kNow, 10);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 10'000);
  r = b.Acquire(kNow + 10 * kSecond - 1, 10);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 1);
  EXPECT_TRUE(b.Acquire(kNow + 10 * kSecond, 10).allowed);
}

TEST(GcraTest, CostEqualToCapacityWithTruncatedInterval) {
  Bucket b{MakeRule(3, absl::Seconds(10))};
  EXPECT_TRUE(b.Acquire(kNow, 3).allowed);
  EXPECT_FALSE(b.Acquire(kNow + 9'999'998, 3).allowed);
  EXPECT_TRUE(b.Acquire(kNow + 9'999'999, 3).allowed);  // burst = 9999999 µs
}

// ---- Peek (cost 0) ----------------------------------------------------------

TEST(GcraTest, PeekOnFreshBucket) {
  Bucket b{MakeRule(10, absl::Seconds(10))};
  GcraResult r = b.Acquire(kNow, 0);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.limit, 10);
  EXPECT_EQ(r.remaining, 10);
  EXPECT_EQ(r.retry_after_ms, 0);
  EXPECT_EQ(r.reset_after_ms, 0);
  EXPECT_EQ(r.new_tat_us, 0);  // absent bucket stays absent
}

TEST(GcraTest, PeekNeverConsumes) {
  Bucket b{MakeRule(10, absl::Seconds(10))};
  ASSERT_TRUE(b.Acquire(kNow, 4).allowed);
  const int64_t tat = b.tat;
  for (int i = 0; i < 100; ++i) {
    GcraResult r = b.Acquire(kNow, 0);
    EXPECT_TRUE(r.allowed);
    EXPECT_EQ(r.remaining, 6);
    EXPECT_EQ(r.reset_after_ms, 4'000);
    EXPECT_EQ(r.new_tat_us, tat);
  }
  EXPECT_EQ(b.Drain(kNow), 6);
}

TEST(GcraTest, PeekOnEmptyBucket) {
  Bucket b{MakeRule(10, absl::Seconds(10))};
  ASSERT_EQ(b.Drain(kNow), 10);
  const int64_t tat = b.tat;
  GcraResult r = b.Acquire(kNow + 300'000, 0);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.retry_after_ms, 700);
  EXPECT_EQ(r.reset_after_ms, 9'700);
  EXPECT_EQ(r.new_tat_us, tat);
  // Exactly one permit available: peek allowed, remaining 1.
  r = b.Acquire(kNow + kSecond, 0);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 1);
}

// ---- Rounding -----------------------------------------------------------------

TEST(GcraTest, RetryAfterRoundsUp) {
  // T = 1001 µs: after one permit the wait is 1.001 ms -> 2 ms.
  Bucket b{MakeRule(1, absl::Microseconds(1001))};
  ASSERT_TRUE(b.Acquire(kNow, 1).allowed);
  GcraResult r = b.Acquire(kNow, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 2);
  EXPECT_EQ(r.reset_after_ms, 2);
  // 1 µs short: still rounds up to 1 ms, never 0.
  r = b.Acquire(kNow + 1000, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 1);
  EXPECT_EQ(r.reset_after_ms, 1);
  EXPECT_TRUE(b.Acquire(kNow + 1001, 1).allowed);
}

TEST(GcraTest, RetryAfterIsAtLeastOneMillisecondWhenRefused) {
  Bucket b{MakeRule(1000, absl::Microseconds(1000))};  // T = 1 µs
  ASSERT_EQ(b.Drain(kNow), 1000);
  GcraResult r = b.Acquire(kNow, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 1);  // 1 µs wait
  r = b.Acquire(kNow, 0);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 1);
}

TEST(GcraTest, ResetAfterCountsDownAndRoundsUp) {
  Bucket b{MakeRule(10, absl::Seconds(10))};
  ASSERT_TRUE(b.Acquire(kNow, 3).allowed);
  EXPECT_EQ(b.Acquire(kNow + 500'000, 0).reset_after_ms, 2'500);
  EXPECT_EQ(b.Acquire(kNow + 2'999'999, 0).reset_after_ms, 1);
  EXPECT_EQ(b.Acquire(kNow + 3'000'000, 0).reset_after_ms, 0);
  EXPECT_EQ(b.Acquire(kNow + 3'000'000, 0).remaining, 10);
  EXPECT_EQ(b.Acquire(kNow + 99'000'000, 0).reset_after_ms, 0);
}

// ---- Large windows ------------------------------------------------------------

TEST(GcraTest, YearLongWindowWithBillionCapacity) {
  Bucket b{MakeRule(1'000'000'000, absl::Hours(24 * 365))};  // T = 31536 µs
  const int64_t burst = b.rule.burst_us();
  ASSERT_EQ(burst, int64_t{31'536'000'000'000});
  GcraResult r = b.Acquire(kNow, 0);
  EXPECT_EQ(r.remaining, 1'000'000'000);

  r = b.Acquire(kNow, 1'000'000'000);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.reset_after_ms, int64_t{31'536'000'000});
  EXPECT_EQ(r.new_tat_us, kNow + burst);

  r = b.Acquire(kNow, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 32);  // ceil(31536 µs)
  r = b.Acquire(kNow, 1'000'000'000);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, int64_t{31'536'000'000});

  // Half a year later, half the permits.
  r = b.Acquire(kNow + burst / 2, 0);
  EXPECT_EQ(r.remaining, 500'000'000);
  EXPECT_TRUE(b.Acquire(kNow + burst / 2, 500'000'000).allowed);
  EXPECT_FALSE(b.Acquire(kNow + burst / 2, 1).allowed);
}

TEST(GcraTest, YearLongWindowCapacityOne) {
  Bucket b{MakeRule(1, absl::Hours(24 * 365))};
  ASSERT_TRUE(b.Acquire(kNow, 1).allowed);
  GcraResult r = b.Acquire(kNow, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, int64_t{31'536'000'000});
  EXPECT_TRUE(b.Acquire(kNow + b.rule.burst_us(), 1).allowed);
}

// ---- Clock anomalies ------------------------------------------------------------

TEST(GcraTest, ClockMovingBackwardsGivesNoExtraPermits) {
  Bucket b{MakeRule(10, absl::Seconds(10))};
  ASSERT_TRUE(b.Acquire(kNow, 5).allowed);
  const int64_t tat = b.tat;
  // 2 s earlier the TAT is 7 s ahead: only 3 permits.
  GcraResult r = b.Acquire(kNow - 2 * kSecond, 0);
  EXPECT_EQ(r.remaining, 3);
  EXPECT_EQ(r.reset_after_ms, 7'000);
  EXPECT_EQ(r.new_tat_us, tat);
  EXPECT_EQ(b.Drain(kNow - 2 * kSecond), 3);

  // Far in the past: the TAT is ahead by more than the burst, which no
  // bucket can be. It counts as an empty bucket (now + burst): nothing
  // extra, no negative remaining, and a wait of one permit, not of the
  // clock's jump (a clock step must not lock a key out for its size).
  const int64_t then = kNow - 100 * kSecond;
  r = b.Acquire(then, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.retry_after_ms, 1'000);
  r = b.Acquire(then, 0);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.retry_after_ms, 1'000);
  EXPECT_EQ(r.reset_after_ms, 10'000);
  EXPECT_EQ(r.new_tat_us, then + 10 * kSecond);
  // A corrupt, absurd TAT is bounded the same way.
  Bucket corrupt{MakeRule(10, absl::Seconds(10)), int64_t{1} << 62};
  r = corrupt.Acquire(kNow, 1);
  EXPECT_FALSE(r.allowed);
  EXPECT_EQ(r.retry_after_ms, 1'000);
  EXPECT_EQ(r.reset_after_ms, 10'000);
}

TEST(GcraTest, StaleTatBehavesAsFullBucket) {
  Bucket fresh{MakeRule(7, absl::Seconds(60))};
  Bucket stale{MakeRule(7, absl::Seconds(60)), kNow - 123};
  for (int64_t cost = 0; cost <= 7; ++cost) {
    GcraResult a = fresh.Acquire(kNow, cost);
    GcraResult b = stale.Acquire(kNow, cost);
    EXPECT_EQ(a.allowed, b.allowed);
    EXPECT_EQ(a.remaining, b.remaining);
    EXPECT_EQ(a.retry_after_ms, b.retry_after_ms);
    EXPECT_EQ(a.reset_after_ms, b.reset_after_ms);
    fresh.tat = 0;
    stale.tat = kNow - 123;
  }
}

// ---- Randomized ----------------------------------------------------------------

// A second, independent formulation (continuous leaky bucket: `level` µs of
// debt drains at 1 µs/µs; a request adds cost * T). With a monotonic clock it
// must agree with GCRA's virtual scheduling on every field.
struct LeakyBucket {
  GcraRule rule;
  int64_t level = 0;
  int64_t last = 0;

  GcraResult Acquire(int64_t now, int64_t cost) {
    level = std::max<int64_t>(0, level - (now - last));
    last = now;
    const int64_t t = rule.emission_interval_us;
    const int64_t burst = rule.burst_us();
    GcraResult r;
    r.limit = rule.capacity;
    const int64_t need = std::max<int64_t>(cost, 1) * t;
    r.allowed = level + need <= burst;
    if (r.allowed && cost > 0) level += cost * t;
    r.remaining = (burst - level) / t;
    r.retry_after_ms = r.allowed ? 0 : (level + need - burst + 999) / 1000;
    r.reset_after_ms = (level + 999) / 1000;
    return r;
  }
};

struct Event {
  int64_t time;
  int64_t admitted;
};

void CheckRandomSequence(int64_t capacity, absl::Duration window,
                         int64_t max_step_us, uint64_t seed) {
  SCOPED_TRACE(::testing::Message() << "capacity " << capacity << " window "
                                    << window << " seed " << seed);
  const GcraRule rule = MakeRule(capacity, window);
  const int64_t window_us = absl::ToInt64Microseconds(window);
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> step(0, max_step_us);
  std::uniform_int_distribution<int64_t> cost_dist(0, capacity);
  std::uniform_int_distribution<int> kind(0, 9);

  Bucket b{rule};
  LeakyBucket ref{rule, 0, kNow};
  std::vector<Event> events;
  int64_t now = kNow;
  for (int i = 0; i < 3000; ++i) {
    // Mostly small costs, sometimes anything up to capacity; often no advance.
    const int k = kind(rng);
    if (k >= 4) now += step(rng);
    const int64_t cost = k == 0 ? cost_dist(rng) : std::min<int64_t>(capacity, k % 3);
    const int64_t tat_before = b.tat;
    GcraResult r = b.Acquire(now, cost);
    GcraResult want = ref.Acquire(now, cost);
    ASSERT_EQ(r.allowed, want.allowed) << "step " << i;
    ASSERT_EQ(r.remaining, want.remaining) << "step " << i;
    ASSERT_EQ(r.retry_after_ms, want.retry_after_ms) << "step " << i;
    ASSERT_EQ(r.reset_after_ms, want.reset_after_ms) << "step " << i;
    ASSERT_EQ(r.limit, capacity);
    ASSERT_GE(r.remaining, 0);
    ASSERT_LE(r.remaining, capacity);
    if (cost == 0 || !r.allowed) {
      ASSERT_EQ(r.new_tat_us, tat_before);
    }
    if (r.allowed) {
      ASSERT_EQ(r.retry_after_ms, 0);
    } else {
      // Rounded up and >= 1: waiting retry_after admits the same request,
      // waiting 1 ms less does not.
      ASSERT_GE(r.retry_after_ms, 1);
      const int64_t wait = r.retry_after_ms * 1000;
      ASSERT_TRUE(GcraAcquire(rule, b.tat, now + wait, cost).allowed);
      ASSERT_FALSE(GcraAcquire(rule, b.tat, now + wait - 1000, cost).allowed);
    }
    // After reset_after the bucket is full.
    ASSERT_EQ(GcraAcquire(rule, b.tat, now + r.reset_after_ms * 1000, 0).remaining,
              capacity);
    events.push_back({now, r.allowed ? cost : 0});
  }

  // Over any interval [t_i, t_j] the admitted total never exceeds what the
  // bucket could hold plus what refilled: capacity + E / T (GCRA's exact
  // bound) and capacity + E * capacity / window + 1 (the policy, allowing
  // for the truncation of T).
  std::vector<int64_t> prefix(events.size() + 1, 0);
  for (size_t i = 0; i < events.size(); ++i) {
    prefix[i + 1] = prefix[i] + events[i].admitted;
  }
  int64_t total = prefix.back();
  EXPECT_GT(total, capacity);  // the sequence did exercise refills
  for (size_t i = 0; i < events.size(); ++i) {
    // First event at time t_i (ties included from the first of the instant).
    if (i > 0 && events[i - 1].time == events[i].time) continue;
    for (size_t j = i; j < events.size(); ++j) {
      const int64_t elapsed = events[j].time - events[i].time;
      const int64_t admitted = prefix[j + 1] - prefix[i];
      ASSERT_LE(admitted, capacity + elapsed / rule.emission_interval_us)
          << "interval " << i << ".." << j;
      // elapsed * capacity stays far below 2^63 for these short sequences.
      const int64_t policy = capacity + elapsed * capacity / window_us + 1;
      ASSERT_LE(admitted, policy) << "interval " << i << ".." << j;
    }
  }
}

TEST(GcraRandomTest, MatchesLeakyBucketAndNeverExceedsRate) {
  // max_step is about T so that buckets are often near empty; total elapsed
  // time stays within a few windows (the "+1" covers T's truncation there).
  CheckRandomSequence(7, absl::Seconds(60), 9'000'000, 1);
  CheckRandomSequence(3, absl::Seconds(10), 4'000'000, 2);
  CheckRandomSequence(60, absl::Seconds(60), 1'500'000, 3);
  CheckRandomSequence(10, absl::Seconds(10), 2'000'000, 4);
  CheckRandomSequence(1, absl::Seconds(1), 1'200'000, 5);
  CheckRandomSequence(100, absl::Milliseconds(1001), 20'000, 6);
}

// ---- up to cost (SDK leases) and returns ----------------------------------
// capacity 10 over 10 s: T = 1 s, burst 10 s.
constexpr int64_t kSec = kSecond;

TEST(GcraUpToTest, TakesWhatThereIsAtMostCost) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  GcraResult r = GcraAcquire(rule, 0, kNow, 7);
  ASSERT_TRUE(r.allowed);
  EXPECT_EQ(r.granted, 7);
  r = GcraAcquire(rule, r.new_tat_us, kNow, 5, /*up_to=*/true);
  EXPECT_TRUE(r.allowed);
  EXPECT_EQ(r.granted, 3);
  EXPECT_EQ(r.remaining, 0);
  EXPECT_EQ(r.new_tat_us, kNow + 10 * kSec);
  // Plenty there: exactly cost.
  r = GcraAcquire(rule, 0, kNow, 4, /*up_to=*/true);
  EXPECT_EQ(r.granted, 4);
  EXPECT_EQ(r.remaining, 6);
}

TEST(GcraUpToTest, NoneThereIsRefusedLikeOnePermit) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  const int64_t empty = kNow + 10 * kSec - kSec / 2;  // half a permit back
  const GcraResult up_to = GcraAcquire(rule, empty, kNow, 5, /*up_to=*/true);
  const GcraResult one = GcraAcquire(rule, empty, kNow, 1);
  EXPECT_FALSE(up_to.allowed);
  EXPECT_EQ(up_to.granted, 0);
  EXPECT_EQ(up_to.retry_after_ms, one.retry_after_ms);
  EXPECT_EQ(up_to.retry_after_ms, 500);
  EXPECT_EQ(up_to.new_tat_us, empty);  // nothing consumed
}

TEST(GcraGrantedTest, IsCostWhenAllowedAndZeroForPeeksAndRefusals) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  EXPECT_EQ(GcraAcquire(rule, 0, kNow, 3).granted, 3);
  EXPECT_EQ(GcraAcquire(rule, 0, kNow, 0).granted, 0);
  EXPECT_EQ(GcraAcquire(rule, kNow + 10 * kSec, kNow, 1).granted, 0);
}

TEST(GcraReturnTest, MovesTheTatBackByCountIntervals) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  const GcraResult took = GcraAcquire(rule, 0, kNow, 5);
  ASSERT_EQ(took.remaining, 5);
  const GcraResult back = GcraReturn(rule, took.new_tat_us, kNow, 3);
  EXPECT_TRUE(back.allowed);
  EXPECT_EQ(back.granted, 0);
  EXPECT_EQ(back.limit, 10);
  EXPECT_EQ(back.remaining, 8);
  EXPECT_EQ(back.new_tat_us, kNow + 2 * kSec);
  EXPECT_EQ(back.reset_after_ms, 2000);
}

TEST(GcraReturnTest, NeverBelowNowSoAFullBucketStaysFull) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  // More than was taken comes back only up to full.
  GcraResult back = GcraReturn(rule, kNow + 2 * kSec, kNow, 10);
  EXPECT_EQ(back.new_tat_us, kNow);
  EXPECT_EQ(back.remaining, 10);
  EXPECT_EQ(back.reset_after_ms, 0);
  // A full (or absent) bucket: nothing changes.
  back = GcraReturn(rule, 0, kNow, 4);
  EXPECT_EQ(back.new_tat_us, kNow);
  EXPECT_EQ(back.remaining, 10);
  // Taken earlier and partly refilled: the refill is not given twice.
  back = GcraReturn(rule, kNow + 3 * kSec, kNow + 2 * kSec, 5);
  EXPECT_EQ(back.new_tat_us, kNow + 2 * kSec);
  EXPECT_EQ(back.remaining, 10);
}

TEST(GcraReturnTest, ATatBeyondTheBurstIsClampedFirst) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  // The clock went back: as in GcraAcquire the bucket counts as empty.
  const GcraResult back = GcraReturn(rule, kNow + 50 * kSec, kNow, 3);
  EXPECT_EQ(back.new_tat_us, kNow + 7 * kSec);
  EXPECT_EQ(back.remaining, 3);
}

}  // namespace
}  // namespace crossbridge
