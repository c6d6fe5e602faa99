// Internals of the real probers (probers.cc and the *_prober.cc files):
// the concrete Prober classes and the small parsing helpers they share.
// Exposed in a header only so tests can reach the helpers; not an API.
#ifndef CROSSBRIDGE_SERVER_HEALTH_PROBERS_INTERNAL_H_
#define CROSSBRIDGE_SERVER_HEALTH_PROBERS_INTERNAL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/host_port.h"
#include "server/health/probers.h"

namespace crossbridge {
namespace health_internal {

using ::crossbridge::HostPort;

// "host:port", "[::1]:port"; for ping also a redis://[user:pass@]host:port[/db]
// URL (scheme, credentials and path are dropped). InvalidArgument otherwise.
absl::StatusOr<HostPort> ParseHostPort(absl::string_view target);

// "timed out after 2s" for a DEADLINE_EXCEEDED message.
std::string TimedOut(absl::Duration timeout);

// `url` without "user:password@" so a message never carries credentials.
std::string RedactUrl(absl::string_view url);

// True if `body` holds a key "embedding" whose value is an array starting
// with a number, e.g. {"data":[{"object":"embedding","embedding":[0.1,...]}]}.
bool HasNonEmptyEmbedding(absl::string_view body);

class TcpProber final : public Prober {
 public:
  absl::Status Probe(const HealthProviderConfig& provider,
                     absl::Duration timeout) const override;
};

class PingProber final : public Prober {
 public:
  absl::Status Probe(const HealthProviderConfig& provider,
                     absl::Duration timeout) const override;
};

class HttpProber final : public Prober {
 public:
  absl::Status Probe(const HealthProviderConfig& provider,
                     absl::Duration timeout) const override;
};

class EmbedProber final : public Prober {
 public:
  explicit EmbedProber(EnvLookup env) : env_(std::move(env)) {}
  absl::Status Probe(const HealthProviderConfig& provider,
                     absl::Duration timeout) const override;

 private:
  EnvLookup env_;
};

class GrpcProber final : public Prober {
 public:
  absl::Status Probe(const HealthProviderConfig& provider,
                     absl::Duration timeout) const override;
};

// curl_global_init, once per process (std::call_once). Called by
// MakeProbers and before every curl use.
void EnsureCurlInitialized();

}  // namespace health_internal
}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_HEALTH_PROBERS_INTERNAL_H_
