#include "server/store/redis_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "server/store/redis_gcra_script.h"

namespace crossbridge {
namespace {

// The script answers {allowed, remaining, retry_after_ms, reset_after_ms}.
absl::StatusOr<GcraResult> ParseScriptReply(const redisReply& reply,
                                            const GcraRule& rule) {
  if (reply.type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("redis: ", absl::string_view(reply.str, reply.len)));
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

}  // namespace

RedisStore::RedisStore(RedisExecutor& executor)
    : executor_(executor), script_(executor.Register(kRedisGcraScript)) {}

void RedisStore::Acquire(absl::string_view bucket_key, const GcraRule& rule,
                         int64_t cost, AcquireCallback done) {
  executor_.Eval(script_, std::string(bucket_key),
                 {absl::StrCat(rule.emission_interval_us),
                  absl::StrCat(rule.capacity), absl::StrCat(cost)},
                 [rule, done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   if (!reply.ok()) return done(reply.status());
                   done(ParseScriptReply(**reply, rule));
                 });
}

}  // namespace crossbridge
