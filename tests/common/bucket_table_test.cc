// BucketTable: the GCRA table shared by the server's memory store and the
// SDK's local limiter (the store's own tests cover sweeping and sharding
// through MemoryStore).
#include "common/bucket_table.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int64_t kSecond = 1'000'000;

GcraRule TenPerSecond() { return *GcraRule::Create(10, absl::Seconds(1)); }

TEST(BucketTableTest, TakesReturnsAndForgetsAFullBucket) {
  BucketTable table({.max_buckets = 10, .shards = 1, .cleanup_threshold = 10});
  absl::StatusOr<GcraResult> taken = table.Acquire("k", TenPerSecond(), kSecond, 4);
  ASSERT_THAT(taken, IsOk());
  EXPECT_TRUE(taken->allowed);
  EXPECT_EQ(taken->remaining, 6);
  EXPECT_EQ(table.size(), 1);
  absl::StatusOr<GcraResult> back = table.Return("k", TenPerSecond(), kSecond, 3);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->remaining, 9);
  // Returning more than was taken fills it: full is the same as absent.
  ASSERT_THAT(table.Return("k", TenPerSecond(), kSecond, 5), IsOk());
  EXPECT_EQ(table.size(), 0);
  // A return to an absent (full) bucket stores nothing.
  ASSERT_THAT(table.Return("other", TenPerSecond(), kSecond, 1), IsOk());
  EXPECT_EQ(table.size(), 0);
}

TEST(BucketTableTest, UpToTakesWhatIsLeft) {
  BucketTable table({});
  ASSERT_THAT(table.Acquire("k", TenPerSecond(), kSecond, 8), IsOk());
  absl::StatusOr<GcraResult> rest = table.Acquire("k", TenPerSecond(), kSecond, 5, true);
  ASSERT_THAT(rest, IsOk());
  EXPECT_TRUE(rest->allowed);
  EXPECT_EQ(rest->granted, 2);
}

TEST(BucketTableTest, ANewKeyAtTheBoundIsRefusedUntilABucketRefills) {
  BucketTable table({.max_buckets = 2, .shards = 1, .cleanup_threshold = 100});
  ASSERT_THAT(table.Acquire("a", TenPerSecond(), kSecond, 1), IsOk());
  ASSERT_THAT(table.Acquire("b", TenPerSecond(), kSecond, 1), IsOk());
  EXPECT_THAT(table.Acquire("c", TenPerSecond(), kSecond, 1),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("2 buckets still hold state")));
  EXPECT_EQ(table.refused_new_buckets(), 1);
  // Existing buckets and peeks still answer.
  EXPECT_THAT(table.Acquire("a", TenPerSecond(), kSecond, 1), IsOk());
  EXPECT_THAT(table.Acquire("c", TenPerSecond(), kSecond, 0), IsOk());
  // 0.1 s later "b" (one permit taken) is full again and makes room.
  EXPECT_THAT(table.Acquire("c", TenPerSecond(), kSecond + kSecond / 10, 1), IsOk());
  EXPECT_EQ(table.size(), 2);
}

TEST(BucketTableTest, BadArgumentsNameWhatIsWrong) {
  BucketTable table({});
  EXPECT_THAT(table.Acquire("k", TenPerSecond(), kSecond, 11),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("cost 11 is outside [0, capacity 10]")));
  EXPECT_THAT(table.Return("k", TenPerSecond(), kSecond, 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("count 0 is outside [1, capacity 10]")));
  EXPECT_THAT(table.Acquire("k", GcraRule{}, kSecond, 1),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not built by GcraRule::Create")));
}

}  // namespace
}  // namespace crossbridge
