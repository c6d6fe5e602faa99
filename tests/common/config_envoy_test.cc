// The top-level envoy section: the syntax (one limit or a list, unit or
// window_seconds, nested descriptors, shadow_mode) and each positioned error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/time/time.h"
#include "common/config.h"
#include "tests/testing/fake_env.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeEnv;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<Config> Parse(absl::string_view yaml) {
  return ParseConfig(yaml, "crossbridge.yml", FakeEnv({}));
}

std::string Error(absl::string_view yaml) {
  absl::StatusOr<Config> c = Parse(yaml);
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument));
  return std::string(c.status().message());
}

TEST(ConfigEnvoyTest, DefaultsToNoDomainsAndFailOpen) {
  absl::StatusOr<Config> c = Parse("");
  ASSERT_THAT(c, IsOk());
  EXPECT_TRUE(c->envoy.domains.empty());
  EXPECT_EQ(c->envoy.on_store_failure, StoreFailurePolicy::kAllow);
}

TEST(ConfigEnvoyTest, ReadsTheTree) {
  absl::StatusOr<Config> c = Parse(R"(
envoy:
  on_store_failure: deny
  domains:
    - domain: edge
      descriptors:
        - key: remote_address
          rate_limit: {unit: second, requests_per_unit: 10}
        - key: path
          value: /login
          shadow_mode: true
          rate_limit:
            - {name: burst, window_seconds: 0.5, requests_per_unit: 5}
            - {name: sustained, unit: minute, requests_per_unit: 60}
        - key: tenant
          descriptors:
            - key: user
              rate_limit: {unit: day, requests_per_unit: 1000}
    - domain: other
)");
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->envoy.on_store_failure, StoreFailurePolicy::kDeny);
  ASSERT_EQ(c->envoy.domains.size(), 2u);
  const EnvoyDomain& edge = c->envoy.domains[0];
  EXPECT_EQ(edge.domain, "edge");
  ASSERT_EQ(edge.descriptors.size(), 3u);
  EXPECT_FALSE(edge.descriptors[0].value.has_value());
  ASSERT_EQ(edge.descriptors[0].rate_limits.size(), 1u);
  EXPECT_EQ(edge.descriptors[0].rate_limits[0].requests_per_unit, 10);
  EXPECT_EQ(edge.descriptors[0].rate_limits[0].window, absl::Seconds(1));
  EXPECT_EQ(edge.descriptors[0].rate_limits[0].unit, 1);
  const EnvoyDescriptor& login = edge.descriptors[1];
  EXPECT_EQ(login.value, "/login");
  EXPECT_TRUE(login.shadow_mode);
  ASSERT_EQ(login.rate_limits.size(), 2u);
  EXPECT_EQ(login.rate_limits[0].name, "burst");
  EXPECT_EQ(login.rate_limits[0].window, absl::Milliseconds(500));
  EXPECT_EQ(login.rate_limits[0].unit, 0);
  EXPECT_EQ(login.rate_limits[1].window, absl::Minutes(1));
  EXPECT_TRUE(edge.descriptors[2].rate_limits.empty());
  ASSERT_EQ(edge.descriptors[2].descriptors.size(), 1u);
  EXPECT_EQ(edge.descriptors[2].descriptors[0].rate_limits[0].window, absl::Hours(24));
}

TEST(ConfigEnvoyTest, PositionedErrorsNameTheField) {
  EXPECT_THAT(Error("envoy:\n  domains:\n    - domain: a\n    - domain: a\n"),
              HasSubstr("crossbridge.yml:4:15: envoy.domains[1].domain: duplicate domain \"a\""));
  EXPECT_THAT(Error(R"(envoy:
  domains:
    - domain: a
      descriptors:
        - {key: k, value: v}
        - {key: k, value: v}
)"),
              HasSubstr("envoy.domains[0].descriptors[1].key: duplicate descriptor key \"k\" "
                        "with value \"v\""));
  // key alone and key+value may sit side by side; two key-alone may not.
  EXPECT_THAT(Parse("envoy: {domains: [{domain: a, descriptors: [{key: k}, {key: k, value: v}]}]}"),
              IsOk());
  EXPECT_THAT(Error("envoy: {domains: [{domain: a, descriptors: [{key: k}, {key: k}]}]}"),
              HasSubstr("without value"));
  EXPECT_THAT(Error(R"(envoy:
  domains:
    - domain: a
      descriptors:
        - key: k
          rate_limit: {unit: second, requests_per_unit: 0}
)"),
              HasSubstr("crossbridge.yml:6:57: envoy.domains[0].descriptors[0].rate_limit."
                        "requests_per_unit: must be in [1, 1000000000]"));
  EXPECT_THAT(Error("envoy: {domains: [{domain: a, descriptors: [{key: k, rate_limit: "
                    "{unit: second, window_seconds: 1, requests_per_unit: 1}}]}]}"),
              HasSubstr("rate_limit.window_seconds: unit and window_seconds are mutually "
                        "exclusive"));
  EXPECT_THAT(Error("envoy: {domains: [{domain: a, descriptors: [{key: k, rate_limit: "
                    "{requests_per_unit: 1}}]}]}"),
              HasSubstr("rate_limit: needs unit"));
  EXPECT_THAT(Error("envoy: {domains: [{domain: a, descriptors: [{key: k, rate_limit: "
                    "[{unit: week, requests_per_unit: 1}]}]}]}"),
              HasSubstr("rate_limit[0].unit: expected one of second, minute, hour, day"));
  EXPECT_THAT(Error("envoy: {domains: [{domain: a, descriptors: [{value: v}]}]}"),
              HasSubstr("envoy.domains[0].descriptors[0]: missing required key \"key\""));
  EXPECT_THAT(Error("envoy: {domains: [{domain: a, descriptors: [{key: k, limit: 1}]}]}"),
              HasSubstr("unknown key \"limit\""));
  EXPECT_THAT(Error("envoy: {domains: [{domain: a, descriptors: [{key: k, shadow_mode: 3}]}]}"),
              HasSubstr("shadow_mode: expected true or false"));
  EXPECT_THAT(Error("envoy: {on_store_failure: maybe}"), HasSubstr("envoy.on_store_failure"));
  EXPECT_THAT(Error("envoy: {domains: {domain: a}}"),
              HasSubstr("envoy.domains: expected a list"));
}

TEST(ConfigEnvoyTest, OnStoreFailureFromTheEnvironment) {
  absl::StatusOr<Config> c =
      ParseConfig("", "crossbridge.yml", FakeEnv({{"CROSSBRIDGE_ENVOY_ON_STORE_FAILURE", "local"}}));
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->envoy.on_store_failure, StoreFailurePolicy::kLocal);
}

}  // namespace
}  // namespace crossbridge
