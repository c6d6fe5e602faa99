// A Clock that only moves when told to. Thread-safe.
#ifndef CROSSBRIDGE_TESTS_TESTING_FAKE_CLOCK_H_
#define CROSSBRIDGE_TESTS_TESTING_FAKE_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/mutex.h"

namespace crossbridge::testing {

class FakeClock final : public Clock {
 public:
  // Starts at an arbitrary fixed date so results are reproducible.
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1'800'000'000))
      : now_(start) {}

  absl::Time Now() const override {
    MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    MutexLock lock(&mu_);
    now_ += d;
  }
  void Set(absl::Time t) {
    MutexLock lock(&mu_);
    now_ = t;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_FAKE_CLOCK_H_
