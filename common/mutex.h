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
    Acquire(mu_);
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() {
    Release(mu_);
    mu_->Unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  // absl::Mutex::Await / AwaitWithTimeout on a predicate (a callable
  // returning bool, evaluated with the lock held, possibly on another
  // thread). The lock is released while waiting; both the wait and each
  // evaluation of the predicate carry the same annotations.
  template <typename Predicate>
  void Await(Predicate predicate) {
    Release(mu_);
    Annotated<Predicate> annotated{mu_, &predicate};
    mu_->Await(absl::Condition(&Annotated<Predicate>::Eval, &annotated));
    Acquire(mu_);
  }
  // Runs `f` with the mutex released, then takes it back (for a slow step,
  // such as a system call, in the middle of a locked section).
  template <typename F>
  void WhileUnlocked(F f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
    Release(mu_);
    mu_->Unlock();
    f();
    mu_->Lock();
    Acquire(mu_);
  }
  template <typename Predicate>
  bool AwaitWithTimeout(Predicate predicate, absl::Duration timeout) {
    Release(mu_);
    Annotated<Predicate> annotated{mu_, &predicate};
    const bool met = mu_->AwaitWithTimeout(
        absl::Condition(&Annotated<Predicate>::Eval, &annotated), timeout);
    Acquire(mu_);
    return met;
  }

 private:
  template <typename Predicate>
  struct Annotated {
    absl::Mutex* mu;
    Predicate* predicate;
    static bool Eval(Annotated* a) {
      Acquire(a->mu);
      const bool result = (*a->predicate)();
      Release(a->mu);
      return result;
    }
  };

  static void Acquire([[maybe_unused]] absl::Mutex* mu) {
#if defined(__SANITIZE_THREAD__)
    __tsan_acquire(mu);
#endif
  }
  static void Release([[maybe_unused]] absl::Mutex* mu) {
#if defined(__SANITIZE_THREAD__)
    __tsan_release(mu);
#endif
  }

  absl::Mutex* const mu_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_MUTEX_H_
