#include "server/store/redis_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/store/redis_gcra_script.h"

namespace crossbridge {
namespace {

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("redis: malformed reply to the GCRA script: ", what));
}

}  // namespace

// The script answers {allowed, remaining, retry_after_ms, reset_after_ms},
// each an integer: allowed 0 or 1, remaining in [0, capacity], both waits in
// [0, one window] (a bucket never waits longer than it takes to refill).
absl::StatusOr<GcraResult> ParseGcraReply(const redisReply& reply,
                                          const GcraRule& rule) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 4) {
    return Malformed("expected an array of 4 integers");
  }
  for (size_t i = 0; i < 4; ++i) {
    if (reply.element[i] == nullptr || reply.element[i]->type != REDIS_REPLY_INTEGER) {
      return Malformed(absl::StrCat("element ", i + 1, " is not an integer"));
    }
  }
  const int64_t allowed = reply.element[0]->integer;
  const int64_t remaining = reply.element[1]->integer;
  const int64_t retry_after_ms = reply.element[2]->integer;
  const int64_t reset_after_ms = reply.element[3]->integer;
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
  GcraResult result;
  result.allowed = allowed == 1;
  result.limit = rule.capacity;
  result.remaining = remaining;
  result.retry_after_ms = retry_after_ms;
  result.reset_after_ms = reset_after_ms;
  return result;
}

RedisStore::RedisStore(ScriptExecutor& executor)
    : executor_(executor), script_(executor.Register(kRedisGcraScript)) {}

void RedisStore::Acquire(absl::string_view bucket_key, const GcraRule& rule,
                         int64_t cost, AcquireCallback done) {
  const absl::AlphaNum t(rule.emission_interval_us), capacity(rule.capacity),
      n(cost);
  const absl::string_view args[] = {t.Piece(), capacity.Piece(), n.Piece()};
  executor_.Eval(script_, bucket_key, args,
                 [rule, done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   if (!reply.ok()) return done(reply.status());
                   done(ParseGcraReply(**reply, rule));
                 });
}

}  // namespace crossbridge
