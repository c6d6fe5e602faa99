// The standard process_* families, read from /proc at scrape time (as the
// Prometheus client libraries of other languages export them):
// process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds and
// process_start_time_seconds. A file that cannot be read leaves its
// families out of that scrape, never fails it.
#ifndef CROSSBRIDGE_SERVER_METRICS_PROCESS_COLLECTOR_H_
#define CROSSBRIDGE_SERVER_METRICS_PROCESS_COLLECTOR_H_

#include <prometheus/collectable.h>

#include <vector>

namespace crossbridge {

class ProcessCollector final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_METRICS_PROCESS_COLLECTOR_H_
