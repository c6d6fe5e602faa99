#include "server/store/redis_store.h"

#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/store/redis_gcra_script.h"

namespace crossbridge {
namespace {

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("redis: malformed reply to the GCRA script: ", what));
}

}  // namespace

// The script answers {allowed, remaining, retry_after_ms, reset_after_ms,
// granted}, each an integer: allowed 0 or 1, remaining in [0, capacity],
// both waits in [0, one window] (a bucket never waits longer than it takes
// to refill), granted in [0, capacity] and 0 when refused.
absl::StatusOr<GcraResult> ParseGcraReply(const redisReply& reply,
                                          const GcraRule& rule) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 5) {
    return Malformed("expected an array of 5 integers");
  }
  for (size_t i = 0; i < 5; ++i) {
    if (reply.element[i] == nullptr || reply.element[i]->type != REDIS_REPLY_INTEGER) {
      return Malformed(absl::StrCat("element ", i + 1, " is not an integer"));
    }
  }
  const int64_t allowed = reply.element[0]->integer;
  const int64_t remaining = reply.element[1]->integer;
  const int64_t retry_after_ms = reply.element[2]->integer;
  const int64_t reset_after_ms = reply.element[3]->integer;
  const int64_t granted = reply.element[4]->integer;
  const int64_t window_ms = (rule.burst_us() + 999) / 1000;
  if (allowed != 0 && allowed != 1) return Malformed("allowed is not 0 or 1");
  if (remaining < 0 || remaining > rule.capacity) {
    return Malformed(absl::StrCat("remaining ", remaining, " is outside [0, ",
                                  rule.capacity, "]"));
  }
  if (retry_after_ms < 0 || retry_after_ms > window_ms ||
      reset_after_ms < 0 || reset_after_ms > window_ms) {
    return Malformed(absl::StrCat("a wait is outside [0, ", window_ms, "] ms"));
  }
  if (granted < 0 || granted > rule.capacity || (allowed == 0 && granted != 0)) {
    return Malformed(absl::StrCat("granted ", granted, " is outside [0, ",
                                  allowed == 1 ? rule.capacity : 0, "]"));
  }
  GcraResult result;
  result.allowed = allowed == 1;
  result.granted = granted;
  result.limit = rule.capacity;
  result.remaining = remaining;
  result.retry_after_ms = retry_after_ms;
  result.reset_after_ms = reset_after_ms;
  return result;
}

RedisStore::RedisStore(ScriptExecutor& executor)
    : executor_(executor), script_(executor.Register(kRedisGcraScript)) {}

// The script's arguments, formatted on the caller's stack: the executor
// copies them into the command before Eval returns.
struct RedisStore::ScriptArgs {
  ScriptArgs(const GcraRule& rule, int64_t n, const char* mode)
      : t(rule.emission_interval_us), capacity(rule.capacity), count(n),
        views{t.Piece(), capacity.Piece(), count.Piece(), mode} {}
  absl::AlphaNum t, capacity, count;
  absl::string_view views[4];
};

ScriptExecutor::ReplyCallback RedisStore::Parsing(const GcraRule& rule,
                                                  AcquireCallback done) {
  return [rule, done = std::move(done)](absl::StatusOr<ReplyPtr> reply) mutable {
    if (!reply.ok()) return done(reply.status());
    done(ParseGcraReply(**reply, rule));
  };
}

void RedisStore::Acquire(absl::string_view bucket_key, const GcraRule& rule,
                         int64_t cost, bool up_to, AcquireCallback done) {
  const ScriptArgs args(rule, cost, up_to ? "1" : "0");
  executor_.Eval(script_, bucket_key, args.views, Parsing(rule, std::move(done)));
}

void RedisStore::AcquireBatch(absl::Span<Take> takes) {
  std::deque<ScriptArgs> args;  // never moves an element: the calls view into them
  std::vector<ScriptExecutor::BatchCall> calls;
  calls.reserve(takes.size());
  for (Take& take : takes) {
    const ScriptArgs& a = args.emplace_back(*take.rule, take.cost, take.up_to ? "1" : "0");
    calls.push_back({script_, take.bucket_key, a.views,
                     Parsing(*take.rule, std::move(take.done))});
  }
  executor_.EvalBatch(absl::MakeSpan(calls));
}

void RedisStore::Return(absl::string_view bucket_key, const GcraRule& rule,
                        int64_t count, AcquireCallback done) {
  const ScriptArgs args(rule, count, "r");
  executor_.Eval(script_, bucket_key, args.views, Parsing(rule, std::move(done)));
}

}  // namespace crossbridge
