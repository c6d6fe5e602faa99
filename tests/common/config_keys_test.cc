// server.metrics_listen_address and the logging sink keys (console, file,
// max_file_mb, max_files): defaults, parsed values, environment overrides
// and their exact, positioned errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "common/config.h"
#include "tests/testing/fake_env.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeEnv;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;

absl::StatusOr<Config> Parse(const std::string& yaml,
                             std::map<std::string, std::string> env = {}) {
  return ParseConfig(yaml, "crossbridge.yml", FakeEnv(std::move(env)));
}

// The message of a parse that must fail with InvalidArgument.
std::string ParseError(const std::string& yaml,
                       std::map<std::string, std::string> env = {}) {
  absl::StatusOr<Config> config = Parse(yaml, std::move(env));
  EXPECT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument));
  return std::string(config.status().message());
}

constexpr char kNowhere[] =
    "logging.console: false with no logging.file: logs would go nowhere (set "
    "logging.file, or console: true)";

TEST(NewKeysTest, Defaults) {
  const Config c = DefaultConfig();
  EXPECT_EQ(c.server.metrics_listen_address, "127.0.0.1:9464");
  EXPECT_TRUE(c.logging.console);
  EXPECT_EQ(c.logging.file, "");
  EXPECT_EQ(c.logging.max_file_mb, 100);
  EXPECT_EQ(c.logging.max_files, 5);

  absl::StatusOr<Config> empty = Parse("");
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->server.metrics_listen_address, "127.0.0.1:9464");
  EXPECT_TRUE(empty->logging.console);
  EXPECT_EQ(empty->logging.file, "");
  EXPECT_EQ(empty->logging.max_file_mb, 100);
  EXPECT_EQ(empty->logging.max_files, 5);
}

TEST(NewKeysTest, ParsesEveryKey) {
  absl::StatusOr<Config> c = Parse(
      "server:\n"
      "  metrics_listen_address: \"[::]:9100\"\n"
      "logging:\n"
      "  console: false\n"
      "  file: /var/log/crossbridge/server.log\n"
      "  max_file_mb: 10240\n"
      "  max_files: 1000\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server.metrics_listen_address, "[::]:9100");
  EXPECT_EQ(c->server.listen_address, "127.0.0.1:50051");
  EXPECT_FALSE(c->logging.console);
  EXPECT_EQ(c->logging.file, "/var/log/crossbridge/server.log");
  EXPECT_EQ(c->logging.max_file_mb, 10240);
  EXPECT_EQ(c->logging.max_files, 1000);

  absl::StatusOr<Config> low =
      Parse("logging: {file: a.log, max_file_mb: 1, max_files: 1}\n");
  ASSERT_THAT(low, IsOk());
  EXPECT_TRUE(low->logging.console);
  EXPECT_EQ(low->logging.file, "a.log");
  EXPECT_EQ(low->logging.max_file_mb, 1);
  EXPECT_EQ(low->logging.max_files, 1);
}

TEST(NewKeysTest, EmptyMetricsAddressTurnsMetricsOff) {
  absl::StatusOr<Config> c = Parse("server: {metrics_listen_address: \"\"}\n");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server.metrics_listen_address, "");
  absl::StatusOr<Config> port_zero =
      Parse("server: {metrics_listen_address: \"0.0.0.0:0\"}\n");
  ASSERT_THAT(port_zero, IsOk());
  EXPECT_EQ(port_zero->server.metrics_listen_address, "0.0.0.0:0");
}

TEST(NewKeysTest, BadMetricsAddressIsCheckedLikeTheListenAddress) {
  EXPECT_EQ(ParseError("server:\n"
                       "  metrics_listen_address: \"127.0.0.1:99999\"\n"),
            "crossbridge.yml:2:27: server.metrics_listen_address: "
            "\"127.0.0.1:99999\" is not host:port (the port must be an "
            "integer 0..65535, got \"99999\"; e.g. 127.0.0.1:50051, "
            "0.0.0.0:50051 or [::]:50051)");
  EXPECT_EQ(ParseError("server: {metrics_listen_address: 9464}\n"),
            "crossbridge.yml:1:34: server.metrics_listen_address: \"9464\" is "
            "not host:port (the port is required (host:port); e.g. "
            "127.0.0.1:50051, 0.0.0.0:50051 or [::]:50051)");
  EXPECT_EQ(ParseError("server: {metrics_listen_address: [a]}\n"),
            "crossbridge.yml:1:34: server.metrics_listen_address: expected a "
            "string, got a list");
}

TEST(NewKeysTest, LoggingRangesAndTypes) {
  EXPECT_EQ(ParseError("logging:\n  max_file_mb: 0\n"),
            "crossbridge.yml:2:16: logging.max_file_mb: must be >= 1, got 0");
  EXPECT_EQ(ParseError("logging:\n  max_file_mb: 10241\n"),
            "crossbridge.yml:2:16: logging.max_file_mb: must be <= 10240, got "
            "10241");
  EXPECT_EQ(ParseError("logging:\n  max_files: 0\n"),
            "crossbridge.yml:2:14: logging.max_files: must be >= 1, got 0");
  EXPECT_EQ(ParseError("logging:\n  max_files: 1001\n"),
            "crossbridge.yml:2:14: logging.max_files: must be <= 1000, got "
            "1001");
  EXPECT_EQ(ParseError("logging:\n  max_files: five\n"),
            "crossbridge.yml:2:14: logging.max_files: expected an integer, "
            "got \"five\"");
  EXPECT_EQ(ParseError("logging:\n  console: yes\n"),
            "crossbridge.yml:2:12: logging.console: expected true or false, "
            "got \"yes\"");
  EXPECT_EQ(ParseError("logging:\n  file: {path: x}\n"),
            "crossbridge.yml:2:9: logging.file: expected a string, got a map");
  EXPECT_EQ(ParseError("logging: {colour: true}\n"),
            "crossbridge.yml:1:11: logging.colour: unknown key (expected one "
            "of: level, format, console, file, max_file_mb, max_files)");
}

TEST(NewKeysTest, ConsoleOffNeedsAFile) {
  EXPECT_EQ(ParseError("logging:\n  console: false\n"),
            std::string("crossbridge.yml:2:12: ") + kNowhere);
  EXPECT_EQ(ParseError("logging: {console: false, file: \"\"}\n"),
            std::string("crossbridge.yml:1:20: ") + kNowhere);
  // The error points at console even when file comes after it.
  EXPECT_EQ(ParseError("logging:\n  file: \"\"\n  console: false\n"),
            std::string("crossbridge.yml:3:12: ") + kNowhere);
  EXPECT_EQ(ParseError("", {{"CROSSBRIDGE_LOGGING_CONSOLE", "false"}}),
            "environment CROSSBRIDGE_LOGGING_CONSOLE: false with no "
            "logging.file: logs would go nowhere (set logging.file, or "
            "console: true)");
  // The environment can empty a file the config set.
  EXPECT_EQ(ParseError("logging: {console: false, file: a.log}\n",
                       {{"CROSSBRIDGE_LOGGING_FILE", ""}}),
            std::string("crossbridge.yml:1:20: ") + kNowhere);
  EXPECT_THAT(Parse("logging: {console: false, file: a.log}\n"), IsOk());
}

TEST(NewKeysTest, EveryLeafHasAnEnvironmentOverride) {
  absl::StatusOr<Config> c = Parse(
      "server: {metrics_listen_address: \"127.0.0.1:1\"}\n"
      "logging: {file: from-file.log, max_files: 3}\n",
      {{"CROSSBRIDGE_SERVER_METRICS_LISTEN_ADDRESS", "0.0.0.0:9100"},
       {"CROSSBRIDGE_LOGGING_CONSOLE", "false"},
       {"CROSSBRIDGE_LOGGING_FILE", "/tmp/from-env.log"},
       {"CROSSBRIDGE_LOGGING_MAX_FILE_MB", "7"},
       {"CROSSBRIDGE_LOGGING_MAX_FILES", "2"}});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server.metrics_listen_address, "0.0.0.0:9100");
  EXPECT_FALSE(c->logging.console);
  EXPECT_EQ(c->logging.file, "/tmp/from-env.log");
  EXPECT_EQ(c->logging.max_file_mb, 7);
  EXPECT_EQ(c->logging.max_files, 2);

  // "" from the environment turns metrics off, also without a file.
  absl::StatusOr<Config> off = DefaultConfigWithEnv(
      FakeEnv({{"CROSSBRIDGE_SERVER_METRICS_LISTEN_ADDRESS", ""}}));
  ASSERT_THAT(off, IsOk());
  EXPECT_EQ(off->server.metrics_listen_address, "");
}

TEST(NewKeysTest, BadEnvironmentValuesNameTheVariable) {
  EXPECT_EQ(ParseError("", {{"CROSSBRIDGE_SERVER_METRICS_LISTEN_ADDRESS",
                             "127.0.0.1:70000"}}),
            "environment CROSSBRIDGE_SERVER_METRICS_LISTEN_ADDRESS: "
            "\"127.0.0.1:70000\" is not host:port (the port must be an "
            "integer 0..65535, got \"70000\"; e.g. 127.0.0.1:50051, "
            "0.0.0.0:50051 or [::]:50051)");
  EXPECT_EQ(ParseError("", {{"CROSSBRIDGE_LOGGING_MAX_FILE_MB", "0"}}),
            "environment CROSSBRIDGE_LOGGING_MAX_FILE_MB: must be >= 1, got 0");
  EXPECT_EQ(ParseError("", {{"CROSSBRIDGE_LOGGING_MAX_FILES", "1001"}}),
            "environment CROSSBRIDGE_LOGGING_MAX_FILES: must be <= 1000, got "
            "1001");
  EXPECT_EQ(ParseError("", {{"CROSSBRIDGE_LOGGING_CONSOLE", "off"}}),
            "environment CROSSBRIDGE_LOGGING_CONSOLE: expected true or false, "
            "got \"off\"");
}

}  // namespace
}  // namespace crossbridge
