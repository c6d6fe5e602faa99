// RateLimiter's batch, up-to-cost and return paths on a real MemoryStore
// and a FakeClock: per-item answers in request order, per-item errors, the
// store-failure policy per item, and the refund arithmetic through the
// limiter (same bucket as Acquire, validation naming `count`).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

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

// Collects AcquireBatch's answers by index (the memory store answers inline).
class Collected final : public BatchResults {
 public:
  explicit Collected(size_t n) : results(n, absl::InternalError("not set")), sets(n, 0) {}
  void Set(size_t index, absl::StatusOr<GcraResult> result) override {
    results[index] = std::move(result);
    ++sets[index];
  }
  std::vector<absl::StatusOr<GcraResult>> results;
  std::vector<int> sets;
};

class RateLimiterBatchTest : public ::testing::Test {
 protected:
  RateLimiterBatchTest() : store_(clock_, MemoryStorageConfig{}, 1000) {
    config_.operations["embed"] = {10, absl::Seconds(10)};  // 1 permit/s
    config_.operations["search"] = {30, absl::Seconds(60)};
  }

  std::unique_ptr<RateLimiter> Make() {
    auto limiter = RateLimiter::Create(config_, store_);
    EXPECT_THAT(limiter, IsOk());
    return std::move(*limiter);
  }

  static absl::StatusOr<GcraResult> Acquire(RateLimiter& limiter, PermitRequest request,
                                            absl::string_view tenant = "") {
    absl::StatusOr<GcraResult> out = absl::InternalError("not called");
    limiter.Acquire(tenant, request, [&](absl::StatusOr<GcraResult> r) { out = std::move(r); });
    return out;
  }
  static absl::StatusOr<GcraResult> Return(RateLimiter& limiter, absl::string_view op,
                                           absl::string_view key, uint32_t count,
                                           absl::string_view tenant = "") {
    absl::StatusOr<GcraResult> out = absl::InternalError("not called");
    limiter.Return(tenant, op, key, count,
                   [&](absl::StatusOr<GcraResult> r) { out = std::move(r); });
    return out;
  }

  FakeClock clock_;
  MemoryStore store_;
  RateLimitingConfig config_;
};

TEST_F(RateLimiterBatchTest, EachItemGetsItsOwnAnswerInRequestOrder) {
  auto limiter = Make();
  const std::vector<PermitRequest> items = {
      {"embed", "a", 4},           // ok: 6 left
      {"nope", "a", {}},           // not configured
      {"embed", "", {}},           // empty key
      {"embed", "a", 11},          // above capacity
      {"embed", "a", 7},           // refused: only 6 left
      {"search", "a", {}},         // another operation, its own bucket
      {"embed", "a", 0},           // peek
      {"embed", "a", 9, true},     // up to 9: takes the 6 there are
  };
  Collected got(items.size());
  limiter->AcquireBatch("", items, got);
  for (size_t i = 0; i < items.size(); ++i) EXPECT_EQ(got.sets[i], 1) << i;

  ASSERT_THAT(got.results[0], IsOk());
  EXPECT_TRUE(got.results[0]->allowed);
  EXPECT_EQ(got.results[0]->remaining, 6);
  EXPECT_EQ(got.results[0]->granted, 4);
  EXPECT_THAT(got.results[1], StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_THAT(got.results[2], StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key")));
  EXPECT_THAT(got.results[3], StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cost")));
  ASSERT_THAT(got.results[4], IsOk());
  EXPECT_FALSE(got.results[4]->allowed);
  EXPECT_EQ(got.results[4]->granted, 0);
  EXPECT_EQ(got.results[4]->retry_after_ms, 1000);  // one more permit in 1 s
  ASSERT_THAT(got.results[5], IsOk());
  EXPECT_EQ(got.results[5]->remaining, 29);
  ASSERT_THAT(got.results[6], IsOk());
  EXPECT_EQ(got.results[6]->remaining, 6);
  EXPECT_EQ(got.results[6]->granted, 0);
  ASSERT_THAT(got.results[7], IsOk());
  EXPECT_TRUE(got.results[7]->allowed);
  EXPECT_EQ(got.results[7]->granted, 6);
  EXPECT_EQ(got.results[7]->remaining, 0);
}

TEST_F(RateLimiterBatchTest, AllItemsInvalidStillAnswersEach) {
  auto limiter = Make();
  const std::vector<PermitRequest> items = {{"", "a", {}}, {"embed", "a\n", {}}};
  Collected got(items.size());
  limiter->AcquireBatch("", items, got);
  EXPECT_THAT(got.results[0], StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("operation")));
  EXPECT_THAT(got.results[1], StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("control character")));
}

TEST_F(RateLimiterBatchTest, UpToCostWhenEmptyIsRefusedLikeOnePermit) {
  auto limiter = Make();
  ASSERT_TRUE(Acquire(*limiter, {"embed", "k", 10})->allowed);
  absl::StatusOr<GcraResult> r = Acquire(*limiter, {"embed", "k", 5, true});
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->allowed);
  EXPECT_EQ(r->granted, 0);
  EXPECT_EQ(r->retry_after_ms, 1000);
  clock_.Advance(absl::Seconds(2));
  r = Acquire(*limiter, {"embed", "k", 5, true});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->granted, 2);
}

TEST_F(RateLimiterBatchTest, ReturnGivesBackToTheBucketAcquireTookFrom) {
  auto limiter = Make();
  ASSERT_EQ(Acquire(*limiter, {"embed", "k", 5}, "team-a")->remaining, 5);
  absl::StatusOr<GcraResult> r = Return(*limiter, "embed", "k", 3, "team-a");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 8);
  EXPECT_EQ(r->limit, 10);
  // Another tenant's bucket of the same key was never touched.
  EXPECT_EQ(Acquire(*limiter, {"embed", "k", 0}, "team-b")->remaining, 10);
  // More than was taken: the bucket is full, never above capacity.
  r = Return(*limiter, "embed", "k", 10, "team-a");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 10);
  EXPECT_EQ(Acquire(*limiter, {"embed", "k", 0}, "team-a")->remaining, 10);
}

TEST_F(RateLimiterBatchTest, ReturnValidatesCountKeyAndOperation) {
  auto limiter = Make();
  EXPECT_THAT(Return(*limiter, "embed", "k", 0),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("count: 0")));
  EXPECT_THAT(Return(*limiter, "embed", "k", 11),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("count: 11")));
  EXPECT_THAT(Return(*limiter, "embed", "", 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("key")));
  EXPECT_THAT(Return(*limiter, "nope", "k", 1), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(store_.size(), 0);  // nothing reached the store
}

}  // namespace
}  // namespace crossbridge
