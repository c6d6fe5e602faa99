#include "server/health/redis_outcome_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

// KEYS[1] count key; ARGV[1] "s" (success) | "f" (failure). Returns the count.
constexpr char kRecordScript[] = R"lua(
if ARGV[1] == 's' then
  redis.call('SET', KEYS[1], 0, 'EX', 86400)
  return 0
end
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], 86400)
return n
)lua";

// KEYS[1] lease key; ARGV[1] lease in ms. Returns 1 if claimed.
constexpr char kClaimScript[] = R"lua(
if redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then return 1 end
return 0
)lua";

absl::StatusOr<int64_t> IntegerReply(absl::StatusOr<ReplyPtr> reply) {
  if (!reply.ok()) return reply.status();
  const redisReply& r = **reply;
  if (r.type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("redis: ", absl::string_view(r.str, r.len)));
  }
  if (r.type != REDIS_REPLY_INTEGER) {
    return absl::UnavailableError("redis: unexpected reply to a health script");
  }
  return r.integer;
}

}  // namespace

RedisOutcomeStore::RedisOutcomeStore(RedisExecutor& executor)
    : executor_(executor),
      record_(executor.Register(kRecordScript)),
      claim_(executor.Register(kClaimScript)) {}

void RedisOutcomeStore::RecordOutcome(absl::string_view provider, bool success,
                                      CountCallback done) {
  executor_.Eval(record_, absl::StrCat("cb:v1:{health:", provider, "}"),
                 {success ? "s" : "f"},
                 [done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   done(IntegerReply(std::move(reply)));
                 });
}

void RedisOutcomeStore::ClaimProbe(absl::string_view provider,
                                   absl::Duration interval, ClaimCallback done) {
  // 90% of the interval, so the claimer's next tick finds the lease free.
  const int64_t lease_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(interval) * 9 / 10);
  executor_.Eval(claim_, absl::StrCat("cb:v1:{probe:", provider, "}"),
                 {absl::StrCat(lease_ms)},
                 [done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   absl::StatusOr<int64_t> n = IntegerReply(std::move(reply));
                   if (!n.ok()) return done(n.status());
                   done(*n == 1);
                 });
}

}  // namespace crossbridge
