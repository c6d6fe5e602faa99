// Slots, CLUSTER SLOTS and redirects (server/redis/cluster_slots.h): the
// arithmetic and the parsers on hand-made replies, then the same against a
// real 3-master Redis Cluster (tests/testing/redis_cluster.h), which is the
// authority on every answer.
#include "server/redis/cluster_slots.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "server/redis/keyspace.h"
#include "server/redis/redis_connection.h"
#include "tests/testing/redis_cluster.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisCluster;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

// Hand-made replies, freed by freeReplyObject like hiredis's own.
redisReply* NewReply(int type) {
  auto* r = static_cast<redisReply*>(calloc(1, sizeof(redisReply)));
  r->type = type;
  return r;
}
redisReply* Int(long long v) {
  redisReply* r = NewReply(REDIS_REPLY_INTEGER);
  r->integer = v;
  return r;
}
redisReply* Str(const std::string& s) {
  redisReply* r = NewReply(REDIS_REPLY_STRING);
  r->str = static_cast<char*>(malloc(s.size() + 1));
  memcpy(r->str, s.c_str(), s.size() + 1);
  r->len = s.size();
  return r;
}
redisReply* Arr(std::vector<redisReply*> elements) {
  redisReply* r = NewReply(REDIS_REPLY_ARRAY);
  r->elements = elements.size();
  r->element = static_cast<redisReply**>(calloc(elements.size() + 1, sizeof(redisReply*)));
  for (size_t i = 0; i < elements.size(); ++i) r->element[i] = elements[i];
  return r;
}
ReplyPtr Own(redisReply* r) { return ReplyPtr(r); }

// [first, last, [host, port, id], [replica host, port, id]]
redisReply* Range(int first, int last, const std::string& host, int port) {
  return Arr({Int(first), Int(last), Arr({Str(host), Int(port), Str("id")}),
              Arr({Str(host), Int(port + 3), Str("replica")})});
}

TEST(KeySlotTest, IsCrc16XmodemOfTheKeyModulo16384) {
  // The Redis Cluster specification's check value: CRC16("123456789") = 0x31C3.
  EXPECT_EQ(KeySlot("123456789"), 0x31C3);
  EXPECT_EQ(KeySlot(""), 0);
}

TEST(KeySlotTest, HashesOnlyTheFirstNonEmptyHashTag) {
  EXPECT_EQ(KeySlot("{user1000}.following"), KeySlot("user1000"));
  EXPECT_EQ(KeySlot("{user1000}.followers"), KeySlot("user1000"));
  EXPECT_EQ(KeySlot("foo{bar}{zap}"), KeySlot("bar"));
  // The tag is between the first '{' and the first '}' after it.
  EXPECT_EQ(KeySlot("foo{{bar}}zap"), KeySlot("{bar"));
  // An empty tag hashes the whole key (CLUSTER KEYSLOT agrees: see
  // RealClusterTest.KeySlotAgreesWithClusterKeyslot).
  EXPECT_NE(KeySlot("foo{}{bar}"), KeySlot("bar"));
  EXPECT_NE(KeySlot("foo{}{bar}"), KeySlot(""));
  // No closing brace: the whole key.
  EXPECT_NE(KeySlot("{bar"), KeySlot("bar"));
}

TEST(SlotMapTest, ThreeRangesCoverEverySlot) {
  ReplyPtr reply = Own(Arr({Range(0, 5460, "10.0.0.1", 7000),
                            Range(5461, 10922, "10.0.0.2", 7001),
                            Range(10923, 16383, "10.0.0.3", 7002)}));
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(*reply, "127.0.0.1");
  ASSERT_THAT(map, IsOk());
  ASSERT_EQ(map->masters().size(), 3u);
  EXPECT_EQ(map->masters()[1], (ClusterNode{"10.0.0.2", 7001}));
  EXPECT_EQ(map->MasterOf(0), 0);
  EXPECT_EQ(map->MasterOf(5460), 0);
  EXPECT_EQ(map->MasterOf(5461), 1);
  EXPECT_EQ(map->MasterOf(10922), 1);
  EXPECT_EQ(map->MasterOf(10923), 2);
  EXPECT_EQ(map->MasterOf(16383), 2);
  // Range() gives each master a replica at port + 3.
  EXPECT_EQ(map->replicas(), (std::vector<ClusterNode>{{"10.0.0.1", 7003},
                                                       {"10.0.0.2", 7004},
                                                       {"10.0.0.3", 7005}}));
}

TEST(SlotMapTest, AMasterWithSeveralRangesIsOneMaster) {
  // After a reshard a master serves several ranges; an unknown host ("" or
  // "?") is the node the reply came from.
  ReplyPtr reply = Own(Arr({Range(0, 99, "", 7000), Range(100, 16000, "h", 7001),
                            Range(16001, 16383, "?", 7000)}));
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(*reply, "127.0.0.1");
  ASSERT_THAT(map, IsOk());
  ASSERT_EQ(map->masters().size(), 2u);
  EXPECT_EQ(map->masters()[0], (ClusterNode{"127.0.0.1", 7000}));
  EXPECT_EQ(map->MasterOf(16383), 0);
  EXPECT_EQ(map->MasterOf(100), 1);
}

TEST(SlotMapTest, AGapIsAClusterNotReady) {
  ReplyPtr reply = Own(Arr({Range(0, 99, "h", 1), Range(101, 16383, "h", 2)}));
  EXPECT_THAT(SlotMap::FromClusterSlots(*reply, "h"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("slot 100")));
  ReplyPtr empty = Own(Arr({}));
  EXPECT_THAT(SlotMap::FromClusterSlots(*empty, "h"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("slot 0")));
}

TEST(SlotMapTest, RepliesOfAnotherShapeAreDataLossNamingWhatIsWrong) {
  struct Case {
    redisReply* reply;
    const char* message;
  } cases[] = {
      {Str("OK"), "not an array"},
      {Arr({Int(1)}), "entry 1 is not [first, last, master"},
      {Arr({Arr({Int(0), Int(16384), Arr({Str("h"), Int(1)})})}), "entry 1: the slot range"},
      {Arr({Arr({Int(5), Int(4), Arr({Str("h"), Int(1)})})}), "entry 1: the slot range"},
      {Arr({Arr({Int(-1), Int(4), Arr({Str("h"), Int(1)})})}), "entry 1: the slot range"},
      {Arr({Arr({Int(0), Int(16383), Arr({Int(1), Int(1)})})}), "entry 1: the master"},
      {Arr({Arr({Int(0), Int(16383), Arr({Str("h"), Int(70000)})})}), "entry 1: the master"},
      {Arr({Arr({Int(0), Int(16383), Str("h")})}), "entry 1: the master"},
      {Arr({Range(0, 100, "h", 1), Range(100, 16383, "h", 2)}), "slot 100 is in two ranges"},
      {Arr({Arr({Int(0), Int(16383), Arr({Str("h"), Int(1)}), Str("r")})}),
       "entry 1: replica 1 is not [host, port"},
  };
  for (const Case& c : cases) {
    ReplyPtr reply = Own(c.reply);
    EXPECT_THAT(SlotMap::FromClusterSlots(*reply, "h"),
                StatusIs(absl::StatusCode::kDataLoss, HasSubstr(c.message)))
        << c.message;
  }
}

TEST(RedirectTest, MovedAndAskNameTheSlotAndTheNode) {
  std::optional<Redirect> moved = ParseRedirect("MOVED 3999 127.0.0.1:6381");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->kind, Redirect::Kind::kMoved);
  EXPECT_EQ(moved->slot, 3999);
  EXPECT_EQ(moved->node, (ClusterNode{"127.0.0.1", 6381}));
  std::optional<Redirect> ask = ParseRedirect("ASK 0 ::1:7000");
  ASSERT_TRUE(ask.has_value());
  EXPECT_EQ(ask->kind, Redirect::Kind::kAsk);
  EXPECT_EQ(ask->node, (ClusterNode{"::1", 7000}));
  std::optional<Redirect> no_host = ParseRedirect("MOVED 16383 :7001");
  ASSERT_TRUE(no_host.has_value());
  EXPECT_EQ(no_host->node, (ClusterNode{"", 7001}));
}

TEST(RedirectTest, AnythingElseIsNoRedirect) {
  for (const char* text :
       {"ERR unknown command", "MOVED", "MOVED 1", "MOVED x h:1", "MOVED 16384 h:1",
        "MOVED -1 h:1", "MOVED 1 h", "MOVED 1 h:0", "MOVED 1 h:65536", "MOVED 1 h:x",
        "MOVED 1 h:1 extra", "TRYAGAIN Multiple keys request during rehashing of slot",
        "CLUSTERDOWN The cluster is down", "moved 1 h:1"}) {
    EXPECT_FALSE(ParseRedirect(text).has_value()) << text;
  }
}

// Against a real cluster: 3 masters, 3 replicas.
class RealClusterTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
    ASSERT_THAT(cluster, IsOk());
    cluster_ = cluster->release();
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(cluster_, nullptr); }

  // One command on node `i`, through a fresh connection.
  static absl::StatusOr<ReplyPtr> Run(size_t i, std::vector<absl::string_view> args) {
    absl::StatusOr<std::unique_ptr<RedisConnection>> conn = RedisConnection::Connect(
        {"127.0.0.1", cluster_->node(i).port(), 0, "", absl::Seconds(2)});
    if (!conn.ok()) return conn.status();
    (*conn)->Append(args);
    return (*conn)->Read();
  }

  static RedisCluster* cluster_;
};
RedisCluster* RealClusterTest::cluster_ = nullptr;

TEST_F(RealClusterTest, ThreeMastersServeEverySlot) {
  absl::StatusOr<ReplyPtr> slots = Run(0, {"CLUSTER", "SLOTS"});
  ASSERT_THAT(slots, IsOk());
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(**slots, "127.0.0.1");
  ASSERT_THAT(map, IsOk());
  EXPECT_EQ(map->masters().size(), 3u);
  EXPECT_EQ(map->replicas().size(), 3u);
  EXPECT_EQ(cluster_->size(), 6u);
}

TEST_F(RealClusterTest, KeySlotAgreesWithClusterKeyslot) {
  std::vector<std::string> keys = {
      "123456789", "foo", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "",
      BucketKey("embed", "tenant:42"), BucketKey("op", "{}"), BucketKey("op}", "{k"),
      TenantBucketKey("acme", "search", "user:1"), RetryBudgetKey("flaky"),
      HealthCountKey("database"), ProbeLeaseKey("database")};
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {
    std::string key(rng() % 24, '\0');
    for (char& c : key) c = static_cast<char>(rng() % 256);
    keys.push_back(key);
  }
  for (const std::string& key : keys) {
    absl::StatusOr<ReplyPtr> slot = Run(0, {"CLUSTER", "KEYSLOT", key});
    ASSERT_THAT(slot, IsOk());
    ASSERT_EQ((*slot)->type, REDIS_REPLY_INTEGER) << absl::CHexEscape(key);
    EXPECT_EQ(KeySlot(key), (*slot)->integer) << absl::CHexEscape(key);
  }
  // Every key of one bucket shares its slot: the hash tag is the bucket.
  EXPECT_EQ(KeySlot(BucketKey("embed", "tenant:42")),
            KeySlot(absl::StrCat(BucketKey("embed", "tenant:42"), ":other")));
}

TEST_F(RealClusterTest, AWrongNodeRedirectsToTheMasterTheMapNames) {
  const std::string key = BucketKey("embed", "redirect-me");
  const int slot = KeySlot(key);
  absl::StatusOr<size_t> master = cluster_->MasterOf(slot);
  ASSERT_THAT(master, IsOk());
  // Any other node, a replica of that master included, answers MOVED.
  const size_t wrong = (*master + 1) % cluster_->size();
  absl::StatusOr<ReplyPtr> reply = Run(wrong, {"GET", key});
  ASSERT_THAT(reply, IsOk());
  ASSERT_EQ((*reply)->type, REDIS_REPLY_ERROR);
  std::optional<Redirect> redirect = ParseRedirect(RedisConnection::ErrorText(**reply));
  ASSERT_TRUE(redirect.has_value()) << RedisConnection::ErrorText(**reply);
  EXPECT_EQ(redirect->kind, Redirect::Kind::kMoved);
  EXPECT_EQ(redirect->slot, slot);
  EXPECT_EQ(redirect->node.port, cluster_->node(*master).port());
}

}  // namespace
}  // namespace crossbridge
