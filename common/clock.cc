#include "common/clock.h"

#include "absl/time/clock.h"

namespace crossbridge {

RealClock& RealClock::Get() {
  static RealClock* const clock = new RealClock();
  return *clock;
}

absl::Time RealClock::Now() const { return absl::Now(); }

}  // namespace crossbridge
