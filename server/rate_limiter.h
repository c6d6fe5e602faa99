// The rate-limit domain: validates a permit request, resolves its operation
// to a rule from the config, and takes permits from the BucketStore.
// Knows no gRPC; server/service/rate_limiter_service.cc adapts it.
//
// Thread safety: Acquire, BuildRules and Apply may be called concurrently
// from any thread; a call runs on the rules current when it started.
// Completion: `done` is called exactly once, inline or on a store thread.
// Errors (messages name the request field and echo at most a bounded,
// escaped prefix of what the caller sent):
//   InvalidArgument  a key that is empty, longer than 256 bytes, or not
//                    printable UTF-8 (C0/C1 controls, DEL, invalid bytes);
//                    an operation name the config could not hold
//                    ([A-Za-z0-9_.-]{1,64}, checked also under default_rule);
//                    a cost above the operation's capacity
//   NotFound         operation not configured and no default_rule
//   Unavailable      the store failed and the operation's on_store_failure is
//                    deny (with `allow` the permit is granted; with `local`
//                    it is decided by the in-process fallback store, or,
//                    on the memory backend, which is itself the local
//                    store, fails closed too)
//
// Metrics: every answer is counted under its rule's operation (default_rule:
// "_default"; an unknown or invalid operation: "_invalid"), with children
// resolved when the rules are built (server/metrics/metrics.h).
//
// Buckets: with no tenant (auth off), or under a rule with scope: global,
// a request takes from BucketKey(operation, key), shared by every caller;
// a tenant's request under a scope: tenant rule takes from
// TenantBucketKey(tenant, operation, key) (server/redis/keyspace.h). So two
// distinct (tenant, operation, key) triples never share a bucket, and no
// key a tenant sends reaches another tenant's bucket.
#ifndef CROSSBRIDGE_SERVER_RATE_LIMITER_H_
#define CROSSBRIDGE_SERVER_RATE_LIMITER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config.h"
#include "common/gcra.h"
#include "common/published.h"
#include "server/metrics/metrics.h"
#include "server/store/bucket_store.h"

namespace crossbridge {

// Longest accepted bucket key, in bytes.
inline constexpr size_t kMaxKeyBytes = 256;

// OK, or InvalidArgument naming the `key` field.
absl::Status ValidateBucketKey(absl::string_view key);

class RateLimiter {
 public:
  using Callback = std::function<void(absl::StatusOr<GcraResult>)>;

  // One config's rules, built by BuildRules and immutable afterwards.
  struct Rule {
    GcraRule gcra;
    StoreFailurePolicy on_store_failure;
    BucketScope scope;
    std::string name;                       // for messages: operation "embed"
    const PermitMetrics* metrics = nullptr;  // null: metrics off
  };
  struct RuleSet {
    bool enabled = true;
    std::map<std::string, Rule, std::less<>> rules;
    std::optional<Rule> default_rule;
    const PermitMetrics* invalid_metrics = nullptr;  // operation="_invalid"
  };

  // InvalidArgument if a configured rule cannot be expressed as a GCRA rule.
  // `fallback` is the in-process store used by on_store_failure: local; null
  // when `store` is itself the in-process one (the memory backend).
  // `metrics` may be null (metrics off). All must outlive the RateLimiter.
  static absl::StatusOr<std::unique_ptr<RateLimiter>> Create(
      const RateLimitingConfig& config, BucketStore& store,
      BucketStore* fallback = nullptr, Metrics* metrics = nullptr);

  // Reload, in two steps so that a server can build every part of a new
  // config before it applies any: BuildRules validates `config` (the errors
  // of Create) and resolves its metrics; Apply makes calls that start
  // afterwards use the rules. Buckets are untouched: a bucket keeps its
  // state (its TAT) and the new rule applies to it.
  absl::StatusOr<std::shared_ptr<const RuleSet>> BuildRules(
      const RateLimitingConfig& config) const;
  void Apply(std::shared_ptr<const RuleSet> rules);

  // `tenant` is the authenticated caller's tenant, "" when auth is off.
  // `cost` unset means 1; 0 peeks without consuming.
  void Acquire(absl::string_view tenant, absl::string_view operation,
               absl::string_view key, std::optional<uint32_t> cost,
               Callback done);

 private:
  using RuleSetPtr = std::shared_ptr<const RuleSet>;

  RateLimiter(BucketStore& store, BucketStore* fallback, Metrics* metrics);

  // The rule for `operation` (owned by `rules`), or NotFound/InvalidArgument.
  static absl::StatusOr<const Rule*> ResolveRule(const RuleSet& rules,
                                                 absl::string_view operation);
  // Applies the rule's store-failure policy to a failed store call.
  void OnStoreFailure(const absl::Status& error, const std::string& bucket_key,
                      RuleSetPtr rules, const Rule& rule, int64_t cost,
                      Callback done);

  BucketStore& store_;
  BucketStore* const fallback_;
  Metrics* const metrics_;
  Published<RuleSet> rules_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_RATE_LIMITER_H_
