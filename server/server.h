// The CrossBridge server: builds the object graph once from a Config (store,
// domain classes, gRPC services) and owns the gRPC server.
//
// Lifecycle: Create() -> Start() -> [Reload()...] -> [Drain()] -> Wait().
// Drain() and Reload() may be called from any thread (the signal and watch
// threads in server_main.cc); Drain() is idempotent.
#ifndef CROSSBRIDGE_SERVER_SERVER_H_
#define CROSSBRIDGE_SERVER_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/clock.h"
#include "common/config.h"

namespace crossbridge {

class Server {
 public:
  // Builds everything from `config`. Fails on a config the server cannot
  // run: a TLS file (server.tls.*) or the tokens file (auth.tokens_file)
  // that is missing, unreadable or broken (the error names the key and the
  // path, or file:line:col).
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      std::shared_ptr<const Config> config, const Clock& clock);
  virtual ~Server() = default;

  // Binds config->server.listen_address and starts serving. Unavailable if
  // the address cannot be bound.
  virtual absl::Status Start() = 0;

  // The bound port (after Start), e.g. the one picked for port 0.
  virtual int port() const = 0;
  // The bound port of the plaintext grpc.health.v1 listener
  // (server.health_listen_address); 0 when there is none.
  virtual int health_port() const = 0;
  // The bound port of GET /metrics; 0 when metrics are off.
  virtual int metrics_port() const = 0;

  // One hot-reload attempt. `next` is the freshly loaded config, or the
  // error loading it gave (the --check-config message: file:line:col and the
  // key path). Builds every reloadable part of it (runtime.*, logging.level,
  // logging.format, and auth with its tokens file read again) and only then
  // applies them all; calls that start afterwards use the new config, calls
  // in flight finish on the old one.
  // Bucket state, retry budgets and health counts are kept. Keys that need
  // a restart (server.*, storage.*, the log sinks) keep their running
  // values; each one that differs is logged as a warning. Every attempt is
  // logged once and counted (crossbridge_config_reloads_total{result}).
  // On error nothing has changed, and the error is returned.
  virtual absl::Status Reload(const absl::StatusOr<Config>& next) = 0;

  // Graceful stop: every health status turns NOT_SERVING at once, calls are
  // still served for server.drain_grace, then the listener closes and
  // in-flight calls get up to server.shutdown_timeout to finish.
  virtual void Drain() = 0;

  // Blocks until the server has stopped (after Drain).
  virtual void Wait() = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVER_H_
