#include "server/store/redis_store.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "server/store/redis_connection.h"
#include "server/store/redis_gcra_script.h"

namespace crossbridge {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(50);

struct PendingAcquire {
  std::string key;
  GcraRule rule;
  int64_t cost = 0;
  BucketStore::AcquireCallback done;
  absl::Time deadline;
};

void FailAll(std::vector<PendingAcquire>& batch, size_t from,
             const absl::Status& status) {
  for (size_t i = from; i < batch.size(); ++i) batch[i].done(status);
}

// The script answers {allowed, remaining, retry_after_ms, reset_after_ms}.
absl::StatusOr<GcraResult> ParseScriptReply(const redisReply& reply,
                                            const GcraRule& rule) {
  if (reply.type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(absl::StrCat(
        "redis: ", absl::string_view(reply.str, reply.len)));
  }
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 4) {
    return absl::UnavailableError("redis: unexpected reply to the GCRA script");
  }
  for (size_t i = 0; i < 4; ++i) {
    if (reply.element[i]->type != REDIS_REPLY_INTEGER) {
      return absl::UnavailableError("redis: unexpected reply to the GCRA script");
    }
  }
  GcraResult result;
  result.allowed = reply.element[0]->integer == 1;
  result.limit = rule.capacity;
  result.remaining = reply.element[1]->integer;
  result.retry_after_ms = reply.element[2]->integer;
  result.reset_after_ms = reply.element[3]->integer;
  return result;
}

bool IsNoScript(const redisReply& reply) {
  return reply.type == REDIS_REPLY_ERROR &&
         absl::StartsWith(absl::string_view(reply.str, reply.len), "NOSCRIPT");
}

}  // namespace

// One connection and the thread that owns it. Everything but the queue is
// touched only by that thread.
class RedisStore::Worker {
 public:
  Worker(RedisStore& store, uint32_t seed) : store_(store), rng_(seed) {}

  void Start() { thread_ = std::thread([this] { Run(); }); }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  void Enqueue(PendingAcquire pending) {
    bool was_empty;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_empty = queue_.empty();
      queue_.push_back(std::move(pending));
    }
    if (was_empty) cv_.notify_one();
  }

 private:
  void Run() {
    std::vector<PendingAcquire> batch;
    while (true) {
      bool stopping = WaitForWork(batch);
      if (stopping) {
        FailAll(batch, 0, absl::UnavailableError("redis store shutting down"));
        return;
      }
      if (conn_ == nullptr && store_.clock_.Now() >= next_connect_at_) Connect();
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
  bool WaitForWork(std::vector<PendingAcquire>& batch) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stopping_ && queue_.empty()) {
      if (conn_ != nullptr) {
        cv_.wait(lock);
        continue;
      }
      absl::Duration wait = next_connect_at_ - store_.clock_.Now();
      if (wait <= absl::ZeroDuration()) break;
      cv_.wait_for(lock, absl::ToChronoNanoseconds(wait));
    }
    batch.swap(queue_);
    return stopping_;
  }

  void Connect() {
    const RedisStorageConfig& c = store_.config_;
    absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
        RedisConnection::Connect({c.host, c.port, c.db, c.password,
                                  c.connect_timeout});
    absl::Status status = conn.status();
    if (status.ok()) {
      absl::StatusOr<ReplyPtr> sha =
          (*conn)->Command({"SCRIPT", "LOAD", kRedisGcraScript});
      status = sha.status();
      if (status.ok()) sha_.assign((*sha)->str, (*sha)->len);
    }
    if (!status.ok()) {
      Disconnect(status);
      return;
    }
    conn_ = std::move(*conn);
    backoff_ = kInitialBackoff;
    store_.SetReachable(true, "");
  }

  // Drops the connection and schedules a reconnect after a jittered backoff.
  void Disconnect(const absl::Status& why) {
    conn_.reset();
    std::uniform_int_distribution<int64_t> jitter(
        absl::ToInt64Microseconds(backoff_) / 2,
        absl::ToInt64Microseconds(backoff_));
    next_connect_at_ = store_.clock_.Now() + absl::Microseconds(jitter(rng_));
    backoff_ = std::min(backoff_ * 2, store_.config_.reconnect_max_backoff);
    store_.SetReachable(false, why.message());
  }

  void AppendCall(const PendingAcquire& p) {
    const std::string interval = absl::StrCat(p.rule.emission_interval_us);
    const std::string capacity = absl::StrCat(p.rule.capacity);
    const std::string cost = absl::StrCat(p.cost);
    conn_->Append({"EVALSHA", sha_, "1", p.key, interval, capacity, cost});
  }

  // Pipelines `batch`, completes every entry. On an I/O error the rest of
  // the batch fails with it and the connection is dropped.
  void Execute(std::vector<PendingAcquire>& batch) {
    const absl::Time now = store_.clock_.Now();
    // Calls whose budget ran out while queued never reach Redis.
    auto expired = std::stable_partition(
        batch.begin(), batch.end(),
        [now](const PendingAcquire& p) { return p.deadline > now; });
    for (auto it = expired; it != batch.end(); ++it) {
      it->done(absl::DeadlineExceededError("redis: call timed out in the queue"));
    }
    batch.erase(expired, batch.end());
    if (batch.empty()) return;

    absl::Time earliest = batch.front().deadline;
    for (const PendingAcquire& p : batch) earliest = std::min(earliest, p.deadline);
    if (absl::Status s = conn_->SetIoTimeout(earliest - now); !s.ok()) {
      FailAll(batch, 0, s);
      Disconnect(s);
      return;
    }
    for (const PendingAcquire& p : batch) AppendCall(p);

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
      batch[i].done(ParseScriptReply(**reply, batch[i].rule));
    }
    if (!reload.empty()) RetryAfterReload(batch, reload);
  }

  // Redis lost its scripts (restart, SCRIPT FLUSH): load again, retry once.
  void RetryAfterReload(std::vector<PendingAcquire>& batch,
                        const std::vector<size_t>& reload) {
    Logger("redis")->info("script cache was flushed; reloading the GCRA script");
    absl::StatusOr<ReplyPtr> sha =
        conn_->Command({"SCRIPT", "LOAD", kRedisGcraScript});
    if (!sha.ok()) {
      for (size_t i : reload) batch[i].done(sha.status());
      if (!absl::IsUnavailable(sha.status()) || conn_ == nullptr) return;
      Disconnect(sha.status());
      return;
    }
    sha_.assign((*sha)->str, (*sha)->len);
    for (size_t i : reload) AppendCall(batch[i]);
    for (size_t n = 0; n < reload.size(); ++n) {
      absl::StatusOr<ReplyPtr> reply = conn_->Read();
      if (!reply.ok()) {
        for (size_t m = n; m < reload.size(); ++m) batch[reload[m]].done(reply.status());
        Disconnect(reply.status());
        return;
      }
      batch[reload[n]].done(ParseScriptReply(**reply, batch[reload[n]].rule));
    }
  }

  RedisStore& store_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<PendingAcquire> queue_;  // guarded by mu_
  bool stopping_ = false;              // guarded by mu_

  // Owned by the worker thread.
  std::unique_ptr<RedisConnection> conn_;
  std::string sha_;
  absl::Time next_connect_at_ = absl::InfinitePast();
  absl::Duration backoff_ = kInitialBackoff;
  std::mt19937 rng_;
};

RedisStore::RedisStore(const RedisStorageConfig& config, const Clock& clock)
    : config_(config), clock_(clock) {
  std::random_device seed;
  for (int i = 0; i < std::max(1, config_.connections); ++i) {
    workers_.push_back(std::make_unique<Worker>(*this, seed()));
  }
}

RedisStore::~RedisStore() {
  for (auto& worker : workers_) worker->Stop();
}

void RedisStore::Start(HealthListener listener) {
  listener_ = std::move(listener);
  for (auto& worker : workers_) worker->Start();
}

void RedisStore::Acquire(absl::string_view bucket_key, const GcraRule& rule,
                         int64_t cost, AcquireCallback done) {
  Worker& worker = *workers_[next_worker_.fetch_add(1, std::memory_order_relaxed) %
                             workers_.size()];
  worker.Enqueue({std::string(bucket_key), rule, cost, std::move(done),
                  clock_.Now() + config_.timeout});
}

void RedisStore::SetReachable(bool reachable, absl::string_view why) {
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
