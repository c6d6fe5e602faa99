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

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace crossbridge {

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(absl::Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(mu_);
#endif
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(mu_);
#endif
    mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  absl::Mutex* const mu_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_MUTEX_H_
