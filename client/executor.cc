#include "client/executor.h"

#include <utility>

#include "common/mutex.h"

namespace crossbridge {

Executor::Executor(const Clock& clock, int threads)
    : clock_(clock), threads_(threads) {}

bool Executor::ShuttingDown() const {
  MutexLock lock(&mu_);
  return shutting_down_;
}

void Executor::Submit(std::function<void()> task) {
  MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
  if (workers_.empty() && !shutting_down_) {
    for (int i = 0; i < threads_; ++i) {
      workers_.emplace_back([this] { WorkerLoop(); });
    }
  }
}

void Executor::Shutdown() {
  std::vector<std::thread> workers;
  {
    MutexLock lock(&mu_);
    shutting_down_ = true;
    workers.swap(workers_);
  }
  for (std::thread& worker : workers) worker.join();
}

void Executor::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return shutting_down_ || !tasks_.empty();
      });
      if (tasks_.empty()) return;  // Shutting down and drained.
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // Calls started during shutdown end with CANCELLED at once.
  }
}

void Executor::Sleep(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return;
  MutexLock lock(&mu_);
  clock_.AwaitFor(
      lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return shutting_down_; },
      duration);
}

}  // namespace crossbridge
