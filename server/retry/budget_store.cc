#include "server/retry/budget_store.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/mutex.h"

namespace crossbridge {
namespace {

// WithdrawForRetry / DepositForSuccess of common/retry.cc, in Redis.
// KEYS[1] budget key; ARGV: "w" | "d", max_tokens, token_ratio.
// Returns {retry_allowed (0|1), tokens as a string (exact double)}.
constexpr char kBudgetScript[] = R"lua(
local max_tokens = tonumber(ARGV[2])
local ratio = tonumber(ARGV[3])
local tokens = tonumber(redis.call('GET', KEYS[1])) or max_tokens
if ARGV[1] == 'w' then
  tokens = math.max(0, tokens - 1)
else
  tokens = math.min(max_tokens, tokens + ratio)
end
redis.call('SET', KEYS[1], string.format('%.17g', tokens), 'EX', 86400)
local allowed = 0
if tokens > max_tokens / 2 then allowed = 1 end
return {allowed, string.format('%.17g', tokens)}
)lua";

absl::StatusOr<BudgetUpdate> ParseReply(const redisReply& reply) {
  if (reply.type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(
        absl::StrCat("redis: ", absl::string_view(reply.str, reply.len)));
  }
  BudgetUpdate update;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 ||
      reply.element[0]->type != REDIS_REPLY_INTEGER ||
      reply.element[1]->type != REDIS_REPLY_STRING ||
      !absl::SimpleAtod(absl::string_view(reply.element[1]->str,
                                          reply.element[1]->len),
                        &update.tokens)) {
    return absl::UnavailableError("redis: unexpected reply to the budget script");
  }
  update.retry_allowed = reply.element[0]->integer == 1;
  return update;
}

}  // namespace

BudgetUpdate MemoryBudgetStore::Update(absl::string_view policy,
                                       const RetryBudgetRule& rule,
                                       bool withdraw) {
  MutexLock lock(&mu_);
  auto [it, inserted] = tokens_.try_emplace(policy, rule.max_tokens);
  BudgetUpdate update = withdraw ? WithdrawForRetry(rule, it->second)
                                 : DepositForSuccess(rule, it->second);
  it->second = update.tokens;
  return update;
}

void MemoryBudgetStore::Withdraw(absl::string_view policy,
                                 const RetryBudgetRule& rule, Callback done) {
  done(Update(policy, rule, /*withdraw=*/true));
}

void MemoryBudgetStore::Deposit(absl::string_view policy,
                                const RetryBudgetRule& rule, Callback done) {
  done(Update(policy, rule, /*withdraw=*/false));
}

RedisBudgetStore::RedisBudgetStore(RedisExecutor& executor)
    : executor_(executor), script_(executor.Register(kBudgetScript)) {}

void RedisBudgetStore::Update(absl::string_view policy,
                              const RetryBudgetRule& rule, bool withdraw,
                              Callback done) {
  if (rule.max_tokens <= 0) {  // budget disabled: nothing to share
    return done(withdraw ? WithdrawForRetry(rule, 0) : DepositForSuccess(rule, 0));
  }
  executor_.Eval(script_, absl::StrCat("cb:v1:{budget:", policy, "}"),
                 {withdraw ? "w" : "d", absl::StrFormat("%.17g", rule.max_tokens),
                  absl::StrFormat("%.17g", rule.token_ratio)},
                 [done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   if (!reply.ok()) return done(reply.status());
                   done(ParseReply(**reply));
                 });
}

void RedisBudgetStore::Withdraw(absl::string_view policy,
                                const RetryBudgetRule& rule, Callback done) {
  Update(policy, rule, /*withdraw=*/true, std::move(done));
}

void RedisBudgetStore::Deposit(absl::string_view policy,
                               const RetryBudgetRule& rule, Callback done) {
  Update(policy, rule, /*withdraw=*/false, std::move(done));
}

}  // namespace crossbridge
