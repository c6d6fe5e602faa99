// MutexLock: absl::MutexLock that ThreadSanitizer can see.
//
// Debian's libabsl_synchronization is not built with TSan, so absl::Mutex's
// Lock/Unlock carry no TSan annotations and every access under such a lock
// would be reported as a race in a -DCROSSBRIDGE_TSAN=ON build. This scoped
// lock adds the acquire/release annotations; outside TSan builds it is
// exactly absl::MutexLock. Use it instead of absl::MutexLock everywhere.
// (With an abseil built for TSan it can become an alias.)
#ifndef CROSSBRIDGE_COMMON_MUTEX_H_
#define CROSSBRIDGE_COMMON_MUTEX_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace crossbridge {

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(absl::Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
    Acquire();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {
    Release();
    mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // absl::Mutex::Await / AwaitWithTimeout, which release and retake the
  // lock while waiting, with the same annotations.
  void Await(const absl::Condition& condition) {
    Release();
    mu_->Await(condition);
    Acquire();
  }
  bool AwaitWithTimeout(const absl::Condition& condition, absl::Duration timeout) {
    Release();
    const bool met = mu_->AwaitWithTimeout(condition, timeout);
    Acquire();
    return met;
  }

 private:
  void Acquire() {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(mu_);
#endif
  }
  void Release() {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(mu_);
#endif
  }

  absl::Mutex* const mu_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_MUTEX_H_
