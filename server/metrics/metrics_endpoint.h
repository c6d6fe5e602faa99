// GET /metrics over HTTP (prometheus-cpp's pull exposer, on civetweb), on
// server.metrics_listen_address. Serves the Prometheus text format of every
// collectable of a Metrics object; scrapes run on the exposer's own threads.
//
// Lifetime: the Metrics object must outlive the endpoint. Destroying the
// endpoint stops the listener and waits for a scrape in progress.
#ifndef CROSSBRIDGE_SERVER_METRICS_METRICS_ENDPOINT_H_
#define CROSSBRIDGE_SERVER_METRICS_METRICS_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/metrics/metrics.h"

namespace prometheus {
class Exposer;
}

namespace crossbridge {

class MetricsEndpoint {
 public:
  // Binds `address` (host:port; port 0 picks a free one). UNAVAILABLE
  // naming server.metrics_listen_address when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<MetricsEndpoint>> Start(
      const std::string& address, const Metrics& metrics);
  ~MetricsEndpoint();

  // The bound port.
  int port() const { return port_; }

 private:
  MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer, int port);

  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_METRICS_METRICS_ENDPOINT_H_
