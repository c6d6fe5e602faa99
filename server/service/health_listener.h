// The plaintext health listener (server.health_listen_address): a gRPC
// server of its own that serves one grpc.health.v1 service - the same
// object the main port serves, so both answer the same statuses - and
// nothing else: no CrossBridge service, and no server reflection (the
// plugins gRPC adds to every server are dropped). For kubelet's native gRPC
// probes and load balancers that cannot speak TLS.
#ifndef CROSSBRIDGE_SERVER_SERVICE_HEALTH_LISTENER_H_
#define CROSSBRIDGE_SERVER_SERVICE_HEALTH_LISTENER_H_

#include <grpcpp/server.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "server/service/grpc_health_service.h"

namespace crossbridge {

// Binds `address` (plaintext, SO_REUSEPORT off like the main port) and
// starts serving `health`, which must outlive the returned server. Sets
// *port to the bound port. Unavailable
// ("server.health_listen_address: cannot listen on ...") when the address
// cannot be bound.
absl::StatusOr<std::unique_ptr<grpc::Server>> StartHealthListener(
    const std::string& address, GrpcHealthService& health, int* port);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_HEALTH_LISTENER_H_
