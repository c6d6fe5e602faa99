// The four collisions a new user found with storage.backend: redis and a
// default_rule, each shown impossible against a real redis-server and the
// real crossbridge-server, driven by the real CLI:
//  1. a permit for operation "health" + key "database" overwrote the
//     provider's fleet-wide failure count (and one failure report then took
//     the dependency NOT_SERVING everywhere);
//  2. operation "probe" held a provider's probe lease;
//  3. operation "budget" rewrote a retry budget;
//  4. "embed:user" + "1" and "embed" + "user:1" shared one bucket.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tcp_listener.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::CliBinary;
using ::crossbridge::testing::CommandResult;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::RunCommand;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::TcpListener;
using ::crossbridge::testing::WaitFor;
using ::testing::HasSubstr;

class KeyspaceIsolationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
    ASSERT_THAT(listener_.Open(), IsOk());
    // "database" is probed (tcp, an open listener: SERVING) once an hour, so
    // only this test's calls move its count.
    const std::string config = absl::StrReplaceAll(R"(
logging: {level: warn}
storage:
  backend: redis
  redis: {url: "URL"}
runtime:
  rate_limiting:
    defaults:
      embed: {capacity: 60, window_seconds: 60}
    default_rule: {capacity: 1000000, window_seconds: 60}
  retry:
    default_policy: {budget: {max_tokens: 10, token_ratio: 1}}
  health_checks:
    interval: 3600
    timeout: 1
    providers:
      database: {check_type: tcp, target: "127.0.0.1:PORT", failure_threshold: 3}
)",
                                                   {{"URL", redis_->url()},
                                                    {"PORT", absl::StrCat(listener_.port())}});
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(config);
    ASSERT_THAT(server, IsOk());
    server_.emplace(std::move(*server));
    ASSERT_TRUE(WaitFor([&] { return Cli({"health", "--service", "redis"}).exit_code == 0; }));
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {CliBinary(), "--target", server_->address()});
    absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(20));
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : CommandResult{};
  }
  std::string Redis(const std::vector<std::string>& args) {
    absl::StatusOr<std::string> r = redis_->Command(args);
    return r.ok() ? *r : std::string(r.status().message());
  }

  std::unique_ptr<RedisServer> redis_;
  TcpListener listener_;
  std::optional<ServerProcess> server_;
};

TEST_F(KeyspaceIsolationTest, APermitNamedHealthNeverTouchesAFailureCount) {
  // With v1 keys this wrote a TAT (~1.8e15) into cb:v1:{health:database}.
  // A cost large enough that the bucket key lives on (it expires when full).
  CommandResult r = Cli({"acquire", "--operation", "health", "--key", "database",
                         "--cost", "500000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Cli({"report", "--provider", "database", "--failure", "--code", "503"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("reported failure to database: SERVING, failures 1/3"));
  EXPECT_EQ(Redis({"GET", "cb:v2:health:{database}"}), "1");
  EXPECT_EQ(Redis({"EXISTS", "cb:v2:bucket:{health:database}"}), "1");
}

TEST_F(KeyspaceIsolationTest, APermitNamedProbeNeverHoldsAProbeLease) {
  Redis({"DEL", "cb:v2:probe:{database}"});
  CommandResult r = Cli({"acquire", "--operation", "probe", "--key", "database",
                         "--cost", "500000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Redis({"EXISTS", "cb:v2:probe:{database}"}), "0");
  EXPECT_EQ(Redis({"EXISTS", "cb:v2:bucket:{probe:database}"}), "1");
}

TEST_F(KeyspaceIsolationTest, APermitNamedBudgetNeverRewritesARetryBudget) {
  // One retry decision creates the shared budget: 10 - 1 = 9 tokens.
  CommandResult r = Cli({"retry", "--policy", "default", "--attempt", "1",
                         "--http-status", "503"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_EQ(Redis({"GET", "cb:v2:budget:{default}"}), "9");
  r = Cli({"acquire", "--operation", "budget", "--key", "default", "--cost", "1000"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Redis({"GET", "cb:v2:budget:{default}"}), "9");
}

TEST_F(KeyspaceIsolationTest, SeparatorsInNamesNeverJoinTwoBuckets) {
  // "embed:user" cannot be an operation (the config's name rule holds for
  // default_rule too); "embed" + "user:1" is embed's own bucket.
  CommandResult r = Cli({"acquire", "--operation", "embed:user", "--key", "1"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: operation: \"embed:user\" must match"));
  // Cost 30: each bucket then holds state (and its key) for 30 s, not the
  // 1 s of one permit, which a slow (sanitized, loaded) CLI could outlast
  // before the EXISTS checks below.
  r = Cli({"acquire", "--operation", "embed", "--key", "user:1", "--cost", "30"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("remaining 30/60"));
  // Look-alike keys under one operation stay distinct buckets too.
  r = Cli({"acquire", "--operation", "embed", "--key", "user%3A1", "--cost", "30"});
  EXPECT_THAT(r.out, HasSubstr("remaining 30/60"));
  EXPECT_EQ(Redis({"EXISTS", "cb:v2:bucket:{embed:user%3A1}"}), "1");
  EXPECT_EQ(Redis({"EXISTS", "cb:v2:bucket:{embed:user%253A1}"}), "1");
}

}  // namespace
}  // namespace crossbridge
