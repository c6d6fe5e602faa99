// The RedisServer fixture against a real redis-server.
#include "tests/testing/redis_server.h"

#include <hiredis/hiredis.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Ne;

std::unique_ptr<RedisServer> StartOrDie(const RedisServerOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(options);
  EXPECT_THAT(redis, IsOk());
  return redis.ok() ? std::move(*redis) : nullptr;
}

// Command() whose status must be OK; the reply, or "<error>".
std::string Ok(RedisServer& redis, const std::vector<std::string>& args) {
  absl::StatusOr<std::string> r = redis.Command(args);
  EXPECT_THAT(r, IsOk()) << args[0];
  return r.ok() ? *r : "<error>";
}

TEST(RedisServerTest, StartsAndRunsCommands) {
  std::unique_ptr<RedisServer> redis = StartOrDie();
  ASSERT_NE(redis, nullptr);
  EXPECT_GT(redis->port(), 0);
  EXPECT_EQ(redis->url(), absl::StrCat("redis://127.0.0.1:", redis->port(), "/0"));
  EXPECT_TRUE(redis->running());

  EXPECT_EQ(Ok(*redis, {"PING"}), "PONG");
  EXPECT_EQ(Ok(*redis, {"SET", "k", "v w"}), "OK");
  EXPECT_EQ(Ok(*redis, {"GET", "k"}), "v w");
  EXPECT_EQ(Ok(*redis, {"GET", "missing"}), "(nil)");
  EXPECT_EQ(Ok(*redis, {"INCR", "n"}), "1");
  EXPECT_EQ(Ok(*redis, {"RPUSH", "l", "a", "b"}), "2");
  EXPECT_EQ(Ok(*redis, {"LRANGE", "l", "0", "-1"}), "a b");
  EXPECT_EQ(Ok(*redis, {"DBSIZE"}), "3");
  // No persistence, as the fixture promises.
  EXPECT_EQ(Ok(*redis, {"CONFIG", "GET", "save"}), "save ");
  EXPECT_EQ(Ok(*redis, {"CONFIG", "GET", "appendonly"}), "appendonly no");
  EXPECT_EQ(Ok(*redis, {"CONFIG", "GET", "bind"}), "bind 127.0.0.1");
}

TEST(RedisServerTest, ErrorReplyIsUnknownWithRedisMessage) {
  std::unique_ptr<RedisServer> redis = StartOrDie();
  ASSERT_NE(redis, nullptr);
  ASSERT_EQ(Ok(*redis, {"SET", "k", "v"}), "OK");
  EXPECT_THAT(redis->Command({"LPUSH", "k", "x"}),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("WRONGTYPE")));
  EXPECT_THAT(redis->Command({}), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(RedisServerTest, StopMakesConnectionsFail) {
  std::unique_ptr<RedisServer> redis = StartOrDie();
  ASSERT_NE(redis, nullptr);
  ASSERT_EQ(Ok(*redis, {"PING"}), "PONG");

  EXPECT_THAT(redis->Stop(), IsOk());
  EXPECT_FALSE(redis->running());
  EXPECT_THAT(redis->Command({"PING"}),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("refused")));
  redisContext* c = redisConnect("127.0.0.1", redis->port());
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c->err, 0);
  redisFree(c);
  EXPECT_THAT(redis->Stop(), IsOk());  // idempotent
}

TEST(RedisServerTest, RestartAfterStopServesAnEmptyDatabaseOnTheSamePort) {
  std::unique_ptr<RedisServer> redis = StartOrDie();
  ASSERT_NE(redis, nullptr);
  const int port = redis->port();
  ASSERT_EQ(Ok(*redis, {"SET", "k", "v"}), "OK");
  std::string sha = Ok(*redis, {"SCRIPT", "LOAD", "return 1"});
  ASSERT_EQ(Ok(*redis, {"EVALSHA", sha, "0"}), "1");

  ASSERT_THAT(redis->Stop(), IsOk());
  ASSERT_THAT(redis->Restart(), IsOk());

  EXPECT_TRUE(redis->running());
  EXPECT_EQ(redis->port(), port);
  EXPECT_EQ(Ok(*redis, {"PING"}), "PONG");
  EXPECT_EQ(Ok(*redis, {"DBSIZE"}), "0");
  EXPECT_EQ(Ok(*redis, {"GET", "k"}), "(nil)");
  EXPECT_EQ(Ok(*redis, {"SCRIPT", "EXISTS", sha}), "0");
  EXPECT_THAT(redis->Command({"EVALSHA", sha, "0"}),
              StatusIs(absl::StatusCode::kUnknown, HasSubstr("NOSCRIPT")));
}

TEST(RedisServerTest, RestartWhileRunningKillsFirst) {
  std::unique_ptr<RedisServer> redis = StartOrDie();
  ASSERT_NE(redis, nullptr);
  const int port = redis->port();
  ASSERT_EQ(Ok(*redis, {"SET", "k", "v"}), "OK");
  ASSERT_THAT(redis->Restart(), IsOk());
  EXPECT_EQ(redis->port(), port);
  EXPECT_EQ(Ok(*redis, {"DBSIZE"}), "0");
  // The logs of both processes are kept.
  EXPECT_THAT(redis->Logs(), HasSubstr("Ready to accept connections"));
}

TEST(RedisServerTest, TwoServersGetDifferentPortsAndData) {
  std::unique_ptr<RedisServer> a = StartOrDie();
  std::unique_ptr<RedisServer> b = StartOrDie();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_THAT(a->port(), Ne(b->port()));
  ASSERT_EQ(Ok(*a, {"SET", "only-a", "1"}), "OK");
  EXPECT_EQ(Ok(*b, {"GET", "only-a"}), "(nil)");
  EXPECT_EQ(Ok(*a, {"GET", "only-a"}), "1");
}

TEST(RedisServerTest, PasswordRequiresAuth) {
  RedisServerOptions options;
  options.password = "s3cret";
  std::unique_ptr<RedisServer> redis = StartOrDie(options);
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(redis->url(),
            absl::StrCat("redis://:s3cret@127.0.0.1:", redis->port(), "/0"));

  // A client that does not authenticate is refused.
  redisContext* c = redisConnect("127.0.0.1", redis->port());
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->err, 0) << c->errstr;
  auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->type, REDIS_REPLY_ERROR);
  EXPECT_THAT(std::string(reply->str, reply->len), HasSubstr("NOAUTH"));
  freeReplyObject(reply);
  reply = static_cast<redisReply*>(redisCommand(c, "AUTH wrong"));
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->type, REDIS_REPLY_ERROR);
  freeReplyObject(reply);
  reply = static_cast<redisReply*>(redisCommand(c, "AUTH s3cret"));
  ASSERT_NE(reply, nullptr);
  EXPECT_EQ(reply->type, REDIS_REPLY_STATUS);
  freeReplyObject(reply);
  redisFree(c);

  // Command() authenticates itself, also after a restart.
  EXPECT_EQ(Ok(*redis, {"PING"}), "PONG");
  ASSERT_THAT(redis->Restart(), IsOk());
  EXPECT_EQ(Ok(*redis, {"PING"}), "PONG");
}

TEST(RedisServerTest, ExtraArgsReachTheCommandLine) {
  RedisServerOptions options;
  options.extra_args = {"--maxmemory", "1mb"};
  std::unique_ptr<RedisServer> redis = StartOrDie(options);
  ASSERT_NE(redis, nullptr);
  EXPECT_EQ(Ok(*redis, {"CONFIG", "GET", "maxmemory"}), "maxmemory 1048576");
}

TEST(RedisServerTest, BadExtraArgFailsStartWithRedisOutput) {
  RedisServerOptions options;
  options.extra_args = {"--no-such-directive", "x"};
  EXPECT_THAT(RedisServer::Start(options),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("no-such-directive")));
}

}  // namespace
}  // namespace crossbridge::testing
