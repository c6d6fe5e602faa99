// Internal to the config loader; not for other callers. What crosses the
// files that implement common/config.h:
//
//   config_names.{h,cc}   enum tables, names, listen-address rule
//   redis_url.{h,cc}      storage.redis.url parsing and masking
//   config_defaults.cc    DefaultConfig() and the built-in entries the schema
//                         falls back to (policies, providers)
//   config_schema.cc      YAML -> Config: root, server, storage, logging,
//                         runtime.rate_limiting, runtime.health_checks
//   config_schema_retry.cc  YAML -> Config: runtime.retry
//   config_schema_security.cc  YAML -> Config: server.tls, auth
//   config_schema_envoy.cc  YAML -> Config: envoy (Envoy's rate-limit service)
//   config_file.cc        ParseConfig (one document), files, discovery, env
//
// Every reader overlays what the document (and the environment) sets on the
// value it is given and leaves the rest; errors follow common/yaml_reader.h.
#ifndef CROSSBRIDGE_COMMON_CONFIG_INTERNAL_H_
#define CROSSBRIDGE_COMMON_CONFIG_INTERNAL_H_

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/config_names.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace crossbridge::config_internal {

// Config::source when there is no file.
inline constexpr char kEmbeddedSource[] = "<embedded default>";
// runtime.retry.<name>_policy.
inline constexpr char kPolicySuffix[] = "_policy";

// Upper bound of every duration in the file (and of rate-limit windows).
inline constexpr absl::Duration kMaxDuration = absl::Hours(24 * 365);
inline constexpr int64_t kMaxCapacity = 1'000'000'000;
// Retry budgets: max_tokens is 0 (no budget) or in [1, kMaxBudgetTokens].
inline constexpr double kMaxBudgetTokens = 1e6;

// ---- defaults (config_defaults.cc) ------------------------------------------

// "default" = default_policy, plus the built-in expensive, quick and
// conservative policies, each default_policy with its own attempts and
// delays. retryable_codes are left as default_policy's (see
// FillRetryableCodes).
std::map<std::string, RetryPolicyConfig> BuiltinPolicies(
    const RetryPolicyConfig& default_policy);

// Gives every policy not in `own_lists` (a policy that set retryable_codes,
// directly or through default_policy) the section's HTTP and gRPC lists.
void FillRetryableCodes(const std::set<std::string>& own_lists,
                        RetryConfig* retry);

// A provider with nothing set: the section's values for the inherited fields.
HealthProviderConfig ProviderBase(const HealthChecksConfig& section);

// The built-in providers, inheriting what they do not set from `section`.
std::map<std::string, HealthProviderConfig> BuiltinProviders(
    const HealthChecksConfig& section);

// ---- schema (config_schema*.cc) ---------------------------------------------

// Reads `doc` (may be null: no file) over DefaultConfig(), then the
// environment. config.source = filename. Catches yaml-cpp's exceptions.
absl::StatusOr<Config> ConfigFromDocument(const YAML::Node& doc,
                                          const std::string& filename,
                                          const EnvLookup& env);

// Overlays runtime.retry (`m`, absent if not in the file) on *out.
absl::Status ReadRetrySection(const YamlReader& reader, const YamlMap& m,
                              RetryConfig* out);

// Overlays server.tls on *out and checks that its keys fit together.
absl::Status ReadTlsSection(const YamlReader& reader, const YamlMap& m,
                            TlsConfig* out);
// Overlays auth on *out.
absl::Status ReadAuthSection(const YamlReader& reader, const YamlMap& m,
                             AuthConfig* out);
// Overlays the top-level envoy section on *out (config_schema_envoy.cc).
absl::Status ReadEnvoySection(const YamlReader& reader, const YamlMap& m,
                              EnvoyConfig* out);

// The origin to blame for a value: its own if set, else the inherited one if
// that was set, else its own (which points at the nearest map).
inline const ValueOrigin& Blame(const ValueOrigin& own,
                                const ValueOrigin& inherited) {
  if (own.explicit_value || !inherited.explicit_value) return own;
  return inherited;
}

// Reads map.key as one of table's names.
template <typename E, std::size_t N>
absl::Status ReadEnum(const YamlReader& reader, const YamlMap& map,
                      absl::string_view key, const Named<E> (&table)[N],
                      E* out, ValueOrigin* origin = nullptr) {
  std::string name(NameOf(table, *out));
  RETURN_IF_ERROR(reader.ReadChoice(map, key, NamesOf(table), &name, origin));
  for (const Named<E>& entry : table) {
    if (entry.name == name) *out = entry.value;
  }
  return absl::OkStatus();
}

}  // namespace crossbridge::config_internal

#endif  // CROSSBRIDGE_COMMON_CONFIG_INTERNAL_H_
