// The fleet on one real Redis: several real crossbridge-server processes
// share buckets exactly, and survive Redis dying and coming back.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "tests/testing/permit_load.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::PermitLoad;
using ::crossbridge::testing::WaitForHealth;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::ServerProcess;

using ::crossbridge::testing::kLatencyBoundsHold;
using ::crossbridge::testing::kSlowdown;
using ::crossbridge::testing::LoadThreads;

std::string FleetConfig(const RedisServer& redis) {
  return absl::StrReplaceAll(R"(
server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}
logging: {level: warn}
storage:
  backend: redis
  redis: {url: "URL", connections: 2, timeout_seconds: TIMEOUT,
          connect_timeout_seconds: TIMEOUT, reconnect_max_backoff_seconds: 0.5}
runtime:
  rate_limiting:
    defaults:
      hot: {capacity: 100, window_seconds: 3600}
      op_allow: {capacity: 5, window_seconds: 60, on_store_failure: allow}
      op_deny: {capacity: 1000000, window_seconds: 60, on_store_failure: deny}
      op_local: {capacity: 5, window_seconds: 60, on_store_failure: local}
)",
                             {{"URL", redis.url()},
                              {"TIMEOUT", absl::StrCat(0.1 * kSlowdown)}});
}

class RedisFleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
  }

  void StartServers(int n) {
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<ServerProcess> server = ServerProcess::Start(FleetConfig(*redis_));
      ASSERT_THAT(server, IsOk());
      servers_.push_back(std::move(*server));
      absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(
          {.target = servers_.back().address(),
           .default_deadline = absl::Seconds(5)});
      ASSERT_THAT(client, IsOk());
      clients_.push_back(std::move(*client));
    }
    for (auto& client : clients_) {
      ASSERT_TRUE(WaitForHealth(*client, "redis", ServingStatus::kServing,
                                absl::Seconds(5)));
    }
  }

  std::unique_ptr<RedisServer> redis_;
  std::vector<ServerProcess> servers_;
  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_F(RedisFleetTest, ThreeReplicasSixteenThreadsGrantExactlyTheCapacity) {
  StartServers(3);
  std::mutex mu;
  std::multiset<uint32_t> remaining_when_allowed;
  std::atomic<int> allowed{0}, refused{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      Client& client = *clients_[t % clients_.size()];
      for (int i = 0; i < 25; ++i) {
        absl::StatusOr<Permit> p = client.AcquirePermit("hot", "tenant:shared");
        if (!p.ok()) {
          ++errors;
          continue;
        }
        if (!p->allowed) {
          ++refused;
          continue;
        }
        ++allowed;
        std::lock_guard<std::mutex> lock(mu);
        remaining_when_allowed.insert(p->remaining);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(allowed.load(), 100);
  EXPECT_EQ(refused.load(), 16 * 25 - 100);
  // Every grant saw a distinct, non-negative remainder: 99, 98, ..., 0.
  std::multiset<uint32_t> expected;
  for (uint32_t r = 0; r < 100; ++r) expected.insert(r);
  EXPECT_EQ(remaining_when_allowed, expected);
}

// A replica that starts (a restart, a rollout) serves its first call from
// Redis, not from a fresh in-process bucket: the server has Redis before it
// says LISTENING (or its first attempt failed). Replica A empties op_local's
// bucket; replica B's very first call, without waiting for its health, is
// refused like the rest.
TEST_F(RedisFleetTest, AReplicaJustStartedTakesItsFirstPermitFromRedis) {
  StartServers(1);
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Permit> p = clients_[0]->AcquirePermit("op_local", "rollout");
    ASSERT_THAT(p, IsOk());
    ASSERT_TRUE(p->allowed) << i;
  }
  // Redis hung for 0.5 s (within B's 3 s connect_timeout) while B starts:
  // B's first connection completes only well after its port could open.
  redis_->Signal(SIGSTOP);
  std::thread busy([&] {
    absl::SleepFor(absl::Milliseconds(500));
    redis_->Signal(SIGCONT);
  });
  const std::string config = absl::StrReplaceAll(
      FleetConfig(*redis_), {{absl::StrCat("connect_timeout_seconds: ", 0.1 * kSlowdown),
                              "connect_timeout_seconds: 3"}});
  ASSERT_NE(config, FleetConfig(*redis_));
  absl::StatusOr<ServerProcess> fresh = ServerProcess::Start(config);
  if (!fresh.ok()) busy.join();
  ASSERT_THAT(fresh, IsOk());
  // A bare stub: its first call goes out as soon as the channel connects.
  std::unique_ptr<v1::RateLimiter::Stub> stub = v1::RateLimiter::NewStub(
      grpc::CreateChannel(fresh->address(), grpc::InsecureChannelCredentials()));
  v1::AcquirePermitRequest request;
  request.set_operation("op_local");
  request.set_key("rollout");
  request.set_cost(1);
  v1::AcquirePermitResponse first;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  const grpc::Status status = stub->AcquirePermit(&context, request, &first);
  busy.join();
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(first.allowed()) << "remaining " << first.remaining();
  EXPECT_EQ(first.remaining(), 0u);
}

TEST_F(RedisFleetTest, RedisKilledUnderLoadThenRestarted) {
  StartServers(2);
  const absl::Duration bound = absl::Milliseconds((100 + 50) * kSlowdown);

  std::vector<Client*> clients;
  for (auto& c : clients_) clients.push_back(c.get());
  PermitLoad load(clients, LoadThreads(8), {"op_allow", "op_deny", "op_local"});
  absl::SleepFor(absl::Milliseconds(300));
  ASSERT_THAT(redis_->Stop(), IsOk());
  const absl::Time killed = absl::Now();
  for (auto& client : clients_) {
    EXPECT_TRUE(WaitForHealth(*client, "redis", ServingStatus::kNotServing,
                              absl::Seconds(2)));
    // op_deny fails closed, so the whole server cannot decide everything.
    EXPECT_TRUE(WaitForHealth(*client, "", ServingStatus::kNotServing,
                              absl::Seconds(2)));
  }
  absl::SleepFor(absl::Milliseconds(500));
  const absl::Time outage_seen = absl::Now();

  ASSERT_THAT(redis_->Restart(), IsOk());  // empty: no buckets, no scripts
  const absl::Time restarted = absl::Now();
  for (auto& client : clients_) {
    EXPECT_TRUE(WaitForHealth(*client, "redis", ServingStatus::kServing,
                              absl::Seconds(2)));
    EXPECT_TRUE(WaitForHealth(*client, "", ServingStatus::kServing,
                              absl::Seconds(2)));
  }
  // Both replicas write to the new Redis again within 2 s of its restart.
  bool deny_ok_again = false;
  while (!deny_ok_again && absl::Now() - restarted < absl::Seconds(2)) {
    deny_ok_again = true;
    for (auto& client : clients_) {
      absl::StatusOr<Permit> p = client->AcquirePermit("op_deny", "probe");
      deny_ok_again = deny_ok_again && p.ok();
    }
  }
  EXPECT_TRUE(deny_ok_again);
  const std::vector<PermitLoad::Outcome>& outcomes = load.Stop();
  EXPECT_NE(*redis_->Command({"DBSIZE"}), "0");

  // Every call answered within the store timeout + 50 ms, by its policy.
  int during = 0, deny_unavailable = 0, allow_allowed = 0, local_answered = 0;
  for (const PermitLoad::Outcome& o : outcomes) {
    if (kLatencyBoundsHold) {
      EXPECT_LT(o.took, bound) << o.op << " took " << absl::FormatDuration(o.took);
    }
    EXPECT_TRUE(o.code == absl::StatusCode::kOk ||
                (o.op == "op_deny" && o.code == absl::StatusCode::kUnavailable))
        << o.op << " " << absl::StatusCodeToString(o.code);
    if (o.at < killed + absl::Milliseconds(50) || o.at > outage_seen) continue;
    ++during;
    if (o.op == "op_deny") deny_unavailable += o.code == absl::StatusCode::kUnavailable;
    if (o.op == "op_allow") allow_allowed += o.allowed;
    if (o.op == "op_local") local_answered += o.code == absl::StatusCode::kOk;
  }
  EXPECT_GT(during, 30);
  EXPECT_GT(deny_unavailable, 0);
  EXPECT_GT(allow_allowed, 5);   // more than the capacity: failing open
  EXPECT_GT(local_answered, 0);
  for (ServerProcess& server : servers_) {
    server.Signal(SIGTERM);
    absl::StatusOr<int> code = server.WaitForExit(absl::Seconds(10));
    ASSERT_THAT(code, IsOk());
    EXPECT_EQ(*code, 0) << server.Logs();  // no crash
  }
}

TEST_F(RedisFleetTest, ServerStartsWhileRedisIsDownAndReportsIt) {
  ASSERT_THAT(redis_->Stop(), IsOk());
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(FleetConfig(*redis_));
  ASSERT_THAT(server, IsOk());
  auto client = Client::Create({.target = server->address()});
  ASSERT_THAT(client, IsOk());
  EXPECT_TRUE(WaitForHealth(**client, "redis", ServingStatus::kNotServing,
                            absl::Seconds(2)));
  absl::StatusOr<Permit> p = (*client)->AcquirePermit("op_local", "k");
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->allowed);
  ASSERT_THAT(redis_->Restart(), IsOk());
  EXPECT_TRUE(WaitForHealth(**client, "redis", ServingStatus::kServing,
                            absl::Seconds(3)));
}

}  // namespace
}  // namespace crossbridge
