// The rate-limit domain: validates a permit request, resolves its operation
// to a rule from the config, and takes permits from the BucketStore.
// Knows no gRPC; server/service/rate_limiter_service.cc adapts it.
//
// Thread safety: Acquire may be called concurrently from any thread.
// Completion: `done` is called exactly once, inline or on a store thread.
// Errors (messages name the request field):
//   InvalidArgument  empty/oversized/control-character key, empty operation,
//                    cost above the operation's capacity
//   NotFound         operation not configured and no default_rule
//   whatever the store reports (Unavailable, DeadlineExceeded)
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
  // `store` must outlive the RateLimiter.
  static absl::StatusOr<std::unique_ptr<RateLimiter>> Create(
      const RateLimitingConfig& config, BucketStore& store);

  // `cost` unset means 1; 0 peeks without consuming.
  void Acquire(absl::string_view operation, absl::string_view key,
               std::optional<uint32_t> cost, Callback done);

 private:
  RateLimiter(bool enabled, std::map<std::string, GcraRule, std::less<>> rules,
              std::optional<GcraRule> default_rule, BucketStore& store);

  // The rule for `operation`, or NotFound.
  absl::StatusOr<GcraRule> ResolveRule(absl::string_view operation) const;

  const bool enabled_;
  const std::map<std::string, GcraRule, std::less<>> rules_;
  const std::optional<GcraRule> default_rule_;
  BucketStore& store_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_RATE_LIMITER_H_
