// The YAML schema of crossbridge.yml, mapped onto Config: which keys each
// section allows, each leaf's type and range, the rules between leaves, and
// where an error points. Covers the root, server, storage, logging,
// runtime.rate_limiting and runtime.health_checks; runtime.retry is in
// config_schema_retry.cc. Values start from DefaultConfig(); a key the file
// and the environment leave out keeps its default, and the environment
// (CROSSBRIDGE_<KEY_PATH>) wins over the file for every leaf.
#include <yaml-cpp/yaml.h>

#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config.h"
#include "common/config_internal.h"
#include "common/host_port.h"
#include "common/names.h"
#include "common/quote.h"
#include "common/redis_url.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace crossbridge {
namespace config_internal {
namespace {

// logging.max_file_mb and logging.max_files.
constexpr int kMinLogFileMb = 1;
constexpr int kMaxLogFileMb = 10240;
constexpr int kMinLogFiles = 1;
constexpr int kMaxLogFiles = 1000;

// Where a provider's inherited fields came from, for blaming errors.
struct SectionOrigins {
  ValueOrigin interval, timeout;
};

// Overlays a document (and the environment) on a Config. Each Read* leaves
// what the document does not set.
class ConfigParser {
 public:
  explicit ConfigParser(const YamlReader& reader) : r_(reader) {}

  absl::Status Read(const YamlMap& root, Config* config) const {
    RETURN_IF_ERROR(
        r_.CheckKeys(root, {"server", "storage", "logging", "auth", "runtime",
                            "envoy"}));
    ASSIGN_OR_RETURN(YamlMap server, r_.Child(root, "server"));
    RETURN_IF_ERROR(ReadServer(server, &config->server));
    ASSIGN_OR_RETURN(YamlMap storage, r_.Child(root, "storage"));
    RETURN_IF_ERROR(ReadStorage(storage, &config->storage));
    ASSIGN_OR_RETURN(YamlMap logging, r_.Child(root, "logging"));
    RETURN_IF_ERROR(ReadLogging(logging, &config->logging));
    ASSIGN_OR_RETURN(YamlMap auth, r_.Child(root, "auth"));
    RETURN_IF_ERROR(ReadAuthSection(r_, auth, &config->auth));
    ASSIGN_OR_RETURN(YamlMap runtime, r_.Child(root, "runtime"));
    RETURN_IF_ERROR(ReadRuntime(runtime, &config->runtime));
    ASSIGN_OR_RETURN(YamlMap envoy, r_.Child(root, "envoy"));
    return ReadEnvoySection(r_, envoy, &config->envoy);
  }

 private:
  absl::Status ReadServer(const YamlMap& m, ServerConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(
        m, {"listen_address", "metrics_listen_address", "health_listen_address",
            "tls", "drain_grace_seconds", "shutdown_timeout_seconds"}));
    ValueOrigin origin;
    RETURN_IF_ERROR(
        r_.ReadString(m, "listen_address", &out->listen_address, &origin));
    if (absl::Status s = CheckListenAddress(out->listen_address); !s.ok()) {
      return r_.Error(origin, m.PathOf("listen_address"), s.message());
    }
    // "" turns the metrics listener off.
    ValueOrigin metrics;
    RETURN_IF_ERROR(r_.ReadString(m, "metrics_listen_address",
                                  &out->metrics_listen_address, &metrics));
    if (!out->metrics_listen_address.empty()) {
      if (absl::Status s = CheckListenAddress(out->metrics_listen_address);
          !s.ok()) {
        return r_.Error(metrics, m.PathOf("metrics_listen_address"),
                        s.message());
      }
    }
    // "" (the default): no plaintext health listener.
    ValueOrigin health;
    RETURN_IF_ERROR(r_.ReadString(m, "health_listen_address",
                                  &out->health_listen_address, &health));
    if (!out->health_listen_address.empty()) {
      if (absl::Status s = CheckListenAddress(out->health_listen_address);
          !s.ok()) {
        return r_.Error(health, m.PathOf("health_listen_address"), s.message());
      }
    }
    ASSIGN_OR_RETURN(YamlMap tls, r_.Child(m, "tls"));
    RETURN_IF_ERROR(ReadTlsSection(r_, tls, &out->tls));
    RETURN_IF_ERROR(r_.ReadDuration(m, "drain_grace_seconds", true,
                                    kMaxDuration, &out->drain_grace));
    return r_.ReadDuration(m, "shutdown_timeout_seconds", true, kMaxDuration,
                           &out->shutdown_timeout);
  }

  absl::Status ReadStorage(const YamlMap& m, StorageConfig* out) const {
    RETURN_IF_ERROR(
        r_.CheckKeys(m, {"backend", "memory", "redis", "redis_cluster"}));
    ValueOrigin backend;
    RETURN_IF_ERROR(
        ReadEnum(r_, m, "backend", kStorageBackends, &out->backend, &backend));
    ASSIGN_OR_RETURN(YamlMap memory, r_.Child(m, "memory"));
    RETURN_IF_ERROR(r_.CheckKeys(memory, {"shards", "max_buckets"}));
    RETURN_IF_ERROR(r_.ReadInt(memory, "shards", 1, 4096, &out->memory.shards));
    RETURN_IF_ERROR(r_.ReadInt(memory, "max_buckets", int64_t{1},
                               int64_t{1'000'000'000'000},
                               &out->memory.max_buckets));
    ASSIGN_OR_RETURN(YamlMap redis, r_.Child(m, "redis"));
    RETURN_IF_ERROR(ReadRedis(redis, &out->redis));
    ASSIGN_OR_RETURN(YamlMap cluster, r_.Child(m, "redis_cluster"));
    RETURN_IF_ERROR(ReadRedisCluster(cluster, &out->redis_cluster));
    if (out->backend == StorageBackend::kRedisCluster &&
        out->redis_cluster.nodes.empty()) {
      return r_.Error(backend, m.PathOf("backend"),
                      "redis-cluster needs storage.redis_cluster.nodes (one "
                      "or more host:port of the cluster's nodes)");
    }
    return absl::OkStatus();
  }

  // The keys storage.redis and storage.redis_cluster share.
  static constexpr absl::string_view kRedisConnectionKeys[] = {
      "password_env", "connections", "timeout_seconds",
      "connect_timeout_seconds", "reconnect_max_backoff_seconds"};

  // storage.redis: validated whatever the backend, so a bad section is found
  // before someone switches to it.
  absl::Status ReadRedis(const YamlMap& m, RedisStorageConfig* out) const {
    std::vector<absl::string_view> keys = {"url"};
    keys.insert(keys.end(), std::begin(kRedisConnectionKeys),
                std::end(kRedisConnectionKeys));
    RETURN_IF_ERROR(r_.CheckKeys(m, keys));
    ValueOrigin url;
    RETURN_IF_ERROR(r_.ReadString(m, "url", &out->url, &url));
    RETURN_IF_ERROR(ReadRedisConnection(m, out));
    // Never echo the password: errors show the URL masked. The URL's
    // password is kept only when password_env did not supply one.
    const std::string from_env = std::move(out->password);
    std::string what;
    if (!ParseRedisUrl(out->url, out, &what)) {
      return r_.Error(url, m.PathOf("url"),
                      absl::StrCat("invalid Redis URL \"",
                                   absl::CEscape(MaskRedisUrl(out->url)),
                                   "\": ", what));
    }
    if (!from_env.empty()) out->password = from_env;
    return absl::OkStatus();
  }

  // storage.redis_cluster, validated whatever the backend as well.
  absl::Status ReadRedisCluster(const YamlMap& m,
                                RedisClusterStorageConfig* out) const {
    std::vector<absl::string_view> keys = {"nodes"};
    keys.insert(keys.end(), std::begin(kRedisConnectionKeys),
                std::end(kRedisConnectionKeys));
    RETURN_IF_ERROR(r_.CheckKeys(m, keys));
    std::vector<std::string> nodes;
    std::vector<ValueOrigin> at;
    RETURN_IF_ERROR(r_.ReadStringList(m, "nodes", &nodes, &at));
    out->nodes.clear();
    for (size_t i = 0; i < nodes.size(); ++i) {
      absl::StatusOr<HostPort> node = ParseHostPort(nodes[i]);
      if (!node.ok()) {
        return r_.Error(at[i], absl::StrCat(m.PathOf("nodes"), "[", i, "]"),
                        absl::StrCat(QuoteForMessage(nodes[i]), ": ",
                                     node.status().message()));
      }
      out->nodes.push_back(*std::move(node));
    }
    return ReadRedisConnection(m, &out->connection);
  }

  // kRedisConnectionKeys of `m` into `out` (the password from password_env's
  // variable, when it is set and not empty; else out->password is cleared).
  absl::Status ReadRedisConnection(const YamlMap& m, RedisStorageConfig* out) const {
    ValueOrigin password_env;
    RETURN_IF_ERROR(
        r_.ReadString(m, "password_env", &out->password_env, &password_env));
    RETURN_IF_ERROR(r_.ReadInt(m, "connections", 1, 64, &out->connections));
    RETURN_IF_ERROR(r_.ReadDuration(m, "timeout_seconds", false,
                                    absl::Seconds(60), &out->timeout));
    RETURN_IF_ERROR(r_.ReadDuration(m, "connect_timeout_seconds", false,
                                    absl::Seconds(60), &out->connect_timeout));
    RETURN_IF_ERROR(r_.ReadDuration(m, "reconnect_max_backoff_seconds", false,
                                    absl::Seconds(300),
                                    &out->reconnect_max_backoff));
    out->password.clear();
    if (!out->password_env.empty()) {
      if (!IsValidEnvVarName(out->password_env)) {
        return r_.Error(password_env, m.PathOf("password_env"),
                        absl::StrCat("\"", absl::CEscape(out->password_env),
                                     "\" is not an environment variable "
                                     "name"));
      }
      std::optional<std::string> password = r_.LookupEnv(out->password_env);
      if (password && !password->empty()) out->password = *std::move(password);
    }
    return absl::OkStatus();
  }

  absl::Status ReadLogging(const YamlMap& m, LoggingConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(m, {"level", "format", "console", "file",
                                     "max_file_mb", "max_files"}));
    RETURN_IF_ERROR(r_.ReadChoice(m, "level", kLogLevels, &out->level));
    RETURN_IF_ERROR(ReadEnum(r_, m, "format", kLogFormats, &out->format));
    ValueOrigin console;
    RETURN_IF_ERROR(r_.ReadBool(m, "console", &out->console, &console));
    RETURN_IF_ERROR(r_.ReadString(m, "file", &out->file));
    RETURN_IF_ERROR(r_.ReadInt(m, "max_file_mb", kMinLogFileMb, kMaxLogFileMb,
                               &out->max_file_mb));
    RETURN_IF_ERROR(r_.ReadInt(m, "max_files", kMinLogFiles, kMaxLogFiles,
                               &out->max_files));
    if (!out->console && out->file.empty()) {
      return r_.Error(console, m.PathOf("console"),
                      "false with no logging.file: logs would go nowhere "
                      "(set logging.file, or console: true)");
    }
    return absl::OkStatus();
  }

  absl::Status ReadRuntime(const YamlMap& m, RuntimeConfig* out) const {
    RETURN_IF_ERROR(
        r_.CheckKeys(m, {"rate_limiting", "retry", "health_checks"}));
    ASSIGN_OR_RETURN(YamlMap rate_limiting, r_.Child(m, "rate_limiting"));
    RETURN_IF_ERROR(ReadRateLimiting(rate_limiting, &out->rate_limiting));
    ASSIGN_OR_RETURN(YamlMap retry, r_.Child(m, "retry"));
    RETURN_IF_ERROR(ReadRetrySection(r_, retry, &out->retry));
    ASSIGN_OR_RETURN(YamlMap health_checks, r_.Child(m, "health_checks"));
    return ReadHealthChecks(health_checks, out->retry, &out->health_checks);
  }

  // -- runtime.rate_limiting --

  absl::Status ReadRateLimiting(const YamlMap& m,
                                RateLimitingConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(
        m, {"enabled", "defaults", "default_rule", "cleanup_threshold"}));
    RETURN_IF_ERROR(r_.ReadBool(m, "enabled", &out->enabled));
    RETURN_IF_ERROR(r_.ReadInt(m, "cleanup_threshold", int64_t{1},
                               std::numeric_limits<int64_t>::max(),
                               &out->cleanup_threshold));

    // A `defaults` map in the file replaces the built-in operations.
    ASSIGN_OR_RETURN(YamlMap defaults, r_.Child(m, "defaults"));
    if (defaults.present()) {
      // "_default" and "_invalid" are the metrics' labels for requests
      // served by default_rule and for invalid operations.
      RETURN_IF_ERROR(r_.CheckNames(
          defaults,
          [](absl::string_view name) {
            return IsValidEntryName(name) && name != "_default" && name != "_invalid";
          },
          "operation name",
          absl::StrCat(kEntryNameRule,
                       " and must not be \"_default\" or \"_invalid\" (the "
                       "metrics' labels for default_rule and invalid operations)")));
      out->operations.clear();
      for (const YamlMap::Entry& entry : defaults.entries()) {
        out->operations[entry.key] = RateLimitRule();
      }
    }
    for (auto& [name, rule] : out->operations) {
      ASSIGN_OR_RETURN(YamlMap rule_map, r_.Child(defaults, name));
      bool any_set = false;
      RETURN_IF_ERROR(
          ReadRule(rule_map, /*complete=*/rule_map.present(), &rule, &any_set));
    }

    // default_rule: optional; it exists when the file or the environment sets
    // it, and then needs both keys.
    ASSIGN_OR_RETURN(YamlMap default_rule, r_.Child(m, "default_rule"));
    RateLimitRule rule = out->default_rule.value_or(RateLimitRule());
    bool any_set = false;
    RETURN_IF_ERROR(ReadRule(default_rule,
                             /*complete=*/!out->default_rule.has_value(), &rule,
                             &any_set));
    if (default_rule.present() || any_set) out->default_rule = rule;
    return absl::OkStatus();
  }

  // Overlays capacity, window_seconds, on_store_failure and scope on *rule.
  // `complete`: *rule holds no values of its own, so if `m` is in the file or
  // any key is set, capacity and window_seconds must be set.
  absl::Status ReadRule(const YamlMap& m, bool complete, RateLimitRule* rule,
                        bool* any_set) const {
    RETURN_IF_ERROR(
        r_.CheckKeys(m, {"capacity", "window_seconds", "on_store_failure", "scope"}));
    ValueOrigin capacity, window, on_store_failure, scope;
    RETURN_IF_ERROR(r_.ReadInt(m, "capacity", int64_t{1}, kMaxCapacity,
                               &rule->capacity, &capacity));
    RETURN_IF_ERROR(r_.ReadDuration(m, "window_seconds", false, kMaxDuration,
                                    &rule->window, &window));
    RETURN_IF_ERROR(ReadEnum(r_, m, "on_store_failure", kStoreFailurePolicies,
                             &rule->on_store_failure, &on_store_failure));
    RETURN_IF_ERROR(ReadEnum(r_, m, "scope", kBucketScopes, &rule->scope, &scope));
    *any_set = capacity.explicit_value || window.explicit_value ||
               on_store_failure.explicit_value || scope.explicit_value;
    if (!m.present() && !*any_set) return absl::OkStatus();
    if (complete && !capacity.explicit_value) {
      return r_.Error(YamlReader::OriginOf(m), m.path(),
                      "missing required key \"capacity\"");
    }
    if (complete && !window.explicit_value) {
      return r_.Error(YamlReader::OriginOf(m), m.path(),
                      "missing required key \"window_seconds\"");
    }
    const absl::Duration min_window = rule->capacity * absl::Microseconds(1);
    if (rule->window < min_window) {
      return r_.Error(window.explicit_value ? window : capacity,
                      m.PathOf("window_seconds"),
                      absl::StrCat("must be >= capacity microseconds (",
                                   FormatSeconds(min_window),
                                   ") so the emission interval is >= 1us"));
    }
    return absl::OkStatus();
  }

  // -- runtime.health_checks --

  absl::Status ReadHealthChecks(const YamlMap& m, const RetryConfig& retry,
                                HealthChecksConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(m, {"enabled", "interval", "timeout",
                                     "failure_threshold", "providers"}));
    RETURN_IF_ERROR(r_.ReadBool(m, "enabled", &out->enabled));
    SectionOrigins section;
    RETURN_IF_ERROR(r_.ReadDuration(m, "interval", false, kMaxDuration,
                                    &out->interval, &section.interval));
    RETURN_IF_ERROR(r_.ReadDuration(m, "timeout", false, kMaxDuration,
                                    &out->timeout, &section.timeout));
    RETURN_IF_ERROR(r_.ReadInt(m, "failure_threshold", 1, 1'000'000,
                               &out->failure_threshold));
    RETURN_IF_ERROR(CheckTimeout(m, out->interval, out->timeout, section,
                                 SectionOrigins()));

    // A `providers` map in the file replaces the built-in providers.
    ASSIGN_OR_RETURN(YamlMap providers, r_.Child(m, "providers"));
    if (providers.present()) {
      RETURN_IF_ERROR(r_.CheckNames(
          providers,
          [](absl::string_view name) {
            return IsValidEntryName(name) && !IsReservedHealthName(name);
          },
          "provider name",
          absl::StrCat(kEntryNameRule, " and must not be \"", kRedisHealthName,
                       "\" or start with \"crossbridge.\" (the server's own "
                       "grpc.health.v1 names)")));
      out->providers.clear();
      for (const YamlMap::Entry& entry : providers.entries()) {
        out->providers[entry.key] = ProviderBase(*out);
      }
    } else {
      out->providers = BuiltinProviders(*out);
    }
    for (auto& [name, provider] : out->providers) {
      ASSIGN_OR_RETURN(YamlMap provider_map, r_.Child(providers, name));
      RETURN_IF_ERROR(ReadProvider(provider_map, retry, section, &provider));
    }
    return absl::OkStatus();
  }

  absl::Status ReadProvider(const YamlMap& m, const RetryConfig& retry,
                            const SectionOrigins& inherited,
                            HealthProviderConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(
        m, {"enabled", "check_type", "target", "interval", "timeout",
            "failure_threshold", "api_key_env", "retry_policy"}));
    RETURN_IF_ERROR(r_.ReadBool(m, "enabled", &out->enabled));
    RETURN_IF_ERROR(
        ReadEnum(r_, m, "check_type", kCheckTypes, &out->check_type));
    ValueOrigin target, api_key_env, retry_policy;
    RETURN_IF_ERROR(r_.ReadString(m, "target", &out->target, &target));
    SectionOrigins own;
    RETURN_IF_ERROR(r_.ReadDuration(m, "interval", false, kMaxDuration,
                                    &out->interval, &own.interval));
    RETURN_IF_ERROR(r_.ReadDuration(m, "timeout", false, kMaxDuration,
                                    &out->timeout, &own.timeout));
    RETURN_IF_ERROR(r_.ReadInt(m, "failure_threshold", 1, 1'000'000,
                               &out->failure_threshold));
    RETURN_IF_ERROR(
        r_.ReadString(m, "api_key_env", &out->api_key_env, &api_key_env));
    RETURN_IF_ERROR(
        r_.ReadString(m, "retry_policy", &out->retry_policy, &retry_policy));

    RETURN_IF_ERROR(
        CheckTimeout(m, out->interval, out->timeout, own, inherited));
    if (out->enabled && out->target.empty()) {
      return r_.Error(target, m.PathOf("target"),
                      "must be set when the provider is enabled");
    }
    if (!out->api_key_env.empty() && !IsValidEnvVarName(out->api_key_env)) {
      return r_.Error(api_key_env, m.PathOf("api_key_env"),
                      absl::StrCat("\"", out->api_key_env,
                                   "\" is not an environment variable name"));
    }
    if (retry.policies.count(out->retry_policy) == 0) {
      std::vector<std::string> known;
      for (const auto& [name, policy] : retry.policies) known.push_back(name);
      return r_.Error(
          retry_policy, m.PathOf("retry_policy"),
          absl::StrCat("unknown retry policy \"", out->retry_policy,
                       "\" (known: ", absl::StrJoin(known, ", "), ")"));
    }
    return absl::OkStatus();
  }

  // timeout <= interval, blaming whichever of the two was set.
  absl::Status CheckTimeout(const YamlMap& m, absl::Duration interval,
                            absl::Duration timeout, const SectionOrigins& own,
                            const SectionOrigins& inherited) const {
    if (timeout <= interval) return absl::OkStatus();
    const ValueOrigin& t = Blame(own.timeout, inherited.timeout);
    const ValueOrigin& i = Blame(own.interval, inherited.interval);
    if (t.explicit_value || !i.explicit_value) {
      return r_.Error(
          t, m.PathOf("timeout"),
          absl::StrCat("must be <= interval (", FormatSeconds(interval), ")"));
    }
    return r_.Error(
        i, m.PathOf("interval"),
        absl::StrCat("must be >= timeout (", FormatSeconds(timeout), ")"));
  }

  const YamlReader& r_;
};

}  // namespace

// Reads `doc` (may be null) over DefaultConfig(), then the environment.
absl::StatusOr<Config> ConfigFromDocument(const YAML::Node& doc,
                                          const std::string& filename,
                                          const EnvLookup& env) {
  YamlReader reader(filename, env);
  Config config = DefaultConfig();
  config.source = filename;
  try {
    ASSIGN_OR_RETURN(YamlMap root, reader.Root(doc));
    RETURN_IF_ERROR(ConfigParser(reader).Read(root, &config));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(FormatYamlException(filename, e));
  }
  return config;
}

}  // namespace config_internal

absl::StatusOr<Config> DefaultConfigWithEnv(const EnvLookup& env) {
  return config_internal::ConfigFromDocument(
      YAML::Node(), config_internal::kEmbeddedSource, env);
}

}  // namespace crossbridge
