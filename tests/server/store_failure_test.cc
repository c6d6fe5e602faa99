// Every store error path, fast and exact, on a FakeScriptExecutor that
// fails on command (error reply, timeout, lost connection, corrupt reply):
// the reply parsers of the Redis stores, the RateLimiter's on_store_failure
// policies, the RetryAdvisor's fallback budget and the HealthRegistry's
// local count. tests/server/redis_store_test.cc and the e2e fault tests
// cover the same paths against a real Redis.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/health/health_registry.h"
#include "server/health/probers.h"
#include "server/health/redis_outcome_store.h"
#include "server/rate_limiter.h"
#include "server/redis/keyspace.h"
#include "server/retry/budget_store.h"
#include "server/retry/retry_advisor.h"
#include "server/store/memory_store.h"
#include "server/store/redis_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_script_executor.h"
#include "tests/testing/gcra_rule.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::FakeScriptExecutor;
using ::crossbridge::testing::MakeRule;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::IsOkAndHolds;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

// The fake completes inline, so every result is ready on return.
template <typename T, typename Start>
absl::StatusOr<T> Sync(Start start) {
  std::optional<absl::StatusOr<T>> out;
  start([&](absl::StatusOr<T> r) { out = std::move(r); });
  EXPECT_TRUE(out.has_value());
  return out.has_value() ? *std::move(out) : absl::InternalError("no callback");
}

// ---- RedisStore's reply parsing ------------------------------------------------

class RedisStoreReplyTest : public ::testing::Test {
 protected:
  absl::StatusOr<GcraResult> Acquire(int64_t cost = 1) {
    return Sync<GcraResult>([&](auto done) {
      store_.Acquire(BucketKey("embed", "k"), rule_, cost, /*up_to=*/false, done);
    });
  }

  FakeScriptExecutor redis_;
  RedisStore store_{redis_};
  const GcraRule rule_ = MakeRule(60, absl::Seconds(60));
};

TEST_F(RedisStoreReplyTest, WellFormedReplyIsTheResult) {
  redis_.AnswerNext("*5\r\n:1\r\n:59\r\n:0\r\n:1000\r\n:1\r\n");
  absl::StatusOr<GcraResult> r = Acquire(1);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->allowed);
  EXPECT_EQ(r->granted, 1);
  EXPECT_EQ(r->limit, 60);
  EXPECT_EQ(r->remaining, 59);
  EXPECT_EQ(r->reset_after_ms, 1000);
  ASSERT_EQ(redis_.calls().size(), 1u);
  EXPECT_EQ(redis_.calls()[0].key, "cb:v2:bucket:{embed:k}");
  EXPECT_THAT(redis_.calls()[0].args,
              ::testing::ElementsAre("1000000", "60", "1", "0"));
}

TEST_F(RedisStoreReplyTest, StoreErrorsPassThroughWithTheirCode) {
  redis_.AnswerNext("-CROSSBRIDGE corrupt bucket (value is not an integer TAT); "
                    "reset to an empty bucket\r\n");
  EXPECT_THAT(Acquire(), StatusIs(absl::StatusCode::kUnavailable,
                                  HasSubstr("redis: CROSSBRIDGE corrupt bucket")));
  redis_.AnswerNext("-OOM command not allowed when used memory > 'maxmemory'.\r\n");
  EXPECT_THAT(Acquire(), StatusIs(absl::StatusCode::kUnavailable, HasSubstr("OOM")));
  redis_.AnswerNext(absl::DeadlineExceededError("redis: no reply within the timeout"));
  EXPECT_THAT(Acquire(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  redis_.AnswerNext(absl::UnavailableError("redis: connection closed by the server"));
  EXPECT_THAT(Acquire(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(RedisStoreReplyTest, MalformedRepliesAreDataLossNeverAResult) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {":1\r\n", "expected an array of 5 integers"},
      {"*4\r\n:1\r\n:1\r\n:1\r\n:1\r\n", "expected an array of 5 integers"},
      {"*5\r\n:1\r\n$2\r\n59\r\n:0\r\n:0\r\n:1\r\n", "element 2 is not an integer"},
      {"*5\r\n:2\r\n:59\r\n:0\r\n:0\r\n:1\r\n", "allowed is not 0 or 1"},
      {"*5\r\n:1\r\n:61\r\n:0\r\n:0\r\n:1\r\n", "remaining 61 is outside [0, 60]"},
      {"*5\r\n:1\r\n:-1\r\n:0\r\n:0\r\n:1\r\n", "remaining -1"},
      // The 2^63 ms retry_after of a corrupt TAT, and a never-ending reset.
      {"*5\r\n:0\r\n:0\r\n:9223372036854775807\r\n:0\r\n:0\r\n", "a wait is outside"},
      {"*5\r\n:0\r\n:0\r\n:1\r\n:60001\r\n:0\r\n", "a wait is outside [0, 60000] ms"},
      {"*5\r\n:1\r\n:59\r\n*0\r\n:0\r\n:1\r\n", "element 3 is not an integer"},
      // Permits granted beyond the capacity, or with a refusal.
      {"*5\r\n:1\r\n:0\r\n:0\r\n:0\r\n:61\r\n", "granted 61 is outside [0, 60]"},
      {"*5\r\n:0\r\n:0\r\n:1\r\n:0\r\n:1\r\n", "granted 1 is outside [0, 0]"},
      {"*5\r\n:1\r\n:0\r\n:0\r\n:0\r\n:-1\r\n", "granted -1"},
      {"$-1\r\n", "expected an array"},
      {"+OK\r\n", "expected an array"},
  };
  for (const auto& [resp, what] : cases) {
    redis_.AnswerNext(resp);
    EXPECT_THAT(Acquire(), StatusIs(absl::StatusCode::kDataLoss, HasSubstr(what)))
        << resp;
  }
}

// ---- RateLimiter: on_store_failure, per failure kind ---------------------------

class PolicyTest : public ::testing::TestWithParam<absl::StatusOr<std::string>> {
 protected:
  std::unique_ptr<RateLimiter> Make(StoreFailurePolicy policy) {
    RateLimitingConfig config;
    config.operations["embed"] = {60, absl::Seconds(60), policy};
    absl::StatusOr<std::unique_ptr<RateLimiter>> limiter =
        RateLimiter::Create(config, store_, &fallback_);
    EXPECT_THAT(limiter, IsOk());
    return std::move(*limiter);
  }
  absl::StatusOr<GcraResult> Acquire(RateLimiter& limiter, const std::string& key) {
    return Sync<GcraResult>(
        [&](auto done) { limiter.Acquire("", "embed", key, std::nullopt, done); });
  }

  FakeClock clock_;
  FakeScriptExecutor redis_;
  RedisStore store_{redis_};
  MemoryStore fallback_{clock_, MemoryStorageConfig{}, 1000};
};

TEST_P(PolicyTest, AllowGrantsAFullBucketWithoutTouchingTheFallback) {
  redis_.AnswerAlways([this](const auto&) { return GetParam(); });
  auto limiter = Make(StoreFailurePolicy::kAllow);
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "k");
    ASSERT_THAT(r, IsOk());
    EXPECT_TRUE(r->allowed);
    EXPECT_EQ(r->remaining, 60);
  }
  EXPECT_EQ(fallback_.size(), 0);
}

TEST_P(PolicyTest, DenyFailsClosedNamingTheOperationAndTheError) {
  redis_.AnswerAlways([this](const auto&) { return GetParam(); });
  auto limiter = Make(StoreFailurePolicy::kDeny);
  absl::StatusOr<GcraResult> r = Acquire(*limiter, "k");
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("operation \"embed\" fails closed "
                                    "(on_store_failure: deny)")));
  EXPECT_THAT(r.status().message(), HasSubstr("store unavailable ("));
  EXPECT_EQ(fallback_.size(), 0);
}

TEST_P(PolicyTest, LocalTakesExactlyTheRuleFromTheInProcessBucket) {
  redis_.AnswerAlways([this](const auto&) { return GetParam(); });
  auto limiter = Make(StoreFailurePolicy::kLocal);
  for (int i = 0; i < 60; ++i) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "k");
    ASSERT_THAT(r, IsOk());
    ASSERT_TRUE(r->allowed) << i;
    EXPECT_EQ(r->remaining, 59 - i);
  }
  absl::StatusOr<GcraResult> r = Acquire(*limiter, "k");
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->allowed);
  EXPECT_EQ(r->retry_after_ms, 1000);
  EXPECT_EQ(fallback_.size(), 1);
  // The Redis store was asked each time (it decides again once it answers).
  EXPECT_EQ(redis_.calls().size(), 61u);
}

std::string FailureName(const ::testing::TestParamInfo<absl::StatusOr<std::string>>& info) {
  static const char* const kNames[] = {"WrongType", "Oom", "Timeout",
                                       "ConnectionLost", "MalformedReply"};
  return kNames[info.index];
}

INSTANTIATE_TEST_SUITE_P(
    EveryFailure, PolicyTest,
    ::testing::Values(
        absl::StatusOr<std::string>("-WRONGTYPE Operation against a key holding "
                                    "the wrong kind of value\r\n"),
        absl::StatusOr<std::string>("-OOM command not allowed\r\n"),
        absl::StatusOr<std::string>(absl::DeadlineExceededError("timeout")),
        absl::StatusOr<std::string>(absl::UnavailableError("connection lost")),
        absl::StatusOr<std::string>("*5\r\n:0\r\n:0\r\n:9223372036854775807\r\n:0\r\n:0\r\n")),
    FailureName);

TEST(MemoryBackendPolicyTest, TheMemoryBoundIsAStoreFailureTheRuleDecides) {
  FakeClock clock;
  MemoryStorageConfig memory;
  memory.shards = 1;
  memory.max_buckets = 1;
  for (StoreFailurePolicy policy :
       {StoreFailurePolicy::kAllow, StoreFailurePolicy::kDeny, StoreFailurePolicy::kLocal}) {
    MemoryStore store(clock, memory, 1000);
    RateLimitingConfig config;
    config.operations["embed"] = {60, absl::Hours(1), policy};
    auto limiter = RateLimiter::Create(config, store);
    ASSERT_THAT(limiter, IsOk());
    auto acquire = [&](const std::string& key) {
      return Sync<GcraResult>(
          [&](auto done) { (*limiter)->Acquire("", "embed", key, std::nullopt, done); });
    };
    ASSERT_THAT(acquire("first"), IsOk());
    absl::StatusOr<GcraResult> second = acquire("second");
    if (policy == StoreFailurePolicy::kAllow) {
      ASSERT_THAT(second, IsOk());
      EXPECT_TRUE(second->allowed);
    } else {
      EXPECT_THAT(second, StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("memory store full")));
    }
  }
}

// ---- Retry budgets -----------------------------------------------------------

TEST(RedisBudgetStoreTest, RepliesAreParsedAndCheckedAgainstTheRule) {
  FakeScriptExecutor redis;
  RedisBudgetStore store(redis);
  const RetryBudgetRule rule{10, 0.5};
  auto withdraw = [&] {
    return Sync<BudgetUpdate>([&](auto done) { store.Withdraw("quick", rule, done); });
  };
  redis.AnswerNext("*2\r\n:1\r\n$1\r\n9\r\n");
  absl::StatusOr<BudgetUpdate> u = withdraw();
  ASSERT_THAT(u, IsOk());
  EXPECT_TRUE(u->retry_allowed);
  EXPECT_EQ(u->tokens, 9);
  EXPECT_EQ(redis.calls().back().key, "cb:v2:budget:{quick}");
  EXPECT_THAT(redis.calls().back().args, ::testing::ElementsAre("w", "10", "0.5"));

  for (const char* bad : {"*2\r\n:1\r\n$3\r\n1e9\r\n", "*2\r\n:1\r\n$3\r\nnan\r\n",
                          "*2\r\n:1\r\n$2\r\n-1\r\n", "*2\r\n:3\r\n$1\r\n1\r\n",
                          "*2\r\n:1\r\n:9\r\n", ":9\r\n"}) {
    redis.AnswerNext(bad);
    EXPECT_THAT(withdraw(), StatusIs(absl::StatusCode::kDataLoss)) << bad;
  }
  redis.AnswerNext("-CROSSBRIDGE corrupt retry budget (value is not a token "
                   "count); reset to empty\r\n");
  EXPECT_THAT(withdraw(), StatusIs(absl::StatusCode::kUnavailable,
                                   HasSubstr("corrupt retry budget")));
}

TEST(RetryAdvisorFallbackTest, AFailingSharedBudgetFallsBackToTheLocalOneExactly) {
  FakeScriptExecutor redis;
  redis.AnswerAlways([](const auto&) { return absl::UnavailableError("down"); });
  RedisBudgetStore shared(redis);
  MemoryBudgetStore local;
  RetryConfig config;
  RetryPolicyConfig policy;
  policy.max_attempts = 5;
  policy.base_delay = absl::Milliseconds(10);
  policy.max_delay = absl::Milliseconds(10);
  policy.jitter = JitterMode::kNone;
  policy.retryable_codes = {503};
  policy.budget = {4, 2};
  config.policies["p"] = policy;
  RetryAdvisor advisor(config, shared, local, nullptr, /*seed=*/1);
  RetryRequest request;
  request.attempt = 1;
  request.failure.http_status = 503;
  auto decide = [&] {
    return Sync<RetryDecision>([&](auto done) { advisor.Decide("p", request, "", done); });
  };
  // The local budget starts full (4): 3 > 2 retries, 2 <= 2 does not.
  absl::StatusOr<RetryDecision> d = decide();
  ASSERT_THAT(d, IsOk());
  EXPECT_TRUE(d->retry);
  EXPECT_EQ(d->delay, absl::Milliseconds(10));
  d = decide();
  ASSERT_THAT(d, IsOk());
  EXPECT_FALSE(d->retry);
  EXPECT_EQ(d->reason, RetryReason::kBudgetExhausted);
  // A success refills the local budget by 2 (the shared one is still down):
  // 4, and the next retry leaves 3 > 2.
  advisor.RecordSuccess("p");
  d = decide();
  ASSERT_THAT(d, IsOk());
  EXPECT_TRUE(d->retry);
  EXPECT_EQ(redis.calls().size(), 4u);
}

// ---- Health counts -------------------------------------------------------------

class NoProbers final : public Probers, public Prober {
 public:
  const Prober& For(CheckType) const override { return *this; }
  absl::Status Probe(const HealthProviderConfig&, absl::Duration) const override {
    return absl::OkStatus();
  }
};

TEST(RedisOutcomeStoreTest, CorruptCountsAreCountedLocallyThenTheStoreIsBack) {
  FakeClock clock;
  FakeScriptExecutor redis;
  RedisOutcomeStore store(redis);
  NoProbers probers;
  HealthChecksConfig config;
  HealthProviderConfig provider;
  provider.target = "127.0.0.1:1";
  provider.failure_threshold = 3;
  config.providers["database"] = provider;
  HealthRegistry registry(config, clock, probers, store);  // not started
  auto report = [&](bool success) {
    return Sync<DependencySnapshot>([&](auto done) {
      registry.Report("database", success, absl::Milliseconds(1), "503", done);
    });
  };
  redis.AnswerNext(":1\r\n");
  absl::StatusOr<DependencySnapshot> s = report(false);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->consecutive_failures, 1);
  EXPECT_EQ(redis.calls().back().key, "cb:v2:health:{database}");
  // A count of another type, a negative or a non-integer reply: local count.
  for (const char* bad : {"-WRONGTYPE Operation against a key\r\n", ":-5\r\n",
                          "$3\r\nabc\r\n"}) {
    redis.AnswerNext(bad);
    s = report(false);
    ASSERT_THAT(s, IsOk()) << bad;
  }
  EXPECT_EQ(s->consecutive_failures, 4);
  EXPECT_EQ(s->state, DependencyState::kNotServing);
  // The store answers again: its count wins.
  redis.AnswerNext(":0\r\n");
  s = report(true);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->consecutive_failures, 0);
  EXPECT_EQ(s->state, DependencyState::kServing);
}

TEST(RedisOutcomeStoreTest, ProbeClaimRepliesAreChecked) {
  FakeScriptExecutor redis;
  RedisOutcomeStore store(redis);
  auto claim = [&] {
    return Sync<bool>([&](auto done) {
      store.ClaimProbe("database", absl::Seconds(10), done);
    });
  };
  redis.AnswerNext(":1\r\n");
  EXPECT_THAT(claim(), IsOkAndHolds(true));
  EXPECT_EQ(redis.calls().back().key, "cb:v2:probe:{database}");
  EXPECT_THAT(redis.calls().back().args, ::testing::ElementsAre("9000"));
  redis.AnswerNext(":0\r\n");
  EXPECT_THAT(claim(), IsOkAndHolds(false));
  redis.AnswerNext(":2\r\n");
  EXPECT_THAT(claim(), StatusIs(absl::StatusCode::kDataLoss));
}

}  // namespace
}  // namespace crossbridge
