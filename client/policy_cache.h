// Retry policies for hardened calls, fetched from the server (GetRetryPolicy)
// and cached per name for ClientOptions::policy_cache_ttl. When a fetch
// fails: the last fetched copy, else the built-in policy of that name from
// DefaultConfig(), else the built-in "default"; that answer is kept for at
// most 1 s before the server is asked again.
//
// Thread safety: Get may be called from any thread; the fetch runs without
// the lock held (two threads may fetch one name at once; the later answer
// stays).
#ifndef CROSSBRIDGE_CLIENT_POLICY_CACHE_H_
#define CROSSBRIDGE_CLIENT_POLICY_CACHE_H_

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/server_rpcs.h"
#include "common/clock.h"
#include "common/config.h"

namespace crossbridge {

class PolicyCache {
 public:
  // `rpcs` and `clock` outlive this. ttl >= 0.
  PolicyCache(ServerRpcs& rpcs, const Clock& clock, absl::Duration ttl);

  // The policy `name`; a fetch gets at most min(default deadline, budget).
  RetryPolicyConfig Get(const std::string& name, absl::Duration budget);

 private:
  struct Cached {
    RetryPolicyConfig policy;
    absl::Time expires;  // monotonic
  };

  ServerRpcs& rpcs_;
  const Clock& clock_;
  const absl::Duration ttl_;
  absl::Mutex mu_;
  std::map<std::string, Cached> policies_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_POLICY_CACHE_H_
