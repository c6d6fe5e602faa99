#include "server/redis/redis_executor.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/mutex.h"

namespace crossbridge {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(50);
// A connection without calls for this long is checked with a PING.
constexpr absl::Duration kIdlePing = absl::Seconds(1);

struct PendingCall {
  std::string command;  // EVALSHA ... in RESP, formatted by Eval
  ScriptExecutor::ReplyCallback done;
  absl::Time deadline;  // monotonic
};

void FailAll(std::vector<PendingCall>& calls, size_t from,
             const absl::Status& status) {
  for (size_t i = from; i < calls.size(); ++i) calls[i].done(status);
}

// The SHA-1 Redis names a script by (EVALSHA), in lowercase hex.
std::string ScriptSha1(absl::string_view source) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(source.data(), source.size(), digest, &len, EVP_sha1(), nullptr) != 1) {
    std::fprintf(stderr, "crossbridge: fatal: cannot compute SHA-1 of a Lua script\n");
    std::abort();
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(digest), len));
}

bool IsNoScript(const redisReply& reply) {
  return reply.type == REDIS_REPLY_ERROR &&
         absl::StartsWith(RedisConnection::ErrorText(reply), "NOSCRIPT");
}

}  // namespace

// One connection and the thread that owns it. The queue and the routing
// flag are shared with Eval under mu_; everything else is touched only by
// the worker thread.
class RedisExecutor::Worker {
 public:
  Worker(RedisExecutor& executor, uint32_t seed) : executor_(executor), rng_(seed) {}

  void Start() { thread_ = std::thread([this] { Run(); }); }

  void Stop() {
    {
      MutexLock lock(&mu_);
      stopping_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  // Queues `call` if this worker is connected and has room; otherwise leaves
  // `call` untouched and answers why not.
  enum class Enqueued { kYes, kNotConnected, kFull };
  // All of `calls` or none: a batch goes out as one pipeline.
  Enqueued TryEnqueue(std::vector<PendingCall>& calls) {
    MutexLock lock(&mu_);
    if (!connected_ || stopping_) return Enqueued::kNotConnected;
    if (queue_.size() + calls.size() > kMaxQueuedPerWorker) return Enqueued::kFull;
    for (PendingCall& c : calls) queue_.push_back(std::move(c));
    return Enqueued::kYes;
  }

  // Another worker reached Redis: reconnect now instead of after the backoff.
  void ReconnectNow() {
    MutexLock lock(&mu_);
    if (!connected_) reconnect_now_ = true;
  }

 private:
  const Clock& clock() const { return executor_.clock_; }
  Counters& counters() { return executor_.counters_; }

  void Run() {
    std::vector<PendingCall> batch;
    for (;;) {
      if (conn_ == nullptr) {
        if (WaitForReconnect()) return;
        Connect();
        continue;
      }
      switch (WaitForWork(batch)) {
        case Woke::kStop:
          FailAll(batch, 0, absl::UnavailableError("redis executor shutting down"));
          return;
        case Woke::kIdle:
          Heartbeat();
          break;
        case Woke::kWork:
          Execute(batch);
          batch.clear();
          break;
      }
    }
  }

  // Not connected: waits until the next attempt is due, another worker says
  // Redis is back, or Stop. Returns true when stopping.
  bool WaitForReconnect() {
    MutexLock lock(&mu_);
    clock().AwaitUntil(
        lock,
        [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return stopping_ || reconnect_now_;
        },
        next_connect_at_);
    reconnect_now_ = false;
    return stopping_;
  }

  // Connected: blocks until there is work (moved into `batch`), Stop, or
  // kIdlePing without a call.
  enum class Woke { kWork, kStop, kIdle };
  Woke WaitForWork(std::vector<PendingCall>& batch) {
    MutexLock lock(&mu_);
    const bool woke = clock().AwaitFor(
        lock,
        [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return stopping_ || !queue_.empty();
        },
        kIdlePing);
    if (stopping_) {
      batch.swap(queue_);
      return Woke::kStop;
    }
    if (!woke) return Woke::kIdle;
    batch.swap(queue_);
    return Woke::kWork;
  }

  // An idle connection says nothing when Redis dies or hangs: PING it, so
  // health follows Redis without traffic.
  void Heartbeat() {
    absl::Status s = conn_->SetIoTimeout(executor_.config_.timeout);
    if (s.ok()) s = conn_->Command({"PING"}).status();
    if (!s.ok()) Disconnect(s);
  }

  // SCRIPT LOAD of every registered script on the current connection (the
  // calls name them by the SHA-1 Register computed, which is Redis's too).
  absl::Status LoadScripts() {
    for (const char* source : executor_.scripts_) {
      absl::StatusOr<ReplyPtr> sha = conn_->Command({"SCRIPT", "LOAD", source});
      if (!sha.ok()) return sha.status();
      if ((*sha)->type != REDIS_REPLY_STRING) {
        return absl::UnavailableError("redis: SCRIPT LOAD answered no SHA");
      }
    }
    return absl::OkStatus();
  }

  void Connect() {
    const RedisStorageConfig& c = executor_.config_;
    absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
        RedisConnection::Connect({c.host, c.port, c.db, c.password,
                                  c.connect_timeout});
    if (conn.ok()) {
      conn_ = std::move(*conn);
      if (absl::Status s = LoadScripts(); !s.ok()) conn = s;
    }
    if (!conn.ok()) {
      conn_.reset();
      ScheduleReconnect(conn.status());
      executor_.OnWorkerDisconnected(conn.status());
      return;
    }
    backoff_ = kInitialBackoff;
    {
      MutexLock lock(&mu_);
      connected_ = true;
    }
    counters().connects.fetch_add(1, std::memory_order_relaxed);
    executor_.OnWorkerConnected(*this);
  }

  // After a failed attempt: a refused or rejected connection backs off
  // exponentially (jittered, capped); one that timed out (a hung Redis)
  // tries again after the initial backoff, as it already waited.
  void ScheduleReconnect(const absl::Status& why) {
    if (absl::IsDeadlineExceeded(why)) backoff_ = kInitialBackoff;
    std::uniform_int_distribution<int64_t> jitter(
        absl::ToInt64Microseconds(backoff_) / 2,
        absl::ToInt64Microseconds(backoff_));
    next_connect_at_ = clock().MonotonicNow() + absl::Microseconds(jitter(rng_));
    backoff_ = std::min(backoff_ * 2, executor_.config_.reconnect_max_backoff);
  }

  // Drops the (live) connection. In this order: the worker leaves the
  // routing and the reachable count (so whoever hears of a failure sees the
  // state that goes with it), `fail_in_flight` and what was queued fail,
  // then the change is logged and reported (slower; no call waits for it).
  void Disconnect(const absl::Status& why,
                  const std::function<void()>& fail_in_flight = nullptr) {
    conn_.reset();
    std::vector<PendingCall> queued;
    {
      MutexLock lock(&mu_);
      connected_ = false;
      queued.swap(queue_);
    }
    executor_.connected_workers_.fetch_sub(1, std::memory_order_acq_rel);
    if (fail_in_flight) fail_in_flight();
    FailAll(queued, 0, why);
    ScheduleReconnect(why);
    executor_.OnWorkerDisconnected(why);
  }

  void AppendCall(const PendingCall& call) { conn_->AppendFormatted(call.command); }

  // Completes `call` from its reply.
  void Complete(PendingCall& call, ReplyPtr reply) {
    if (executor_.round_trips_ != nullptr) {
      executor_.round_trips_->Observe(clock().MonotonicNow() - call.deadline +
                                      executor_.config_.timeout);
    }
    if (reply->type == REDIS_REPLY_ERROR) {
      const absl::string_view text = RedisConnection::ErrorText(*reply);
      executor_.NoteErrorReply(text);
      call.done(absl::UnavailableError(absl::StrCat("redis: ", text)));
      return;
    }
    call.done(std::move(reply));
  }

  // Reads the replies of calls[order[...]] in order (all already sent),
  // completing each. Appends the indexes of NOSCRIPT replies to `reload`
  // when given, and leaves those calls open. On a missed deadline or an I/O
  // error the connection is dropped and every call not yet completed fails,
  // those in `reload` included; then returns false.
  bool ReadReplies(std::vector<PendingCall>& calls,
                   const std::vector<size_t>& order,
                   std::vector<size_t>* reload) {
    for (size_t n = 0; n < order.size(); ++n) {
      PendingCall& call = calls[order[n]];
      absl::Status failure;
      const absl::Duration left = call.deadline - clock().MonotonicNow();
      if (left <= absl::ZeroDuration()) {
        failure = absl::DeadlineExceededError("redis: no reply within the timeout");
      } else if (left < conn_->io_timeout()) {
        failure = conn_->SetIoTimeout(left);
      }
      absl::StatusOr<ReplyPtr> reply =
          failure.ok() ? conn_->Read() : absl::StatusOr<ReplyPtr>(failure);
      if (!reply.ok()) {
        absl::Status why = reply.status();
        if (absl::IsDeadlineExceeded(why)) {
          why = absl::DeadlineExceededError(absl::StrCat(
              "redis ", executor_.where_, ": no reply within the timeout"));
        }
        const size_t unanswered = order.size() - n;
        executor_.NoteSentUnanswered(unanswered);
        Disconnect(why, [&] {
          // Those set aside for a retry after NOSCRIPT have no reply either.
          if (reload != nullptr) {
            for (size_t i : *reload) calls[i].done(why);
          }
          for (size_t m = n; m < order.size(); ++m) calls[order[m]].done(why);
        });
        return false;
      }
      if (reload != nullptr && IsNoScript(**reply)) {
        reload->push_back(order[n]);
        continue;
      }
      Complete(call, *std::move(reply));
    }
    return true;
  }

  // Pipelines `batch` and completes every entry.
  void Execute(std::vector<PendingCall>& batch) {
    const absl::Time now = clock().MonotonicNow();
    // Calls whose time ran out while queued never reach Redis.
    auto expired = std::stable_partition(
        batch.begin(), batch.end(),
        [now](const PendingCall& c) { return c.deadline > now; });
    if (expired != batch.end()) {
      counters().timed_out_queued.fetch_add(batch.end() - expired,
                                            std::memory_order_relaxed);
      for (auto it = expired; it != batch.end(); ++it) {
        it->done(absl::DeadlineExceededError("redis: call timed out in the queue"));
      }
      batch.erase(expired, batch.end());
    }
    if (batch.empty()) return;

    absl::Time earliest = batch.front().deadline;
    for (const PendingCall& c : batch) earliest = std::min(earliest, c.deadline);
    if (absl::Status s = conn_->SetIoTimeout(earliest - now); !s.ok()) {
      Disconnect(s, [&] { FailAll(batch, 0, s); });
      return;
    }
    for (const PendingCall& c : batch) AppendCall(c);
    order_.resize(batch.size());
    for (size_t i = 0; i < batch.size(); ++i) order_[i] = i;
    std::vector<size_t> reload;  // entries that met NOSCRIPT
    if (!ReadReplies(batch, order_, &reload)) return;
    if (!reload.empty()) RetryAfterReload(batch, reload);
  }

  // Redis lost its scripts (restart, SCRIPT FLUSH): load again, retry once.
  void RetryAfterReload(std::vector<PendingCall>& batch,
                        const std::vector<size_t>& reload) {
    Logger("redis")->info("script cache was flushed; reloading scripts");
    if (absl::Status s = LoadScripts(); !s.ok()) {
      Disconnect(s, [&] {
        for (size_t i : reload) batch[i].done(s);
      });
      return;
    }
    for (size_t i : reload) AppendCall(batch[i]);
    ReadReplies(batch, reload, nullptr);
  }

  RedisExecutor& executor_;
  std::thread thread_;

  absl::Mutex mu_;
  std::vector<PendingCall> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool connected_ ABSL_GUARDED_BY(mu_) = false;  // in the routing
  bool reconnect_now_ ABSL_GUARDED_BY(mu_) = false;

  // Owned by the worker thread.
  std::unique_ptr<RedisConnection> conn_;
  std::vector<size_t> order_;      // scratch: 0..batch size
  absl::Time next_connect_at_ = absl::InfinitePast();  // monotonic
  absl::Duration backoff_ = kInitialBackoff;
  std::mt19937 rng_;
};

RedisExecutor::RedisExecutor(const RedisStorageConfig& config, const Clock& clock,
                             LatencyHistogram* round_trips)
    : config_(config),
      clock_(clock),
      round_trips_(round_trips),
      where_(absl::StrCat(config.host, ":", config.port)) {
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
  shas_.push_back(ScriptSha1(lua_source));
  return Script{scripts_.size() - 1};
}

void RedisExecutor::Start(HealthListener listener) {
  listener_ = std::move(listener);
  for (auto& worker : workers_) worker->Start();
}

void RedisExecutor::Eval(Script script, absl::string_view key, Args args,
                         ReplyCallback done) {
  BatchCall call{script, key, args, std::move(done)};
  EvalBatch(absl::MakeSpan(&call, 1));
}

void RedisExecutor::EvalBatch(absl::Span<BatchCall> calls) {
  if (calls.empty()) return;
  counters_.calls.fetch_add(calls.size(), std::memory_order_relaxed);
  const absl::Time deadline = clock_.MonotonicNow() + config_.timeout;
  std::vector<PendingCall> pending;
  pending.reserve(calls.size());
  for (BatchCall& c : calls) {
    absl::InlinedVector<absl::string_view, 8> words = {"EVALSHA", shas_[c.script.index],
                                                       "1", c.key};
    words.insert(words.end(), c.args.begin(), c.args.end());
    PendingCall& p = pending.emplace_back();
    AppendRespCommand(p.command, words);
    p.done = std::move(c.done);
    p.deadline = deadline;
  }
  const size_t n = workers_.size();
  const size_t first = next_worker_.fetch_add(1, std::memory_order_relaxed);
  bool any_connected = false;
  for (size_t i = 0; i < n; ++i) {
    switch (workers_[(first + i) % n]->TryEnqueue(pending)) {
      case Worker::Enqueued::kYes:
        return;
      case Worker::Enqueued::kFull:
        any_connected = true;
        break;
      case Worker::Enqueued::kNotConnected:
        break;
    }
  }
  absl::Status why;
  if (any_connected) {
    counters_.failed_queue_full.fetch_add(pending.size(), std::memory_order_relaxed);
    why = absl::UnavailableError(absl::StrCat("redis ", where_, ": every connection has ",
                                              kMaxQueuedPerWorker, " calls waiting"));
  } else {
    counters_.failed_unconnected.fetch_add(pending.size(), std::memory_order_relaxed);
    const std::string last = last_error();
    why = absl::UnavailableError(absl::StrCat(
        "redis ", where_, " unreachable: ", last.empty() ? "not connected yet" : last));
  }
  FailAll(pending, 0, why);
}

std::string RedisExecutor::last_error() const {
  MutexLock lock(&state_mu_);
  return last_error_;
}

RedisExecutor::Stats RedisExecutor::stats() const {
  Stats s;
  s.calls = counters_.calls.load(std::memory_order_relaxed);
  s.failed_unconnected = counters_.failed_unconnected.load(std::memory_order_relaxed);
  s.failed_queue_full = counters_.failed_queue_full.load(std::memory_order_relaxed);
  s.timed_out_queued = counters_.timed_out_queued.load(std::memory_order_relaxed);
  s.sent_unanswered = counters_.sent_unanswered.load(std::memory_order_relaxed);
  s.error_replies = counters_.error_replies.load(std::memory_order_relaxed);
  s.connects = counters_.connects.load(std::memory_order_relaxed);
  return s;
}

void RedisExecutor::OnWorkerConnected(Worker& worker) {
  {
    MutexLock lock(&state_mu_);
    if (connected_workers_.fetch_add(1, std::memory_order_acq_rel) != 0) return;
    Logger("redis")->info("redis {} reachable{}", where_,
                          ever_connected_ ? " again; using it" : "");
    ever_connected_ = true;
    reported_down_ = false;
    // Under the lock, so the listener hears changes in order.
    if (listener_) listener_(true);
  }
  for (auto& other : workers_) {
    if (other.get() != &worker) other->ReconnectNow();
  }
}

void RedisExecutor::OnWorkerDisconnected(const absl::Status& why) {
  MutexLock lock(&state_mu_);
  last_error_ = std::string(why.message());
  if (connected_workers_.load(std::memory_order_acquire) > 0 || reported_down_) return;
  reported_down_ = true;
  Logger("redis")->warn(
      "redis {} unreachable ({}); operations apply on_store_failure until it "
      "is back", where_, last_error_);
  if (listener_) listener_(false);
}

void RedisExecutor::NoteSentUnanswered(size_t n) {
  const uint64_t total =
      counters_.sent_unanswered.fetch_add(n, std::memory_order_relaxed) + n;
  if (std::optional<uint64_t> suppressed = error_reply_log_.Admit("\x01unanswered")) {
    Logger("redis")->warn(
        "redis {}: {} calls were sent but got no reply in time; Redis may still "
        "run them when it wakes (a permit taken but not granted: the safe "
        "side); {} such calls so far", where_, n, total);
  }
}

void RedisExecutor::NoteErrorReply(absl::string_view text) {
  counters_.error_replies.fetch_add(1, std::memory_order_relaxed);
  const absl::string_view kind = text.substr(0, text.find(' '));
  if (std::optional<uint64_t> suppressed = error_reply_log_.Admit(kind)) {
    Logger("redis")->warn("redis {} answered an error: {}{}", where_,
                          std::string(text.substr(0, 200)),
                          *suppressed > 0
                              ? absl::StrCat(" (", *suppressed,
                                             " more like it since the last report)")
                              : "");
  }
}

}  // namespace crossbridge
