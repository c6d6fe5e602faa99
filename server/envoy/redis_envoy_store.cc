#include "server/envoy/redis_envoy_store.h"

#include <deque>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

// Keep in step with EvaluateEnvoyTake (memory_envoy_store.cc) and GcraAcquire.
constexpr char kEnvoyScript[] = R"lua(
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local function ceil_ms(us) return math.floor((us + 999) / 1000) end
local pending = {}
local out = {0}
local blocked = false
for i = 1, #KEYS do
  local key = KEYS[i]
  local t = tonumber(ARGV[4 * i - 3])
  local capacity = tonumber(ARGV[4 * i - 2])
  local cost = tonumber(ARGV[4 * i - 1])
  local blocking = ARGV[4 * i] == '1'
  local burst = t * capacity
  local tat = pending[key]
  if tat == nil then
    tat = now
    local stored = redis.pcall('GET', key)
    if type(stored) == 'table' then
      return redis.error_reply('CROSSBRIDGE corrupt envoy bucket (' ..
                               (stored.err or 'unreadable value') .. ')')
    elseif stored then
      if string.len(stored) > 17 or not string.match(stored, '^%d+$') then
        return redis.error_reply('CROSSBRIDGE corrupt envoy bucket (value is not an integer TAT)')
      end
      tat = tonumber(stored)
    end
  end
  if tat > now + burst then tat = now + burst end
  local debt = math.max(tat, now) - now
  local function remaining_for(d)
    if d >= burst then return 0 end
    return math.floor((burst - d) / t)
  end
  local allowed, remaining, retry_after, reset_after = 0, 0, 0, ceil_ms(debt)
  if cost == 0 then
    if debt + t <= burst then allowed = 1 else retry_after = ceil_ms(debt + t - burst) end
    remaining = remaining_for(debt)
  elseif cost > capacity then
    remaining = remaining_for(debt)
    retry_after = math.max(1, ceil_ms(burst))
  else
    local new_debt = debt + cost * t
    if new_debt <= burst then
      allowed = 1
      remaining = remaining_for(new_debt)
      reset_after = ceil_ms(new_debt)
      pending[key] = now + new_debt
    else
      remaining = remaining_for(debt)
      retry_after = math.max(1, ceil_ms(new_debt - burst))
    end
  end
  if allowed == 0 and blocking then blocked = true end
  out[#out + 1] = allowed
  out[#out + 1] = remaining
  out[#out + 1] = retry_after
  out[#out + 1] = reset_after
end
if not blocked then
  for key, tat in pairs(pending) do
    redis.call('SET', key, string.format('%.0f', tat),
               'PX', string.format('%.0f', math.max(1, ceil_ms(tat - now))))
  end
  out[1] = 1
end
return out
)lua";

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(
      absl::StrCat("redis: malformed reply to the Envoy script: ", what));
}

}  // namespace

absl::StatusOr<EnvoyBucketStore::Outcome> ParseEnvoyReply(
    const redisReply& reply, const std::vector<EnvoyBucketStore::Take>& takes) {
  const size_t want = 1 + 4 * takes.size();
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != want) {
    return Malformed(absl::StrCat("expected an array of ", want, " integers"));
  }
  for (size_t i = 0; i < want; ++i) {
    if (reply.element[i] == nullptr || reply.element[i]->type != REDIS_REPLY_INTEGER) {
      return Malformed(absl::StrCat("element ", i + 1, " is not an integer"));
    }
  }
  auto at = [&](size_t i) { return reply.element[i]->integer; };
  EnvoyBucketStore::Outcome out;
  if (at(0) != 0 && at(0) != 1) return Malformed("committed is not 0 or 1");
  out.committed = at(0) == 1;
  for (size_t i = 0; i < takes.size(); ++i) {
    const GcraRule& rule = takes[i].rule;
    const int64_t window_ms = (rule.burst_us() + 999) / 1000;
    GcraResult r;
    const int64_t allowed = at(1 + 4 * i);
    r.remaining = at(2 + 4 * i);
    r.retry_after_ms = at(3 + 4 * i);
    r.reset_after_ms = at(4 + 4 * i);
    if (allowed != 0 && allowed != 1) return Malformed("allowed is not 0 or 1");
    if (r.remaining < 0 || r.remaining > rule.capacity) {
      return Malformed(absl::StrCat("remaining ", r.remaining, " is outside [0, ",
                                    rule.capacity, "]"));
    }
    if (r.retry_after_ms < 0 || r.retry_after_ms > window_ms || r.reset_after_ms < 0 ||
        r.reset_after_ms > window_ms) {
      return Malformed(absl::StrCat("a wait is outside [0, ", window_ms, "] ms"));
    }
    r.allowed = allowed == 1;
    r.limit = rule.capacity;
    r.granted = out.committed && r.allowed ? takes[i].cost : 0;
    out.results.push_back(r);
  }
  return out;
}

RedisEnvoyStore::RedisEnvoyStore(ScriptExecutor& executor)
    : executor_(executor), script_(executor.Register(kEnvoyScript)) {}

void RedisEnvoyStore::AcquireAll(std::vector<Take> takes, Callback done) {
  // Formatted here; the executor copies keys and args before EvalBatch returns.
  auto shared = std::make_shared<const std::vector<Take>>(std::move(takes));
  std::deque<absl::AlphaNum> numbers;
  std::vector<absl::string_view> args;
  std::vector<absl::string_view> more_keys;
  args.reserve(4 * shared->size());
  for (size_t i = 0; i < shared->size(); ++i) {
    const Take& t = (*shared)[i];
    if (i > 0) more_keys.push_back(t.bucket_key);
    args.push_back(numbers.emplace_back(t.rule.emission_interval_us).Piece());
    args.push_back(numbers.emplace_back(t.rule.capacity).Piece());
    args.push_back(numbers.emplace_back(t.cost).Piece());
    args.push_back(t.blocking ? "1" : "0");
  }
  ScriptExecutor::BatchCall call{
      script_, (*shared)[0].bucket_key, args,
      [shared, done = std::move(done)](absl::StatusOr<ReplyPtr> reply) mutable {
        if (!reply.ok()) return done(reply.status());
        done(ParseEnvoyReply(**reply, *shared));
      },
      more_keys};
  executor_.EvalBatch(absl::MakeSpan(&call, 1));
}

}  // namespace crossbridge
