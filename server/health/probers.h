// Active health probes, one per check type. A probe blocks its (registry)
// thread for at most `timeout` and answers OK or the reason it failed.
//
//   ping   Redis PING to target host:port; OK on PONG (or NOAUTH, which
//          proves a live Redis)
//   tcp    TCP connect to target host:port
//   http   GET target URL; OK on a 2xx status
//   grpc   grpc.health.v1.Health/Check("") on target; OK on SERVING
//   embed  POST {"input": "ping", "model": ...} to an OpenAI-compatible
//          /v1/embeddings URL (Authorization: Bearer $api_key_env when set);
//          OK on 2xx with a JSON body holding a non-empty "embedding" array
//
// Errors name what failed ("connect 127.0.0.1:9: Connection refused",
// "HTTP 503", "timed out after 2s"). Thread-safe.
#ifndef CROSSBRIDGE_SERVER_HEALTH_PROBERS_H_
#define CROSSBRIDGE_SERVER_HEALTH_PROBERS_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace crossbridge {

class Prober {
 public:
  virtual ~Prober() = default;
  virtual absl::Status Probe(const HealthProviderConfig& provider,
                             absl::Duration timeout) const = 0;
};

// One prober per check type; the registry picks by provider.check_type.
class Probers {
 public:
  virtual ~Probers() = default;
  virtual const Prober& For(CheckType type) const = 0;
};

// The real probers (hiredis, sockets, libcurl, gRPC). `env` looks up
// api_key_env values.
std::unique_ptr<Probers> MakeProbers(EnvLookup env);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_HEALTH_PROBERS_H_
