// RedisEnvoyStore: the multi-key call it makes (KEYS = every bucket of the
// request, ARGV = four per take), every reply it must refuse, and the Lua
// script on a real redis-server against the memory store's arithmetic
// (all or nothing, a bucket named twice, corrupt values, TTLs).
#include "server/envoy/redis_envoy_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "server/envoy/memory_envoy_store.h"
#include "server/redis/keyspace.h"
#include "server/redis/redis_executor.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_script_executor.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeScriptExecutor;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Take = EnvoyBucketStore::Take;

GcraRule Rule(int64_t capacity, absl::Duration window) {
  absl::StatusOr<GcraRule> r = GcraRule::Create(capacity, window);
  EXPECT_THAT(r, IsOk());
  return *r;
}

absl::StatusOr<EnvoyBucketStore::Outcome> AcquireSync(EnvoyBucketStore& store,
                                                      std::vector<Take> takes) {
  std::promise<absl::StatusOr<EnvoyBucketStore::Outcome>> p;
  store.AcquireAll(std::move(takes),
                   [&p](absl::StatusOr<EnvoyBucketStore::Outcome> o) { p.set_value(std::move(o)); });
  return p.get_future().get();
}

TEST(RedisEnvoyStoreFakeTest, OneCallWithEveryKeyAndFourArgsPerTake) {
  FakeScriptExecutor redis;
  RedisEnvoyStore store(redis);
  redis.AnswerNext("*9\r\n:1\r\n:1\r\n:4\r\n:0\r\n:12000\r\n:0\r\n:0\r\n:30000\r\n:0\r\n");
  const GcraRule r5 = Rule(5, absl::Minutes(1));
  const GcraRule r2 = Rule(2, absl::Minutes(1));
  absl::StatusOr<EnvoyBucketStore::Outcome> o =
      AcquireSync(store, {{"cb:v2:envoy:{d}:a", r5, 1, true}, {"cb:v2:envoy:{d}:b", r2, 1, false}});
  ASSERT_THAT(o, IsOk());
  EXPECT_TRUE(o->committed);
  ASSERT_EQ(o->results.size(), 2u);
  EXPECT_TRUE(o->results[0].allowed);
  EXPECT_EQ(o->results[0].remaining, 4);
  EXPECT_EQ(o->results[0].granted, 1);
  EXPECT_FALSE(o->results[1].allowed);
  EXPECT_EQ(o->results[1].granted, 0);
  ASSERT_EQ(redis.calls().size(), 1u);
  const FakeScriptExecutor::Call call = redis.calls()[0];
  EXPECT_EQ(call.key, "cb:v2:envoy:{d}:a");
  EXPECT_THAT(call.more_keys, ElementsAre("cb:v2:envoy:{d}:b"));
  EXPECT_THAT(call.args, ElementsAre("12000000", "5", "1", "1", "30000000", "2", "1", "0"));
}

TEST(RedisEnvoyStoreFakeTest, RefusesMalformedRepliesAndPassesErrorsOn) {
  FakeScriptExecutor redis;
  RedisEnvoyStore store(redis);
  const std::vector<Take> one = {{"k", Rule(5, absl::Minutes(1)), 1, true}};
  for (const char* bad : {":1\r\n", "*4\r\n:1\r\n:1\r\n:4\r\n:0\r\n",
                          "*5\r\n:2\r\n:1\r\n:4\r\n:0\r\n:0\r\n",
                          "*5\r\n:1\r\n:1\r\n:6\r\n:0\r\n:0\r\n",
                          "*5\r\n:1\r\n:1\r\n:4\r\n:0\r\n:999999\r\n",
                          "*5\r\n:1\r\n:1\r\n$1\r\n4\r\n:0\r\n:0\r\n"}) {
    redis.AnswerNext(bad);
    EXPECT_THAT(AcquireSync(store, one), StatusIs(absl::StatusCode::kDataLoss)) << bad;
  }
  redis.AnswerNext("-CROSSBRIDGE corrupt envoy bucket (value is not an integer TAT)\r\n");
  EXPECT_THAT(AcquireSync(store, one),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("corrupt envoy bucket")));
  redis.AnswerNext(absl::DeadlineExceededError("timeout"));
  EXPECT_THAT(AcquireSync(store, one), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

class RedisEnvoyStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
    RedisStorageConfig c;
    c.host = "127.0.0.1";
    c.port = redis_->port();
    c.url = redis_->url();
    c.timeout = absl::Seconds(2);
    executor_ = std::make_unique<RedisExecutor>(c, RealClock::Get());
    store_ = std::make_unique<RedisEnvoyStore>(*executor_);
    executor_->Start([](bool) {});
    ASSERT_TRUE(executor_->AwaitFirstAttempt(absl::Seconds(5)));
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<RedisExecutor> executor_;
  std::unique_ptr<RedisEnvoyStore> store_;
};

TEST_F(RedisEnvoyStoreTest, AllOrNothingLikeTheMemoryStore) {
  const GcraRule hour2 = Rule(2, absl::Hours(1));
  const GcraRule hour5 = Rule(5, absl::Hours(1));
  const std::string a = EnvoyBucketKey("d", {{"k", "a"}}, "L:0:2:1");
  const std::string b = EnvoyBucketKey("d", {{"k", "b"}}, "L:0:5:1");
  testing::FakeClock clock;
  MemoryEnvoyStore memory(clock, 100);
  for (int round = 0; round < 3; ++round) {
    const std::vector<Take> takes = {{b, hour5, 1, true}, {a, hour2, 1, true}};
    absl::StatusOr<EnvoyBucketStore::Outcome> redis = AcquireSync(*store_, takes);
    absl::StatusOr<EnvoyBucketStore::Outcome> local = AcquireSync(memory, takes);
    ASSERT_THAT(redis, IsOk());
    ASSERT_THAT(local, IsOk());
    EXPECT_EQ(redis->committed, round < 2) << round;
    EXPECT_EQ(redis->committed, local->committed) << round;
    for (size_t i = 0; i < takes.size(); ++i) {
      EXPECT_EQ(redis->results[i].allowed, local->results[i].allowed) << round << "/" << i;
      EXPECT_EQ(redis->results[i].remaining, local->results[i].remaining) << round << "/" << i;
    }
  }
  // b was taken twice, not three times; a bucket named twice in one call
  // sees its own earlier take; a peek changes nothing.
  absl::StatusOr<EnvoyBucketStore::Outcome> peek = AcquireSync(*store_, {{b, hour5, 0, true}});
  ASSERT_THAT(peek, IsOk());
  EXPECT_EQ(peek->results[0].remaining, 3);
  absl::StatusOr<EnvoyBucketStore::Outcome> twice =
      AcquireSync(*store_, {{b, hour5, 2, true}, {b, hour5, 2, true}});
  ASSERT_THAT(twice, IsOk());
  EXPECT_FALSE(twice->committed);  // 3 left: 2 + 2 does not fit
  EXPECT_EQ(twice->results[0].remaining, 1);
  EXPECT_FALSE(twice->results[1].allowed);
  // A non-blocking (shadow) refusal does not stop the others.
  absl::StatusOr<EnvoyBucketStore::Outcome> shadow =
      AcquireSync(*store_, {{a, hour2, 1, false}, {b, hour5, 1, true}});
  ASSERT_THAT(shadow, IsOk());
  EXPECT_TRUE(shadow->committed);
  EXPECT_FALSE(shadow->results[0].allowed);
  EXPECT_EQ(shadow->results[1].remaining, 2);
  // The TTL is the time until full: at most the window.
  absl::StatusOr<std::string> ttl = redis_->Command({"PTTL", b});
  ASSERT_THAT(ttl, IsOk());
  EXPECT_GT(std::stoll(*ttl), 0);
  EXPECT_LE(std::stoll(*ttl), 3600 * 1000);
}

TEST_F(RedisEnvoyStoreTest, ACorruptBucketFailsTheCallAndStoresNothing) {
  const GcraRule rule = Rule(5, absl::Minutes(1));
  const std::string good = EnvoyBucketKey("d", {{"k", "good"}}, "L:0:5:1");
  const std::string bad = EnvoyBucketKey("d", {{"k", "bad"}}, "L:0:5:1");
  ASSERT_THAT(redis_->Command({"SET", bad, "not-a-tat"}), IsOk());
  EXPECT_THAT(AcquireSync(*store_, {{good, rule, 1, true}, {bad, rule, 1, true}}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("corrupt envoy bucket")));
  absl::StatusOr<std::string> exists = redis_->Command({"EXISTS", good});
  ASSERT_THAT(exists, IsOk());
  EXPECT_EQ(*exists, "0");
}

}  // namespace
}  // namespace crossbridge
