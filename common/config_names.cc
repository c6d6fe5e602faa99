// Names and name-like rules of common/config.h: the YAML spelling of each
// enum (tables in common/config_names.h), the grpc.health.v1 names reserved
// for the server itself, and the listen-address rule shared by
// server.listen_address, server.metrics_listen_address and --listen.
#include "common/config.h"

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config_names.h"
#include "common/host_port.h"

namespace crossbridge {

using config_internal::NameOf;

bool IsReservedHealthName(absl::string_view name) {
  return name == kRedisHealthName || absl::StartsWith(name, "crossbridge.");
}

absl::Status CheckListenAddress(absl::string_view address) {
  HostPortRules rules;
  rules.allow_port_zero = true;  // port 0: pick a free one
  absl::StatusOr<HostPort> hp = ParseHostPort(address, rules);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "\"", absl::CHexEscape(address), "\" is not host:port (",
        hp.status().message(),
        "; e.g. 127.0.0.1:50051, 0.0.0.0:50051 or [::]:50051)"));
  }
  return absl::OkStatus();
}

absl::string_view StorageBackendName(StorageBackend backend) {
  return NameOf(config_internal::kStorageBackends, backend);
}
absl::string_view LogFormatName(LogFormat format) {
  return NameOf(config_internal::kLogFormats, format);
}
absl::string_view JitterModeName(JitterMode mode) {
  return NameOf(config_internal::kJitterModes, mode);
}
absl::string_view CheckTypeName(CheckType type) {
  return NameOf(config_internal::kCheckTypes, type);
}
absl::string_view StoreFailurePolicyName(StoreFailurePolicy policy) {
  return NameOf(config_internal::kStoreFailurePolicies, policy);
}
absl::string_view ClientAuthName(ClientAuth mode) {
  return NameOf(config_internal::kClientAuthModes, mode);
}
absl::string_view BucketScopeName(BucketScope scope) {
  return NameOf(config_internal::kBucketScopes, scope);
}

}  // namespace crossbridge
