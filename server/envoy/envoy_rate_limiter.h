// The Envoy rate-limit domain (knows no gRPC; envoy_rate_limit_service.h
// adapts it): validates a ShouldRateLimit request, matches each descriptor
// (descriptor_matcher.h), and takes from every matched limit's bucket at
// once, all or nothing (envoy_bucket_store.h).
//
// Decisions:
//  - Per descriptor: the node its entries reach gives its limits (several
//    per node: each must admit); a request `limit` override (known domain
//    only, as envoyproxy/ratelimit) replaces them with one bucket of its
//    own (the key names the override's requests_per_unit and unit).
//  - Hits: the descriptor's hits_addend if set, else the request's if
//    non-zero, else 1; 0 peeks. More than a limit's capacity: over limit.
//  - overall OVER_LIMIT iff some non-shadow descriptor is over a limit; then
//    no bucket of the request consumes anything. A shadow_mode descriptor
//    answers OK, is counted as shadow_over_limit when it would refuse, and
//    never blocks the others.
//  - Status per descriptor, in request order: its code; current_limit = the
//    first refusing limit, else the one with the fewest remaining (ties: the
//    first); limit_remaining; duration_until_reset = the wait until it would
//    admit when refused, else the time until its bucket is full again.
//  - Unknown domain, no match, or a node without limits: OK, no limit.
//  - Store failure: envoy.on_store_failure: allow (every descriptor OK),
//    deny (UNAVAILABLE), local (the in-process store decides; on the memory
//    backend, which is the local store, UNAVAILABLE).
//
// Errors (InvalidArgument, naming the field): empty domain; no
// descriptors; a descriptor with no entries; an entry with an empty key;
// a key, value or domain longer than 256 bytes; more than 64 descriptors
// or 16 entries; an override with unit not SECOND..DAY or requests_per_unit
// outside [1, 1e9] or above the unit in microseconds; hits_addend above 1e9.
//
// Thread safety: ShouldRateLimit, BuildRules and Apply may be called from
// any thread; a call runs on the rules current when it started.
// Completion: `done` runs exactly once, inline or on a store thread.
#ifndef CROSSBRIDGE_SERVER_ENVOY_ENVOY_RATE_LIMITER_H_
#define CROSSBRIDGE_SERVER_ENVOY_ENVOY_RATE_LIMITER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/config.h"
#include "common/published.h"
#include "server/envoy/descriptor_matcher.h"
#include "server/envoy/envoy_bucket_store.h"
#include "server/metrics/metrics.h"

namespace crossbridge {

inline constexpr size_t kMaxEnvoyDescriptors = 64;
inline constexpr size_t kMaxEnvoyEntries = 16;
inline constexpr size_t kMaxEnvoyTextBytes = 256;

struct EnvoyDescriptorRequest {
  std::vector<std::pair<std::string, std::string>> entries;
  struct Override {
    int64_t requests_per_unit = 0;
    int unit = 0;  // envoy.type.v3.RateLimitUnit
  };
  std::optional<Override> limit;
  std::optional<uint64_t> hits_addend;
};

struct EnvoyRequest {
  std::string domain;
  std::vector<EnvoyDescriptorRequest> descriptors;
  uint32_t hits_addend = 0;  // 0: unset
};

enum class EnvoyCode { kOk, kOverLimit };

struct EnvoyDescriptorStatus {
  EnvoyCode code = EnvoyCode::kOk;
  struct Limit {
    int64_t requests_per_unit = 0;
    int unit = 0;  // RateLimitResponse.RateLimit.Unit (0 for window_seconds)
    std::string name;
  };
  std::optional<Limit> current_limit;  // unset: no limit matched
  int64_t limit_remaining = 0;
  int64_t duration_until_reset_ms = 0;
};

struct EnvoyResponse {
  EnvoyCode overall_code = EnvoyCode::kOk;
  std::vector<EnvoyDescriptorStatus> statuses;
};

class EnvoyRateLimiter {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<EnvoyResponse>)>;
  struct Rules;

  // `store` (and `fallback`, null on the memory backend) and `metrics`
  // (may be null) must outlive the limiter.
  static absl::StatusOr<std::unique_ptr<EnvoyRateLimiter>> Create(
      const EnvoyConfig& config, EnvoyBucketStore& store, EnvoyBucketStore* fallback,
      Metrics* metrics);

  void ShouldRateLimit(const EnvoyRequest& request, Callback done);

  // A reload: builds, then publishes.
  absl::StatusOr<std::shared_ptr<const Rules>> BuildRules(const EnvoyConfig& config);
  void Apply(std::shared_ptr<const Rules> rules);

 private:
  EnvoyRateLimiter(EnvoyBucketStore& store, EnvoyBucketStore* fallback, Metrics* metrics,
                   std::shared_ptr<const Rules> rules);

  EnvoyBucketStore& store_;
  EnvoyBucketStore* const fallback_;
  Metrics* const metrics_;
  Published<Rules> rules_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_ENVOY_ENVOY_RATE_LIMITER_H_
