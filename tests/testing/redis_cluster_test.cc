// The RedisCluster fixture on real redis-server processes: what later
// cluster tests rely on (a killed master's replica takes over; the node
// comes back as a replica; redis-cli --cluster reshard moves slots).
#include "tests/testing/redis_cluster.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/redis/cluster_slots.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge::testing {
namespace {

TEST(RedisClusterTest, AKilledMastersReplicaTakesOverAndTheNodeRejoins) {
  absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
  ASSERT_THAT(cluster, IsOk());
  RedisCluster& c = **cluster;
  const int slot = KeySlot("cb:v2:bucket:{op:failover}");
  absl::StatusOr<size_t> before = c.MasterOf(slot);
  ASSERT_THAT(before, IsOk());

  ASSERT_THAT(c.node(*before).Stop(), IsOk());
  // cluster-node-timeout is 1 s: the failover is done well within 10 s.
  ASSERT_THAT(c.WaitUntilStable(absl::Seconds(10)), IsOk());
  absl::StatusOr<size_t> after = c.MasterOf(slot);
  ASSERT_THAT(after, IsOk());
  EXPECT_NE(*after, *before);

  ASSERT_THAT(c.node(*before).Restart(), IsOk());
  ASSERT_THAT(c.WaitUntilStable(absl::Seconds(10)), IsOk());
  // It comes back a master of no slots and turns replica of its successor
  // once it hears that its slots moved.
  std::string role;
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline && !absl::StartsWith(role, "slave")) {
    role = c.node(*before).Command({"ROLE"}).value_or("");
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_THAT(role, ::testing::StartsWith("slave"));
  EXPECT_EQ(*c.MasterOf(slot), *after);
}

TEST(RedisClusterTest, ReshardMovesSlotsToAnotherMaster) {
  absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
  ASSERT_THAT(cluster, IsOk());
  RedisCluster& c = **cluster;
  absl::StatusOr<size_t> from = c.MasterOf(0);
  absl::StatusOr<size_t> to = c.MasterOf(kClusterSlots - 1);
  ASSERT_THAT(from, IsOk());
  ASSERT_THAT(to, IsOk());
  ASSERT_NE(*from, *to);
  auto id = [&](size_t i) -> std::string {
    absl::StatusOr<std::string> myid = c.node(i).Command({"CLUSTER", "MYID"});
    return myid.ok() ? *myid : "";
  };
  absl::StatusOr<std::string> out = c.Cli(
      {"--cluster", "reshard", c.seeds()[*from], "--cluster-from", id(*from),
       "--cluster-to", id(*to), "--cluster-slots", "100", "--cluster-yes"});
  ASSERT_THAT(out, IsOk());
  ASSERT_THAT(c.WaitUntilStable(absl::Seconds(10)), IsOk());
  // The lowest slots of `from` went first.
  EXPECT_EQ(*c.MasterOf(0), *to);
  EXPECT_EQ(*c.MasterOf(99), *to);
  EXPECT_EQ(*c.MasterOf(100), *from);
}

}  // namespace
}  // namespace crossbridge::testing
