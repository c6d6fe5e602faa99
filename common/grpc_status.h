// The one place where absl::Status and grpc::Status are converted. Codes map
// one to one (both use the canonical gRPC code space); the message is kept.
#ifndef CROSSBRIDGE_COMMON_GRPC_STATUS_H_
#define CROSSBRIDGE_COMMON_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace crossbridge {

grpc::Status ToGrpcStatus(const absl::Status& status);
absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_GRPC_STATUS_H_
