// The fleet on a real Redis Cluster (3 masters, 3 replicas; the RedisCluster
// fixture): real crossbridge-server processes with storage.backend:
// redis-cluster share buckets exactly whichever master holds them, answer
// by on_store_failure while a master is down and use its promoted replica,
// and stay exact while slots move under them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "server/redis/cluster_slots.h"
#include "server/redis/keyspace.h"
#include "tests/testing/permit_load.h"
#include "tests/testing/redis_cluster.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::kLatencyBoundsHold;
using ::crossbridge::testing::kSlowdown;
using ::crossbridge::testing::LoadThreads;
using ::crossbridge::testing::PermitLoad;
using ::crossbridge::testing::RedisCluster;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::WaitForHealth;

// A year: over a test's seconds no bucket refills a whole permit.
constexpr int kYear = 365 * 24 * 3600;

std::string ClusterConfig(const RedisCluster& cluster) {
  std::vector<std::string> quoted;
  for (const std::string& seed : cluster.seeds()) quoted.push_back(absl::StrCat("\"", seed, "\""));
  return absl::StrReplaceAll(R"(
server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}
logging: {level: warn}
storage:
  backend: redis-cluster
  redis_cluster: {nodes: [NODES], connections: 2, timeout_seconds: TIMEOUT,
                  connect_timeout_seconds: TIMEOUT, reconnect_max_backoff_seconds: 0.5}
runtime:
  rate_limiting:
    defaults:
      hot: {capacity: 50, window_seconds: YEAR}
      big: {capacity: 100000, window_seconds: YEAR, on_store_failure: deny}
      op_allow: {capacity: 5, window_seconds: 60, on_store_failure: allow}
      op_deny: {capacity: 1000000, window_seconds: 60, on_store_failure: deny}
      op_local: {capacity: 5, window_seconds: 60, on_store_failure: local}
)",
                             {{"NODES", absl::StrJoin(quoted, ", ")},
                              {"YEAR", absl::StrCat(kYear)},
                              {"TIMEOUT", absl::StrCat(0.1 * kSlowdown)}});
}

class RedisClusterFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = std::move(*cluster);
  }

  void StartServers(int n) {
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<ServerProcess> server = ServerProcess::Start(ClusterConfig(*cluster_));
      ASSERT_THAT(server, IsOk());
      servers_.push_back(std::move(*server));
      absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(
          {.target = servers_.back().address(), .default_deadline = absl::Seconds(5)});
      ASSERT_THAT(client, IsOk());
      clients_.push_back(std::move(*client));
    }
    for (auto& client : clients_) {
      ASSERT_TRUE(WaitForHealth(*client, "redis", ServingStatus::kServing, absl::Seconds(5)));
    }
  }

  // The node (index) whose master holds operation `op`'s bucket of `key`.
  size_t MasterOfBucket(absl::string_view op, absl::string_view key) {
    absl::StatusOr<size_t> master = cluster_->MasterOf(KeySlot(BucketKey(op, key)));
    EXPECT_THAT(master, IsOk());
    return master.ok() ? *master : 0;
  }

  // `per_master` keys of `op` on each master, by node index.
  std::map<size_t, std::vector<std::string>> KeysOnEveryMaster(absl::string_view op,
                                                               size_t per_master) {
    std::map<size_t, std::vector<std::string>> keys;
    for (int i = 0; keys.size() < 3 || !AllFull(keys, per_master); ++i) {
      std::string key = absl::StrCat("k", i);
      std::vector<std::string>& on = keys[MasterOfBucket(op, key)];
      if (on.size() < per_master) on.push_back(std::move(key));
    }
    return keys;
  }
  static bool AllFull(const std::map<size_t, std::vector<std::string>>& keys, size_t n) {
    for (const auto& [node, on] : keys) {
      if (on.size() < n) return false;
    }
    return true;
  }

  bool ExistsOn(size_t node, const std::string& key) {
    absl::StatusOr<std::string> n = cluster_->node(node).Command({"EXISTS", key});
    return n.ok() && *n == "1";
  }

  void StopServers() {
    for (ServerProcess& server : servers_) {
      server.Signal(SIGTERM);
      absl::StatusOr<int> code = server.WaitForExit(absl::Seconds(10));
      ASSERT_THAT(code, IsOk());
      EXPECT_EQ(*code, 0) << server.Logs();  // no crash
    }
  }

  std::unique_ptr<RedisCluster> cluster_;
  std::vector<ServerProcess> servers_;
  std::vector<std::unique_ptr<Client>> clients_;
};

// 3 replicas, 12 threads, 2 keys on each of the 3 masters, capacity 50:
// exactly 50 grants per key, each key's bucket on the master its slot names.
TEST_F(RedisClusterFleetTest, ThreeReplicasGrantExactlyTheCapacityOnEveryMaster) {
  StartServers(3);
  const std::map<size_t, std::vector<std::string>> on_master = KeysOnEveryMaster("hot", 2);
  ASSERT_EQ(on_master.size(), 3u);
  std::vector<std::string> keys;
  for (const auto& [node, on] : on_master) keys.insert(keys.end(), on.begin(), on.end());

  // std::mutex, not absl::Mutex: Debian's abseil is not TSan-instrumented.
  std::mutex mu;
  std::map<std::string, int> allowed;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      Client& client = *clients_[t % clients_.size()];
      for (int i = 0; i < 60; ++i) {
        const std::string& key = keys[(t + i) % keys.size()];
        absl::StatusOr<Permit> p = client.AcquirePermit("hot", key);
        if (!p.ok()) {
          ++errors;
        } else if (p->allowed) {
          std::lock_guard<std::mutex> lock(mu);
          ++allowed[key];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  for (const auto& [node, on] : on_master) {
    for (const std::string& key : on) {
      EXPECT_EQ(allowed[key], 50) << key;  // 120 calls each
      EXPECT_TRUE(ExistsOn(node, BucketKey("hot", key))) << key << " on node " << node;
    }
  }
  StopServers();
}

// A master SIGKILLed under load: every call answers within the store timeout
// (+ slack) by its operation's on_store_failure, and once the cluster has
// promoted the replica, calls on the dead master's slots succeed again
// within cluster-node-timeout (1 s) + 2 s of the kill.
TEST_F(RedisClusterFleetTest, AMasterKilledUnderLoadFailsOverToItsReplica) {
  StartServers(2);
  const absl::Duration bound = absl::Milliseconds((100 + 50) * kSlowdown);
  // A key whose bucket is on the master about to die, per policy.
  const std::map<size_t, std::vector<std::string>> on_master = KeysOnEveryMaster("op_deny", 1);
  const size_t victim = on_master.begin()->first;
  const std::string victim_key = on_master.begin()->second[0];
  std::string hot_key;
  for (int i = 0; hot_key.empty(); ++i) {
    std::string key = absl::StrCat("h", i);
    if (MasterOfBucket("hot", key) == victim) hot_key = key;
  }
  for (int i = 0; i < 10; ++i) ASSERT_THAT(clients_[0]->AcquirePermit("hot", hot_key), IsOk());

  std::vector<Client*> clients;
  for (auto& c : clients_) clients.push_back(c.get());
  PermitLoad load(clients, LoadThreads(8), {"op_allow", "op_deny", "op_local"});
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_THAT(cluster_->node(victim).Stop(), IsOk());
  const absl::Time killed = absl::Now();

  // Fails closed while the master is gone, then works on the replica.
  absl::Time back = absl::InfiniteFuture();
  bool refused_while_down = false;
  while (absl::Now() - killed < absl::Seconds(10)) {
    absl::StatusOr<Permit> p = clients_[0]->AcquirePermit("op_deny", victim_key);
    if (p.ok()) {
      back = absl::Now();
      break;
    }
    refused_while_down = true;
    EXPECT_EQ(p.status().code(), absl::StatusCode::kUnavailable) << p.status();
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_TRUE(refused_while_down);
  ASSERT_NE(back, absl::InfiniteFuture()) << "the promoted replica was never used";
  EXPECT_LT(back - killed, absl::Seconds(3) * kSlowdown)
      << "back after " << absl::FormatDuration(back - killed);
  std::cout << "fail-closed calls succeed again " << absl::FormatDuration(back - killed)
            << " after the kill\n";
  ASSERT_THAT(cluster_->WaitUntilStable(absl::Seconds(10)), IsOk());
  absl::StatusOr<size_t> promoted = cluster_->MasterOf(KeySlot(BucketKey("op_deny", victim_key)));
  ASSERT_THAT(promoted, IsOk());
  EXPECT_NE(*promoted, victim);
  // The replica holds what the dead master had (replicated before the kill).
  EXPECT_TRUE(ExistsOn(*promoted, BucketKey("hot", hot_key)));
  absl::StatusOr<Permit> after = clients_[1]->AcquirePermit("hot", hot_key);
  ASSERT_THAT(after, IsOk());
  EXPECT_TRUE(after->allowed);
  EXPECT_EQ(after->remaining, 50u - 11u);
  // Both replicas use it.
  for (auto& client : clients_) {
    EXPECT_THAT(client->AcquirePermit("op_deny", victim_key), IsOk());
  }
  absl::SleepFor(absl::Milliseconds(200));
  const std::vector<PermitLoad::Outcome>& outcomes = load.Stop();

  int during = 0, deny_unavailable = 0, allow_allowed_during = 0;
  for (const PermitLoad::Outcome& o : outcomes) {
    if (kLatencyBoundsHold) {
      EXPECT_LT(o.took, bound) << o.op << " took " << absl::FormatDuration(o.took);
    }
    EXPECT_TRUE(o.code == absl::StatusCode::kOk ||
                (o.op == "op_deny" && o.code == absl::StatusCode::kUnavailable))
        << o.op << " " << absl::StatusCodeToString(o.code) << " " << o.message;
    if (o.at < killed + absl::Milliseconds(50) || o.at > back) continue;
    ++during;
    if (o.op == "op_deny") deny_unavailable += o.code == absl::StatusCode::kUnavailable;
    if (o.op == "op_allow") allow_allowed_during += o.allowed;
  }
  EXPECT_GT(during, 30);
  EXPECT_GT(deny_unavailable, 0);  // the dead master's slots, failing closed
  EXPECT_GT(allow_allowed_during, 0);
  StopServers();
}

// Slots moved under load with redis-cli --cluster reshard (keys migrate one
// by one: ASK while a slot is half moved, MOVED after). Every call on moving
// keys is answered without error (op "big" fails closed, so any store error
// would show), and each bucket stays exact: grants + what the bucket still
// holds == its capacity, and a small bucket emptied before the move grants
// nothing after it.
TEST_F(RedisClusterFleetTest, SlotsReshardedUnderLoadStayExact) {
  StartServers(2);
  // The lowest slots of the master of slot 0 move: pick keys among them.
  absl::StatusOr<size_t> from = cluster_->MasterOf(0);
  ASSERT_THAT(from, IsOk());
  std::vector<std::string> moving;
  for (int i = 0; moving.size() < 8; ++i) {
    std::string key = absl::StrCat("m", i);
    if (KeySlot(BucketKey("big", key)) < 300) moving.push_back(std::move(key));
  }
  std::string hot_key;
  for (int i = 0; hot_key.empty(); ++i) {
    std::string key = absl::StrCat("h", i);
    if (KeySlot(BucketKey("hot", key)) < 300) hot_key = key;
  }
  // The small bucket, emptied before anything moves.
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<Permit> p = clients_[i % 2]->AcquirePermit("hot", hot_key);
    ASSERT_THAT(p, IsOk());
    ASSERT_TRUE(p->allowed);
  }
  absl::StatusOr<size_t> to = cluster_->MasterOf(16383);
  ASSERT_THAT(to, IsOk());
  ASSERT_NE(*from, *to);
  auto id = [&](size_t node) {
    absl::StatusOr<std::string> myid = cluster_->node(node).Command({"CLUSTER", "MYID"});
    return myid.ok() ? *myid : "";
  };

  std::atomic<bool> stop{false};
  // std::mutex, not absl::Mutex: Debian's abseil is not TSan-instrumented.
  std::mutex mu;
  std::map<std::string, int> granted;
  int hot_granted = 0, calls = 0;
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      Client& client = *clients_[t % clients_.size()];
      for (int i = 0; !stop.load() && i < 200000; ++i) {
        const bool hot = i % 5 == 0;
        const std::string& key = hot ? hot_key : moving[(t + i) % moving.size()];
        absl::StatusOr<Permit> p = client.AcquirePermit(hot ? "hot" : "big", key);
        std::lock_guard<std::mutex> lock(mu);
        ++calls;
        if (!p.ok()) {
          if (errors.size() < 5) errors.push_back(p.status().ToString());
          continue;
        }
        if (hot) {
          hot_granted += p->allowed;
        } else {
          granted[key] += p->allowed;
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(200));
  absl::StatusOr<std::string> out = cluster_->Cli(
      {"--cluster", "reshard", cluster_->seeds()[*from], "--cluster-from", id(*from),
       "--cluster-to", id(*to), "--cluster-slots", "300", "--cluster-yes"});
  absl::SleepFor(absl::Milliseconds(300));
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_THAT(out, IsOk());
  ASSERT_THAT(cluster_->WaitUntilStable(absl::Seconds(10)), IsOk());

  EXPECT_THAT(errors, ::testing::IsEmpty());
  EXPECT_GT(calls, 500);
  EXPECT_EQ(hot_granted, 0);
  for (const std::string& key : moving) {
    const std::string bucket = BucketKey("big", key);
    EXPECT_EQ(*cluster_->MasterOf(KeySlot(bucket)), *to) << key;
    EXPECT_TRUE(ExistsOn(*to, bucket)) << key;
    absl::StatusOr<Permit> peek = clients_[0]->AcquirePermit("big", key, {.cost = 0});
    ASSERT_THAT(peek, IsOk());
    EXPECT_GT(granted[key], 0) << key;
    EXPECT_EQ(granted[key] + static_cast<int>(peek->remaining), 100000) << key;
  }
  StopServers();
}

}  // namespace
}  // namespace crossbridge
