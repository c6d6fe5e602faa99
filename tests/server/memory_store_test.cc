#include "server/store/memory_store.h"

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/redis/keyspace.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/gcra_rule.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::MakeRule;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

MemoryStorageConfig StorageConfig(int shards, int64_t max_buckets) {
  MemoryStorageConfig config;
  config.shards = shards;
  config.max_buckets = max_buckets;
  return config;
}

// Acquire with the (inline) result returned; checks the callback ran once.
absl::StatusOr<GcraResult> AcquireSync(MemoryStore& store,
                                       absl::string_view key,
                                       const GcraRule& rule, int64_t cost) {
  int calls = 0;
  std::optional<absl::StatusOr<GcraResult>> out;
  store.Acquire(key, rule, cost, /*up_to=*/false, [&](absl::StatusOr<GcraResult> r) {
    ++calls;
    out = std::move(r);
  });
  EXPECT_EQ(calls, 1);
  if (!out.has_value()) return absl::InternalError("callback not called");
  return *std::move(out);
}

bool Allowed(MemoryStore& store, absl::string_view key, const GcraRule& rule,
             int64_t cost = 1) {
  absl::StatusOr<GcraResult> r = AcquireSync(store, key, rule, cost);
  EXPECT_THAT(r, IsOk());
  return r.ok() && r->allowed;
}

int64_t Drain(MemoryStore& store, absl::string_view key, const GcraRule& rule) {
  int64_t n = 0;
  while (Allowed(store, key, rule)) ++n;
  return n;
}

TEST(MemoryStoreTest, AdmitsExactlyCapacity) {
  FakeClock clock;
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  for (int i = 1; i <= 10; ++i) {
    absl::StatusOr<GcraResult> r = AcquireSync(store, "k", rule, 1);
    ASSERT_THAT(r, IsOk());
    EXPECT_TRUE(r->allowed);
    EXPECT_EQ(r->remaining, 10 - i);
    EXPECT_EQ(r->reset_after_ms, i * 1000);
  }
  absl::StatusOr<GcraResult> r = AcquireSync(store, "k", rule, 1);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->allowed);
  EXPECT_EQ(r->limit, 10);
  EXPECT_EQ(r->remaining, 0);
  EXPECT_EQ(r->retry_after_ms, 1000);
  EXPECT_EQ(store.size(), 1);
}

TEST(MemoryStoreTest, AdmitsExactCountForNonDividingWindow) {
  FakeClock clock;
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  EXPECT_EQ(Drain(store, "a", MakeRule(7, absl::Seconds(60))), 7);
  EXPECT_EQ(Drain(store, "b", MakeRule(3, absl::Seconds(10))), 3);
}

TEST(MemoryStoreTest, KeysAreIndependent) {
  FakeClock clock;
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  const GcraRule rule = MakeRule(5, absl::Minutes(1));
  EXPECT_EQ(Drain(store, BucketKey("op", "alice"), rule), 5);
  EXPECT_EQ(Drain(store, BucketKey("op", "bob"), rule), 5);
  EXPECT_EQ(Drain(store, BucketKey("other", "alice"), rule), 5);
  EXPECT_EQ(store.size(), 3);
}

TEST(MemoryStoreTest, RefillsWithClock) {
  FakeClock clock;
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));  // T = 1 s
  ASSERT_EQ(Drain(store, "k", rule), 10);
  clock.Advance(absl::Seconds(1) - absl::Microseconds(1));
  EXPECT_EQ(Drain(store, "k", rule), 0);
  clock.Advance(absl::Microseconds(1));
  EXPECT_EQ(Drain(store, "k", rule), 1);
  clock.Advance(absl::Milliseconds(3500));
  EXPECT_EQ(Drain(store, "k", rule), 3);
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(Drain(store, "k", rule), 10);
}

TEST(MemoryStoreTest, CostAndPeek) {
  FakeClock clock;
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));

  // Peek on an absent bucket creates nothing.
  absl::StatusOr<GcraResult> r = AcquireSync(store, "k", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->allowed);
  EXPECT_EQ(r->remaining, 10);
  EXPECT_EQ(store.size(), 0);

  EXPECT_TRUE(Allowed(store, "k", rule, 7));
  EXPECT_FALSE(Allowed(store, "k", rule, 4));  // refused: consumes nothing
  r = AcquireSync(store, "k", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 3);
  EXPECT_TRUE(Allowed(store, "k", rule, 3));
  r = AcquireSync(store, "k", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->allowed);
  EXPECT_EQ(r->retry_after_ms, 1000);
}

TEST(MemoryStoreTest, RejectsInvalidCostAndRule) {
  FakeClock clock;
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  EXPECT_THAT(AcquireSync(store, "k", rule, 11),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cost")));
  EXPECT_THAT(AcquireSync(store, "k", rule, -1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("cost")));
  EXPECT_THAT(AcquireSync(store, "k", GcraRule{}, 1),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("rule")));
  EXPECT_EQ(store.size(), 0);
}

TEST(MemoryStoreTest, CallbackRunsInlineAfterLockRelease) {
  FakeClock clock;
  MemoryStore store(clock, StorageConfig(1, 100), 1000);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  int outer_calls = 0;
  int inner_calls = 0;
  // Re-entering the store (same shard: only one) from `done` must not
  // deadlock, so the lock is released before `done` runs.
  store.Acquire("k", rule, 1, /*up_to=*/false, [&](absl::StatusOr<GcraResult> r) {
    ++outer_calls;
    EXPECT_THAT(r, IsOk());
    store.Acquire("k", rule, 1, /*up_to=*/false, [&](absl::StatusOr<GcraResult> r2) {
      ++inner_calls;
      ASSERT_THAT(r2, IsOk());
      EXPECT_EQ(r2->remaining, 8);
    });
  });
  EXPECT_EQ(outer_calls, 1);  // inline: done before Acquire returned
  EXPECT_EQ(inner_calls, 1);
}

// ---- Eviction -------------------------------------------------------------------

TEST(MemoryStoreTest, SweepsFullBucketsAtCleanupThreshold) {
  FakeClock clock;
  // One shard so the thresholds are exact.
  MemoryStore store(clock, StorageConfig(1, 1'000'000), /*cleanup_threshold=*/10);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));  // T = 1 s
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(Allowed(store, absl::StrCat("idle", i), rule));
  }
  EXPECT_EQ(store.size(), 10);
  // Updates of existing buckets never sweep.
  ASSERT_TRUE(Allowed(store, "idle0", rule));
  EXPECT_EQ(store.size(), 10);

  clock.Advance(absl::Seconds(1));  // idle1..idle9 full; idle0 one short.
  ASSERT_TRUE(Allowed(store, "new", rule));  // 11th key: sweep, then insert
  EXPECT_EQ(store.size(), 2);  // idle0 (not full) and new

  // A swept bucket behaves exactly as a full one.
  absl::StatusOr<GcraResult> r = AcquireSync(store, "idle5", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 10);
  EXPECT_EQ(Drain(store, "idle5", rule), 10);
  // The bucket that was not full kept its state.
  r = AcquireSync(store, "idle0", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 9);
}

TEST(MemoryStoreTest, SweepResultsMatchNeverEvictingStore) {
  // Same random workload on a store that sweeps constantly and on one that
  // never sweeps: every result must be identical.
  FakeClock clock;
  MemoryStore sweeping(clock, StorageConfig(2, 1'000'000), 2);
  MemoryStore keeping(clock, StorageConfig(2, 1'000'000), 1'000'000);
  const GcraRule rule = MakeRule(3, absl::Seconds(10));
  int64_t steps_with_fewer_buckets = 0;
  uint64_t x = 12345;
  for (int i = 0; i < 5000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;  // LCG
    const std::string key = absl::StrCat("k", (x >> 33) % 40);
    const int64_t cost = (x >> 20) % 4;
    if ((x >> 40) % 4 == 0) clock.Advance(absl::Microseconds((x >> 12) % 3'000'000));
    absl::StatusOr<GcraResult> a = AcquireSync(sweeping, key, rule, cost);
    absl::StatusOr<GcraResult> b = AcquireSync(keeping, key, rule, cost);
    ASSERT_THAT(a, IsOk());
    ASSERT_THAT(b, IsOk());
    ASSERT_EQ(a->allowed, b->allowed) << i;
    ASSERT_EQ(a->remaining, b->remaining) << i;
    ASSERT_EQ(a->retry_after_ms, b->retry_after_ms) << i;
    ASSERT_EQ(a->reset_after_ms, b->reset_after_ms) << i;
    if (sweeping.size() < keeping.size()) ++steps_with_fewer_buckets;
  }
  EXPECT_GT(steps_with_fewer_buckets, 100);  // sweeps did happen
}

TEST(MemoryStoreTest, SweepThresholdDoublesWithLiveBuckets) {
  FakeClock clock;
  MemoryStore store(clock, StorageConfig(1, 1'000'000), /*cleanup_threshold=*/4);
  const GcraRule rule = MakeRule(1, absl::Hours(1));  // full again after 1 h
  // The 5th insert sweeps but frees nothing (4 live buckets), so the next
  // sweep waits for 2 * 4 = 8 buckets, not 4.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(Allowed(store, absl::StrCat("old", i), rule));
  }
  EXPECT_EQ(store.size(), 5);
  clock.Advance(absl::Hours(1));  // old0..old4 are full from now on
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Allowed(store, absl::StrCat("new", i), rule));
    EXPECT_EQ(store.size(), 6 + i);  // below 8: no sweep yet
  }
  ASSERT_TRUE(Allowed(store, "new3", rule));  // size 8: sweep the 5 old ones
  EXPECT_EQ(store.size(), 4);
}

TEST(MemoryStoreTest, MaxBucketsBoundHoldsUnderTenTimesMoreKeys) {
  FakeClock clock;
  constexpr int64_t kMaxBuckets = 200;
  MemoryStore store(clock, StorageConfig(4, kMaxBuckets), 1000);
  const GcraRule rule = MakeRule(100, absl::Hours(1));  // nothing gets full
  int64_t refused = 0;
  for (int i = 0; i < 10 * kMaxBuckets; ++i) {
    absl::StatusOr<GcraResult> r = AcquireSync(store, absl::StrCat("key", i), rule, 1);
    if (!r.ok()) {
      EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                              HasSubstr("memory store full")));
      ++refused;
    }
    ASSERT_LE(store.size(), kMaxBuckets) << i;
  }
  // Every shard filled to its share (200 / 4) and then refused the rest.
  EXPECT_EQ(store.size(), kMaxBuckets);
  EXPECT_EQ(refused, 9 * kMaxBuckets);
  EXPECT_EQ(store.refused_new_buckets(), 9 * kMaxBuckets);
}

TEST(MemoryStoreTest, BoundHoldsWithMoreShardsThanBuckets) {
  FakeClock clock;
  MemoryStore store(clock, StorageConfig(16, 3), 1000);
  const GcraRule rule = MakeRule(100, absl::Hours(1));
  for (int i = 0; i < 100; ++i) {
    (void)AcquireSync(store, absl::StrCat("key", i), rule, 1);
    ASSERT_LE(store.size(), 3);
  }
  EXPECT_EQ(store.size(), 3);
}

// The hostile case: a flood of fresh, fully drained keys past max_buckets
// must not make the store forget a drained key (which would then be allowed
// again, remaining 9 of 10). New keys are refused instead.
TEST(MemoryStoreTest, FloodOfNewKeysNeverResetsADrainedBucket) {
  FakeClock clock;
  MemoryStore store(clock, StorageConfig(1, 8), 1000);
  const GcraRule rule = MakeRule(10, absl::Hours(1));
  ASSERT_EQ(Drain(store, "victim", rule), 10);
  for (int i = 0; i < 100; ++i) {
    (void)AcquireSync(store, absl::StrCat("flood", i), rule, 10);
  }
  EXPECT_EQ(store.size(), 8);
  EXPECT_EQ(store.refused_new_buckets(), 100 - 7);
  absl::StatusOr<GcraResult> r = AcquireSync(store, "victim", rule, 1);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->allowed);
  EXPECT_EQ(r->remaining, 0);
  // Existing buckets still update, and a peek of an unknown key answers.
  r = AcquireSync(store, "flood0", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 0);
  r = AcquireSync(store, "unknown", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 10);
  // Once a bucket refills, a new key gets its place.
  clock.Advance(absl::Hours(1));
  EXPECT_TRUE(Allowed(store, "newcomer", rule));
  EXPECT_LE(store.size(), 8);
}

TEST(MemoryStoreTest, RefusalsAtTheBoundDoNotSweepUntilSomethingRefills) {
  FakeClock clock;
  MemoryStore store(clock, StorageConfig(1, 4), 1000);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));  // T = 1 s
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Allowed(store, absl::StrCat("key", i), rule, i + 1));
  }
  // key0 refills first, after 1 s; until then every new key is refused.
  clock.Advance(absl::Milliseconds(999));
  EXPECT_THAT(AcquireSync(store, "new", rule, 1),
              StatusIs(absl::StatusCode::kUnavailable));
  clock.Advance(absl::Milliseconds(1));
  EXPECT_TRUE(Allowed(store, "new", rule));
  EXPECT_EQ(store.size(), 4);  // key0 swept (full), new in its place
  absl::StatusOr<GcraResult> r = AcquireSync(store, "key3", rule, 0);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->remaining, 7);  // 4 taken, 1 s refilled
}

TEST(MemoryStoreTest, BoundPrefersSweepingFullBuckets) {
  FakeClock clock;
  MemoryStore store(clock, StorageConfig(1, 8), 1000);
  const GcraRule short_rule = MakeRule(1, absl::Seconds(1));
  const GcraRule long_rule = MakeRule(10, absl::Hours(1));
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Allowed(store, absl::StrCat("short", i), short_rule));
    ASSERT_TRUE(Allowed(store, absl::StrCat("long", i), long_rule));
  }
  clock.Advance(absl::Seconds(1));  // the short buckets are full
  ASSERT_TRUE(Allowed(store, "new", long_rule));
  EXPECT_EQ(store.size(), 5);  // swept 4 exact, evicted none
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<GcraResult> r =
        AcquireSync(store, absl::StrCat("long", i), long_rule, 0);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->remaining, 9);
  }
}

// ---- Concurrency ------------------------------------------------------------------

TEST(MemoryStoreTest, ConcurrentAcquiresOnOneBucketAreExact) {
  FakeClock clock;  // frozen
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  const GcraRule rule = MakeRule(1000, absl::Hours(1));
  std::atomic<int64_t> allowed{0};
  std::atomic<int64_t> calls{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        store.Acquire("hot", rule, 1, /*up_to=*/false, [&](absl::StatusOr<GcraResult> r) {
          calls.fetch_add(1);
          if (r.ok() && r->allowed) allowed.fetch_add(1);
        });
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(calls.load(), 8000);
  EXPECT_EQ(allowed.load(), 1000);
}

TEST(MemoryStoreTest, ConcurrentAcquiresOnManyKeys) {
  FakeClock clock;
  // Small bounds so sweeps and refusals at the bound run concurrently with
  // acquires; the clock moves between rounds so earlier buckets become
  // sweepable.
  constexpr int64_t kMaxBuckets = 64;
  MemoryStore store(clock, StorageConfig(4, kMaxBuckets), 16);
  const GcraRule rule = MakeRule(5, absl::Seconds(1));
  std::atomic<int64_t> calls{0};
  for (int round = 0; round < 4; ++round) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t, round] {
        for (int i = 0; i < 2000; ++i) {
          const std::string key =
              absl::StrCat("key", (i * 7 + t + round * 13) % 300);
          store.Acquire(key, rule, i % 3, /*up_to=*/false, [&](absl::StatusOr<GcraResult> r) {
            EXPECT_TRUE(r.ok() || absl::IsUnavailable(r.status()));
            calls.fetch_add(1);
          });
          if (i % 100 == 0) {
            EXPECT_LE(store.size(), kMaxBuckets);
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    clock.Advance(absl::Milliseconds(400));
  }
  EXPECT_EQ(calls.load(), 4 * 8 * 2000);
  EXPECT_LE(store.size(), kMaxBuckets);
}

TEST(MemoryStoreReturnTest, GivesBackTakenPermitsAndErasesAFullBucket) {
  FakeClock clock;
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  const GcraRule rule = MakeRule(10, absl::Seconds(10));
  absl::StatusOr<GcraResult> taken;
  store.Acquire("k", rule, 5, /*up_to=*/false, [&](absl::StatusOr<GcraResult> r) { taken = r; });
  ASSERT_THAT(taken, IsOk());
  ASSERT_EQ(taken->remaining, 5);
  absl::StatusOr<GcraResult> back;
  store.Return("k", rule, 3, [&](absl::StatusOr<GcraResult> r) { back = r; });
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->remaining, 8);
  EXPECT_EQ(store.size(), 1);
  store.Return("k", rule, 10, [&](absl::StatusOr<GcraResult> r) { back = r; });
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->remaining, 10);
  EXPECT_EQ(store.size(), 0);  // full again: the same as absent
  // A return to an absent bucket stores nothing; a count of 0 is refused.
  store.Return("other", rule, 2, [&](absl::StatusOr<GcraResult> r) { back = r; });
  EXPECT_EQ(back->remaining, 10);
  EXPECT_EQ(store.size(), 0);
  store.Return("k", rule, 0, [&](absl::StatusOr<GcraResult> r) { back = r; });
  EXPECT_THAT(back, StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("count 0")));
}

}  // namespace
}  // namespace crossbridge
