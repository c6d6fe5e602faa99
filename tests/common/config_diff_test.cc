#include "common/config_diff.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "common/config.h"
#include "tests/testing/fake_env.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeEnv;
using ::crossbridge::testing::IsOk;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

absl::StatusOr<Config> Parse(const std::string& yaml,
                             std::map<std::string, std::string> env = {}) {
  return ParseConfig(yaml, "crossbridge.yml", FakeEnv(std::move(env)));
}

TEST(RestartOnlyChangesTest, EqualConfigsHaveNone) {
  EXPECT_THAT(RestartOnlyChanges(DefaultConfig(), DefaultConfig()), IsEmpty());
  Config other_source = DefaultConfig();
  other_source.source = "/etc/crossbridge.yml";
  EXPECT_THAT(RestartOnlyChanges(DefaultConfig(), other_source), IsEmpty());
}

TEST(RestartOnlyChangesTest, ReloadableKeysAreNeverListed) {
  absl::StatusOr<Config> next = Parse(
      "logging: {level: debug, format: json}\n"
      "runtime:\n"
      "  rate_limiting:\n"
      "    enabled: false\n"
      "    defaults: {search: {capacity: 1, window_seconds: 1}}\n"
      "    default_rule: {capacity: 2, window_seconds: 2}\n"
      "  retry: {enabled: false, quick_policy: {max_attempts: 9}}\n"
      "  health_checks: {enabled: false, interval: 5, timeout: 1}\n");
  ASSERT_THAT(next, IsOk());
  EXPECT_THAT(RestartOnlyChanges(DefaultConfig(), *next), IsEmpty());
}

TEST(RestartOnlyChangesTest, ListsTheChangedRestartOnlyKeysInFileOrder) {
  absl::StatusOr<Config> next = Parse(
      "logging: {file: /var/log/crossbridge.log, level: warn}\n"
      "storage: {backend: redis, memory: {shards: 8}}\n"
      "server: {listen_address: \"0.0.0.0:50051\"}\n"
      "runtime: {retry: {enabled: false}}\n");
  ASSERT_THAT(next, IsOk());
  EXPECT_THAT(RestartOnlyChanges(DefaultConfig(), *next),
              ElementsAre("server.listen_address", "storage.backend",
                          "storage.memory.shards", "logging.file"));
  // The other direction lists the same keys.
  EXPECT_THAT(RestartOnlyChanges(*next, DefaultConfig()),
              ElementsAre("server.listen_address", "storage.backend",
                          "storage.memory.shards", "logging.file"));
}

TEST(RestartOnlyChangesTest, RedisUrlAndPasswordAreNamesOnly) {
  absl::StatusOr<Config> running = Parse(
      "storage: {redis: {url: \"redis://:old-secret@10.0.0.1:6379/0\"}}\n");
  absl::StatusOr<Config> next = Parse(
      "storage: {redis: {url: \"redis://:new-secret@10.0.0.1:6379/0\"}}\n");
  ASSERT_THAT(running, IsOk());
  ASSERT_THAT(next, IsOk());
  const std::vector<std::string> changes = RestartOnlyChanges(*running, *next);
  EXPECT_THAT(changes,
              ElementsAre("storage.redis.url", "storage.redis.password"));
  for (const std::string& key : changes) {
    EXPECT_THAT(key, Not(HasSubstr("secret")));
  }

  // Same URL, the password from password_env's variable changed.
  const std::string yaml =
      "storage: {redis: {url: \"redis://10.0.0.1:6379/0\", password_env: "
      "REDIS_PW}}\n";
  absl::StatusOr<Config> a = Parse(yaml, {{"REDIS_PW", "first-secret"}});
  absl::StatusOr<Config> b = Parse(yaml, {{"REDIS_PW", "second-secret"}});
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_THAT(RestartOnlyChanges(*a, *b),
              ElementsAre("storage.redis.password"));

  // A new host or db in the URL is the URL key.
  absl::StatusOr<Config> db = Parse(
      "storage: {redis: {url: \"redis://:old-secret@10.0.0.1:6379/3\"}}\n");
  ASSERT_THAT(db, IsOk());
  EXPECT_THAT(RestartOnlyChanges(*running, *db),
              ElementsAre("storage.redis.url"));
}

TEST(RestartOnlyChangesTest, LogSinksNeedARestartButLevelAndFormatDoNot) {
  Config next = DefaultConfig();
  next.logging.level = "error";
  next.logging.format = LogFormat::kJson;
  next.logging.console = false;
  next.logging.max_file_mb = 1;
  next.logging.max_files = 2;
  EXPECT_THAT(RestartOnlyChanges(DefaultConfig(), next),
              ElementsAre("logging.console", "logging.max_file_mb",
                          "logging.max_files"));
}

// Every restart-only field changed: each is reported, once, under its YAML
// key. A field added to server or storage without a line in
// RestartOnlyChanges fails here once it is changed below too.
TEST(RestartOnlyChangesTest, EveryRestartOnlyFieldIsCovered) {
  const Config running = DefaultConfig();
  Config next = running;
  next.server.listen_address = "0.0.0.0:1";
  next.server.metrics_listen_address = "";
  next.server.drain_grace = absl::Seconds(3);
  next.server.shutdown_timeout = absl::Seconds(11);
  next.storage.backend = StorageBackend::kRedis;
  next.storage.memory.shards = 1;
  next.storage.memory.max_buckets = 2;
  next.storage.redis.url = "redis://other:6379/0";
  next.storage.redis.password = "pw";
  next.storage.redis.password_env = "";
  next.storage.redis.connections = 9;
  next.storage.redis.timeout = absl::Seconds(1);
  next.storage.redis.connect_timeout = absl::Seconds(1);
  next.storage.redis.reconnect_max_backoff = absl::Seconds(9);
  next.storage.redis_cluster.nodes = {HostPort{.host = "n1", .port = 7000}};
  RedisStorageConfig& rc = next.storage.redis_cluster.connection;
  rc.password = "pw";
  rc.password_env = "";
  rc.connections = 9;
  rc.timeout = absl::Seconds(1);
  rc.connect_timeout = absl::Seconds(1);
  rc.reconnect_max_backoff = absl::Seconds(9);
  next.logging.console = false;
  next.logging.file = "x.log";
  next.logging.max_file_mb = 1;
  next.logging.max_files = 1;
  EXPECT_THAT(
      RestartOnlyChanges(running, next),
      ElementsAre(
          "server.listen_address", "server.metrics_listen_address",
          "server.drain_grace_seconds", "server.shutdown_timeout_seconds",
          "storage.backend", "storage.memory.shards",
          "storage.memory.max_buckets", "storage.redis.url",
          "storage.redis.password", "storage.redis.password_env",
          "storage.redis.connections", "storage.redis.timeout_seconds",
          "storage.redis.connect_timeout_seconds",
          "storage.redis.reconnect_max_backoff_seconds",
          "storage.redis_cluster.nodes", "storage.redis_cluster.password",
          "storage.redis_cluster.password_env",
          "storage.redis_cluster.connections",
          "storage.redis_cluster.timeout_seconds",
          "storage.redis_cluster.connect_timeout_seconds",
          "storage.redis_cluster.reconnect_max_backoff_seconds",
          "logging.console",
          "logging.file", "logging.max_file_mb", "logging.max_files"));

  // Parsed parts of the URL alone count as the URL.
  Config port_only = running;
  port_only.storage.redis.port = 6380;
  EXPECT_THAT(RestartOnlyChanges(running, port_only),
              ElementsAre("storage.redis.url"));
}

// The config a reload leaves in force: every restart-only key from the
// running config (so no change is left to report), the rest from the file.
TEST(WithRestartOnlyKeysOfTest, KeepsWhatNeedsARestartAndTakesTheRest) {
  const Config running = DefaultConfig();
  Config next = running;
  next.server.listen_address = "0.0.0.0:1";
  next.storage.memory.shards = 1;
  next.logging.file = "x.log";
  next.logging.level = "error";
  next.runtime.rate_limiting.enabled = false;
  ASSERT_FALSE(RestartOnlyChanges(running, next).empty());

  const Config kept = WithRestartOnlyKeysOf(running, next);
  EXPECT_THAT(RestartOnlyChanges(running, kept), IsEmpty());
  EXPECT_EQ(kept.server.listen_address, running.server.listen_address);
  EXPECT_EQ(kept.storage.memory.shards, running.storage.memory.shards);
  EXPECT_EQ(kept.logging.file, "");
  EXPECT_EQ(kept.logging.level, "error");
  EXPECT_FALSE(kept.runtime.rate_limiting.enabled);
}

}  // namespace
}  // namespace crossbridge
