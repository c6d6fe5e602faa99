#include "server/metrics/latency_histogram.h"

#include <limits>

namespace crossbridge {

LatencyHistogram::LatencyHistogram(const std::vector<absl::Duration>& bounds)
    : counts_(new std::atomic<uint64_t>[bounds.size() + 1]) {
  bounds_ns_.reserve(bounds.size());
  for (absl::Duration b : bounds) bounds_ns_.push_back(absl::ToInt64Nanoseconds(b));
  for (size_t i = 0; i <= bounds.size(); ++i) counts_[i].store(0);
}

void LatencyHistogram::Observe(absl::Duration latency) {
  const int64_t ns = std::max<int64_t>(0, absl::ToInt64Nanoseconds(latency));
  size_t i = 0;
  while (i < bounds_ns_.size() && ns > bounds_ns_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<uint64_t>(ns), std::memory_order_relaxed);
}

prometheus::ClientMetric LatencyHistogram::Collect() const {
  prometheus::ClientMetric m;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_ns_.size(); ++i) {
    cumulative += counts_[i].load(std::memory_order_relaxed);
    prometheus::ClientMetric::Bucket bucket;
    bucket.cumulative_count = cumulative;
    bucket.upper_bound = i < bounds_ns_.size()
                             ? static_cast<double>(bounds_ns_[i]) / 1e9
                             : std::numeric_limits<double>::infinity();
    m.histogram.bucket.push_back(bucket);
  }
  m.histogram.sample_count = cumulative;
  m.histogram.sample_sum =
      static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  return m;
}

const std::vector<absl::Duration>& RequestLatencyBounds() {
  static const auto* bounds = new std::vector<absl::Duration>{
      absl::Microseconds(50),  absl::Microseconds(100), absl::Microseconds(250),
      absl::Microseconds(500), absl::Milliseconds(1),   absl::Milliseconds(2.5),
      absl::Milliseconds(5),   absl::Milliseconds(10),  absl::Milliseconds(25),
      absl::Milliseconds(50),  absl::Milliseconds(100), absl::Milliseconds(250),
      absl::Milliseconds(500), absl::Seconds(1),        absl::Seconds(2.5),
      absl::Seconds(5),        absl::Seconds(10)};
  return *bounds;
}

}  // namespace crossbridge
