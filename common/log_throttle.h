// Rate limiting for repeated log lines, so a flood of bad requests or a
// failing Redis cannot flood the log.
//
//   static LogThrottle throttle;  // or a member
//   if (auto suppressed = throttle.Admit("OOM")) {
//     log->warn("redis: {} (and {} more like it)", text, *suppressed);
//   }
//
// Admit(key) lets the first line of each key through at once, then at most
// one per `period`, and says how many lines of that key it held back since
// the last one it let through. Keys are few by design (error kinds, call
// sites): at most `max_keys` are tracked, and lines of further keys share
// one overflow key, so hostile variety cannot grow memory.
//
// Thread safety: Admit may be called from any thread.
#ifndef CROSSBRIDGE_COMMON_LOG_THROTTLE_H_
#define CROSSBRIDGE_COMMON_LOG_THROTTLE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace crossbridge {

class LogThrottle {
 public:
  // `clock` must outlive the throttle.
  explicit LogThrottle(absl::Duration period = absl::Minutes(1),
                       const Clock& clock = RealClock::Get(),
                       size_t max_keys = 64)
      : period_(period), clock_(clock), max_keys_(max_keys) {}

  // nullopt: drop this line. Otherwise write it, noting the returned number
  // of lines of the same key dropped since the previous one written.
  std::optional<uint64_t> Admit(absl::string_view key);

 private:
  struct Entry {
    absl::Time next_allowed = absl::InfinitePast();
    uint64_t suppressed = 0;
  };

  const absl::Duration period_;
  const Clock& clock_;
  const size_t max_keys_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_LOG_THROTTLE_H_
