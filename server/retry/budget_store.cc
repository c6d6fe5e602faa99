#include "server/retry/budget_store.h"

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/mutex.h"
#include "server/redis/keyspace.h"

namespace crossbridge {
namespace {

// WithdrawForRetry / DepositForSuccess of common/retry.cc, in Redis (kept
// in step with them; tests/server/redis_scripts_test.cc checks both give the
// same answers). KEYS[1] budget key; ARGV: "w" | "d", max_tokens,
// token_ratio. Returns {retry_allowed (0|1), tokens as a string (exact
// double)}. A value the script did not write is corrupt: the budget is
// reset to empty (no retries until successes refill it; never to full) and
// the call fails, so the caller uses this replica's own budget.
constexpr char kBudgetScript[] = R"lua(
local max_tokens = tonumber(ARGV[2])
local ratio = tonumber(ARGV[3])
local stored = redis.pcall('GET', KEYS[1])
local tokens = max_tokens
local why = nil
if type(stored) == 'table' then
  why = stored.err or 'unreadable value'
elseif stored then
  tokens = tonumber(stored)
  if tokens == nil or tokens ~= tokens or tokens < 0 or tokens == math.huge then
    why = 'value is not a token count'
  end
end
if why then
  redis.call('SET', KEYS[1], '0', 'EX', 86400)
  return redis.error_reply('CROSSBRIDGE corrupt retry budget (' .. why ..
                           '); reset to empty')
end
if ARGV[1] == 'w' then tokens = tokens - 1 else tokens = tokens + ratio end
tokens = math.min(max_tokens, math.max(0, tokens))
redis.call('SET', KEYS[1], string.format('%.17g', tokens), 'EX', 86400)
local allowed = 0
if tokens > max_tokens / 2 then allowed = 1 end
return {allowed, string.format('%.17g', tokens)}
)lua";

}  // namespace

absl::StatusOr<BudgetUpdate> ParseBudgetReply(const redisReply& reply,
                                              const RetryBudgetRule& rule) {
  BudgetUpdate update;
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 ||
      reply.element[0] == nullptr || reply.element[1] == nullptr ||
      reply.element[0]->type != REDIS_REPLY_INTEGER ||
      reply.element[1]->type != REDIS_REPLY_STRING ||
      (reply.element[0]->integer != 0 && reply.element[0]->integer != 1) ||
      !absl::SimpleAtod(absl::string_view(reply.element[1]->str,
                                          reply.element[1]->len),
                        &update.tokens) ||
      !(update.tokens >= 0 && update.tokens <= rule.max_tokens)) {
    return absl::DataLossError(
        "redis: malformed reply to the retry budget script (expected "
        "{0|1, a token count in [0, max_tokens]})");
  }
  update.retry_allowed = reply.element[0]->integer == 1;
  return update;
}


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

RedisBudgetStore::RedisBudgetStore(ScriptExecutor& executor)
    : executor_(executor), script_(executor.Register(kBudgetScript)) {}

void RedisBudgetStore::Update(absl::string_view policy,
                              const RetryBudgetRule& rule, bool withdraw,
                              Callback done) {
  if (rule.max_tokens <= 0) {  // budget disabled: nothing to share
    return done(withdraw ? WithdrawForRetry(rule, 0) : DepositForSuccess(rule, 0));
  }
  executor_.Eval(script_, RetryBudgetKey(policy),
                 {withdraw ? "w" : "d", absl::StrFormat("%.17g", rule.max_tokens),
                  absl::StrFormat("%.17g", rule.token_ratio)},
                 [rule, done = std::move(done)](absl::StatusOr<ReplyPtr> reply) {
                   if (!reply.ok()) return done(reply.status());
                   done(ParseBudgetReply(**reply, rule));
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
