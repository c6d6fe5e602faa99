// The security settings of crossbridge.yml: server.tls, server.
// health_listen_address, auth and a rule's scope - defaults, parsed values,
// environment overrides and their exact, positioned errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <utility>

#include "common/config.h"
#include "common/config_diff.h"
#include "tests/testing/fake_env.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeEnv;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::ElementsAre;

absl::StatusOr<Config> Parse(const std::string& yaml,
                             std::map<std::string, std::string> env = {}) {
  return ParseConfig(yaml, "crossbridge.yml", FakeEnv(std::move(env)));
}

std::string ParseError(const std::string& yaml,
                       std::map<std::string, std::string> env = {}) {
  absl::StatusOr<Config> config = Parse(yaml, std::move(env));
  EXPECT_THAT(config, StatusIs(absl::StatusCode::kInvalidArgument));
  return std::string(config.status().message());
}

TEST(ConfigSecurityTest, DefaultsArePlaintextWithAuthOff) {
  const Config c = DefaultConfig();
  EXPECT_FALSE(c.server.tls.enabled());
  EXPECT_EQ(c.server.tls.client_auth, ClientAuth::kNone);
  EXPECT_EQ(c.server.tls.refresh_interval, absl::Seconds(2));
  EXPECT_EQ(c.server.health_listen_address, "");
  EXPECT_FALSE(c.auth.enabled);
  EXPECT_EQ(c.auth.tokens_file, "");
  EXPECT_EQ(c.runtime.rate_limiting.operations.at("embed").scope,
            BucketScope::kTenant);
}

TEST(ConfigSecurityTest, ParsesMutualTlsTokensAndScopes) {
  absl::StatusOr<Config> c = Parse(R"(
server:
  health_listen_address: "0.0.0.0:8081"
  tls:
    cert_file: /etc/tls/tls.crt
    key_file: /etc/tls/tls.key
    client_ca_file: /etc/tls/ca.crt
    client_auth: require
    refresh_interval_seconds: 1
auth:
  enabled: true
  tokens_file: /etc/crossbridge/tokens.yml
runtime:
  rate_limiting:
    defaults:
      embed: {capacity: 10, window_seconds: 60}
      provider_quota: {capacity: 1000, window_seconds: 60, scope: global}
    default_rule: {capacity: 5, window_seconds: 60, scope: global}
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server.health_listen_address, "0.0.0.0:8081");
  EXPECT_TRUE(c->server.tls.enabled());
  EXPECT_EQ(c->server.tls.cert_file, "/etc/tls/tls.crt");
  EXPECT_EQ(c->server.tls.key_file, "/etc/tls/tls.key");
  EXPECT_EQ(c->server.tls.client_ca_file, "/etc/tls/ca.crt");
  EXPECT_EQ(c->server.tls.client_auth, ClientAuth::kRequire);
  EXPECT_EQ(c->server.tls.refresh_interval, absl::Seconds(1));
  EXPECT_TRUE(c->auth.enabled);
  EXPECT_EQ(c->auth.tokens_file, "/etc/crossbridge/tokens.yml");
  const auto& ops = c->runtime.rate_limiting.operations;
  EXPECT_EQ(ops.at("embed").scope, BucketScope::kTenant);
  EXPECT_EQ(ops.at("provider_quota").scope, BucketScope::kGlobal);
  EXPECT_EQ(c->runtime.rate_limiting.default_rule->scope, BucketScope::kGlobal);
}

TEST(ConfigSecurityTest, EnvironmentOverridesTheSecurityLeaves) {
  absl::StatusOr<Config> c =
      Parse("", {{"CROSSBRIDGE_SERVER_TLS_CERT_FILE", "/c.pem"},
                 {"CROSSBRIDGE_SERVER_TLS_KEY_FILE", "/k.pem"},
                 {"CROSSBRIDGE_AUTH_ENABLED", "true"},
                 {"CROSSBRIDGE_AUTH_TOKENS_FILE", "/t.yml"},
                 {"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_EMBED_SCOPE", "global"}});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->server.tls.cert_file, "/c.pem");
  EXPECT_EQ(c->server.tls.key_file, "/k.pem");
  EXPECT_TRUE(c->auth.enabled);
  EXPECT_EQ(c->auth.tokens_file, "/t.yml");
  EXPECT_EQ(c->runtime.rate_limiting.operations.at("embed").scope,
            BucketScope::kGlobal);
}

TEST(ConfigSecurityTest, TlsKeysThatDoNotFitTogetherArePositionedErrors) {
  EXPECT_EQ(ParseError("server:\n  tls:\n    cert_file: /c\n"),
            "crossbridge.yml:3:16: server.tls.cert_file: set without "
            "server.tls.key_file (both or neither)");
  EXPECT_EQ(ParseError("server:\n  tls:\n    key_file: /k\n"),
            "crossbridge.yml:3:15: server.tls.key_file: set without "
            "server.tls.cert_file (both or neither)");
  EXPECT_EQ(ParseError("server:\n  tls:\n    client_auth: require\n"),
            "crossbridge.yml:3:18: server.tls.client_auth: \"require\" without "
            "server.tls.cert_file (client certificates need TLS)");
  EXPECT_EQ(ParseError("server:\n  tls:\n    cert_file: /c\n    key_file: /k\n"
                       "    client_auth: request\n"),
            "crossbridge.yml:5:18: server.tls.client_auth: \"request\" needs "
            "server.tls.client_ca_file (the CA that client certificates must "
            "chain to)");
  EXPECT_EQ(ParseError("server:\n  tls:\n    cert_file: /c\n    key_file: /k\n"
                       "    client_ca_file: /ca\n"),
            "crossbridge.yml:5:21: server.tls.client_ca_file: is only used with "
            "client_auth request or require (it is none)");
  EXPECT_THAT(ParseError("server:\n  tls:\n    client_auth: sometimes\n"),
              ::testing::HasSubstr("server.tls.client_auth"));
  EXPECT_THAT(ParseError("server:\n  tls:\n    refresh_interval_seconds: 0.5\n"),
              ::testing::HasSubstr("crossbridge.yml:3:31: "
                                   "server.tls.refresh_interval_seconds: must be >= 1"));
  EXPECT_THAT(ParseError("server:\n  tls:\n    cert: /c\n"),
              ::testing::HasSubstr("crossbridge.yml:3:5"));
  EXPECT_THAT(ParseError("server:\n  health_listen_address: nowhere\n"),
              ::testing::HasSubstr("crossbridge.yml:2:26: "
                                   "server.health_listen_address: "));
}

TEST(ConfigSecurityTest, AuthOnNeedsATokensFile) {
  EXPECT_EQ(ParseError("auth:\n  enabled: true\n"),
            "crossbridge.yml:2:12: auth.enabled: true needs auth.tokens_file "
            "(the tenants' token hashes)");
  EXPECT_THAT(ParseError("auth:\n  tokens: x\n"),
              ::testing::HasSubstr("crossbridge.yml:2:3"));
  EXPECT_THAT(ParseError("runtime:\n  rate_limiting:\n    defaults:\n"
                         "      embed: {capacity: 1, window_seconds: 1, scope: "
                         "everyone}\n"),
              ::testing::HasSubstr("runtime.rate_limiting.defaults.embed.scope"));
}

// The TLS files and the health listener are fixed at start; auth reloads.
TEST(ConfigSecurityTest, TlsAndTheHealthListenerNeedARestartAuthDoesNot) {
  Config running = DefaultConfig();
  Config next = running;
  next.server.health_listen_address = "127.0.0.1:8081";
  next.server.tls.cert_file = "/c";
  next.server.tls.key_file = "/k";
  next.server.tls.client_ca_file = "/ca";
  next.server.tls.client_auth = ClientAuth::kRequire;
  next.server.tls.refresh_interval = absl::Seconds(5);
  next.auth.enabled = true;
  next.auth.tokens_file = "/t";
  EXPECT_THAT(RestartOnlyChanges(running, next),
              ElementsAre("server.health_listen_address", "server.tls.cert_file",
                          "server.tls.key_file", "server.tls.client_ca_file",
                          "server.tls.client_auth",
                          "server.tls.refresh_interval_seconds"));
  const Config kept = WithRestartOnlyKeysOf(running, next);
  EXPECT_FALSE(kept.server.tls.enabled());
  EXPECT_TRUE(kept.auth.enabled);
}

}  // namespace
}  // namespace crossbridge
