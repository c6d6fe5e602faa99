// RedisStore and RateLimiter against a real redis-server launched by the
// test: the script's answers, keys and TTLs, NOSCRIPT, deadlines, Redis
// dying and coming back, and the store-failure policies.
#include "server/store/redis_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/rate_limiter.h"
#include "server/redis/keyspace.h"
#include "server/redis/redis_executor.h"
#include "server/store/memory_store.h"
#include "tests/testing/gcra_rule.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::MakeRule;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::WaitFor;
using ::testing::HasSubstr;

using ::crossbridge::testing::kSlowdown;

RedisStorageConfig StoreConfig(const RedisServer& redis) {
  RedisStorageConfig c;
  c.host = "127.0.0.1";
  c.port = redis.port();
  c.url = redis.url();
  c.connections = 2;
  c.timeout = absl::Milliseconds(100 * kSlowdown);
  c.connect_timeout = absl::Milliseconds(100 * kSlowdown);
  c.reconnect_max_backoff = absl::Milliseconds(500);
  return c;
}

absl::StatusOr<GcraResult> AcquireSync(BucketStore& store, absl::string_view key,
                                       const GcraRule& rule, int64_t cost = 1,
                                       bool up_to = false) {
  std::promise<absl::StatusOr<GcraResult>> p;
  store.Acquire(key, rule, cost, up_to, [&p](absl::StatusOr<GcraResult> r) {
    p.set_value(std::move(r));
  });
  return p.get_future().get();
}

absl::StatusOr<GcraResult> ReturnSync(BucketStore& store, absl::string_view key,
                                      const GcraRule& rule, int64_t count) {
  std::promise<absl::StatusOr<GcraResult>> p;
  store.Return(key, rule, count, [&p](absl::StatusOr<GcraResult> r) {
    p.set_value(std::move(r));
  });
  return p.get_future().get();
}

class RedisStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(
        {.extra_args = {"--enable-debug-command", "yes"}});
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
    executor_ = std::make_unique<RedisExecutor>(StoreConfig(*redis_), RealClock::Get());
    store_ = std::make_unique<RedisStore>(*executor_);
    executor_->Start([this](bool reachable) {
      transitions_.fetch_add(1);
      last_reachable_.store(reachable);
    });
    ASSERT_TRUE(WaitFor([&] { return executor_->reachable(); }, absl::Seconds(5)));
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisExecutor> executor_;
  std::unique_ptr<RedisStore> store_;
  std::atomic<int> transitions_{0};
  std::atomic<bool> last_reachable_{false};
};

TEST_F(RedisStoreTest, AnswersLikeTheGcraMath) {
  const GcraRule rule = MakeRule(60, absl::Seconds(60));
  absl::StatusOr<GcraResult> first = AcquireSync(*store_, BucketKey("embed", "u1"), rule);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->allowed);
  EXPECT_EQ(first->limit, 60);
  EXPECT_EQ(first->remaining, 59);
  EXPECT_EQ(first->retry_after_ms, 0);
  EXPECT_EQ(first->reset_after_ms, 1000);
  // Cost 59 empties it; the next is refused with retry_after in (0, 1000].
  ASSERT_TRUE(AcquireSync(*store_, BucketKey("embed", "u1"), rule, 59)->allowed);
  absl::StatusOr<GcraResult> refused = AcquireSync(*store_, BucketKey("embed", "u1"), rule);
  ASSERT_THAT(refused, IsOk());
  EXPECT_FALSE(refused->allowed);
  EXPECT_EQ(refused->remaining, 0);
  EXPECT_GE(refused->retry_after_ms, 1);
  EXPECT_LE(refused->retry_after_ms, 1000);
  EXPECT_GT(refused->reset_after_ms, 59000);
  EXPECT_LE(refused->reset_after_ms, 60000);
}

TEST_F(RedisStoreTest, MatchesTheInProcessModelOnALongWindow) {
  // One hour for 100 permits: a refill takes 36 s, so the few milliseconds
  // this test takes cannot change an answer and both sides must agree.
  const GcraRule rule = MakeRule(100, absl::Hours(1));
  int64_t tat = 0;
  const int64_t now = 1'800'000'000'000'000;  // any instant: the model is relative
  for (int64_t cost : {0, 1, 5, 30, 0, 64, 1, 0, 100, 1, 0}) {
    GcraResult model = GcraAcquire(rule, tat, now, cost);
    tat = model.new_tat_us;
    absl::StatusOr<GcraResult> got = AcquireSync(*store_, BucketKey("m", "k"), rule, cost);
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(got->allowed, model.allowed) << "cost " << cost;
    EXPECT_EQ(got->remaining, model.remaining) << "cost " << cost;
    EXPECT_NEAR(got->retry_after_ms, model.retry_after_ms, 1000) << "cost " << cost;
  }
}

// Up to cost, returns and a batch, on the script and on GcraAcquire /
// GcraReturn: the same answers step by step (a one-hour window, so the
// milliseconds the test takes change nothing), and a full bucket's key is
// gone after a return fills it.
TEST_F(RedisStoreTest, UpToReturnAndBatchMatchTheInProcessModel) {
  const GcraRule rule = MakeRule(100, absl::Hours(1));
  const std::string key = BucketKey("m", "lease");
  int64_t tat = 0;
  const int64_t now = 1'800'000'000'000'000;
  struct Step { char op; int64_t n; };  // 'a' take, 'u' up to, 'r' return
  for (Step step : std::vector<Step>{{'a', 60}, {'u', 50}, {'u', 5}, {'r', 30},
                                     {'u', 100}, {'r', 100}, {'a', 0}, {'r', 1}}) {
    const GcraResult model = step.op == 'r'
                                 ? GcraReturn(rule, tat, now, step.n)
                                 : GcraAcquire(rule, tat, now, step.n, step.op == 'u');
    tat = model.new_tat_us;
    absl::StatusOr<GcraResult> got =
        step.op == 'r' ? ReturnSync(*store_, key, rule, step.n)
                       : AcquireSync(*store_, key, rule, step.n, step.op == 'u');
    ASSERT_THAT(got, IsOk()) << step.op << step.n;
    EXPECT_EQ(got->allowed, model.allowed) << step.op << step.n;
    EXPECT_EQ(got->remaining, model.remaining) << step.op << step.n;
    EXPECT_EQ(got->granted, model.granted) << step.op << step.n;
  }
  // The last returns filled the bucket: no key is left behind.
  absl::StatusOr<std::string> exists = redis_->Command({"EXISTS", key});
  ASSERT_THAT(exists, IsOk());
  EXPECT_EQ(*exists, "0");

  // A batch: each take answered on its own, in one pipeline.
  std::vector<absl::StatusOr<GcraResult>> results(3, absl::InternalError("unset"));
  std::promise<void> all;
  std::atomic<int> left{3};
  const std::string k1 = BucketKey("m", "b1"), k2 = BucketKey("m", "b2");
  std::vector<BucketStore::Take> takes;
  for (int i = 0; i < 3; ++i) {
    takes.push_back({i == 1 ? k2 : k1, &rule, 40, /*up_to=*/i == 2,
                     [&, i](absl::StatusOr<GcraResult> r) {
                       results[i] = std::move(r);
                       if (left.fetch_sub(1) == 1) all.set_value();
                     }});
  }
  store_->AcquireBatch(absl::MakeSpan(takes));
  all.get_future().wait();
  ASSERT_THAT(results[0], IsOk());
  EXPECT_EQ(results[0]->remaining, 60);
  ASSERT_THAT(results[1], IsOk());
  EXPECT_EQ(results[1]->remaining, 60);  // its own bucket
  ASSERT_THAT(results[2], IsOk());
  EXPECT_EQ(results[2]->granted, 40);
  EXPECT_EQ(results[2]->remaining, 20);
}

TEST_F(RedisStoreTest, BucketKeyExpiresWhenFullAndIsSmall) {
  const GcraRule rule = MakeRule(60, absl::Seconds(60));
  ASSERT_TRUE(AcquireSync(*store_, BucketKey("embed", "user:123456"), rule, 3)->allowed);
  absl::StatusOr<std::string> pttl = redis_->Command({"PTTL", BucketKey("embed", "user:123456")});
  ASSERT_THAT(pttl, IsOk());
  int64_t ms = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*pttl, &ms));
  EXPECT_GT(ms, 2900);  // three permits take 3 s to refill
  EXPECT_LE(ms, 3000);
  absl::StatusOr<std::string> bytes =
      redis_->Command({"MEMORY", "USAGE", BucketKey("embed", "user:123456")});
  ASSERT_THAT(bytes, IsOk());
  int64_t usage = 0;
  ASSERT_TRUE(absl::SimpleAtoi(*bytes, &usage));
  EXPECT_LE(usage, 120);
  // A peek writes nothing.
  ASSERT_TRUE(AcquireSync(*store_, BucketKey("embed", "peek"), rule, 0)->allowed);
  EXPECT_EQ(*redis_->Command({"EXISTS", BucketKey("embed", "peek")}), "0");
}

TEST_F(RedisStoreTest, ExactlyCapacityUnderConcurrency) {
  const GcraRule rule = MakeRule(100, absl::Hours(1));
  std::atomic<int> allowed{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        absl::StatusOr<GcraResult> r = AcquireSync(*store_, BucketKey("c", "hot"), rule);
        if (!r.ok()) {
          ++failed;
        } else if (r->allowed) {
          ++allowed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_EQ(allowed.load(), 100);
}

TEST_F(RedisStoreTest, ScriptFlushIsRecoveredTransparently) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  ASSERT_THAT(AcquireSync(*store_, BucketKey("f", "k"), rule), IsOk());
  ASSERT_THAT(redis_->Command({"SCRIPT", "FLUSH"}), IsOk());
  for (int i = 0; i < 4; ++i) {  // both workers meet NOSCRIPT
    absl::StatusOr<GcraResult> r = AcquireSync(*store_, BucketKey("f", "k"), rule);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->remaining, 8 - i);
  }
}

TEST_F(RedisStoreTest, SlowRedisAnswersDeadlineExceededAtTheDeadline) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  std::thread sleeper([&] { (void)redis_->Command({"DEBUG", "SLEEP", "1"}); });
  // Until Redis is asleep calls succeed; poll until one meets the sleep.
  absl::StatusOr<GcraResult> r;
  absl::Duration took;
  const absl::Time give_up = absl::Now() + absl::Milliseconds(800);
  do {
    absl::Time start = absl::Now();
    r = AcquireSync(*store_, BucketKey("s", "k"), rule);
    took = absl::Now() - start;
  } while (r.ok() && absl::Now() < give_up);
  sleeper.join();
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_LT(took, absl::Milliseconds(100 * kSlowdown + 50 * kSlowdown));
  // The connection was dropped and is re-established; calls work again.
  EXPECT_TRUE(WaitFor(
      [&] { return AcquireSync(*store_, BucketKey("s", "k"), rule).ok(); },
      absl::Seconds(3)));
}

TEST_F(RedisStoreTest, RedisDownFailsFastThenRecoversAfterRestart) {
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  ASSERT_THAT(AcquireSync(*store_, BucketKey("d", "k"), rule), IsOk());
  ASSERT_THAT(redis_->Stop(), IsOk());
  for (int i = 0; i < 20; ++i) {
    absl::Time start = absl::Now();
    absl::StatusOr<GcraResult> r = AcquireSync(*store_, BucketKey("d", "k"), rule);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable));
    EXPECT_LT(absl::Now() - start, absl::Milliseconds(150 * kSlowdown));
  }
  EXPECT_FALSE(executor_->reachable());
  // The listener hears of it after the calls have been answered.
  EXPECT_TRUE(WaitFor([&] { return !last_reachable_.load(); }, absl::Seconds(2)));

  ASSERT_THAT(redis_->Restart(), IsOk());  // empty, no scripts
  absl::Time restarted = absl::Now();
  ASSERT_TRUE(WaitFor(
      [&] { return AcquireSync(*store_, BucketKey("d", "k"), rule).ok(); },
      absl::Seconds(2)));
  EXPECT_LT(absl::Now() - restarted, absl::Seconds(2));
  EXPECT_TRUE(WaitFor([&] { return executor_->reachable(); }, absl::Seconds(2)));
  EXPECT_TRUE(last_reachable_.load());
}

TEST(RedisStoreStartTest, UnreachableAtStartIsReportedAndRecovered) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_THAT(redis, IsOk());
  ASSERT_THAT((*redis)->Stop(), IsOk());
  std::atomic<int> down_reports{0};
  RedisExecutor executor(StoreConfig(**redis), RealClock::Get());
  RedisStore store(executor);
  executor.Start([&](bool reachable) {
    if (!reachable) ++down_reports;
  });
  const GcraRule rule = *GcraRule::Create(5, absl::Seconds(5));
  EXPECT_THAT(AcquireSync(store, BucketKey("x", "k"), rule),
              StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(WaitFor([&] { return down_reports.load() >= 1; }, absl::Seconds(2)));
  ASSERT_THAT((*redis)->Restart(), IsOk());
  EXPECT_TRUE(WaitFor([&] { return executor.reachable(); }, absl::Seconds(3)));
  // Logged and reported once per transition, however many workers failed.
  EXPECT_EQ(down_reports.load(), 1);
}

// The RateLimiter on Redis: hostile keys and store-failure policies.
class RedisRateLimiterTest : public RedisStoreTest {
 protected:
  std::unique_ptr<RateLimiter> Make(StoreFailurePolicy policy) {
    RateLimitingConfig config;
    config.operations["embed"] = {60, absl::Seconds(60), policy};
    config.operations["search"] = {30, absl::Seconds(60), policy};
    auto limiter = RateLimiter::Create(config, *store_, &fallback_);
    EXPECT_THAT(limiter, IsOk());
    return std::move(*limiter);
  }

  static absl::StatusOr<GcraResult> Acquire(RateLimiter& limiter,
                                            absl::string_view op,
                                            absl::string_view key) {
    std::promise<absl::StatusOr<GcraResult>> p;
    limiter.Acquire("", op, key, std::nullopt, [&p](absl::StatusOr<GcraResult> r) {
      p.set_value(std::move(r));
    });
    return p.get_future().get();
  }

  MemoryStore fallback_{RealClock::Get(), MemoryStorageConfig{}, 1000};
};

TEST_F(RedisRateLimiterTest, HostileKeysEachGetOneSafeKeyOfTheirOwn) {
  auto limiter = Make(StoreFailurePolicy::kDeny);
  const std::vector<std::string> keys = {
      "a b", "*", "{}", "}{", "\"quoted\"", "'single'",
      "'); redis.call('FLUSHALL", "x\\y", std::string(256, '~'), "user:1",
      "KEYS *", "$(rm -rf /)"};
  ASSERT_THAT(redis_->Command({"SET", "sentinel", "1"}), IsOk());
  for (const std::string& key : keys) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", key);
    ASSERT_THAT(r, IsOk()) << key;
    EXPECT_EQ(r->remaining, 59) << key;
    EXPECT_EQ(*redis_->Command({"EXISTS", BucketKey("embed", key)}),
              "1")
        << key;
  }
  EXPECT_EQ(*redis_->Command({"DBSIZE"}), absl::StrCat(keys.size() + 1));
  EXPECT_EQ(*redis_->Command({"GET", "sentinel"}), "1");  // nothing flushed
}

TEST_F(RedisRateLimiterTest, NoKeyAddressesAnotherOperationsBucket) {
  auto limiter = Make(StoreFailurePolicy::kDeny);
  // Drain search/k, then try to reach it from embed with look-alike keys.
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Acquire(*limiter, "search", "k")->allowed);
  for (absl::string_view key : {"search:k", "}search:k", "{search:k}", ":search:k"}) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", key);
    ASSERT_THAT(r, IsOk()) << key;
    EXPECT_EQ(r->limit, 60) << key;
    EXPECT_EQ(r->remaining, 59) << key;  // a fresh embed bucket of its own
  }
  EXPECT_FALSE(Acquire(*limiter, "search", "k")->allowed);  // untouched
}

TEST_F(RedisRateLimiterTest, PolicyDenyFailsClosedWithUnavailable) {
  auto limiter = Make(StoreFailurePolicy::kDeny);
  ASSERT_THAT(redis_->Stop(), IsOk());
  EXPECT_THAT(Acquire(*limiter, "embed", "k"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("on_store_failure: deny")));
}

TEST_F(RedisRateLimiterTest, PolicyAllowFailsOpen) {
  auto limiter = Make(StoreFailurePolicy::kAllow);
  ASSERT_THAT(redis_->Stop(), IsOk());
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", "k");
    ASSERT_THAT(r, IsOk());
    EXPECT_TRUE(r->allowed);
  }
}

TEST_F(RedisRateLimiterTest, PolicyLocalEnforcesTheSameRuleInProcess) {
  auto limiter = Make(StoreFailurePolicy::kLocal);
  ASSERT_THAT(redis_->Stop(), IsOk());
  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", "k");
    ASSERT_THAT(r, IsOk());
    allowed += r->allowed;
  }
  EXPECT_GE(allowed, 60);  // a fresh local bucket of 60, refilling 1/s
  EXPECT_LE(allowed, 61);
}

}  // namespace
}  // namespace crossbridge
