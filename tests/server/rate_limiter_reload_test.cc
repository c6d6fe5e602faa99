// RateLimiter reload (BuildRules + Apply) on a real MemoryStore and a
// FakeClock: a new rule applies to the bucket's current state, an empty
// bucket stays empty, and a rule that cannot be built changes nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "server/rate_limiter.h"
#include "server/store/memory_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

class RateLimiterReloadTest : public ::testing::Test {
 protected:
  RateLimiterReloadTest() : store_(clock_, MemoryStorageConfig{}, 1000) {}

  static RateLimitingConfig Embed(int64_t capacity) {
    RateLimitingConfig config;
    config.operations["embed"] = {capacity, absl::Seconds(60)};
    return config;
  }

  absl::StatusOr<GcraResult> Acquire(RateLimiter& limiter, absl::string_view op,
                                     std::optional<uint32_t> cost = {}) {
    absl::StatusOr<GcraResult> out = absl::InternalError("not called");
    limiter.Acquire("", op, "user:1", cost, [&](absl::StatusOr<GcraResult> r) { out = r; });
    return out;
  }

  absl::Status Reload(RateLimiter& limiter, const RateLimitingConfig& config) {
    absl::StatusOr<std::shared_ptr<const RateLimiter::RuleSet>> rules =
        limiter.BuildRules(config);
    if (!rules.ok()) return rules.status();
    limiter.Apply(*rules);
    return absl::OkStatus();
  }

  FakeClock clock_;
  MemoryStore store_;
};

// 10 per 60 s: 6 s per permit; 4 taken leave the TAT 24 s ahead. At 20 per
// 60 s (3 s per permit) those 24 s are 8 permits: the next one leaves 11.
TEST_F(RateLimiterReloadTest, ANewCapacityAppliesToTheBucketsState) {
  auto limiter = RateLimiter::Create(Embed(10), store_);
  ASSERT_THAT(limiter, IsOk());
  for (int i = 0; i < 4; ++i) ASSERT_THAT(Acquire(**limiter, "embed"), IsOk());
  absl::StatusOr<GcraResult> before = Acquire(**limiter, "embed", 0);
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->limit, 10);
  EXPECT_EQ(before->remaining, 6);

  ASSERT_THAT(Reload(**limiter, Embed(20)), IsOk());
  absl::StatusOr<GcraResult> after = Acquire(**limiter, "embed");
  ASSERT_THAT(after, IsOk());
  EXPECT_TRUE(after->allowed);
  EXPECT_EQ(after->limit, 20);
  EXPECT_EQ(after->remaining, 11);
}

TEST_F(RateLimiterReloadTest, AnEmptyBucketStaysEmpty) {
  auto limiter = RateLimiter::Create(Embed(5), store_);
  ASSERT_THAT(limiter, IsOk());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(Acquire(**limiter, "embed")->allowed);
  ASSERT_FALSE(Acquire(**limiter, "embed")->allowed);

  ASSERT_THAT(Reload(**limiter, Embed(10)), IsOk());
  absl::StatusOr<GcraResult> r = Acquire(**limiter, "embed");
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->allowed);
  EXPECT_EQ(r->limit, 10);
  EXPECT_EQ(r->remaining, 0);
  EXPECT_EQ(r->retry_after_ms, 6000);  // one permit at the new rate
}

TEST_F(RateLimiterReloadTest, RulesThatCannotBeBuiltChangeNothing) {
  auto limiter = RateLimiter::Create(Embed(10), store_);
  ASSERT_THAT(limiter, IsOk());
  RateLimitingConfig broken = Embed(10);
  broken.operations["search"] = {0, absl::Seconds(60)};
  EXPECT_THAT((*limiter)->BuildRules(broken),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("runtime.rate_limiting.defaults.search: ")));
  EXPECT_EQ(Acquire(**limiter, "embed")->limit, 10);
  EXPECT_THAT(Acquire(**limiter, "search"), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(RateLimiterReloadTest, OperationsComeAndGoAndDefaultRuleFollows) {
  auto limiter = RateLimiter::Create(Embed(10), store_);
  ASSERT_THAT(limiter, IsOk());
  RateLimitingConfig next;
  next.operations["search"] = {30, absl::Seconds(60)};
  next.default_rule = RateLimitRule{3, absl::Seconds(60)};
  ASSERT_THAT(Reload(**limiter, next), IsOk());
  EXPECT_EQ(Acquire(**limiter, "search")->limit, 30);
  // embed is gone: default_rule answers it now, on the same bucket.
  EXPECT_EQ(Acquire(**limiter, "embed")->limit, 3);

  next.enabled = false;
  ASSERT_THAT(Reload(**limiter, next), IsOk());
  absl::StatusOr<GcraResult> open = Acquire(**limiter, "search");
  ASSERT_THAT(open, IsOk());
  EXPECT_TRUE(open->allowed);
  EXPECT_EQ(open->remaining, 30);  // disabled: no bucket is consulted
}

}  // namespace
}  // namespace crossbridge
