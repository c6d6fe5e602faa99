// A ClientOptions::sleeper for tests: records every sleep, returns at once.
#ifndef CROSSBRIDGE_TESTS_TESTING_RECORDING_SLEEPER_H_
#define CROSSBRIDGE_TESTS_TESTING_RECORDING_SLEEPER_H_

#include <functional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace crossbridge::testing {

class RecordingSleeper {
 public:
  // REQUIRES: the sleeper outlives every use of the function.
  std::function<void(absl::Duration)> AsFunction() {
    return [this](absl::Duration d) {
      MutexLock lock(&mu_);
      sleeps_.push_back(d);
    };
  }
  std::vector<absl::Duration> sleeps() const {
    MutexLock lock(&mu_);
    return sleeps_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<absl::Duration> sleeps_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_RECORDING_SLEEPER_H_
