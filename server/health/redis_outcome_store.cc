#include "server/health/redis_outcome_store.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/redis/keyspace.h"

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

absl::StatusOr<int64_t> IntegerReply(absl::StatusOr<ReplyPtr> reply,
                                     int64_t max) {
  if (!reply.ok()) return reply.status();
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_INTEGER || r.integer < 0 || r.integer > max) {
    return absl::DataLossError(absl::StrCat(
        "redis: malformed reply to a health script (expected an integer in [0, ",
        max, "])"));
  }
  return r.integer;
}

}  // namespace

RedisOutcomeStore::RedisOutcomeStore(ScriptExecutor& executor)
    : executor_(executor),
      record_(executor.Register(kRecordScript)),
      claim_(executor.Register(kClaimScript)) {}

void RedisOutcomeStore::RecordOutcome(absl::string_view provider, bool success,
                                      CountCallback done) {
  executor_.Eval(record_, HealthCountKey(provider), {success ? "s" : "f"},
                 [done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   done(IntegerReply(std::move(reply),
                                     std::numeric_limits<int64_t>::max()));
                 });
}

void RedisOutcomeStore::ClaimProbe(absl::string_view provider,
                                   absl::Duration interval, ClaimCallback done) {
  // 90% of the interval, so the claimer's next tick finds the lease free.
  const int64_t lease_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(interval) * 9 / 10);
  executor_.Eval(claim_, ProbeLeaseKey(provider), {absl::StrCat(lease_ms)},
                 [done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   absl::StatusOr<int64_t> n = IntegerReply(std::move(reply), 1);
                   if (!n.ok()) return done(n.status());
                   done(*n == 1);
                 });
}

}  // namespace crossbridge
