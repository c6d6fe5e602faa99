// The one way CrossBridge reads time and waits for it. Nothing but RealClock
// reads the system clock; everything else is handed a `const Clock&`, so
// tests drive time with testing::FakeClock and never sleep to move it.
//
// Two kinds of time:
//  - Now(): wall-clock time, for timestamps people read (last_check_time)
//    and for deadlines other APIs want as wall time. May jump (NTP, an
//    operator); never use it to measure an interval.
//  - MonotonicNow(): a steadily increasing instant, for deadlines, intervals,
//    latencies and in-process bucket arithmetic. Its epoch is arbitrary: the
//    absl::Time is only a carrier to compare and subtract, never to print.
//
// Waiting: AwaitUntil blocks on a condition guarded by an absl::Mutex, held
// through a MutexLock, until the condition holds or the monotonic deadline
// passes. Code that sleeps or polls does it through here, so a FakeClock
// can run the same code on fake time.
//
// Thread safety: every method may be called from any thread.
#ifndef CROSSBRIDGE_COMMON_CLOCK_H_
#define CROSSBRIDGE_COMMON_CLOCK_H_

#include <functional>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace crossbridge {

class Clock {
 public:
  virtual ~Clock() = default;

  // Wall-clock time. May jump.
  virtual absl::Time Now() const = 0;
  // Monotonic time (arbitrary epoch). Never goes backward.
  virtual absl::Time MonotonicNow() const = 0;

  // REQUIRES: `lock` holds the mutex that guards what `done` reads.
  // Releases it while waiting and holds it again on return. Returns true as
  // soon as done() is true (evaluated with the mutex held), false once
  // MonotonicNow() >= deadline with done() still false. Wakes when another
  // thread changes the state under the same mutex, like
  // absl::Mutex::AwaitWithTimeout.
  virtual bool AwaitUntil(MutexLock& lock, const std::function<bool()>& done,
                          absl::Time deadline) const = 0;

  // AwaitUntil(lock, done, MonotonicNow() + timeout).
  bool AwaitFor(MutexLock& lock, const std::function<bool()>& done,
                absl::Duration timeout) const {
    return AwaitUntil(lock, done, MonotonicNow() + timeout);
  }

  // Waits `duration` of monotonic time, with nothing that can end it early.
  void SleepFor(absl::Duration duration) const {
    absl::Mutex mu;
    MutexLock lock(&mu);
    AwaitFor(lock, [] { return false; }, duration);
  }
};

// The process clock: absl::Now() and std::chrono::steady_clock.
class RealClock final : public Clock {
 public:
  // A process-wide instance; never destroyed.
  static RealClock& Get();

  absl::Time Now() const override;
  absl::Time MonotonicNow() const override;
  bool AwaitUntil(MutexLock& lock, const std::function<bool()>& done,
                  absl::Time deadline) const override;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_CLOCK_H_
