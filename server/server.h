// The CrossBridge server: builds the object graph once from a Config (store,
// domain classes, gRPC services) and owns the gRPC server.
//
// Lifecycle: Create() -> Start() -> [Drain()] -> Wait(). Drain() may be
// called from any thread (the signal thread in main.cc) and is idempotent.
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
  // Builds everything from `config`. Fails (InvalidArgument) on a config the
  // server cannot run, e.g. a storage backend this build does not support.
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      std::shared_ptr<const Config> config, const Clock& clock);
  virtual ~Server() = default;

  // Binds config->server.listen_address and starts serving. Unavailable if
  // the address cannot be bound.
  virtual absl::Status Start() = 0;

  // The bound port (after Start), e.g. the one picked for port 0.
  virtual int port() const = 0;

  // Graceful stop: every health status turns NOT_SERVING at once, calls are
  // still served for server.drain_grace, then the listener closes and
  // in-flight calls get up to server.shutdown_timeout to finish.
  virtual void Drain() = 0;

  // Blocks until the server has stopped (after Drain).
  virtual void Wait() = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVER_H_
