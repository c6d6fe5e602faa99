#include "common/config.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "common/host_port.h"
#include "common/names.h"
#include "common/retry.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace crossbridge {
namespace {

constexpr char kEmbeddedSource[] = "<embedded default>";
constexpr char kPolicySuffix[] = "_policy";
constexpr char kConfigFileName[] = "crossbridge.yml";
constexpr char kConfigEnvVar[] = "CROSSBRIDGE_CONFIG";
constexpr int kMaxParentDirs = 3;

// Upper bound of every duration in the file (and of rate-limit windows).
constexpr absl::Duration kMaxDuration = absl::Hours(24 * 365);
constexpr int64_t kMaxCapacity = 1'000'000'000;
// Retry budgets: max_tokens is 0 (no budget) or in [1, kMaxBudgetTokens].
constexpr double kMaxBudgetTokens = 1e6;

// ---- names ------------------------------------------------------------------

template <typename E>
struct Named {
  absl::string_view name;
  E value;
};

constexpr Named<StorageBackend> kStorageBackends[] = {
    {"memory", StorageBackend::kMemory}, {"redis", StorageBackend::kRedis}};
constexpr Named<LogFormat> kLogFormats[] = {{"text", LogFormat::kText},
                                            {"json", LogFormat::kJson}};
constexpr Named<JitterMode> kJitterModes[] = {
    {"none", JitterMode::kNone},
    {"full", JitterMode::kFull},
    {"equal", JitterMode::kEqual},
    {"decorrelated", JitterMode::kDecorrelated}};
constexpr Named<CheckType> kCheckTypes[] = {{"ping", CheckType::kPing},
                                            {"tcp", CheckType::kTcp},
                                            {"http", CheckType::kHttp},
                                            {"grpc", CheckType::kGrpc},
                                            {"embed", CheckType::kEmbed}};
constexpr Named<StoreFailurePolicy> kStoreFailurePolicies[] = {
    {"local", StoreFailurePolicy::kLocal},
    {"allow", StoreFailurePolicy::kAllow},
    {"deny", StoreFailurePolicy::kDeny}};
constexpr absl::string_view kLogLevels[] = {"trace", "debug",    "info", "warn",
                                            "error", "critical", "off"};

template <typename E, std::size_t N>
absl::string_view NameOf(const Named<E> (&table)[N], E value) {
  for (const Named<E>& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unknown";
}

template <typename E, std::size_t N>
std::vector<absl::string_view> NamesOf(const Named<E> (&table)[N]) {
  std::vector<absl::string_view> names;
  for (const Named<E>& entry : table) names.push_back(entry.name);
  return names;
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

// HTTP statuses in retryable_codes.
constexpr int64_t kMinHttpStatus = 100;
constexpr int64_t kMaxHttpStatus = 599;
// Listed in the error for an unknown name in retryable_codes.
constexpr char kGrpcCodeNames[] =
    "OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, "
    "ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, "
    "FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, "
    "UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED";

// ---- Redis URLs ---------------------------------------------------------------

// redis://[[user]:password@]host[:port][/db]. No percent-decoding; a password
// may contain '@' and '/' (the userinfo ends at the last '@').
constexpr absl::string_view kRedisScheme = "redis://";
constexpr int kDefaultRedisPort = 6379;
constexpr int kMaxRedisDb = 15;

bool IsSpaceOrControl(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// The URL with its password (or a userinfo without ':', which may be one)
// replaced by "***", for error messages. Works on any text, well-formed or
// not.
std::string MaskRedisUrl(absl::string_view url) {
  const std::size_t scheme_end = url.find("://");
  const std::size_t start =
      scheme_end == absl::string_view::npos ? 0 : scheme_end + 3;
  const std::size_t at = url.rfind('@');
  if (at == absl::string_view::npos || at < start) return std::string(url);
  const absl::string_view userinfo = url.substr(start, at - start);
  const std::size_t colon = userinfo.find(':');
  const absl::string_view kept = colon == absl::string_view::npos
                                     ? absl::string_view()
                                     : userinfo.substr(0, colon + 1);
  return absl::StrCat(url.substr(0, start), kept, "***", url.substr(at));
}

// Fills out->host, port, db and password from `url`; on failure sets *what
// (which never contains the password) and leaves *out.
bool ParseRedisUrl(absl::string_view url, RedisStorageConfig* out,
                   std::string* what) {
  if (url.size() < kRedisScheme.size() ||
      !absl::EqualsIgnoreCase(url.substr(0, kRedisScheme.size()),
                              kRedisScheme)) {
    *what = "the scheme must be redis:// (rediss:// and unix sockets are not "
            "supported)";
    return false;
  }
  absl::string_view rest = url.substr(kRedisScheme.size());

  // Userinfo: up to the last '@'.
  std::string password;
  const std::size_t at = rest.rfind('@');
  if (at != absl::string_view::npos) {
    const absl::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == absl::string_view::npos) {
      *what = "the part before '@' must be :password or user:password";
      return false;
    }
    for (char c : userinfo) {
      if (IsSpaceOrControl(c)) {
        *what = "the user and password must not contain spaces or control "
                "characters";
        return false;
      }
    }
    password = std::string(userinfo.substr(colon + 1));
  }
  for (char c : rest) {
    if (IsSpaceOrControl(c)) {
      *what = "must not contain spaces or control characters";
      return false;
    }
  }

  // host[:port] up to the first '/', then the optional /db.
  const std::size_t slash = rest.find('/');
  absl::string_view path = slash == absl::string_view::npos
                               ? absl::string_view()
                               : rest.substr(slash + 1);
  HostPortRules rules;
  rules.default_port = kDefaultRedisPort;
  absl::StatusOr<HostPort> hostport = ParseHostPort(rest.substr(0, slash), rules);
  if (!hostport.ok()) {
    *what = std::string(hostport.status().message());
    return false;
  }

  int db = 0;
  if (!path.empty()) {
    if (!AllDigits(path) || path.size() > 2 || !absl::SimpleAtoi(path, &db) ||
        db > kMaxRedisDb) {
      *what = absl::StrCat("the database (/db) must be an integer 0..",
                           kMaxRedisDb, ", got \"", absl::CEscape(path), "\"");
      return false;
    }
  }

  out->host = hostport->host;
  out->port = hostport->port;
  out->db = db;
  out->password = std::move(password);
  return true;
}

// The origin to blame for a value: its own if set, else the inherited one if
// that was set, else its own (which points at the nearest map).
const ValueOrigin& Blame(const ValueOrigin& own, const ValueOrigin& inherited) {
  if (own.explicit_value || !inherited.explicit_value) return own;
  return inherited;
}

// ---- built-in defaults ------------------------------------------------------

struct BuiltinRule {
  const char* operation;
  int64_t capacity;
  int window_seconds;
};
constexpr BuiltinRule kBuiltinRules[] = {{"search", 30, 60},
                                         {"transform", 10, 60},
                                         {"embed", 60, 60},
                                         {"ai_generate", 20, 60},
                                         {"health_check", 100, 60}};

// Policies besides "default": they set only these fields and inherit the rest
// from default_policy.
struct BuiltinPolicy {
  const char* name;
  int max_attempts;
  int base_delay_ms;
  int max_delay_ms;
};
constexpr BuiltinPolicy kBuiltinPolicies[] = {{"expensive", 5, 1000, 10000},
                                              {"quick", 2, 100, 1000},
                                              {"conservative", 3, 2000, 30000}};

// Providers: they set these fields and inherit timeout and failure_threshold
// from the health_checks section.
struct BuiltinProvider {
  const char* name;
  CheckType check_type;
  int interval_seconds;
  const char* target;
  const char* api_key_env;
  const char* retry_policy;
};
constexpr BuiltinProvider kBuiltinProviders[] = {
    {"ai_provider", CheckType::kEmbed, 60,
     "http://127.0.0.1:8080/v1/embeddings", "CROSSBRIDGE_AI_API_KEY",
     "expensive"},
    {"embedding_provider", CheckType::kEmbed, 60,
     "http://127.0.0.1:8080/v1/embeddings", "CROSSBRIDGE_EMBEDDING_API_KEY",
     "expensive"},
    {"vector_store", CheckType::kPing, 30, "127.0.0.1:6379", "", "default"},
    {"database", CheckType::kPing, 20, "127.0.0.1:6379", "", "quick"}};

std::map<std::string, RetryPolicyConfig> BuiltinPolicies(
    const RetryPolicyConfig& default_policy) {
  std::map<std::string, RetryPolicyConfig> policies;
  policies["default"] = default_policy;
  for (const BuiltinPolicy& builtin : kBuiltinPolicies) {
    RetryPolicyConfig policy = default_policy;
    policy.max_attempts = builtin.max_attempts;
    policy.base_delay = absl::Milliseconds(builtin.base_delay_ms);
    policy.max_delay = absl::Milliseconds(builtin.max_delay_ms);
    policies[builtin.name] = policy;
  }
  return policies;
}

// Gives every policy not in `own_lists` (a policy that set retryable_codes,
// directly or through default_policy) the section's HTTP and gRPC lists.
void FillRetryableCodes(const std::set<std::string>& own_lists,
                        RetryConfig* retry) {
  for (auto& [name, policy] : retry->policies) {
    if (own_lists.count(name) != 0) continue;
    policy.retryable_codes = retry->retryable_codes;
    policy.retryable_grpc_codes = retry->retryable_grpc_codes;
  }
}

// A provider with nothing set: the section's values for the inherited fields.
HealthProviderConfig ProviderBase(const HealthChecksConfig& section) {
  HealthProviderConfig provider;
  provider.interval = section.interval;
  provider.timeout = section.timeout;
  provider.failure_threshold = section.failure_threshold;
  return provider;
}

std::map<std::string, HealthProviderConfig> BuiltinProviders(
    const HealthChecksConfig& section) {
  std::map<std::string, HealthProviderConfig> providers;
  for (const BuiltinProvider& builtin : kBuiltinProviders) {
    HealthProviderConfig provider = ProviderBase(section);
    provider.check_type = builtin.check_type;
    provider.interval = absl::Seconds(builtin.interval_seconds);
    provider.target = builtin.target;
    provider.api_key_env = builtin.api_key_env;
    provider.retry_policy = builtin.retry_policy;
    providers[builtin.name] = provider;
  }
  return providers;
}

// ---- the schema -------------------------------------------------------------

// Where the fields other entries inherit came from, for blaming errors.
struct PolicyOrigins {
  ValueOrigin base_delay, max_delay, retryable_codes, max_tokens, token_ratio;
};
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
        r_.CheckKeys(root, {"server", "storage", "logging", "runtime"}));
    ASSIGN_OR_RETURN(YamlMap server, r_.Child(root, "server"));
    RETURN_IF_ERROR(ReadServer(server, &config->server));
    ASSIGN_OR_RETURN(YamlMap storage, r_.Child(root, "storage"));
    RETURN_IF_ERROR(ReadStorage(storage, &config->storage));
    ASSIGN_OR_RETURN(YamlMap logging, r_.Child(root, "logging"));
    RETURN_IF_ERROR(ReadLogging(logging, &config->logging));
    ASSIGN_OR_RETURN(YamlMap runtime, r_.Child(root, "runtime"));
    return ReadRuntime(runtime, &config->runtime);
  }

 private:
  absl::Status ReadServer(const YamlMap& m, ServerConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(m, {"listen_address", "drain_grace_seconds",
                                     "shutdown_timeout_seconds"}));
    ValueOrigin origin;
    RETURN_IF_ERROR(
        r_.ReadString(m, "listen_address", &out->listen_address, &origin));
    if (absl::Status s = CheckListenAddress(out->listen_address); !s.ok()) {
      return r_.Error(origin, m.PathOf("listen_address"), s.message());
    }
    RETURN_IF_ERROR(r_.ReadDuration(m, "drain_grace_seconds", true,
                                    kMaxDuration, &out->drain_grace));
    return r_.ReadDuration(m, "shutdown_timeout_seconds", true, kMaxDuration,
                           &out->shutdown_timeout);
  }

  absl::Status ReadStorage(const YamlMap& m, StorageConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(m, {"backend", "memory", "redis"}));
    RETURN_IF_ERROR(
        ReadEnum(r_, m, "backend", kStorageBackends, &out->backend));
    ASSIGN_OR_RETURN(YamlMap memory, r_.Child(m, "memory"));
    RETURN_IF_ERROR(r_.CheckKeys(memory, {"shards", "max_buckets"}));
    RETURN_IF_ERROR(r_.ReadInt(memory, "shards", 1, 4096, &out->memory.shards));
    RETURN_IF_ERROR(r_.ReadInt(memory, "max_buckets", int64_t{1},
                               int64_t{1'000'000'000'000},
                               &out->memory.max_buckets));
    ASSIGN_OR_RETURN(YamlMap redis, r_.Child(m, "redis"));
    return ReadRedis(redis, &out->redis);
  }

  // storage.redis: validated whatever the backend, so a bad section is found
  // before someone switches to it.
  absl::Status ReadRedis(const YamlMap& m, RedisStorageConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(
        m, {"url", "password_env", "connections", "timeout_seconds",
            "connect_timeout_seconds", "reconnect_max_backoff_seconds"}));
    ValueOrigin url, password_env;
    RETURN_IF_ERROR(r_.ReadString(m, "url", &out->url, &url));
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

    // Never echo the password: errors show the URL masked.
    std::string what;
    if (!ParseRedisUrl(out->url, out, &what)) {
      return r_.Error(url, m.PathOf("url"),
                      absl::StrCat("invalid Redis URL \"",
                                   absl::CEscape(MaskRedisUrl(out->url)),
                                   "\": ", what));
    }
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
    RETURN_IF_ERROR(r_.CheckKeys(m, {"level", "format"}));
    RETURN_IF_ERROR(r_.ReadChoice(m, "level", kLogLevels, &out->level));
    return ReadEnum(r_, m, "format", kLogFormats, &out->format);
  }

  absl::Status ReadRuntime(const YamlMap& m, RuntimeConfig* out) const {
    RETURN_IF_ERROR(
        r_.CheckKeys(m, {"rate_limiting", "retry", "health_checks"}));
    ASSIGN_OR_RETURN(YamlMap rate_limiting, r_.Child(m, "rate_limiting"));
    RETURN_IF_ERROR(ReadRateLimiting(rate_limiting, &out->rate_limiting));
    ASSIGN_OR_RETURN(YamlMap retry, r_.Child(m, "retry"));
    RETURN_IF_ERROR(ReadRetry(retry, &out->retry));
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
      RETURN_IF_ERROR(r_.CheckNames(defaults, IsValidEntryName,
                                    "operation name", kEntryNameRule));
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

  // Overlays capacity, window_seconds and on_store_failure on *rule.
  // `complete`: *rule holds no values of its own, so if `m` is in the file or
  // any key is set, capacity and window_seconds must be set.
  absl::Status ReadRule(const YamlMap& m, bool complete, RateLimitRule* rule,
                        bool* any_set) const {
    RETURN_IF_ERROR(
        r_.CheckKeys(m, {"capacity", "window_seconds", "on_store_failure"}));
    ValueOrigin capacity, window, on_store_failure;
    RETURN_IF_ERROR(r_.ReadInt(m, "capacity", int64_t{1}, kMaxCapacity,
                               &rule->capacity, &capacity));
    RETURN_IF_ERROR(r_.ReadDuration(m, "window_seconds", false, kMaxDuration,
                                    &rule->window, &window));
    RETURN_IF_ERROR(ReadEnum(r_, m, "on_store_failure", kStoreFailurePolicies,
                             &rule->on_store_failure, &on_store_failure));
    *any_set = capacity.explicit_value || window.explicit_value ||
               on_store_failure.explicit_value;
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

  // -- runtime.retry --

  absl::Status ReadRetry(const YamlMap& m, RetryConfig* out) const {
    RETURN_IF_ERROR(CheckRetryKeys(m));
    RETURN_IF_ERROR(r_.ReadBool(m, "enabled", &out->enabled));
    RETURN_IF_ERROR(ReadRetryableCodes(m, "retryable_codes",
                                       &out->retryable_codes,
                                       &out->retryable_grpc_codes, nullptr));

    // default_policy first: the others inherit from it.
    RetryPolicyConfig default_policy;
    PolicyOrigins default_origins;
    ASSIGN_OR_RETURN(YamlMap default_map,
                     r_.Child(m, absl::StrCat("default", kPolicySuffix)));
    RETURN_IF_ERROR(ReadPolicy(default_map, PolicyOrigins(), &default_policy,
                               &default_origins));

    // Policies whose lists came from the file or the environment (their own
    // or default_policy's); the others get the section's lists at the end.
    std::set<std::string> own_lists;
    const bool default_lists = default_origins.retryable_codes.explicit_value;
    out->policies = BuiltinPolicies(default_policy);
    for (const YamlMap::Entry& entry : m.entries()) {
      if (!absl::EndsWith(entry.key, kPolicySuffix)) continue;
      std::string name =
          entry.key.substr(0, entry.key.size() - std::strlen(kPolicySuffix));
      // A policy in the file replaces the built-in one of that name.
      out->policies[name] = default_policy;
    }
    for (auto& [name, policy] : out->policies) {
      if (name == "default") continue;
      ASSIGN_OR_RETURN(YamlMap policy_map,
                       r_.Child(m, absl::StrCat(name, kPolicySuffix)));
      // Only a policy defined in the file inherits from default_policy; a
      // built-in one set its delays itself.
      PolicyOrigins inherited =
          policy_map.present() ? default_origins : PolicyOrigins();
      PolicyOrigins own;
      RETURN_IF_ERROR(ReadPolicy(policy_map, inherited, &policy, &own));
      if (own.retryable_codes.explicit_value) own_lists.insert(name);
    }
    if (default_lists) {
      for (const auto& [name, policy] : out->policies) own_lists.insert(name);
    }
    FillRetryableCodes(own_lists, out);
    return absl::OkStatus();
  }

  // map.key: a list of HTTP statuses (integers 100..599) and gRPC code names
  // (strings, case-insensitive), split into *http and *grpc. A list that is
  // set replaces both; `origin` (optional) tells whether it was set.
  absl::Status ReadRetryableCodes(const YamlMap& m, absl::string_view key,
                                  std::vector<int>* http,
                                  std::vector<absl::StatusCode>* grpc,
                                  ValueOrigin* origin) const {
    if (origin != nullptr) *origin = YamlReader::OriginOf(m);
    ASSIGN_OR_RETURN(std::optional<YamlReader::Leaf> leaf,
                     r_.Find(m, key, YamlReader::EnvSyntax::kYaml));
    if (!leaf) return absl::OkStatus();
    if (origin != nullptr) *origin = leaf->origin;
    if (!leaf->node.IsSequence()) {
      return r_.Error(*leaf,
                      absl::StrCat("expected a list of HTTP statuses "
                                   "(integers 100..599) and gRPC code names, "
                                   "got ",
                                   DescribeNode(leaf->node)));
    }
    std::vector<int> http_codes;
    std::vector<absl::StatusCode> grpc_codes;
    for (std::size_t i = 0; i < leaf->node.size(); ++i) {
      const YAML::Node element = leaf->node[i];
      ValueOrigin at = leaf->origin;
      if (at.env_var.empty()) at.mark = element.Mark();
      const std::string path = absl::StrCat(leaf->path, "[", i, "]");
      int64_t status = 0;
      if (IsPlainScalar(element) &&
          absl::SimpleAtoi(element.Scalar(), &status)) {
        if (status < kMinHttpStatus || status > kMaxHttpStatus) {
          return r_.Error(
              at, path,
              absl::StrCat(
                  "must be ", status < kMinHttpStatus ? ">= " : "<= ",
                  status < kMinHttpStatus ? kMinHttpStatus : kMaxHttpStatus,
                  ", got ", status));
        }
        http_codes.push_back(static_cast<int>(status));
        continue;
      }
      if (!element.IsScalar()) {
        return r_.Error(at, path,
                        absl::StrCat("expected an HTTP status (100..599) or a "
                                     "gRPC code name, got ",
                                     DescribeNode(element)));
      }
      // A string: a gRPC code name (numbers are HTTP statuses here).
      std::optional<absl::StatusCode> code;
      if (!AllDigits(absl::StripAsciiWhitespace(element.Scalar()))) {
        absl::StatusOr<absl::StatusCode> parsed =
            ParseGrpcCode(element.Scalar());
        if (parsed.ok()) code = *parsed;
      }
      if (!code) {
        return r_.Error(
            at, path,
            absl::StrCat("unknown gRPC code name ", DescribeNode(element),
                         " (expected an HTTP status 100..599 or one of: ",
                         kGrpcCodeNames, ")"));
      }
      grpc_codes.push_back(*code);
    }
    *http = std::move(http_codes);
    *grpc = std::move(grpc_codes);
    return absl::OkStatus();
  }

  // Keys: enabled, retryable_codes, <name>_policy.
  absl::Status CheckRetryKeys(const YamlMap& m) const {
    for (const YamlMap::Entry& entry : m.entries()) {
      if (entry.key == "enabled" || entry.key == "retryable_codes") continue;
      ValueOrigin at{"", entry.key_node.Mark(), true};
      if (!absl::EndsWith(entry.key, kPolicySuffix)) {
        return r_.Error(at, m.PathOf(entry.key),
                        "unknown key (expected one of: enabled, "
                        "retryable_codes, <name>_policy)");
      }
      absl::string_view name = absl::string_view(entry.key).substr(
          0, entry.key.size() - std::strlen(kPolicySuffix));
      if (!IsValidPolicyName(name)) {
        return r_.Error(at, m.PathOf(entry.key),
                        absl::StrCat("invalid policy name \"", name,
                                     "\": must match [A-Za-z0-9_]+"));
      }
    }
    return absl::OkStatus();
  }

  // Overlays m on *policy. `inherited`: where the fields *policy started with
  // came from (blamed when an inherited value breaks a rule).
  absl::Status ReadPolicy(const YamlMap& m, const PolicyOrigins& inherited,
                          RetryPolicyConfig* policy,
                          PolicyOrigins* origins) const {
    RETURN_IF_ERROR(r_.CheckKeys(
        m, {"max_attempts", "base_delay", "max_delay", "exponential_base",
            "jitter", "retryable_codes", "min_attempt_time", "budget"}));
    RETURN_IF_ERROR(
        r_.ReadInt(m, "max_attempts", 1, 100, &policy->max_attempts));
    RETURN_IF_ERROR(r_.ReadDuration(m, "base_delay", true, kMaxDuration,
                                    &policy->base_delay, &origins->base_delay));
    RETURN_IF_ERROR(r_.ReadDuration(m, "max_delay", true, kMaxDuration,
                                    &policy->max_delay, &origins->max_delay));
    RETURN_IF_ERROR(r_.ReadDouble(m, "exponential_base", 1.0, 100.0,
                                  &policy->exponential_base));
    RETURN_IF_ERROR(ReadJitter(m, &policy->jitter));
    RETURN_IF_ERROR(ReadRetryableCodes(
        m, "retryable_codes", &policy->retryable_codes,
        &policy->retryable_grpc_codes, &origins->retryable_codes));
    RETURN_IF_ERROR(r_.ReadDuration(m, "min_attempt_time", true, kMaxDuration,
                                    &policy->min_attempt_time));
    ASSIGN_OR_RETURN(YamlMap budget, r_.Child(m, "budget"));
    RETURN_IF_ERROR(ReadBudget(budget, inherited, &policy->budget, origins));
    if (policy->max_delay >= policy->base_delay) return absl::OkStatus();
    const ValueOrigin& max = Blame(origins->max_delay, inherited.max_delay);
    const ValueOrigin& base = Blame(origins->base_delay, inherited.base_delay);
    if (max.explicit_value || !base.explicit_value) {
      return r_.Error(max, m.PathOf("max_delay"),
                      absl::StrCat("must be >= base_delay (",
                                   FormatSeconds(policy->base_delay), ")"));
    }
    return r_.Error(base, m.PathOf("base_delay"),
                    absl::StrCat("must be <= max_delay (",
                                 FormatSeconds(policy->max_delay), ")"));
  }

  // budget: {max_tokens, token_ratio}, overlaid on *budget.
  absl::Status ReadBudget(const YamlMap& m, const PolicyOrigins& inherited,
                          RetryBudgetConfig* budget,
                          PolicyOrigins* origins) const {
    RETURN_IF_ERROR(r_.CheckKeys(m, {"max_tokens", "token_ratio"}));
    RETURN_IF_ERROR(r_.ReadDouble(m, "max_tokens", 0, kMaxBudgetTokens,
                                  &budget->max_tokens, &origins->max_tokens));
    if (budget->max_tokens > 0 && budget->max_tokens < 1) {
      return r_.Error(Blame(origins->max_tokens, inherited.max_tokens),
                      m.PathOf("max_tokens"),
                      absl::StrCat("must be 0 (no budget) or >= 1, got ",
                                   budget->max_tokens));
    }
    RETURN_IF_ERROR(r_.ReadDouble(
        m, "token_ratio", -std::numeric_limits<double>::max(), kMaxBudgetTokens,
        &budget->token_ratio, &origins->token_ratio));
    const ValueOrigin& ratio =
        Blame(origins->token_ratio, inherited.token_ratio);
    if (budget->token_ratio <= 0) {
      return r_.Error(ratio, m.PathOf("token_ratio"),
                      absl::StrCat("must be > 0, got ", budget->token_ratio));
    }
    // With max_tokens 0 there is no budget and the ratio is unused.
    if (budget->max_tokens == 0 || budget->token_ratio <= budget->max_tokens) {
      return absl::OkStatus();
    }
    // Blame the key this map set; when it set neither (or both), the ratio.
    const ValueOrigin& max = Blame(origins->max_tokens, inherited.max_tokens);
    if (origins->token_ratio.explicit_value ||
        !origins->max_tokens.explicit_value) {
      return r_.Error(
          ratio, m.PathOf("token_ratio"),
          absl::StrCat("must be <= max_tokens (", budget->max_tokens, ")"));
    }
    return r_.Error(
        max, m.PathOf("max_tokens"),
        absl::StrCat("must be >= token_ratio (", budget->token_ratio, ")"));
  }

  // jitter: true (full), false (none), or a mode name.
  absl::Status ReadJitter(const YamlMap& m, JitterMode* out) const {
    ASSIGN_OR_RETURN(std::optional<YamlReader::Leaf> leaf,
                     r_.Find(m, "jitter", YamlReader::EnvSyntax::kYaml));
    if (!leaf) return absl::OkStatus();
    if (std::optional<bool> on = ParseBoolScalar(leaf->node)) {
      *out = *on ? JitterMode::kFull : JitterMode::kNone;
      return absl::OkStatus();
    }
    for (const Named<JitterMode>& mode : kJitterModes) {
      if (leaf->node.IsScalar() && leaf->node.Scalar() == mode.name) {
        *out = mode.value;
        return absl::OkStatus();
      }
    }
    return r_.Error(*leaf,
                    absl::StrCat("expected one of true, false, ",
                                 absl::StrJoin(NamesOf(kJitterModes), ", "),
                                 "; got ", DescribeNode(leaf->node)));
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

bool IsRegularFile(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// An explicitly named config file: it must exist.
absl::StatusOr<std::optional<std::string>> ExplicitPath(
    const std::string& path, const std::string& working_dir,
    absl::string_view named_by) {
  std::filesystem::path p(path);
  if (p.is_relative() && !working_dir.empty()) p = working_dir / p;
  if (!IsRegularFile(p)) {
    return absl::NotFoundError(absl::StrCat("config file ", p.string(), " (",
                                            named_by, ") does not exist"));
  }
  return p.string();
}

}  // namespace

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

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

Config DefaultConfig() {
  Config config;
  for (const BuiltinRule& rule : kBuiltinRules) {
    config.runtime.rate_limiting.operations[rule.operation] = {
        rule.capacity, absl::Seconds(rule.window_seconds)};
  }
  config.runtime.retry.policies = BuiltinPolicies(RetryPolicyConfig());
  FillRetryableCodes({}, &config.runtime.retry);
  config.runtime.health_checks.providers =
      BuiltinProviders(config.runtime.health_checks);
  return config;
}

// The 1-based line where a second YAML document starts, if any. A document
// marker ("---" or "...") at column 0 can only be a marker (block content is
// indented, and flow content may not hold one), so this is exact.
std::optional<int> SecondDocumentLine(absl::string_view text) {
  bool content = false;  // the first document has begun
  bool ended = false;    // ... and a "..." ended it
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    const bool start = absl::StartsWith(line, "---") &&
                       (line.size() == 3 || line[3] == ' ' || line[3] == '\t' ||
                        line[3] == '\r');
    const bool end = absl::StartsWith(line, "...") &&
                     (line.size() == 3 || line[3] == ' ' || line[3] == '\t' ||
                      line[3] == '\r');
    if (start) {
      if (content || ended) return line_no;
      content = !absl::StripAsciiWhitespace(line.substr(3)).empty();
      continue;
    }
    if (end) {
      ended = content || ended;
      continue;
    }
    const absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (stripped.empty() || stripped[0] == '#') continue;
    if (!content && stripped[0] == '%') continue;  // a directive
    if (ended) return line_no;
    content = true;
  }
  return std::nullopt;
}

absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text,
                                   absl::string_view filename,
                                   const EnvLookup& env) {
  // One document only. yaml-cpp 0.7's LoadAll never returns on some inputs
  // (a lone ","), so the first document is loaded with Load and a second
  // one is found by its marker.
  if (std::optional<int> line = SecondDocumentLine(yaml_text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", *line, ":1: expected a single YAML document, found a second one"));
  }
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(FormatYamlException(filename, e));
  }
  return ConfigFromDocument(doc, std::string(filename), env);
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path,
                                      const EnvLookup& env) {
  if (!IsRegularFile(path)) {
    return absl::NotFoundError(
        absl::StrCat("cannot read config file ", path, ": not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in.is_open()) text << in.rdbuf();
  if (!in.is_open() || in.bad()) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path,
                                            ": ", std::strerror(errno)));
  }
  return ParseConfig(text.str(), path, env);
}

absl::StatusOr<std::optional<std::string>> DiscoverConfigPath(
    const std::string& flag_path, const EnvLookup& env,
    const std::string& working_dir) {
  if (!flag_path.empty()) {
    return ExplicitPath(flag_path, working_dir, "from --config");
  }
  std::optional<std::string> from_env = env ? env(kConfigEnvVar) : std::nullopt;
  if (from_env && !from_env->empty()) {
    return ExplicitPath(*from_env, working_dir,
                        absl::StrCat("from ", kConfigEnvVar));
  }
  std::error_code ec;
  std::filesystem::path dir = working_dir.empty()
                                  ? std::filesystem::current_path(ec)
                                  : std::filesystem::path(working_dir);
  for (int level = 0; level <= kMaxParentDirs && !dir.empty(); ++level) {
    std::filesystem::path candidate = dir / kConfigFileName;
    if (IsRegularFile(candidate)) return candidate.string();
    std::filesystem::path parent = dir.parent_path();
    if (parent == dir) break;
    dir = parent;
  }
  return std::optional<std::string>();
}

absl::StatusOr<Config> DefaultConfigWithEnv(const EnvLookup& env) {
  return ConfigFromDocument(YAML::Node(), kEmbeddedSource, env);
}

absl::string_view StorageBackendName(StorageBackend backend) {
  return NameOf(kStorageBackends, backend);
}
absl::string_view LogFormatName(LogFormat format) {
  return NameOf(kLogFormats, format);
}
absl::string_view JitterModeName(JitterMode mode) {
  return NameOf(kJitterModes, mode);
}
absl::string_view CheckTypeName(CheckType type) {
  return NameOf(kCheckTypes, type);
}
absl::string_view StoreFailurePolicyName(StoreFailurePolicy policy) {
  return NameOf(kStoreFailurePolicies, policy);
}

}  // namespace crossbridge
