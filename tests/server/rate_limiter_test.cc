// RateLimiter (domain) on a real MemoryStore and a FakeClock: request
// validation, rule resolution, and the values the response carries.
#include "server/rate_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_format.h"

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
                                            std::optional<uint32_t> cost = {},
                                            absl::string_view tenant = "") {
    absl::StatusOr<GcraResult> out = absl::InternalError("not called");
    int calls = 0;
    limiter.Acquire(tenant, op, key, cost, [&](absl::StatusOr<GcraResult> r) {
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

// Tenants A and B on the same key count in two buckets, exactly; a
// scope: global rule is one bucket for both; with no tenant (auth off) the
// bucket is the shared one.
TEST_F(RateLimiterTest, TenantsHaveTheirOwnBucketsUnlessTheRuleIsGlobal) {
  config_.operations["quota"] = {5, absl::Seconds(60), StoreFailurePolicy::kLocal,
                                 BucketScope::kGlobal};
  config_.operations["embed"] = {5, absl::Seconds(60)};
  auto limiter = Make();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Acquire(*limiter, "embed", "user:1", {}, "a")->allowed);
  }
  absl::StatusOr<GcraResult> b = Acquire(*limiter, "embed", "user:1", {}, "b");
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(b->remaining, 4);  // B's first
  EXPECT_EQ(Acquire(*limiter, "embed", "user:1", 0, "a")->remaining, 2);
  EXPECT_EQ(Acquire(*limiter, "embed", "user:1", 0, "")->remaining, 5);
  // The shared bucket is untouched by the tenants' own.
  EXPECT_EQ(store_.size(), 2);

  ASSERT_EQ(Acquire(*limiter, "quota", "org", 2, "a")->remaining, 3);
  ASSERT_EQ(Acquire(*limiter, "quota", "org", 2, "b")->remaining, 1);
  EXPECT_EQ(Acquire(*limiter, "quota", "org", 0, "")->remaining, 1);
  EXPECT_FALSE(Acquire(*limiter, "quota", "org", 2, "a")->allowed);
}

// A key crafted with the separator cannot reach another tenant's bucket:
// tenant "a" sending key "b:embed:user:1"-like values stays in its own.
TEST_F(RateLimiterTest, NoKeyATenantSendsReachesAnotherTenantsBucket) {
  config_.operations["embed"] = {2, absl::Seconds(60)};
  auto limiter = Make();
  ASSERT_FALSE(Acquire(*limiter, "embed", "user:1", 2, "b")->remaining);
  for (const char* key : {"user:1", "b:embed:user:1", "}b:embed:user:1{",
                          "%3Auser:1", "b}:{embed:user:1"}) {
    absl::StatusOr<GcraResult> r = Acquire(*limiter, "embed", key, 0, "a");
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->remaining, 2) << key;
  }
  EXPECT_EQ(Acquire(*limiter, "embed", "user:1", 0, "b")->remaining, 0);
}

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
                         HasSubstr(absl::StrFormat(
                             "key: control character 0x%02x at byte 4",
                             static_cast<unsigned char>(c)))))
        << static_cast<int>(c);
  }
}

TEST_F(RateLimiterTest, C1ControlsAndBrokenUtf8InKeyAreRefused) {
  auto limiter = Make();
  EXPECT_THAT(Acquire(*limiter, "embed", "user\xc2\x9b" "31m"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key: control character U+009B at byte 4")));
  EXPECT_THAT(Acquire(*limiter, "embed", "user\xc2\x80"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key: control character U+0080")));
  EXPECT_THAT(Acquire(*limiter, "embed", "user\xff"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("key: byte 0xff at byte 4 is not valid UTF-8")));
  EXPECT_THAT(Acquire(*limiter, "embed", "caf\xc3\xa9 \xc2\xa0"), IsOk());
}

// With a default_rule, unlisted operations are served, but their names obey
// the config's rule: "embed:user" + "1" cannot meet "embed" + "user:1".
TEST_F(RateLimiterTest, DefaultRuleStillValidatesTheOperationName) {
  config_.default_rule = RateLimitRule{10, absl::Seconds(60)};
  auto limiter = Make();
  for (absl::string_view op : {"embed:user", "a b", "x{y}", "\x1b[31m",
                               "\xc3\xa9", "health:database"}) {
    EXPECT_THAT(Acquire(*limiter, op, "1"),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("must match [A-Za-z0-9_.-]{1,64}")))
        << op;
  }
  EXPECT_THAT(Acquire(*limiter, std::string(65, 'a'), "1"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  absl::StatusOr<GcraResult> r = Acquire(*limiter, std::string(64, 'a'), "1");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->limit, 10);
  // The invalid name is echoed as a bounded, escaped prefix.
  absl::StatusOr<GcraResult> big = Acquire(*limiter, std::string(100000, '\x1b'), "1");
  EXPECT_LT(big.status().message().size(), 400u);
  EXPECT_THAT(big.status().message(), HasSubstr("\\x1b"));
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
