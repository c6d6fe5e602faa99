// Time source injected everywhere time matters. Nothing but RealClock reads
// the system clock; tests use testing::FakeClock and move time explicitly.
//
// Thread safety: implementations must be safe to call from any thread.
#ifndef CROSSBRIDGE_COMMON_CLOCK_H_
#define CROSSBRIDGE_COMMON_CLOCK_H_

#include "absl/time/time.h"

namespace crossbridge {

class Clock {
 public:
  virtual ~Clock() = default;
  // Current wall-clock time. May jump (NTP); users must tolerate that.
  virtual absl::Time Now() const = 0;
};

// The process clock (absl::Now()).
class RealClock final : public Clock {
 public:
  // A process-wide instance; never destroyed.
  static RealClock& Get();
  absl::Time Now() const override;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_CLOCK_H_
