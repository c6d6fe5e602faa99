#include "client/policy_cache.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "common/mutex.h"

namespace crossbridge {
namespace {

// A failed GetRetryPolicy is retried after at most this.
constexpr absl::Duration kRetryAfterFailure = absl::Seconds(1);

// The built-in policy `name`, else the built-in "default".
RetryPolicyConfig BuiltinPolicy(const std::string& name) {
  static const Config* const kDefaults = new Config(DefaultConfig());
  const auto& builtin = kDefaults->runtime.retry.policies;
  auto it = builtin.find(name);
  if (it == builtin.end()) it = builtin.find("default");
  return it != builtin.end() ? it->second : RetryPolicyConfig();
}

}  // namespace

PolicyCache::PolicyCache(ServerRpcs& rpcs, const Clock& clock,
                         absl::Duration ttl)
    : rpcs_(rpcs), clock_(clock), ttl_(ttl) {}

RetryPolicyConfig PolicyCache::Get(const std::string& name,
                                   absl::Duration budget) {
  const absl::Time now = clock_.MonotonicNow();
  std::optional<RetryPolicyConfig> stale;
  {
    MutexLock lock(&mu_);
    auto it = policies_.find(name);
    if (it != policies_.end()) {
      if (now < it->second.expires) return it->second.policy;
      stale = it->second.policy;
    }
  }
  absl::StatusOr<RetryPolicyConfig> fetched =
      absl::DeadlineExceededError("no time left to fetch the policy");
  const absl::Duration rpc_deadline = std::min(rpcs_.default_deadline(), budget);
  if (rpc_deadline > absl::ZeroDuration()) {
    fetched = rpcs_.GetRetryPolicy(name, rpc_deadline);
  }
  RetryPolicyConfig policy;
  absl::Duration ttl = ttl_;
  if (fetched.ok()) {
    policy = *std::move(fetched);
  } else {
    policy = stale.has_value() ? *std::move(stale) : BuiltinPolicy(name);
    ttl = std::min(ttl_, kRetryAfterFailure);
  }
  MutexLock lock(&mu_);
  policies_[name] = Cached{policy, now + ttl};
  return policy;
}

}  // namespace crossbridge
