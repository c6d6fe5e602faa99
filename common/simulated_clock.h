// SimulatedClock: a Clock that only moves when told to, for tests of code
// that takes a Clock (the server's parts, the SDK's ClientOptions::clock).
// Thread-safe.
//
// Now() and MonotonicNow() move together (Advance, Set moves both by the
// same amount). AwaitUntil comes in two flavours:
//  - default: waits (really) until done() holds or a test thread has
//    advanced the fake time past the deadline; it re-checks every
//    millisecond of real time, so Advance() from another thread ends it.
//  - advance_on_wait: a wait whose condition is false jumps the fake time to
//    its deadline at once and is recorded (waits()). For sequential code
//    such as the SDK's retry loop: its sleeps take no real time and the
//    deadline arithmetic runs on exact fake time.
#ifndef CROSSBRIDGE_COMMON_SIMULATED_CLOCK_H_
#define CROSSBRIDGE_COMMON_SIMULATED_CLOCK_H_

#include <functional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace crossbridge {

class SimulatedClock final : public Clock {
 public:
  struct Options {
    // Starts at an arbitrary fixed date so results are reproducible.
    absl::Time start = absl::FromUnixSeconds(1'800'000'000);
    bool advance_on_wait = false;
  };

  SimulatedClock() : SimulatedClock(Options()) {}
  explicit SimulatedClock(absl::Time start) : SimulatedClock(Options{start, false}) {}
  explicit SimulatedClock(Options options)
      : advance_on_wait_(options.advance_on_wait), now_(options.start) {}

  absl::Time Now() const override {
    MutexLock lock(&mu_);
    return now_;
  }
  // The same instant as Now(): fake time never jumps on its own.
  absl::Time MonotonicNow() const override { return Now(); }

  bool AwaitUntil(MutexLock& lock, const std::function<bool()>& done,
                  absl::Time deadline) const override {
    if (advance_on_wait_) {
      if (done()) return true;
      {
        MutexLock self(&mu_);
        waits_.push_back(deadline - now_);
        if (now_ < deadline) now_ = deadline;
      }
      return done();
    }
    for (;;) {
      if (done()) return true;
      if (MonotonicNow() >= deadline) return false;
      if (lock.AwaitWithTimeout(done, absl::Milliseconds(1))) return true;
    }
  }

  void Advance(absl::Duration d) {
    MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    MutexLock lock(&mu_);
    now_ = t;
  }

  // advance_on_wait: the length of every wait that moved the time, in order.
  std::vector<absl::Duration> waits() const {
    MutexLock lock(&mu_);
    return waits_;
  }

 private:
  const bool advance_on_wait_;
  mutable absl::Mutex mu_;
  mutable absl::Time now_ ABSL_GUARDED_BY(mu_);
  mutable std::vector<absl::Duration> waits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_SIMULATED_CLOCK_H_
