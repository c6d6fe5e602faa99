#include "common/clock.h"

#include <chrono>

#include "absl/time/clock.h"

namespace crossbridge {

RealClock& RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return *clock;
}

absl::Time RealClock::Now() const { return absl::Now(); }

absl::Time RealClock::MonotonicNow() const {
  return absl::UnixEpoch() +
         absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

bool RealClock::AwaitUntil(MutexLock& lock, const std::function<bool()>& done,
                           absl::Time deadline) const {
  // absl's timed wait measures the relative timeout on its own monotonic
  // clock; re-check against ours so an early wake-up never ends the wait.
  for (;;) {
    if (done()) return true;
    const absl::Duration left = deadline - MonotonicNow();
    if (left <= absl::ZeroDuration()) return false;
    if (lock.AwaitWithTimeout(done, left)) return true;
  }
}

}  // namespace crossbridge
