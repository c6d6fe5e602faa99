// The SDK's option and result types (client/client.h is the Client).
#ifndef CROSSBRIDGE_CLIENT_OPTIONS_H_
#define CROSSBRIDGE_CLIENT_OPTIONS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <grpcpp/security/credentials.h>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace crossbridge {

struct ClientOptions {
  // host:port or any gRPC target URI (dns:///, unix:...). Must not be empty.
  std::string target = "127.0.0.1:50051";
  // Deadline of a call that does not set its own. Must be positive.
  absl::Duration default_deadline = absl::Seconds(1);
  // Channel credentials; null means insecure (plaintext) unless `tls` is
  // set. Not together with `tls`.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  // How calls spread over the addresses `target` resolves to: "pick_first"
  // (one connection) or "round_robin" (every replica of a "dns:///..." or
  // "ipv4:a:p,b:p" target; a replica that goes away drops out of the
  // rotation). Every channel also retries a call once, on the next address,
  // when it failed UNAVAILABLE (a replica went away) or was CANCELLED by a
  // draining server before it ran; ReportOutcome only on CANCELLED, so a
  // reported failure never counts twice. An AcquirePermit that ran on a
  // replica dying under it may so take its permit twice: the safe side.
  std::string load_balancing = "pick_first";

  // ---- security ----
  // Files are read once, by Create (a renewed certificate or token takes a
  // new Client). An unreadable file fails Create with INVALID_ARGUMENT
  // naming the option and the path.
  struct Tls {
    // PEM roots to verify the server; "" = the system roots.
    std::string ca_file;
    // Client certificate chain (PEM) for mTLS; only together with key_file.
    std::string cert_file;
    // Its private key (PEM, unencrypted); only together with cert_file.
    std::string key_file;
    // Overrides the name checked against the server certificate (and the
    // :authority/SNI), e.g. "localhost" when connecting by IP; "" = the
    // host of `target`.
    std::string server_name;
  };
  // Set: TLS (server verified; mTLS with cert_file/key_file). Unset:
  // plaintext (unless `credentials` is given). Not together with
  // `credentials`.
  std::optional<Tls> tls;
  // Bearer token sent as `authorization: Bearer <token>` on every RPC this
  // Client makes, on TLS and plaintext channels alike (local setups); ""
  // sends none. Printable ASCII without spaces or controls. Never appears
  // in an error message.
  std::string token;
  // Or: read the token from this file, once, at Create (surrounding
  // whitespace trimmed; an empty file is an error). Not with `token`.
  std::string token_file;

  // ---- hardened calls (Call, Retry, CallAsync) ----
  // Where hardened calls read time and wait (between attempts, for a
  // permit; a wait is cut short when the Client is destroyed). Null: the
  // process clock. Tests pass a SimulatedClock (common/simulated_clock.h)
  // with advance_on_wait: every wait then takes no real time, is recorded,
  // and the deadline arithmetic runs on exact simulated time. Must outlive
  // the Client.
  const Clock* clock = nullptr;
  // Seeds the jitter generator, for reproducible delays; unset: random.
  std::optional<uint64_t> rng_seed;
  // How long a policy fetched with GetRetryPolicy is used before it is
  // fetched again. >= 0 (0: every time). A failed fetch is retried after
  // at most 1 s.
  absl::Duration policy_cache_ttl = absl::Seconds(30);
  // The local limiter's rule (fail_open, server unreachable) for an
  // operation whose limit this Client never saw. capacity > 0, window > 0.
  struct LocalLimit {
    int64_t capacity = 10;
    absl::Duration window = absl::Seconds(1);
  };
  LocalLimit local_fallback;
  // Threads of the CallAsync executor (started on first use). >= 1.
  int executor_threads = 2;

  // ---- permits (AcquirePermit, AcquirePermitAsync, Call) ----
  // kStream (the default): concurrent permit calls share one
  // RateLimiter/StreamPermits stream per Client, their writes coalesced
  // (client/permit_stream.h). Each call keeps its own deadline. When the
  // stream breaks, its unanswered calls are sent again as unary calls within
  // what is left of their deadlines (a call the server had already answered
  // may so take its permit twice: the safe side), and the stream is
  // reopened after a backoff (100 ms doubling to 5 s; unary calls meanwhile).
  // A server without StreamPermits (UNIMPLEMENTED) gets unary calls from
  // then on. kUnary: one AcquirePermit RPC per call.
  enum class PermitTransport { kStream, kUnary };
  PermitTransport permit_transport = PermitTransport::kStream;
  // Leases (client/lease_manager.h), opt in per operation: a cost-1 acquire
  // of a leased operation is granted from permits this Client took from the
  // shared bucket ahead of time (one up-to-cost acquire of at most
  // max_permits per key, sized to about ttl/2 of the key's recent local
  // rate), without an RPC. The fleet-wide count stays exact: a lease is
  // taken from the bucket before any of it is granted. The trade: this
  // Client may sit on up to max_permits permits of a key that another
  // replica could have used, for up to ttl; what is unused then goes back
  // (ReturnPermits), as it does when the Client is destroyed. Peeks (cost
  // 0) and other costs are not leased. max_permits >= 1, ttl in
  // [10 ms, 1 h].
  struct Lease {
    uint32_t max_permits = 100;
    absl::Duration ttl = absl::Seconds(1);
  };
  std::map<std::string, Lease> leases;
};

// The server's answer to AcquirePermit. Times are milliseconds.
struct Permit {
  bool allowed = false;
  uint32_t limit = 0;           // The bucket's capacity.
  uint32_t remaining = 0;       // Whole permits left after this call.
  uint64_t retry_after_ms = 0;  // 0 when allowed; else earliest retry time.
  uint64_t reset_after_ms = 0;  // Until the bucket is full again.
  uint32_t granted = 0;         // Permits taken: the cost when allowed, else 0.
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

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_OPTIONS_H_
