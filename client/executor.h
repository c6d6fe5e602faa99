// The SDK's executor: the threads CallAsync runs on, started on first use,
// and the one place that knows the Client is shutting down (hardened calls
// ask it between steps, and their sleeps wake when it starts).
//
// Thread safety: every method may be called from any thread. Shutdown()
// (called by the Client's destructor) joins the threads after they drained
// the queue; tasks queued then still run, and see ShuttingDown() == true.
#ifndef CROSSBRIDGE_CLIENT_EXECUTOR_H_
#define CROSSBRIDGE_CLIENT_EXECUTOR_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace crossbridge {

class Executor {
 public:
  // `clock` (outlives this) measures sleeps. threads >= 1.
  Executor(const Clock& clock, int threads);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor() { Shutdown(); }

  // Runs `task` on an executor thread (starting them on first use).
  void Submit(std::function<void()> task);
  // Sleeps `duration` on the clock, or until Shutdown starts.
  void Sleep(absl::Duration duration);
  bool ShuttingDown() const;
  // Idempotent: marks shutdown, wakes sleepers, joins the threads.
  void Shutdown();

 private:
  void WorkerLoop();

  const Clock& clock_;
  const int threads_;
  mutable absl::Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_EXECUTOR_H_
