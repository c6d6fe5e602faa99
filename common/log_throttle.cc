#include "common/log_throttle.h"

#include "common/mutex.h"

namespace crossbridge {
namespace {

constexpr absl::string_view kOverflowKey = "\x01overflow";

}  // namespace

std::optional<uint64_t> LogThrottle::Admit(absl::string_view key) {
  const absl::Time now = clock_.MonotonicNow();
  MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it == entries_.end()) {
    if (entries_.size() >= max_keys_) key = kOverflowKey;
    it = entries_.try_emplace(key).first;
  }
  Entry& entry = it->second;
  if (now < entry.next_allowed) {
    ++entry.suppressed;
    return std::nullopt;
  }
  const uint64_t suppressed = entry.suppressed;
  entry.suppressed = 0;
  entry.next_allowed = now + period_;
  return suppressed;
}

}  // namespace crossbridge
