#include "common/host_port.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

TEST(HostPortTest, ParsesNamesIpv4AndBracketedIpv6) {
  absl::StatusOr<HostPort> hp = ParseHostPort("cache.internal:6380");
  ASSERT_THAT(hp, IsOk());
  EXPECT_EQ(hp->host, "cache.internal");
  EXPECT_EQ(hp->port, 6380);
  EXPECT_FALSE(hp->ipv6);
  hp = ParseHostPort("[::1]:80");
  ASSERT_THAT(hp, IsOk());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_TRUE(hp->ipv6);
  EXPECT_EQ(FormatHostPort(*hp), "[::1]:80");
  EXPECT_EQ(FormatHostPort(*ParseHostPort("10.0.0.1:1")), "10.0.0.1:1");
}

TEST(HostPortTest, PortRules) {
  EXPECT_THAT(ParseHostPort("h:0"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("1..65535, got \"0\"")));
  EXPECT_THAT(ParseHostPort("h:0", {.allow_port_zero = true}), IsOk());
  EXPECT_THAT(ParseHostPort("h:65536", {.allow_port_zero = true}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("0..65535")));
  EXPECT_THAT(ParseHostPort("h:000080"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("h:-1"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("h"), StatusIs(absl::StatusCode::kInvalidArgument,
                                           HasSubstr("the port is required")));
  absl::StatusOr<HostPort> hp = ParseHostPort("h", {.default_port = 6379});
  ASSERT_THAT(hp, IsOk());
  EXPECT_EQ(hp->port, 6379);
}

TEST(HostPortTest, HostRules) {
  EXPECT_THAT(ParseHostPort(":80"), StatusIs(absl::StatusCode::kInvalidArgument,
                                             HasSubstr("the host is required")));
  EXPECT_THAT(ParseHostPort("[]:80"), StatusIs(absl::StatusCode::kInvalidArgument,
                                               HasSubstr("the host is required")));
  EXPECT_THAT(ParseHostPort("::1:80"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("in brackets")));
  EXPECT_THAT(ParseHostPort("[::1]80"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                 HasSubstr("expected ':port'")));
  EXPECT_THAT(ParseHostPort("[::g]:80"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("invalid IPv6 host")));
  EXPECT_THAT(ParseHostPort("a/b:80"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                HasSubstr("invalid host \"a/b\"")));
  EXPECT_THAT(ParseHostPort("a\x1b:80"), StatusIs(absl::StatusCode::kInvalidArgument,
                                                  HasSubstr("\\x1b")));
}

}  // namespace
}  // namespace crossbridge
