// Published<T>: an immutable value that a writer replaces and many readers
// read, with no lock on the read path. This is how a reload reaches the
// request path: each domain class keeps its rules in a Published<Rules>,
// a request takes the current snapshot once and keeps it (a shared_ptr)
// until it completes, so an in-flight call finishes on the rules it
// started with while new calls see the new ones.
//
// Read path: one acquire load of a version number, compared with the
// calling thread's cached copy; only after a Publish does a thread take the
// mutex, once, to refresh its copy. Versions are unique across all
// Published objects of the process, so one cache per thread and T serves
// any number of them (tests run several servers in one process). A thread
// that stops reading keeps its last snapshot alive until it reads again or
// exits: T's destructor must not depend on anything but T.
//
// Thread safety: Get and Publish may be called concurrently from any thread.
#ifndef CROSSBRIDGE_COMMON_PUBLISHED_H_
#define CROSSBRIDGE_COMMON_PUBLISHED_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <utility>

#include "absl/synchronization/mutex.h"
#include "common/mutex.h"

namespace crossbridge {

// A process-wide, never-repeating version number (> 0).
uint64_t NextPublishedVersion();

template <typename T>
class Published {
 public:
  explicit Published(std::shared_ptr<const T> initial) {
    Publish(std::move(initial));
  }
  Published(const Published&) = delete;
  Published& operator=(const Published&) = delete;

  // Replaces the value; Get calls that start afterwards return `next`.
  void Publish(std::shared_ptr<const T> next) {
    MutexLock lock(&mu_);
    current_ = std::move(next);
    version_.store(NextPublishedVersion(), std::memory_order_release);
  }

  // The current value (never null if only non-null values are published).
  // For a reader that keeps the value past the call (a completion callback).
  std::shared_ptr<const T> Get() const { return Current(); }

  // The current value, without copying the shared_ptr (no reference-count
  // traffic between threads): for a reader that is done with it before it
  // returns. The reference stays valid until this thread's next Get or Peek
  // of any Published<T>. REQUIRES: a non-null value was published.
  const T& Peek() const { return *Current(); }

 private:
  // This thread's cached copy of the current value, refreshed after a
  // Publish. The thread-local copy keeps the value alive.
  const std::shared_ptr<const T>& Current() const {
    struct Cache {
      uint64_t version = 0;
      std::shared_ptr<const T> value;
    };
    thread_local Cache cache;
    if (cache.version != version_.load(std::memory_order_acquire)) {
      MutexLock lock(&mu_);
      cache.value = current_;
      cache.version = version_.load(std::memory_order_relaxed);
    }
    return cache.value;
  }

  mutable absl::Mutex mu_;
  std::shared_ptr<const T> current_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> version_{0};
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_PUBLISHED_H_
