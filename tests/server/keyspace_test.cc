// The keyspace's guarantees on random input: distinct (operation, key)
// pairs give distinct bucket keys, no bucket key equals a key of another
// kind, and every key carries exactly one hash tag that covers its parts.
#include "server/redis/keyspace.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

// The text Redis Cluster hashes: between the first '{' and the first '}'
// after it, when that is not empty; else the whole key.
std::string HashTagOf(const std::string& key) {
  const size_t open = key.find('{');
  if (open == std::string::npos) return key;
  const size_t close = key.find('}', open + 1);
  if (close == std::string::npos || close == open + 1) return key;
  return key.substr(open + 1, close - open - 1);
}

TEST(KeyspaceTest, Layout) {
  EXPECT_EQ(BucketKey("embed", "user:1"), "cb:v2:bucket:{embed:user%3A1}");
  EXPECT_EQ(BucketKey("embed:user", "1"), "cb:v2:bucket:{embed%3Auser:1}");
  EXPECT_EQ(BucketKey("op", "{x}%"), "cb:v2:bucket:{op:%7Bx%7D%25}");
  EXPECT_EQ(TenantBucketKey("team-a", "embed", "user:1"),
            "cb:v2:tbucket:{team-a:embed:user%3A1}");
  EXPECT_EQ(RetryBudgetKey("default"), "cb:v2:budget:{default}");
  EXPECT_EQ(HealthCountKey("database"), "cb:v2:health:{database}");
  EXPECT_EQ(ProbeLeaseKey("database"), "cb:v2:probe:{database}");
  EXPECT_EQ(EscapeKeyPart("%3A"), "%253A");
}

TEST(KeyspaceTest, TheCollisionsOfTheV1LayoutCannotHappen) {
  // An operation named like another kind stays a bucket.
  std::set<std::string> keys = {HealthCountKey("database"), ProbeLeaseKey("database"),
                                RetryBudgetKey("default")};
  for (const char* op : {"health", "probe", "budget"}) {
    for (const char* key : {"database", "default"}) {
      EXPECT_EQ(keys.count(BucketKey(op, key)), 0u) << op << "/" << key;
    }
  }
  EXPECT_NE(BucketKey("embed:user", "1"), BucketKey("embed", "user:1"));
}

// Parts drawn from the characters that matter: separators, braces, the
// escape character, UTF-8, controls, and runs that look like escapes.
std::string RandomPart(std::mt19937_64& rng, size_t max_len) {
  static const std::vector<std::string> kPieces = {
      ":", "{", "}", "%", "%3A", "%7B", "%7D", "%25", "a", "Z", "0", "_", ".",
      "-", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "cb", "v2",
      "bucket", "budget", "health", "probe", "\x01", "\x7f", "\\", "\"", "*"};
  std::uniform_int_distribution<size_t> length(0, max_len);
  std::uniform_int_distribution<size_t> piece(0, kPieces.size() - 1);
  std::string out;
  const size_t want = length(rng);
  while (out.size() < want) out += kPieces[piece(rng)];
  return out;
}

TEST(KeyspaceTest, RandomPairsNeverMeetAndKindsNeverMeet) {
  std::mt19937_64 rng(20261201);
  absl::flat_hash_map<std::string, std::pair<std::string, std::string>> seen;
  std::set<std::string> other_kinds;
  for (int i = 0; i < 200000; ++i) {
    // Mostly short parts (many near-collisions), some at the maximal
    // lengths (64-byte operations, 256-byte keys).
    const bool maximal = i % 50 == 0;
    std::string op = RandomPart(rng, maximal ? 64 : 6).substr(0, 64);
    std::string key = RandomPart(rng, maximal ? 256 : 8).substr(0, 256);
    const std::string bucket = BucketKey(op, key);
    auto [it, inserted] = seen.try_emplace(bucket, op, key);
    if (!inserted) {
      ASSERT_EQ(it->second, std::make_pair(op, key))
          << "two pairs share " << bucket;
    }
    // One hash tag, covering exactly the escaped parts.
    ASSERT_EQ(HashTagOf(bucket), EscapeKeyPart(op) + ":" + EscapeKeyPart(key));
    ASSERT_EQ(bucket.rfind("cb:v2:bucket:{", 0), 0u);
    ASSERT_EQ(bucket.back(), '}');
    if (i % 4 == 0) {
      other_kinds.insert(RetryBudgetKey(op));
      other_kinds.insert(HealthCountKey(op));
      other_kinds.insert(ProbeLeaseKey(op));
      ASSERT_EQ(HashTagOf(HealthCountKey(op)),
                op.empty() ? HealthCountKey(op) : EscapeKeyPart(op));
    }
  }
  EXPECT_GT(seen.size(), 100000u);  // the rest were repeats of a pair
  for (const std::string& k : other_kinds) {
    ASSERT_EQ(seen.count(k), 0u) << k;
  }
  // Each kind's prefix is unique and free of braces.
  std::set<std::string> prefixes;
  for (KeyKind kind : {KeyKind::kBucket, KeyKind::kTenantBucket,
                       KeyKind::kRetryBudget, KeyKind::kHealthCount,
                       KeyKind::kProbeLease, KeyKind::kEnvoyBucket}) {
    const std::string prefix(KeyPrefix(kind));
    EXPECT_EQ(prefix.find_first_of("{}"), std::string::npos);
    EXPECT_TRUE(prefixes.insert(prefix).second);
  }
}

// Tenant isolation by construction: whatever operation and key a tenant
// sends, its bucket is never another tenant's nor a shared one, and distinct
// (tenant, operation, key) triples never share a bucket.
TEST(KeyspaceTest, TenantBucketsNeverMeetEachOtherOrSharedBuckets) {
  std::mt19937_64 rng(20261202);
  const std::vector<std::string> tenants = {"a", "b", "a.b", "team-a", "a_b"};
  absl::flat_hash_map<std::string, std::vector<std::string>> seen;
  std::set<std::string> shared;
  for (int i = 0; i < 100000; ++i) {
    const std::string& tenant = tenants[i % tenants.size()];
    std::string op = RandomPart(rng, 6).substr(0, 64);
    std::string key = RandomPart(rng, 8).substr(0, 256);
    const std::string bucket = TenantBucketKey(tenant, op, key);
    auto [it, inserted] = seen.try_emplace(bucket, std::vector<std::string>{tenant, op, key});
    if (!inserted) {
      ASSERT_EQ(it->second, (std::vector<std::string>{tenant, op, key}))
          << "two triples share " << bucket;
    }
    ASSERT_EQ(HashTagOf(bucket), absl::StrCat(EscapeKeyPart(tenant), ":",
                                              EscapeKeyPart(op), ":",
                                              EscapeKeyPart(key)));
    // A key crafted to look like another tenant's parts stays in its own.
    shared.insert(BucketKey(op, key));
    shared.insert(BucketKey(absl::StrCat(tenant, ":", op), key));
  }
  for (const std::string& k : shared) ASSERT_EQ(seen.count(k), 0u) << k;
  EXPECT_NE(TenantBucketKey("a", "embed", "user:1"),
            TenantBucketKey("b", "embed", "user:1"));
  EXPECT_NE(TenantBucketKey("a", "b:embed", "1"),
            TenantBucketKey("a:b", "embed", "1"));
}

// Envoy buckets: injective over (domain, entries, limit identity), never a
// key of another kind, and hashed by the domain alone, so every bucket of
// one request shares a Redis Cluster slot.
TEST(KeyspaceTest, EnvoyBucketsAreInjectiveAndShareTheDomainsSlot) {
  using Entries = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(EnvoyBucketKey("edge", {{"path", "/a:b"}}, EnvoyLimitIdentity(false, 0, 5, 1000000)),
            "cb:v2:envoy:{edge}:path:/a%3Ab:L:0:5:1000000");
  EXPECT_EQ(EnvoyLimitIdentity(true, 2, 7, 0), "O:2:7:0");
  std::mt19937_64 rng(20261203);
  absl::flat_hash_map<std::string, std::pair<std::string, Entries>> seen;
  std::set<std::string> other_kinds;
  const std::vector<std::string> identities = {EnvoyLimitIdentity(false, 0, 5, 1000000),
                                               EnvoyLimitIdentity(false, 1, 5, 1000000),
                                               EnvoyLimitIdentity(true, 1, 5, 0)};
  for (int i = 0; i < 100000; ++i) {
    const std::string domain = RandomPart(rng, 5);
    Entries entries;
    const int n = static_cast<int>(rng() % 3) + 1;
    for (int e = 0; e < n; ++e) entries.emplace_back(RandomPart(rng, 4), RandomPart(rng, 4));
    const std::string& identity = identities[rng() % identities.size()];
    std::vector<std::pair<absl::string_view, absl::string_view>> views(entries.begin(),
                                                                       entries.end());
    const std::string key = EnvoyBucketKey(domain, views, identity);
    auto [it, inserted] =
        seen.try_emplace(key, absl::StrCat(domain, "\n", identity), entries);
    if (!inserted) {
      ASSERT_EQ(it->second, std::make_pair(absl::StrCat(domain, "\n", identity), entries))
          << "two requests share " << key;
    }
    ASSERT_EQ(key.rfind("cb:v2:envoy:{", 0), 0u);
    if (!domain.empty()) ASSERT_EQ(HashTagOf(key), EscapeKeyPart(domain));
    if (i % 8 == 0) {
      other_kinds.insert(BucketKey(domain, entries[0].first));
      other_kinds.insert(RetryBudgetKey(domain));
      other_kinds.insert(HealthCountKey(domain));
    }
  }
  EXPECT_GT(seen.size(), 50000u);
  for (const std::string& k : other_kinds) ASSERT_EQ(seen.count(k), 0u) << k;
}

}  // namespace
}  // namespace crossbridge
