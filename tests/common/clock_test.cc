// The one way time is read and waited for: RealClock's waits end on the
// condition or the deadline, and SimulatedClock runs waiting code on fake
// time.
#include "common/clock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "absl/synchronization/mutex.h"
#include "common/log_throttle.h"
#include "common/mutex.h"
#include "common/simulated_clock.h"

namespace crossbridge {
namespace {

using ::testing::ElementsAre;

TEST(RealClockTest, MonotonicTimeNeverGoesBack) {
  const Clock& clock = RealClock::Get();
  absl::Time last = clock.MonotonicNow();
  for (int i = 0; i < 1000; ++i) {
    const absl::Time now = clock.MonotonicNow();
    ASSERT_GE(now, last);
    last = now;
  }
}

TEST(RealClockTest, AwaitEndsOnTheConditionOrTheDeadline) {
  const Clock& clock = RealClock::Get();
  absl::Mutex mu;
  bool flag = false;
  {
    MutexLock lock(&mu);
    const absl::Time start = clock.MonotonicNow();
    EXPECT_FALSE(clock.AwaitFor(lock, [&] { return flag; }, absl::Milliseconds(30)));
    EXPECT_GE(clock.MonotonicNow() - start, absl::Milliseconds(30));
  }
  std::thread setter([&] {
    MutexLock lock(&mu);
    flag = true;
  });
  {
    MutexLock lock(&mu);
    EXPECT_TRUE(clock.AwaitFor(lock, [&] { return flag; }, absl::Seconds(30)));
  }
  setter.join();
}

TEST(SimulatedClockTest, AdvanceOnWaitRecordsAndMovesTime) {
  SimulatedClock clock(SimulatedClock::Options{.advance_on_wait = true});
  const absl::Time start = clock.MonotonicNow();
  absl::Mutex mu;
  MutexLock lock(&mu);
  EXPECT_FALSE(clock.AwaitFor(lock, [] { return false; }, absl::Milliseconds(250)));
  EXPECT_TRUE(clock.AwaitFor(lock, [] { return true; }, absl::Seconds(9)));
  EXPECT_EQ(clock.MonotonicNow() - start, absl::Milliseconds(250));
  EXPECT_EQ(clock.Now(), clock.MonotonicNow());
  EXPECT_THAT(clock.waits(), ElementsAre(absl::Milliseconds(250)));
}

TEST(SimulatedClockTest, SleepForWaitsExactlyItsDuration) {
  SimulatedClock clock(SimulatedClock::Options{.advance_on_wait = true});
  const absl::Time start = clock.MonotonicNow();
  clock.SleepFor(absl::Milliseconds(1500));
  EXPECT_EQ(clock.MonotonicNow() - start, absl::Milliseconds(1500));
  EXPECT_THAT(clock.waits(), ElementsAre(absl::Milliseconds(1500)));
}

TEST(SimulatedClockTest, PlainWaitEndsWhenAnotherThreadAdvancesPastTheDeadline) {
  SimulatedClock clock;
  absl::Mutex mu;
  // The deadline is fixed before the advancer starts, so the wait ends
  // whether the advance comes before or during it.
  const absl::Time deadline = clock.MonotonicNow() + absl::Minutes(30);
  std::thread advancer([&] { clock.Advance(absl::Hours(1)); });
  {
    MutexLock lock(&mu);
    EXPECT_FALSE(clock.AwaitUntil(lock, [] { return false; }, deadline));
  }
  advancer.join();
}

TEST(LogThrottleTest, FirstLineThenOnePerPeriodWithTheCount) {
  SimulatedClock clock;
  LogThrottle throttle(absl::Minutes(1), clock, /*max_keys=*/2);
  EXPECT_EQ(throttle.Admit("OOM"), 0u);
  EXPECT_EQ(throttle.Admit("OOM"), std::nullopt);
  EXPECT_EQ(throttle.Admit("OOM"), std::nullopt);
  EXPECT_EQ(throttle.Admit("WRONGTYPE"), 0u);  // keys are independent
  clock.Advance(absl::Minutes(1));
  EXPECT_EQ(throttle.Admit("OOM"), 2u);
  EXPECT_EQ(throttle.Admit("OOM"), std::nullopt);
  // Beyond max_keys, new keys share one overflow entry.
  EXPECT_EQ(throttle.Admit("k1"), 0u);
  EXPECT_EQ(throttle.Admit("k2"), std::nullopt);
  EXPECT_EQ(throttle.Admit("k3"), std::nullopt);
}

}  // namespace
}  // namespace crossbridge
