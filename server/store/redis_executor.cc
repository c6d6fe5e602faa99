#include "server/store/redis_executor.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace crossbridge {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(50);

struct PendingCall {
  size_t script = 0;
  std::string key;
  RedisExecutor::Args args;
  RedisExecutor::ReplyCallback done;
  absl::Time deadline;
};

void FailAll(std::vector<PendingCall>& batch, size_t from,
             const absl::Status& status) {
  for (size_t i = from; i < batch.size(); ++i) batch[i].done(status);
}

bool IsNoScript(const redisReply& reply) {
  return reply.type == REDIS_REPLY_ERROR &&
         absl::StartsWith(absl::string_view(reply.str, reply.len), "NOSCRIPT");
}

}  // namespace

// One connection and the thread that owns it. Everything but the queue is
// touched only by that thread.
class RedisExecutor::Worker {
 public:
  Worker(RedisExecutor& executor, uint32_t seed) : executor_(executor), rng_(seed) {}

  void Start() { thread_ = std::thread([this] { Run(); }); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  void Enqueue(PendingCall call) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_empty = queue_.empty();
      queue_.push_back(std::move(call));
    }
    if (was_empty) cv_.notify_one();
  }

 private:
  const Clock& clock() const { return executor_.clock_; }

  void Run() {
    std::vector<PendingCall> batch;
    while (true) {
      if (WaitForWork(batch)) {
        FailAll(batch, 0, absl::UnavailableError("redis executor shutting down"));
        return;
      }
      if (conn_ == nullptr && clock().Now() >= next_connect_at_) Connect();
      if (conn_ == nullptr) {
        FailAll(batch, 0,
                absl::UnavailableError("redis unreachable (reconnecting)"));
      } else if (!batch.empty()) {
        Execute(batch);
      }
      batch.clear();
    }
  }

  // Blocks until there is work, a reconnect is due, or Stop. Moves the queue
  // into `batch`. Returns true when stopping.
  bool WaitForWork(std::vector<PendingCall>& batch) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_ && queue_.empty()) {
      if (conn_ != nullptr) {
        cv_.wait(lock);
        continue;
      }
      absl::Duration wait = next_connect_at_ - clock().Now();
      if (wait <= absl::ZeroDuration()) break;
      cv_.wait_for(lock, absl::ToChronoNanoseconds(wait));
    }
    batch.swap(queue_);
    return stopping_;
  }

  // SCRIPT LOAD of every registered script on the current connection.
  absl::Status LoadScripts() {
    shas_.clear();
    for (const char* source : executor_.scripts_) {
      absl::StatusOr<ReplyPtr> sha = conn_->Command({"SCRIPT", "LOAD", source});
      if (!sha.ok()) return sha.status();
      shas_.emplace_back((*sha)->str, (*sha)->len);
    }
    return absl::OkStatus();
  }

  void Connect() {
    const RedisStorageConfig& c = executor_.config_;
    absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
        RedisConnection::Connect({c.host, c.port, c.db, c.password,
                                  c.connect_timeout});
    if (!conn.ok()) {
      Disconnect(conn.status());
      return;
    }
    conn_ = std::move(*conn);
    if (absl::Status s = LoadScripts(); !s.ok()) {
      Disconnect(s);
      return;
    }
    backoff_ = kInitialBackoff;
    executor_.SetReachable(true, "");
  }

  // Drops the connection and schedules a reconnect after a jittered backoff.
  void Disconnect(const absl::Status& why) {
    conn_.reset();
    std::uniform_int_distribution<int64_t> jitter(
        absl::ToInt64Microseconds(backoff_) / 2,
        absl::ToInt64Microseconds(backoff_));
    next_connect_at_ = clock().Now() + absl::Microseconds(jitter(rng_));
    backoff_ = std::min(backoff_ * 2, executor_.config_.reconnect_max_backoff);
    executor_.SetReachable(false, why.message());
  }

  void AppendCall(const PendingCall& call) {
    absl::InlinedVector<absl::string_view, 8> argv = {
        "EVALSHA", shas_[call.script], "1", call.key};
    for (const std::string& a : call.args) argv.push_back(a);
    conn_->Append(argv);
  }

  // Pipelines `batch`, completes every entry. On an I/O error the rest of
  // the batch fails with it and the connection is dropped.
  void Execute(std::vector<PendingCall>& batch) {
    const absl::Time now = clock().Now();
    // Calls whose budget ran out while queued never reach Redis.
    auto expired = std::stable_partition(
        batch.begin(), batch.end(),
        [now](const PendingCall& c) { return c.deadline > now; });
    for (auto it = expired; it != batch.end(); ++it) {
      it->done(absl::DeadlineExceededError("redis: call timed out in the queue"));
    }
    batch.erase(expired, batch.end());
    if (batch.empty()) return;

    absl::Time earliest = batch.front().deadline;
    for (const PendingCall& c : batch) earliest = std::min(earliest, c.deadline);
    if (absl::Status s = conn_->SetIoTimeout(earliest - now); !s.ok()) {
      FailAll(batch, 0, s);
      Disconnect(s);
      return;
    }
    for (const PendingCall& c : batch) AppendCall(c);

    std::vector<size_t> reload;  // entries that met NOSCRIPT
    for (size_t i = 0; i < batch.size(); ++i) {
      absl::StatusOr<ReplyPtr> reply = conn_->Read();
      if (!reply.ok()) {
        FailAll(batch, i, reply.status());
        Disconnect(reply.status());
        return;
      }
      if (IsNoScript(**reply)) {
        reload.push_back(i);
        continue;
      }
      batch[i].done(std::move(reply));
    }
    if (!reload.empty()) RetryAfterReload(batch, reload);
  }

  // Redis lost its scripts (restart, SCRIPT FLUSH): load again, retry once.
  void RetryAfterReload(std::vector<PendingCall>& batch,
                        const std::vector<size_t>& reload) {
    Logger("redis")->info("script cache was flushed; reloading scripts");
    if (absl::Status s = LoadScripts(); !s.ok()) {
      for (size_t i : reload) batch[i].done(s);
      Disconnect(s);
      return;
    }
    for (size_t i : reload) AppendCall(batch[i]);
    for (size_t n = 0; n < reload.size(); ++n) {
      absl::StatusOr<ReplyPtr> reply = conn_->Read();
      if (!reply.ok()) {
        for (size_t m = n; m < reload.size(); ++m) batch[reload[m]].done(reply.status());
        Disconnect(reply.status());
        return;
      }
      batch[reload[n]].done(std::move(reply));
    }
  }

  RedisExecutor& executor_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PendingCall> queue_;  // guarded by mu_
  bool stopping_ = false;           // guarded by mu_

  // Owned by the worker thread.
  std::unique_ptr<RedisConnection> conn_;
  std::vector<std::string> shas_;  // by script index
  absl::Time next_connect_at_ = absl::InfinitePast();
  absl::Duration backoff_ = kInitialBackoff;
  std::mt19937 rng_;
};

RedisExecutor::RedisExecutor(const RedisStorageConfig& config, const Clock& clock)
    : config_(config), clock_(clock) {
  std::random_device seed;
  for (int i = 0; i < std::max(1, config_.connections); ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, seed()));
  }
}

RedisExecutor::~RedisExecutor() {
  for (auto& worker : workers_) worker->Stop();
}

RedisExecutor::Script RedisExecutor::Register(const char* lua_source) {
  scripts_.push_back(lua_source);
  return Script{scripts_.size() - 1};
}

void RedisExecutor::Start(HealthListener listener) {
  listener_ = std::move(listener);
  for (auto& worker : workers_) worker->Start();
}

void RedisExecutor::Eval(Script script, std::string key, Args args,
                         ReplyCallback done) {
  Worker& worker = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) %
                             workers_.size()];
  worker.Enqueue({script.index, std::move(key), std::move(args), std::move(done),
                  clock_.Now() + config_.timeout});
}

void RedisExecutor::SetReachable(bool reachable, absl::string_view why) {
  std::lock_guard<std::mutex> lock(transition_mu_);
  const bool first = !ever_reported_.exchange(true);
  if (reachable_.exchange(reachable) == reachable && !first) return;
  auto log = Logger("redis");
  const std::string where = absl::StrCat(config_.host, ":", config_.port);
  if (reachable) {
    log->info("redis {} reachable{}", where, first ? "" : " again; using it");
  } else {
    log->warn("redis {} unreachable ({}); operations apply on_store_failure "
              "until it is back", where, std::string(why));
  }
  if (listener_) listener_(reachable);
}

}  // namespace crossbridge
