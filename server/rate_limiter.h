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

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
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

// One permit request, as the caller sent it.
struct PermitRequest {
  absl::string_view operation;
  absl::string_view key;
  std::optional<uint32_t> cost;  // unset: 1; 0 peeks
  bool up_to_cost = false;       // take 1..cost (GcraAcquire's up_to)
};

// Where AcquireBatch puts each request's answer. Set runs exactly once per
// request, on any thread, possibly concurrently for different indexes.
class BatchResults {
 public:
  virtual ~BatchResults() = default;
  virtual void Set(size_t index, absl::StatusOr<GcraResult> result) = 0;
};

class RateLimiter {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<GcraResult>)>;

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
  void Acquire(absl::string_view tenant, const PermitRequest& request,
               Callback done);
  void Acquire(absl::string_view tenant, absl::string_view operation,
               absl::string_view key, std::optional<uint32_t> cost,
               Callback done) {
    Acquire(tenant, PermitRequest{operation, key, cost}, std::move(done));
  }

  // Each request as Acquire would answer it, into results.Set(i, ...) for
  // requests[i]; the ones that reach the store go to it together
  // (BucketStore::AcquireBatch: one Redis pipeline). Each failed store call
  // gets its own rule's on_store_failure. `results` must stay valid until
  // its last Set has run.
  void AcquireBatch(absl::string_view tenant,
                    absl::Span<const PermitRequest> requests,
                    BatchResults& results);

  // Gives `count` unused permits back to the bucket Acquire would take them
  // from (GcraReturn). Errors as Acquire's for the operation and key;
  // InvalidArgument naming `count` unless 1 <= count <= capacity;
  // Unavailable when the store fails (whatever on_store_failure says: a
  // refund that is lost is the safe side, and the local fallback never
  // held those permits). With rate limiting disabled: a full bucket.
  void Return(absl::string_view tenant, absl::string_view operation,
              absl::string_view key, uint32_t count, Callback done);

 private:
  using RuleSetPtr = std::shared_ptr<const RuleSet>;
  // A request checked and bound to its rule and bucket, waiting for the
  // store: one allocation per request carries it to the completion.
  struct Pending {
    RuleSetPtr set;        // owns *rule
    const Rule* rule = nullptr;
    int64_t cost = 1;
    bool up_to = false;
    std::string bucket_key;
    Callback done;
  };

  RateLimiter(BucketStore& store, BucketStore* fallback, Metrics* metrics);

  // Checks `request` under `set`: either its final answer (an error, or the
  // open bucket when rate limiting is disabled), already counted, or
  // nullopt with `out` filled for the store.
  std::optional<absl::StatusOr<GcraResult>> Prepare(
      const RuleSetPtr& set, absl::string_view tenant,
      const PermitRequest& request, Pending& out) const;
  // The store's answer to `pending`: counted and passed on, or, when the
  // store failed, the rule's store-failure policy.
  void Complete(std::unique_ptr<Pending> pending, absl::StatusOr<GcraResult> r);

  // The rule for `operation` (owned by `rules`), or NotFound/InvalidArgument.
  static absl::StatusOr<const Rule*> ResolveRule(const RuleSet& rules,
                                                 absl::string_view operation);
  // Applies the rule's store-failure policy to a failed store call.
  void OnStoreFailure(const absl::Status& error, std::unique_ptr<Pending> pending);

  BucketStore& store_;
  BucketStore* const fallback_;
  Metrics* const metrics_;
  Published<RuleSet> rules_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_RATE_LIMITER_H_
