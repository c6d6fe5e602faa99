// The rate-limit domain: validates a permit request, resolves its operation
// to a rule from the config, and takes permits from the BucketStore.
// Knows no gRPC; server/service/rate_limiter_service.cc adapts it.
//
// Thread safety: Acquire may be called concurrently from any thread.
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
// Every bucket is named by BucketKey(operation, key) (server/redis/
// keyspace.h), so two distinct (operation, key) pairs never share a bucket.
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
#include "server/store/bucket_store.h"

namespace crossbridge {

// Longest accepted bucket key, in bytes.
inline constexpr size_t kMaxKeyBytes = 256;

// OK, or InvalidArgument naming the `key` field.
absl::Status ValidateBucketKey(absl::string_view key);

class RateLimiter {
 public:
  using Callback = std::function<void(absl::StatusOr<GcraResult>)>;

  // InvalidArgument if a configured rule cannot be expressed as a GCRA rule.
  // `fallback` is the in-process store used by on_store_failure: local; null
  // when `store` is itself the in-process one (the memory backend). Both
  // must outlive the RateLimiter.
  static absl::StatusOr<std::unique_ptr<RateLimiter>> Create(
      const RateLimitingConfig& config, BucketStore& store,
      BucketStore* fallback = nullptr);

  // `cost` unset means 1; 0 peeks without consuming.
  void Acquire(absl::string_view operation, absl::string_view key,
               std::optional<uint32_t> cost, Callback done);

 private:
  struct Rule {
    GcraRule gcra;
    StoreFailurePolicy on_store_failure;
    std::string name;  // for messages: operation "embed", default_rule
  };
  using Rules = std::map<std::string, Rule, std::less<>>;

  RateLimiter(bool enabled, Rules rules, std::optional<Rule> default_rule,
              BucketStore& store, BucketStore* fallback);

  static absl::StatusOr<Rule> MakeRule(const RateLimitRule& rule,
                                       absl::string_view name,
                                       absl::string_view path);
  // The rule for `operation` (owned by the limiter), or NotFound.
  absl::StatusOr<const Rule*> ResolveRule(absl::string_view operation) const;
  // Applies the rule's store-failure policy to a failed store call.
  void OnStoreFailure(const absl::Status& error, const std::string& bucket_key,
                      const Rule& rule, int64_t cost, Callback done);

  const bool enabled_;
  const Rules rules_;
  const std::optional<Rule> default_rule_;
  BucketStore& store_;
  BucketStore* const fallback_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_RATE_LIMITER_H_
