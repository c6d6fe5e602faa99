// RateLimiter (domain) on a real MemoryStore and a FakeClock: request
// validation, rule resolution, and the values the response carries.
#include "server/rate_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "server/store/memory_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

class RateLimiterTest : public ::testing::Test {
 protected:
  RateLimiterTest() : store_(clock_, MemoryStorageConfig{}, 1000) {
    config_.operations["embed"] = {60, absl::Seconds(60)};
    config_.operations["search"] = {30, absl::Seconds(60)};
  }

  std::unique_ptr<RateLimiter> Make() {
    auto limiter = RateLimiter::Create(config_, store_);
    EXPECT_THAT(limiter, IsOk());
    return std::move(*limiter);
  }

  // The memory store completes inline, so the result is ready on return.
  static absl::StatusOr<GcraResult> Acquire(RateLimiter& limiter,
                                            absl::string_view op,
                                            absl::string_view key,
                                            std::optional<uint32_t> cost = {}) {
    absl::StatusOr<GcraResult> out = absl::InternalError("not called");
    int calls = 0;
    limiter.Acquire(op, key, cost, [&](absl::StatusOr<GcraResult> r) {
      out = std::move(r);
      ++calls;
    });
    EXPECT_EQ(calls, 1);
    return out;
  }

  FakeClock clock_;
  MemoryStore store_;
  RateLimitingConfig config_;
};

TEST_F(RateLimiterTest, FirstPermitOfEmbedLeaves59) {
  auto limiter = Make();
  absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", "user:1");
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->allowed);
  EXPECT_EQ(r->limit, 60);
  EXPECT_EQ(r->remaining, 59);
  EXPECT_EQ(r->retry_after_ms, 0);
  EXPECT_EQ(r->reset_after_ms, 1000);
}

TEST_F(RateLimiterTest, ExactlyCapacityAdmittedInOneInstant) {
  auto limiter = Make();
  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "search", "k");
    ASSERT_THAT(r, IsOk());
    if (r->allowed) {
      ++allowed;
    } else {
      EXPECT_EQ(r->retry_after_ms, 2000);  // one permit every 60/30 s
      EXPECT_EQ(r->remaining, 0);
    }
  }
  EXPECT_EQ(allowed, 30);
}

TEST_F(RateLimiterTest, OperationsHaveSeparateBucketsForTheSameKey) {
  auto limiter = Make();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(Acquire(*limiter, "search", "k")->allowed);
  EXPECT_FALSE(Acquire(*limiter, "search", "k")->allowed);
  EXPECT_TRUE(Acquire(*limiter, "embed", "k")->allowed);
}

TEST_F(RateLimiterTest, UnsetCostMeansOneAndZeroPeeks) {
  auto limiter = Make();
  EXPECT_EQ(Acquire(*limiter, "embed", "k", 0)->remaining, 60);
  EXPECT_EQ(Acquire(*limiter, "embed", "k")->remaining, 59);
  EXPECT_EQ(Acquire(*limiter, "embed", "k", 0)->remaining, 59);
  EXPECT_EQ(Acquire(*limiter, "embed", "k", 9)->remaining, 50);
}

TEST_F(RateLimiterTest, RefillsOverTime) {
  auto limiter = Make();
  for (int i = 0; i < 60; ++i) ASSERT_TRUE(Acquire(*limiter, "embed", "k")->allowed);
  ASSERT_FALSE(Acquire(*limiter, "embed", "k")->allowed);
  clock_.Advance(absl::Seconds(1));
  EXPECT_TRUE(Acquire(*limiter, "embed", "k")->allowed);
  EXPECT_FALSE(Acquire(*limiter, "embed", "k")->allowed);
}

TEST_F(RateLimiterTest, CostAboveCapacityIsInvalidArgumentNamingCost) {
  auto limiter = Make();
  EXPECT_THAT(Acquire(*limiter, "embed", "k", 61),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cost: 61 exceeds the capacity 60")));
  // Nothing was consumed by the rejected request.
  EXPECT_EQ(Acquire(*limiter, "embed", "k", 0)->remaining, 60);
}

TEST_F(RateLimiterTest, CostEqualToCapacityIsAccepted) {
  auto limiter = Make();
  absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", "k", 60);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->allowed);
  EXPECT_EQ(r->remaining, 0);
  EXPECT_EQ(r->reset_after_ms, 60000);
}

TEST_F(RateLimiterTest, UnknownOperationIsNotFound) {
  auto limiter = Make();
  EXPECT_THAT(Acquire(*limiter, "summarize", "k"),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("operation: \"summarize\" is not configured")));
}

TEST_F(RateLimiterTest, UnknownOperationUsesDefaultRuleWhenConfigured) {
  config_.default_rule = RateLimitRule{5, absl::Seconds(10)};
  auto limiter = Make();
  absl::StatusOr<GcraResult> r = Acquire(*limiter, "summarize", "k");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->limit, 5);
  EXPECT_EQ(r->remaining, 4);
}

TEST_F(RateLimiterTest, EmptyOperationIsInvalidArgument) {
  auto limiter = Make();
  EXPECT_THAT(Acquire(*limiter, "", "k"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("operation: must not be empty")));
}

TEST_F(RateLimiterTest, EmptyKeyIsInvalidArgument) {
  auto limiter = Make();
  EXPECT_THAT(Acquire(*limiter, "embed", ""),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key: must not be empty")));
}

TEST_F(RateLimiterTest, KeyOf256BytesIsAcceptedAnd257Refused) {
  auto limiter = Make();
  EXPECT_THAT(Acquire(*limiter, "embed", std::string(256, 'a')), IsOk());
  EXPECT_THAT(Acquire(*limiter, "embed", std::string(257, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key: 257 bytes, longer than the limit of 256")));
}

TEST_F(RateLimiterTest, ControlCharactersInKeyAreRefused) {
  auto limiter = Make();
  for (char c : {'\0', '\n', '\r', '\t', '\x1b', '\x7f'}) {
    std::string key = "user";
    key += c;
    key += "1";
    EXPECT_THAT(Acquire(*limiter, "embed", key),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("key: control character")))
        << static_cast<int>(c);
  }
}

TEST_F(RateLimiterTest, HostileButPrintableKeysAreOrdinaryBuckets) {
  auto limiter = Make();
  for (absl::string_view key :
       {"a b", "*", "{}", "\"'", "'); redis.call('FLUSHALL", "embed:x}", "üñí"}) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", key);
    ASSERT_THAT(r, IsOk()) << key;
    EXPECT_EQ(r->remaining, 59) << key;  // each its own, fresh bucket
  }
}

TEST_F(RateLimiterTest, DisabledRateLimitingAllowsEverythingAndStillValidates) {
  config_.enabled = false;
  auto limiter = Make();
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "search", "k");
    ASSERT_THAT(r, IsOk());
    EXPECT_TRUE(r->allowed);
    EXPECT_EQ(r->remaining, 30);
  }
  EXPECT_THAT(Acquire(*limiter, "search", ""),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(store_.size(), 0);
}

}  // namespace
}  // namespace crossbridge
