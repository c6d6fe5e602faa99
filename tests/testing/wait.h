// Waiting for a state without sleeping a fixed time: poll with a deadline.
#ifndef CROSSBRIDGE_TESTS_TESTING_WAIT_H_
#define CROSSBRIDGE_TESTS_TESTING_WAIT_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace crossbridge::testing {

// Polls `done` every `every` until it holds (true) or `timeout` passes
// (false; `done` is evaluated once more at the end).
inline bool WaitFor(const std::function<bool()>& done,
                    absl::Duration timeout = absl::Seconds(10),
                    absl::Duration every = absl::Milliseconds(1)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (done()) return true;
    absl::SleepFor(every);
  }
  return done();
}

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_WAIT_H_
