// A lock-free latency histogram for the request paths.
//
// prometheus-cpp's Histogram takes a mutex on every Observe; on the permit
// path that is a lock per request. This one keeps one atomic counter per
// bucket and an atomic sum in nanoseconds: Observe is two relaxed atomic
// adds after a scan of a dozen bounds. Collect builds the Prometheus form
// (cumulative buckets, +Inf last). A scrape may see an Observe's bucket
// without its sum (or the other way round); the count always equals the
// +Inf bucket.
//
// Thread safety: Observe and Collect may be called concurrently.
#ifndef CROSSBRIDGE_SERVER_METRICS_LATENCY_HISTOGRAM_H_
#define CROSSBRIDGE_SERVER_METRICS_LATENCY_HISTOGRAM_H_

#include <prometheus/client_metric.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/time/time.h"

namespace crossbridge {

class LatencyHistogram {
 public:
  // `bounds`: ascending upper bounds (the +Inf bucket is implicit).
  explicit LatencyHistogram(const std::vector<absl::Duration>& bounds);

  void Observe(absl::Duration latency);

  // The histogram as a Prometheus sample (labels left empty).
  prometheus::ClientMetric Collect() const;

 private:
  std::vector<int64_t> bounds_ns_;
  // Non-cumulative: counts_[i] for bounds_ns_[i], the last for +Inf.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> sum_ns_{0};
};

// 50 us .. 10 s: gRPC calls and Redis round trips.
const std::vector<absl::Duration>& RequestLatencyBounds();

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_METRICS_LATENCY_HISTOGRAM_H_
