// The fail-open fallback of hardened calls: an in-process GCRA bucket per
// (operation, key), used while the rate limiter is unreachable. Its rule is
// the limit the server last reported for the operation over a 60 s window,
// or ClientOptions::local_fallback for an operation this Client never saw.
// The buckets are a BucketTable (common/bucket_table.h), the same code as
// the server's memory store, bounded at 10,000 live buckets (a new key
// beyond that is refused, RESOURCE_EXHAUSTED, until some bucket refills).
//
// Thread safety: every method may be called from any thread concurrently.
#ifndef CROSSBRIDGE_CLIENT_LOCAL_LIMITER_H_
#define CROSSBRIDGE_CLIENT_LOCAL_LIMITER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/options.h"
#include "common/bucket_table.h"
#include "common/clock.h"

namespace crossbridge {

class LocalLimiter {
 public:
  // `clock` outlives this; `fallback` is valid (Client::Create checks it).
  LocalLimiter(const Clock& clock, ClientOptions::LocalLimit fallback);

  // Remembers the capacity the server reported for `operation` (> 0).
  void Learn(absl::string_view operation, uint32_t limit);
  // nullopt: allowed (taken); else the wait before the same request may
  // pass. RESOURCE_EXHAUSTED when cost exceeds the capacity or the table is
  // full.
  absl::StatusOr<std::optional<absl::Duration>> Acquire(
      absl::string_view operation, absl::string_view key, uint32_t cost);

 private:
  const Clock& clock_;
  const ClientOptions::LocalLimit fallback_;
  BucketTable table_;
  absl::Mutex mu_;
  std::map<std::string, int64_t, std::less<>> seen_limits_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_LOCAL_LIMITER_H_
