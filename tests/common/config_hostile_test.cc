// Config inputs the integrity battery found accepted or reported poorly:
// listen addresses gRPC would have bent (port taken modulo 65536, a missing
// port meaning 443), YAML nested too deep, provider names that take the
// server's own grpc.health.v1 names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::StartsWith;

absl::StatusOr<Config> Parse(const std::string& yaml) {
  return ParseConfig(yaml, "crossbridge.yml",
                     [](const std::string&) { return std::nullopt; });
}

std::string ListenError(const std::string& address) {
  absl::StatusOr<Config> c =
      Parse(absl::StrCat("server:\n  listen_address: \"", address, "\"\n"));
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument)) << address;
  return std::string(c.status().message());
}

TEST(ListenAddressTest, OutOfRangeMissingAndMalformedPortsAreErrors) {
  EXPECT_EQ(ListenError("127.0.0.1:99999"),
            "crossbridge.yml:2:19: server.listen_address: \"127.0.0.1:99999\" "
            "is not host:port (the port must be an integer 0..65535, got "
            "\"99999\"; e.g. 127.0.0.1:50051, 0.0.0.0:50051 or [::]:50051)");
  EXPECT_THAT(ListenError(":131073"), HasSubstr("the host is required"));
  EXPECT_THAT(ListenError("127.0.0.1"), HasSubstr("the port is required"));
  EXPECT_THAT(ListenError("not-an-address"), HasSubstr("the port is required"));
  EXPECT_THAT(ListenError("127.0.0.1:+80"), HasSubstr("the port must be"));
  EXPECT_THAT(ListenError("127.0.0.1:"), HasSubstr("the port must be"));
  EXPECT_THAT(ListenError("::1:80"), HasSubstr("in brackets"));
  EXPECT_THAT(ListenError("[::1"), HasSubstr("missing ']'"));
  EXPECT_THAT(ListenError("a b:80"), HasSubstr("invalid host"));
  EXPECT_THAT(ListenError(""), HasSubstr("the host is required"));
}

TEST(ListenAddressTest, ValidFormsAreAccepted) {
  for (const char* address : {"127.0.0.1:0", "0.0.0.0:50051", "[::]:50051",
                              "[::1]:65535", "localhost:8080", "my-host.internal:1"}) {
    EXPECT_THAT(CheckListenAddress(address), IsOk()) << address;
    EXPECT_THAT(Parse(absl::StrCat("server:\n  listen_address: \"", address, "\"\n")),
                IsOk())
        << address;
  }
}

TEST(ListenAddressTest, EnvironmentOverrideIsCheckedToo) {
  absl::StatusOr<Config> c =
      ParseConfig("", "crossbridge.yml", [](const std::string& name) {
        return name == "CROSSBRIDGE_SERVER_LISTEN_ADDRESS"
                   ? std::optional<std::string>("127.0.0.1:70000")
                   : std::nullopt;
      });
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("CROSSBRIDGE_SERVER_LISTEN_ADDRESS")));
}

TEST(DeepYamlTest, NestingIsReportedAsSuch) {
  const std::string flow = std::string(2000, '[') + std::string(2000, ']');
  absl::StatusOr<Config> c = Parse(flow);
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("YAML nested deeper than")));
  EXPECT_THAT(std::string(c.status().message()), StartsWith("crossbridge.yml:"));

  std::string block;
  for (int i = 0; i < 1000; ++i) block += std::string(i, ' ') + "a:\n";
  c = Parse(block);
  EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("YAML nested deeper than 500 levels")));
}

// Found by config_fuzz: yaml-cpp 0.7's LoadAll never returned on a lone ","
// (the server hung in --check-config and at startup).
TEST(FuzzRegressionTest, StrayFlowCommaDoesNotHang) {
  for (const char* text : {",", "a: 1\n,", ",\n---\n,", "[,", "{a: ,}"}) {
    absl::StatusOr<Config> c = Parse(text);  // returns (no hang)
    if (!c.ok()) {
      EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument,
                              StartsWith("crossbridge.yml:")))
          << text;
    }
  }
}

TEST(FuzzRegressionTest, SecondDocumentsAreFoundByTheirMarker) {
  EXPECT_THAT(Parse("server: {}\n---\nserver: {}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("crossbridge.yml:2:1: expected a single YAML document")));
  EXPECT_THAT(Parse("server: {}\n...\nlogging: {}\n"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("crossbridge.yml:3:1: expected a single")));
  // One document with markers, comments and directives is fine.
  EXPECT_THAT(Parse("%YAML 1.2\n# c\n---\nserver: {}\n...\n# end\n"), IsOk());
  EXPECT_THAT(Parse("--- {server: {}}\n"), IsOk());
  // "---" inside an indented block scalar is content, not a marker.
  EXPECT_THAT(Parse("server:\n  listen_address: \"127.0.0.1:1\"\n# ---\n"), IsOk());
}

TEST(ReservedNamesTest, ProvidersCannotTakeTheServersOwnHealthNames) {
  for (const char* name : {"redis", "crossbridge.v1.RateLimiter", "crossbridge.x"}) {
    absl::StatusOr<Config> c = Parse(absl::StrCat(
        "runtime:\n  health_checks:\n    providers:\n      ", name,
        ": {check_type: tcp, target: \"127.0.0.1:1\"}\n"));
    EXPECT_THAT(c, StatusIs(absl::StatusCode::kInvalidArgument,
                            HasSubstr("must not be \"redis\"")))
        << name;
  }
  EXPECT_THAT(Parse("runtime:\n  health_checks:\n    providers:\n"
                    "      redis_cache: {check_type: ping, target: \"127.0.0.1:6379\"}\n"),
              IsOk());
}

}  // namespace
}  // namespace crossbridge
