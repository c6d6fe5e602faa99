// RedisClusterExecutor on a real 3-master cluster (tests/testing/
// redis_cluster.h): routing by slot, MOVED after a reshard, ASK during a
// migration, and a master's failover.
#include "server/redis/redis_cluster_executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "server/redis/cluster_slots.h"
#include "tests/testing/redis_cluster.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::kSlowdown;
using ::crossbridge::testing::RedisCluster;

// INCR of KEYS[1]: the count a key reached says how often the call ran.
constexpr char kIncr[] = "return redis.call('INCR', KEYS[1])";

class RedisClusterExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
    RedisStorageConfig config;
    config.timeout = absl::Seconds(1) * kSlowdown;
    config.connect_timeout = absl::Milliseconds(500) * kSlowdown;
    config.reconnect_max_backoff = absl::Milliseconds(200);
    executor_ = std::make_unique<RedisClusterExecutor>(
        config, std::vector<ClusterNode>{{"127.0.0.1", cluster_->node(0).port()}},
        RealClock::Get());
    incr_ = executor_->Register(kIncr);
    executor_->Start([](bool) {});
    ASSERT_TRUE(executor_->AwaitFirstAttempt(absl::Seconds(10)));
  }

  // Runs kIncr on `key`, waits for the answer.
  absl::StatusOr<int64_t> Incr(const std::string& key) {
    absl::Mutex mu;
    std::optional<absl::StatusOr<int64_t>> result;
    executor_->Eval(incr_, key, {}, [&](absl::StatusOr<ReplyPtr> reply) {
      MutexLock lock(&mu);
      if (!reply.ok()) {
        result = absl::Status(reply.status().code(), std::string(reply.status().message()));
      } else if ((*reply)->type != REDIS_REPLY_INTEGER) {
        result = absl::InternalError("not an integer");
      } else {
        result = (*reply)->integer;
      }
    });
    MutexLock lock(&mu);
    lock.AwaitWithTimeout(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return result.has_value(); },
        absl::Seconds(30));
    if (!result) return absl::InternalError("no answer");
    return *result;
  }

  // GET on the master of the key's slot, directly.
  std::string Get(const std::string& key) {
    absl::StatusOr<size_t> master = cluster_->MasterOf(KeySlot(key));
    if (!master.ok()) return "?";
    return cluster_->node(*master).Command({"GET", key}).value_or("?");
  }

  std::unique_ptr<RedisCluster> cluster_;
  std::unique_ptr<RedisClusterExecutor> executor_;
  ScriptExecutor::Script incr_;
};

TEST_F(RedisClusterExecutorTest, EachKeyRunsOnceOnItsSlotsMaster) {
  std::set<size_t> masters;
  for (int i = 0; i < 60; ++i) {
    const std::string key = absl::StrCat("cb:v2:bucket:{op:k", i, "}");
    ASSERT_THAT(Incr(key), IsOk());
    EXPECT_EQ(Get(key), "1") << key;
    masters.insert(*cluster_->MasterOf(KeySlot(key)));
  }
  EXPECT_EQ(masters.size(), 3u);  // the keys covered every master
}

TEST_F(RedisClusterExecutorTest, ABatchOverEveryMasterAnswersEachCallFromItsKey) {
  constexpr int kCalls = 30;
  absl::Mutex mu;
  std::vector<int64_t> replies(kCalls, -1);
  int answered = 0;
  std::vector<std::string> keys;
  std::vector<ScriptExecutor::BatchCall> calls;
  for (int i = 0; i < kCalls; ++i) {
    keys.push_back(absl::StrCat("cb:v2:bucket:{op:batch", i, "}"));
  }
  // Key i is incremented i % 3 + 1 times in the same batch.
  std::vector<int> index;
  for (int i = 0; i < kCalls; ++i) {
    for (int n = 0; n <= i % 3; ++n) index.push_back(i);
  }
  for (size_t c = 0; c < index.size(); ++c) {
    const int i = index[c];
    calls.push_back({incr_, keys[i], {}, [&, i](absl::StatusOr<ReplyPtr> r) {
                       MutexLock lock(&mu);
                       ++answered;
                       if (r.ok() && (*r)->type == REDIS_REPLY_INTEGER) {
                         replies[i] = std::max<int64_t>(replies[i], (*r)->integer);
                       }
                     }});
  }
  executor_->EvalBatch(absl::MakeSpan(calls));
  {
    MutexLock lock(&mu);
    ASSERT_TRUE(lock.AwaitWithTimeout(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return answered == static_cast<int>(index.size());
        },
        absl::Seconds(30)));
  }
  std::set<size_t> masters;
  for (int i = 0; i < kCalls; ++i) {
    EXPECT_EQ(replies[i], i % 3 + 1) << keys[i];
    EXPECT_EQ(Get(keys[i]), absl::StrCat(i % 3 + 1)) << keys[i];
    masters.insert(*cluster_->MasterOf(KeySlot(keys[i])));
  }
  EXPECT_EQ(masters.size(), 3u);
}

TEST_F(RedisClusterExecutorTest, AfterAReshardMovedSendsTheCallToTheNewMaster) {
  const std::string key = "cb:v2:bucket:{op:moving}";
  ASSERT_EQ(*Incr(key), 1);
  const int slot = KeySlot(key);
  const size_t from = *cluster_->MasterOf(slot);
  const size_t to = *cluster_->MasterOf((slot + kClusterSlots / 2) % kClusterSlots) != from
                        ? *cluster_->MasterOf((slot + kClusterSlots / 2) % kClusterSlots)
                        : *cluster_->MasterOf((slot + kClusterSlots / 3) % kClusterSlots);
  ASSERT_NE(from, to);
  auto id = [&](size_t i) { return cluster_->node(i).Command({"CLUSTER", "MYID"}).value_or(""); };
  // All of `from`'s slots go, so the key's slot certainly moves.
  ASSERT_THAT(cluster_->Cli({"--cluster", "reshard", cluster_->seeds()[from],
                             "--cluster-from", id(from), "--cluster-to", id(to),
                             "--cluster-slots", "16384", "--cluster-yes"}),
              IsOk());
  ASSERT_THAT(cluster_->WaitUntilStable(absl::Seconds(20)), IsOk());
  ASSERT_EQ(*cluster_->MasterOf(slot), to);
  // The executor's map still names `from`: MOVED, then `to` runs it.
  EXPECT_EQ(*Incr(key), 2);
  EXPECT_EQ(Get(key), "2");
}

TEST_F(RedisClusterExecutorTest, DuringAMigrationAskSendsTheCallToTheImportingNode) {
  const std::string key = "cb:v2:bucket:{op:asked}";
  const int slot = KeySlot(key);
  const size_t from = *cluster_->MasterOf(slot);
  size_t to = from;
  for (int s = 0; s < kClusterSlots && to == from; s += 1000) to = *cluster_->MasterOf(s);
  ASSERT_NE(from, to);
  auto id = [&](size_t i) { return cluster_->node(i).Command({"CLUSTER", "MYID"}).value_or(""); };
  const std::string s = absl::StrCat(slot);
  ASSERT_THAT(cluster_->node(to).Command({"CLUSTER", "SETSLOT", s, "IMPORTING", id(from)}),
              IsOk());
  ASSERT_THAT(cluster_->node(from).Command({"CLUSTER", "SETSLOT", s, "MIGRATING", id(to)}),
              IsOk());
  // The key is not on `from`: it answers ASK, and `to` takes the call
  // after ASKING.
  EXPECT_EQ(*Incr(key), 1);
  EXPECT_EQ(cluster_->node(to).Command({"CLUSTER", "COUNTKEYSINSLOT", s}).value_or("?"), "1");
  EXPECT_EQ(cluster_->node(from).Command({"CLUSTER", "COUNTKEYSINSLOT", s}).value_or("?"), "0");
  EXPECT_EQ(*cluster_->MasterOf(slot), from);  // an ASK moves nothing for good
}

// The cluster's own election takes most of the time (cluster-node-timeout
// 1 s, then the replica's election delay of 0.5-1 s and the vote): about
// 2-2.8 s on an idle machine. The executor's part is to use the new master
// soon after the cluster names it.
TEST_F(RedisClusterExecutorTest, AKilledMastersReplicaServesSoonAfterThePromotion) {
  const std::string key = "cb:v2:bucket:{op:failover}";
  ASSERT_EQ(*Incr(key), 1);
  const int slot = KeySlot(key);
  const size_t master = *cluster_->MasterOf(slot);
  ASSERT_THAT(cluster_->node(master).Stop(), IsOk());
  const absl::Time killed = absl::Now();
  // When the cluster itself first names another master for the slot.
  std::atomic<int64_t> promoted_ns{0};
  std::thread watcher([&] {
    while (absl::Now() - killed < absl::Seconds(15)) {
      absl::StatusOr<size_t> now = cluster_->MasterOf(slot);
      if (now.ok() && *now != master) {
        promoted_ns = absl::ToUnixNanos(absl::Now());
        return;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
  });
  absl::Time served = absl::InfiniteFuture();
  std::set<absl::StatusCode> failures;
  while (absl::Now() - killed < absl::Seconds(15)) {
    absl::StatusOr<int64_t> n = Incr(key);
    if (n.ok()) {
      served = absl::Now();
      // The replica may or may not have had the first increment.
      EXPECT_GE(*n, 1);
      break;
    }
    failures.insert(n.status().code());
    absl::SleepFor(absl::Milliseconds(10));
  }
  watcher.join();
  ASSERT_NE(served, absl::InfiniteFuture()) << "never served after the kill";
  ASSERT_NE(promoted_ns.load(), 0) << "the cluster named no new master";
  const absl::Time promoted = absl::FromUnixNanos(promoted_ns.load());
  // The map is read again at most kRefreshInterval after a failed call.
  EXPECT_LE(served - promoted, absl::Seconds(1) * kSlowdown)
      << "promoted " << absl::FormatDuration(promoted - killed) << " and served "
      << absl::FormatDuration(served - killed) << " after the kill";
  for (absl::StatusCode code : failures) {
    EXPECT_THAT(code, ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                       absl::StatusCode::kDeadlineExceeded));
  }
}

}  // namespace
}  // namespace crossbridge
