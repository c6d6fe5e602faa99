#include "common/published.h"

namespace crossbridge {

uint64_t NextPublishedVersion() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace crossbridge
