// The gRPC side of tenant auth: each CrossBridge handler passes its call's
// `authorization` metadata to Authenticator::Authorize (server/auth/
// authenticator.h) before it does anything else with the request, and
// answers the error (UNAUTHENTICATED, PERMISSION_DENIED) as is.
// grpc.health.v1 and server reflection never ask: they stay open for probes
// and `grpcurl list`.
#ifndef CROSSBRIDGE_SERVER_SERVICE_CALL_AUTH_H_
#define CROSSBRIDGE_SERVER_SERVICE_CALL_AUTH_H_

#include <grpcpp/server_context.h>

#include <optional>

#include "absl/strings/string_view.h"

namespace crossbridge {

// The value of the call's `authorization` metadata (the first, if sent more
// than once), or nullopt. A view into the context's metadata.
inline std::optional<absl::string_view> AuthorizationOf(
    const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return absl::string_view(it->second.data(), it->second.size());
}

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_CALL_AUTH_H_
