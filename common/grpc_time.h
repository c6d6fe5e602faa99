// Deadlines handed to gRPC, as relative timeouts (GPR_TIMESPAN): gRPC
// measures them on its own monotonic clock, so nothing here reads the time
// and a wall-clock jump cannot stretch or cut a deadline.
//
//   context.set_deadline(GrpcTimeout(absl::Seconds(1)));
//   server->Shutdown(GrpcTimeout(config.shutdown_timeout));
#ifndef CROSSBRIDGE_COMMON_GRPC_TIME_H_
#define CROSSBRIDGE_COMMON_GRPC_TIME_H_

#include <grpc/support/time.h>

#include <algorithm>

#include "absl/time/time.h"

namespace crossbridge {

// `timeout` from now (negative counts as zero).
inline gpr_timespec GrpcTimeout(absl::Duration timeout) {
  return gpr_time_from_nanos(
      absl::ToInt64Nanoseconds(std::max(timeout, absl::ZeroDuration())),
      GPR_TIMESPAN);
}

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_GRPC_TIME_H_
