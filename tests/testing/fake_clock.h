// The tests' name for common/simulated_clock.h.
#ifndef CROSSBRIDGE_TESTS_TESTING_FAKE_CLOCK_H_
#define CROSSBRIDGE_TESTS_TESTING_FAKE_CLOCK_H_

#include "common/simulated_clock.h"

namespace crossbridge::testing {

using FakeClock = ::crossbridge::SimulatedClock;

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_FAKE_CLOCK_H_
