// CrossBridge client SDK: asks a CrossBridge server for rate-limit permits and
// checks its health (grpc.health.v1).
//
//   ASSIGN_OR_RETURN(std::unique_ptr<Client> client,
//                    Client::Create({.target = "cb.internal:50051"}));
//   ASSIGN_OR_RETURN(Permit p, client->AcquirePermit("embed", "user:123"));
//   if (!p.allowed) return Backoff(absl::Milliseconds(p.retry_after_ms));
//
// Contract:
// - Thread safety: a Client is immutable after construction; one instance may
//   be shared by any number of threads and calls may overlap freely. Create one
//   per process (it owns a gRPC channel with its connection) and reuse it.
// - Deadlines: every RPC carries a deadline, the per-call one when given,
//   otherwise ClientOptions::default_deadline. A zero or negative deadline
//   fails with DEADLINE_EXCEEDED without sending anything.
// - Errors: RPC failures come back as absl::Status with the gRPC code and the
//   server's message unchanged (INVALID_ARGUMENT names the bad field,
//   NOT_FOUND for an unknown operation, UNAVAILABLE when the server or its
//   store is unreachable, DEADLINE_EXCEEDED when the deadline passed first).
//   A refused permit is NOT an error: it is an OK result with allowed == false.
// - Async callbacks run exactly once, on a gRPC-owned thread, or possibly on
//   the calling thread before AcquirePermitAsync returns (e.g. when the call
//   fails immediately), so do not hold a lock that the callback takes while
//   starting a call. Callbacks must not block:
//   hand long work to your own executor. In-flight calls complete (and their
//   callbacks run) even if the Client is destroyed first.
#ifndef CROSSBRIDGE_CLIENT_CLIENT_H_
#define CROSSBRIDGE_CLIENT_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace crossbridge {

struct ClientOptions {
  // host:port or any gRPC target URI (dns:///, unix:...). Must not be empty.
  std::string target = "127.0.0.1:50051";
  // Deadline of a call that does not set its own. Must be positive.
  absl::Duration default_deadline = absl::Seconds(1);
  // Channel credentials; null means insecure (plaintext).
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

// The server's answer to AcquirePermit. Times are milliseconds.
struct Permit {
  bool allowed = false;
  uint32_t limit = 0;           // The bucket's capacity.
  uint32_t remaining = 0;       // Whole permits left after this call.
  uint64_t retry_after_ms = 0;  // 0 when allowed; else earliest retry time.
  uint64_t reset_after_ms = 0;  // Until the bucket is full again.
};

struct AcquireOptions {
  // Permits to take; 0 peeks at the bucket without consuming.
  uint32_t cost = 1;
  // Overrides ClientOptions::default_deadline for this call.
  std::optional<absl::Duration> deadline;
};

// grpc.health.v1 serving status.
enum class ServingStatus { kUnknown, kServing, kNotServing, kServiceUnknown };

// "UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" (the proto names).
absl::string_view ServingStatusName(ServingStatus status);

class Client {
 public:
  using PermitCallback = std::function<void(absl::StatusOr<Permit>)>;

  // Builds a channel to options.target. Connects lazily: an unreachable server
  // is reported by the first call, not here. INVALID_ARGUMENT for an empty
  // target or a non-positive default_deadline.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // Uses an existing channel (e.g. an in-process one in tests).
  // REQUIRES: channel != nullptr, default_deadline > 0.
  Client(std::shared_ptr<grpc::Channel> channel,
         absl::Duration default_deadline);

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Blocks until the server answers or the deadline passes.
  absl::StatusOr<Permit> AcquirePermit(absl::string_view operation,
                                       absl::string_view key,
                                       const AcquireOptions& options = {});

  // Returns at once; `done` receives the result as described above.
  // REQUIRES: done is callable.
  void AcquirePermitAsync(absl::string_view operation, absl::string_view key,
                          const AcquireOptions& options, PermitCallback done);

  // grpc.health.v1.Health/Check. "" is the whole server; other names are
  // CrossBridge services and configured providers (e.g. "database"). A name
  // the server does not know (Check answers NOT_FOUND) is reported as OK with
  // kServiceUnknown; other RPC failures are errors.
  absl::StatusOr<ServingStatus> CheckHealth(
      absl::string_view service = "",
      std::optional<absl::Duration> deadline = std::nullopt);

 private:
  absl::Duration DeadlineOr(std::optional<absl::Duration> deadline) const;

  const std::shared_ptr<grpc::Channel> channel_;
  const absl::Duration default_deadline_;
  const std::unique_ptr<v1::RateLimiter::Stub> rate_limiter_;
  const std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_CLIENT_H_
