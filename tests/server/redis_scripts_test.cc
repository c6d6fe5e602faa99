// Every Lua script against a real redis-server: parity with the C++ rule it
// mirrors (the retry budget, the health count, the probe lease; the GCRA
// script's parity is in redis_store_test.cc), and what each does with a
// value it did not write (another type, text, 1e309, 1e20): a clear error,
// the state reset to its most restrictive form, never a refill to full.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <random>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "common/retry.h"
#include "server/health/memory_outcome_store.h"
#include "server/health/redis_outcome_store.h"
#include "server/redis/keyspace.h"
#include "server/redis/redis_executor.h"
#include "server/retry/budget_store.h"
#include "server/store/redis_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::IsOkAndHolds;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::WaitFor;
using ::testing::HasSubstr;

template <typename T, typename Start>
absl::StatusOr<T> Wait(Start start) {
  auto p = std::make_shared<std::promise<absl::StatusOr<T>>>();
  start([p](absl::StatusOr<T> r) { p->set_value(std::move(r)); });
  return p->get_future().get();
}

class RedisScriptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
    RedisStorageConfig c;
    c.host = "127.0.0.1";
    c.port = redis_->port();
    c.connections = 1;
    c.timeout = absl::Seconds(2);
    executor_ = std::make_unique<RedisExecutor>(c, RealClock::Get());
    buckets_ = std::make_unique<RedisStore>(*executor_);
    budgets_ = std::make_unique<RedisBudgetStore>(*executor_);
    outcomes_ = std::make_unique<RedisOutcomeStore>(*executor_);
    executor_->Start(nullptr);
    ASSERT_TRUE(WaitFor([&] { return executor_->reachable(); }, absl::Seconds(5)));
  }

  absl::StatusOr<BudgetUpdate> Budget(bool withdraw, const RetryBudgetRule& rule,
                                      const std::string& policy = "p") {
    return Wait<BudgetUpdate>([&](auto done) {
      if (withdraw) {
        budgets_->Withdraw(policy, rule, done);
      } else {
        budgets_->Deposit(policy, rule, done);
      }
    });
  }
  absl::StatusOr<GcraResult> Acquire(const std::string& key, const GcraRule& rule,
                                     int64_t cost = 1) {
    return Wait<GcraResult>(
        [&](auto done) { buckets_->Acquire(key, rule, cost, /*up_to=*/false, done); });
  }
  std::string Redis(const std::vector<std::string>& args) {
    absl::StatusOr<std::string> r = redis_->Command(args);
    return r.ok() ? *r : std::string(r.status().message());
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisExecutor> executor_;
  std::unique_ptr<RedisStore> buckets_;
  std::unique_ptr<RedisBudgetStore> budgets_;
  std::unique_ptr<RedisOutcomeStore> outcomes_;
};

// ---- retry budget ---------------------------------------------------------------

TEST_F(RedisScriptsTest, BudgetScriptMatchesTheCppRuleExactly) {
  std::mt19937 rng(7);
  for (const RetryBudgetRule rule :
       {RetryBudgetRule{100, 0.1}, RetryBudgetRule{3, 0.7}, RetryBudgetRule{1, 1},
        RetryBudgetRule{1e6, 0.333}}) {
    const std::string policy = absl::StrCat("p", rule.max_tokens);
    double tokens = rule.max_tokens;  // a budget never seen starts full
    for (int i = 0; i < 400; ++i) {
      const bool withdraw = rng() % 3 != 0;
      const BudgetUpdate want = withdraw ? WithdrawForRetry(rule, tokens)
                                         : DepositForSuccess(rule, tokens);
      absl::StatusOr<BudgetUpdate> got = Budget(withdraw, rule, policy);
      ASSERT_THAT(got, IsOk());
      ASSERT_EQ(got->tokens, want.tokens) << i;  // exact doubles
      ASSERT_EQ(got->retry_allowed, want.retry_allowed) << i;
      tokens = want.tokens;
    }
  }
}

TEST_F(RedisScriptsTest, BudgetAboveALoweredMaxIsClampedLikeTheCppRule) {
  ASSERT_THAT(Budget(true, {100, 0.1}), IsOk());  // 99 stored
  const RetryBudgetRule lowered{10, 0.1};
  const BudgetUpdate want = WithdrawForRetry(lowered, 99);
  absl::StatusOr<BudgetUpdate> got = Budget(true, lowered);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->tokens, want.tokens);
  EXPECT_EQ(got->tokens, 10);
}

TEST_F(RedisScriptsTest, CorruptBudgetIsAnErrorAndResetToEmpty) {
  const std::string key = RetryBudgetKey("p");
  for (const std::vector<std::string>& corrupt :
       std::vector<std::vector<std::string>>{{"SET", key, "garbage"},
                                             {"SET", key, "1e309"},
                                             {"SET", key, "-5"},
                                             {"SET", key, "nan"}}) {
    ASSERT_THAT(redis_->Command({"DEL", key}), IsOk());
    ASSERT_THAT(redis_->Command(corrupt), IsOk());
    EXPECT_THAT(Budget(true, {100, 0.1}),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("CROSSBRIDGE corrupt retry budget")))
        << corrupt[2];
    EXPECT_EQ(Redis({"GET", key}), "0") << corrupt[2];
    // Empty, not full: no retry until successes refill it.
    absl::StatusOr<BudgetUpdate> next = Budget(true, {100, 0.1});
    ASSERT_THAT(next, IsOk());
    EXPECT_FALSE(next->retry_allowed);
    EXPECT_EQ(next->tokens, 0);
  }
  ASSERT_THAT(redis_->Command({"DEL", key}), IsOk());
  ASSERT_THAT(redis_->Command({"LPUSH", key, "x"}), IsOk());
  EXPECT_THAT(Budget(false, {100, 0.1}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("WRONGTYPE")));
  EXPECT_EQ(Redis({"TYPE", key}), "string");
}

// ---- health count and probe lease ------------------------------------------------

TEST_F(RedisScriptsTest, HealthCountMatchesTheMemoryStore) {
  FakeClock clock;
  MemoryOutcomeStore memory(clock);
  std::mt19937 rng(11);
  for (int i = 0; i < 300; ++i) {
    const bool success = rng() % 4 == 0;
    absl::StatusOr<int64_t> want = Wait<int64_t>(
        [&](auto done) { memory.RecordOutcome("db", success, done); });
    absl::StatusOr<int64_t> got = Wait<int64_t>(
        [&](auto done) { outcomes_->RecordOutcome("db", success, done); });
    ASSERT_THAT(got, IsOk());
    ASSERT_EQ(*got, *want) << i;
  }
  const std::string ttl = Redis({"TTL", HealthCountKey("db")});
  int64_t seconds = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ttl, &seconds)) << ttl;
  EXPECT_GT(seconds, 86000);
}

TEST_F(RedisScriptsTest, CorruptHealthCountFailsThenASuccessRepairsIt) {
  const std::string key = HealthCountKey("db");
  ASSERT_THAT(redis_->Command({"SET", key, "garbage"}), IsOk());
  auto record = [&](bool success) {
    return Wait<int64_t>(
        [&](auto done) { outcomes_->RecordOutcome("db", success, done); });
  };
  EXPECT_THAT(record(false), StatusIs(absl::StatusCode::kUnavailable,
                                      HasSubstr("not an integer")));
  EXPECT_THAT(record(true), IsOkAndHolds(0));
  EXPECT_THAT(record(false), IsOkAndHolds(1));
  ASSERT_THAT(redis_->Command({"DEL", key}), IsOk());
  ASSERT_THAT(redis_->Command({"LPUSH", key, "x"}), IsOk());
  EXPECT_THAT(record(false), StatusIs(absl::StatusCode::kUnavailable,
                                      HasSubstr("WRONGTYPE")));
}

TEST_F(RedisScriptsTest, ProbeLeaseMatchesTheMemoryStore) {
  FakeClock clock;
  MemoryOutcomeStore memory(clock);
  const absl::Duration interval = absl::Milliseconds(200);
  auto claim_redis = [&] {
    return Wait<bool>([&](auto done) { outcomes_->ClaimProbe("db", interval, done); });
  };
  auto claim_memory = [&] {
    return Wait<bool>([&](auto done) { memory.ClaimProbe("db", interval, done); });
  };
  // First claim granted, a second within the interval refused, by both.
  EXPECT_THAT(claim_redis(), IsOkAndHolds(true));
  EXPECT_THAT(claim_memory(), IsOkAndHolds(true));
  EXPECT_THAT(claim_redis(), IsOkAndHolds(false));
  EXPECT_THAT(claim_memory(), IsOkAndHolds(false));
  // The Redis lease lasts 90% of the interval (180 ms): granted again once it
  // expires, as the memory store grants it once the interval has passed.
  const std::string pttl = Redis({"PTTL", ProbeLeaseKey("db")});
  int64_t ms = 0;
  ASSERT_TRUE(absl::SimpleAtoi(pttl, &ms)) << pttl;
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 180);
  clock.Advance(interval);
  EXPECT_THAT(claim_memory(), IsOkAndHolds(true));
  EXPECT_TRUE(WaitFor([&] { return *claim_redis() == true; }, absl::Seconds(2)));
}

// ---- GCRA bucket -------------------------------------------------------------------

TEST_F(RedisScriptsTest, CorruptBucketIsAnErrorAndResetToEmptyNeverFull) {
  const GcraRule rule = *GcraRule::Create(10, absl::Seconds(10));
  const std::string key = BucketKey("embed", "victim");
  for (const std::vector<std::string>& corrupt :
       std::vector<std::vector<std::string>>{
           {"SET", key, "garbage"},
           {"SET", key, "1e309"},
           {"SET", key, "1e20"},
           {"SET", key, "99999999999999999999"},
           {"SET", key, "-1"},
           {"SET", key, "4102444800000000"},  // year 2100: beyond now + burst + 1 day
           {"LPUSH", key, "x"},
           {"HSET", key, "f", "v"}}) {
    const std::string what = absl::StrCat(corrupt[0], " ", corrupt.back());
    ASSERT_THAT(redis_->Command({"DEL", key}), IsOk());
    ASSERT_THAT(redis_->Command(corrupt), IsOk());
    EXPECT_THAT(Acquire(key, rule),
                StatusIs(absl::StatusCode::kUnavailable,
                         HasSubstr("CROSSBRIDGE corrupt bucket")))
        << what;
    // Reset to an empty bucket that expires when full again (<= one window).
    EXPECT_EQ(Redis({"TYPE", key}), "string") << what;
    int64_t pttl = 0;
    ASSERT_TRUE(absl::SimpleAtoi(Redis({"PTTL", key}), &pttl)) << what;
    EXPECT_GT(pttl, 9000) << what;
    EXPECT_LE(pttl, 10000) << what;
    absl::StatusOr<GcraResult> next = Acquire(key, rule);
    ASSERT_THAT(next, IsOk()) << what;
    EXPECT_FALSE(next->allowed) << what;
    EXPECT_EQ(next->remaining, 0) << what;
    EXPECT_LE(next->retry_after_ms, 1000) << what;
  }
}

TEST_F(RedisScriptsTest, AClockStepBackIsAnEmptyBucketNotAnError) {
  // A TAT a little beyond now + burst (Redis's clock went back by less than
  // a day) is clamped like GcraAcquire does: empty, refilling at once.
  const GcraRule rule = *GcraRule::Create(10, absl::Seconds(10));
  const std::string key = BucketKey("embed", "stepped");
  const std::vector<std::string> time = {"TIME"};
  const std::string now_text = Redis(time);
  const size_t space = now_text.find(' ');
  int64_t s = 0, us = 0;
  ASSERT_TRUE(absl::SimpleAtoi(now_text.substr(0, space), &s));
  ASSERT_TRUE(absl::SimpleAtoi(now_text.substr(space + 1), &us));
  const int64_t ahead = s * 1'000'000 + us + 3600LL * 1'000'000;  // 1 h ahead
  ASSERT_THAT(redis_->Command({"SET", key, absl::StrCat(ahead)}), IsOk());
  absl::StatusOr<GcraResult> r = Acquire(key, rule);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->allowed);
  EXPECT_EQ(r->remaining, 0);
  EXPECT_LE(r->retry_after_ms, 1000);
  EXPECT_LE(r->reset_after_ms, 10000);
}

}  // namespace
}  // namespace crossbridge
