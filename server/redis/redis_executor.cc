#include "server/redis/redis_executor.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/mutex.h"

namespace crossbridge {
namespace {

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

}  // namespace

RedisExecutor::RedisExecutor(const RedisStorageConfig& config, const Clock& clock,
                             LatencyHistogram* round_trips)
    : config_(config),
      clock_(clock),
      round_trips_(round_trips),
      where_(absl::StrCat(config.host, ":", config.port)) {
  std::random_device seed;
  for (int i = 0; i < std::max(1, config_.connections); ++i) {
    links_.push_back(std::make_unique<RedisLink>(*this, seed()));
  }
}

RedisExecutor::~RedisExecutor() {
  for (auto& link : links_) link->Stop();
}

RedisExecutor::Script RedisExecutor::Register(const char* lua_source) {
  scripts_.push_back(lua_source);
  shas_.push_back(ScriptSha1(lua_source));
  return Script{scripts_.size() - 1};
}

void RedisExecutor::Start(HealthListener listener) {
  listener_ = std::move(listener);
  for (auto& link : links_) link->Start();
}

void RedisExecutor::Eval(Script script, absl::string_view key, Args args,
                         ReplyCallback done) {
  BatchCall call{script, key, args, std::move(done)};
  EvalBatch(absl::MakeSpan(&call, 1));
}

void RedisExecutor::EvalBatch(absl::Span<BatchCall> calls) {
  Submit(calls, clock_.MonotonicNow() + config_.timeout, /*asking=*/false);
}

void RedisExecutor::EvalAt(Script script, absl::string_view key, Args args,
                           absl::Time deadline, bool asking, ReplyCallback done,
                           Args more_keys) {
  BatchCall call{script, key, args, std::move(done), more_keys};
  Submit(absl::MakeSpan(&call, 1), deadline, asking);
}

void RedisExecutor::Submit(absl::Span<BatchCall> calls, absl::Time deadline,
                           bool asking) {
  if (calls.empty()) return;
  counters_.calls.fetch_add(calls.size(), std::memory_order_relaxed);
  std::vector<RedisCall> pending(calls.size() + (asking ? 1 : 0));
  size_t next = 0;
  if (asking) {
    // Right before the call on the same connection: Redis Cluster's ASK.
    pending[next++] = RedisCall::Internal("*1\r\n$6\r\nASKING\r\n", deadline);
  }
  for (BatchCall& c : calls) {
    const absl::AlphaNum numkeys(1 + c.more_keys.size());
    absl::InlinedVector<absl::string_view, 8> words = {"EVALSHA", shas_[c.script.index],
                                                       numkeys.Piece(), c.key};
    words.insert(words.end(), c.more_keys.begin(), c.more_keys.end());
    words.insert(words.end(), c.args.begin(), c.args.end());
    RedisCall& p = pending[next++];
    AppendRespCommand(p.command, words);
    p.done = std::move(c.done);
    p.deadline = deadline;
    p.script = static_cast<int>(c.script.index);
  }
  const size_t n = links_.size();
  const size_t first = next_link_.fetch_add(1, std::memory_order_relaxed);
  bool any_connected = false;
  for (size_t i = 0; i < n; ++i) {
    switch (links_[(first + i) % n]->TryEnqueue(pending)) {
      case RedisLink::Enqueued::kYes:
        return;
      case RedisLink::Enqueued::kFull:
        any_connected = true;
        break;
      case RedisLink::Enqueued::kNotConnected:
        break;
    }
  }
  absl::Status why;
  if (any_connected) {
    counters_.failed_queue_full.fetch_add(calls.size(), std::memory_order_relaxed);
    why = absl::UnavailableError(absl::StrCat("redis ", where_, ": every connection has ",
                                              kMaxInFlightPerLink, " calls waiting"));
  } else {
    counters_.failed_unconnected.fetch_add(calls.size(), std::memory_order_relaxed);
    const std::string last = last_error();
    why = absl::UnavailableError(absl::StrCat(
        "redis ", where_, " unreachable: ", last.empty() ? "not connected yet" : last));
  }
  for (RedisCall& call : pending) call.done(why);
}

bool RedisExecutor::AwaitFirstAttempt(absl::Duration timeout) {
  MutexLock lock(&state_mu_);
  lock.AwaitWithTimeout(
      [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return ever_connected_ || !last_error_.empty();
      },
      timeout);
  return reachable();
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

void RedisExecutor::OnLinkConnected(RedisLink& link) {
  {
    MutexLock lock(&state_mu_);
    if (connected_links_.fetch_add(1, std::memory_order_acq_rel) != 0) return;
    Logger("redis")->info("redis {} reachable{}", where_,
                          ever_connected_ ? " again; using it" : "");
    ever_connected_ = true;
    reported_down_ = false;
    // Under the lock, so the listener hears changes in order.
    if (listener_) listener_(true);
  }
  for (auto& other : links_) {
    if (other.get() != &link) other->ReconnectNow();
  }
}

void RedisExecutor::OnLinkDisconnected(const absl::Status& why) {
  MutexLock lock(&state_mu_);
  last_error_ = std::string(why.message());
  if (connected_links_.load(std::memory_order_acquire) > 0 || reported_down_) return;
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
