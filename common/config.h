// Typed CrossBridge configuration (crossbridge.yml) and its loader.
//
// A Config is a plain value: immutable once loaded. The server shares it as
// std::shared_ptr<const Config>; a reload builds a new one and swaps the
// pointer. Every field has a default (DefaultConfig()), equal to the shipped
// crossbridge.yml; every leaf can be overridden by an environment variable
// named CROSSBRIDGE_ + its key path upper-cased with '.' -> '_', e.g.
// CROSSBRIDGE_STORAGE_BACKEND or
// CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_SEARCH_CAPACITY.
//
// Errors are absl::InvalidArgumentError whose message starts with the place
// and key path:  "crossbridge.yml:7:17: runtime.rate_limiting.defaults.search.
// capacity: must be > 0". Line and column are 1-based. An error that comes
// from an environment variable names the variable instead of a position.
#ifndef CROSSBRIDGE_COMMON_CONFIG_H_
#define CROSSBRIDGE_COMMON_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/host_port.h"

namespace crossbridge {

// ---- server ---------------------------------------------------------------
// Whether the TLS listener asks clients for a certificate (mTLS).
enum class ClientAuth {
  kNone,     // no client certificate is asked for
  kRequest,  // asked for and verified against client_ca_file when sent
  kRequire,  // required and verified: a client without one is refused
};

// server.tls: TLS on the gRPC port. Off (plaintext) without cert_file.
// The files are PEM. They are read and checked at start (a missing,
// unreadable or broken file stops the server) and re-read every
// refresh_interval: a change that checks out serves new connections, a
// broken one is logged once and the previous material keeps serving
// (server/tls/tls_credentials.h).
struct TlsConfig {
  std::string cert_file;  // certificate chain, leaf first
  std::string key_file;   // the leaf's private key (unencrypted)
  // CA certificates that client certificates must chain to. Required with
  // client_auth request or require, not allowed with none.
  std::string client_ca_file;
  ClientAuth client_auth = ClientAuth::kNone;
  // How often the files are checked for a change; 1..60 s. A new
  // certificate serves new connections within about twice this.
  absl::Duration refresh_interval = absl::Seconds(2);

  bool enabled() const { return !cert_file.empty(); }
};

struct ServerConfig {
  // host:port for the gRPC listener. Port 0 picks a free port.
  std::string listen_address = "127.0.0.1:50051";
  // host:port for the metrics (Prometheus) HTTP listener, checked like
  // listen_address (CheckListenAddress). "" turns metrics off.
  std::string metrics_listen_address = "127.0.0.1:9464";
  // host:port of a plaintext listener that serves grpc.health.v1 and
  // nothing else, for kubelet gRPC probes and load balancers that cannot
  // speak TLS. "" (the default): none.
  std::string health_listen_address;
  TlsConfig tls;
  // On SIGTERM/SIGINT: health turns NOT_SERVING at once, new calls are still
  // served for drain_grace (so load balancers notice), then the listener
  // closes and in-flight calls get up to shutdown_timeout to finish.
  absl::Duration drain_grace = absl::Seconds(2);
  absl::Duration shutdown_timeout = absl::Seconds(10);
};

// ---- storage --------------------------------------------------------------
enum class StorageBackend { kMemory, kRedis, kRedisCluster };

struct MemoryStorageConfig {
  // Number of independently locked shards of the bucket map.
  int shards = 16;
  // Hard bound on live buckets. Full buckets are swept out to make room; a
  // bucket that still holds state is never evicted, so at the bound a new
  // key is refused (UNAVAILABLE) and its on_store_failure decides.
  int64_t max_buckets = 1'000'000;
};

struct RedisStorageConfig {
  // redis://[:password@]host:port[/db]. Validated at load time.
  std::string url = "redis://127.0.0.1:6379/0";
  // Parsed from url:
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;  // from the URL or password_env; never logged
  // Name of an environment variable holding the password; when set (and the
  // variable is non-empty) it wins over a password in the URL.
  std::string password_env = "CROSSBRIDGE_REDIS_PASSWORD";
  // Connections (RedisLinks), each with one thread reading its replies.
  int connections = 2;
  // Budget of one store call, from enqueue to reply. A call that misses it
  // completes with DEADLINE_EXCEEDED and the operation's on_store_failure.
  absl::Duration timeout = absl::Milliseconds(100);
  absl::Duration connect_timeout = absl::Milliseconds(200);
  // Reconnect attempts back off exponentially (jittered) up to this.
  absl::Duration reconnect_max_backoff = absl::Seconds(1);
};

// storage.redis_cluster: where the cluster's map is first read, and what
// every node's connections share. The connection keys are storage.redis's
// (password_env, connections per node, the timeouts); `connection`'s url,
// host and port are unused, and db is always 0 (a cluster has no other).
struct RedisClusterStorageConfig {
  std::vector<HostPort> nodes;  // seeds; the rest are found with CLUSTER SLOTS
  RedisStorageConfig connection;
};

struct StorageConfig {
  StorageBackend backend = StorageBackend::kMemory;
  MemoryStorageConfig memory;
  RedisStorageConfig redis;
  RedisClusterStorageConfig redis_cluster;
};

// ---- logging --------------------------------------------------------------
enum class LogFormat { kText, kJson };

// level and format apply on every InitLogging() call (a hot reload); the
// sinks (console, file, max_file_mb, max_files) are built once, by the first
// successful call, and a change to them needs a restart
// (RestartOnlyChanges() in common/config_diff.h lists it).
struct LoggingConfig {
  // trace | debug | info | warn | error | critical | off
  std::string level = "info";
  LogFormat format = LogFormat::kText;
  // Log to stderr.
  bool console = true;
  // Also log to this file (rotated by size); "" means no file. console false
  // with no file is an error (logs would go nowhere). InitLogging fails if it
  // cannot open the file.
  std::string file;
  // The file rotates when it reaches this many MiB; 1..10240.
  int max_file_mb = 100;
  // Rotated files kept besides the live one (app.1.log .. app.N.log for
  // app.log); 1..1000.
  int max_files = 5;
};

// ---- runtime.rate_limiting ------------------------------------------------
// What AcquirePermit does when the store (Redis) fails or times out.
enum class StoreFailurePolicy {
  kLocal,  // fall back to an in-process bucket of the same rule (default)
  kAllow,  // fail open: allowed
  kDeny,   // fail closed: UNAVAILABLE
};

// Whose bucket a permit request takes from when auth is on (with auth off
// every caller shares the operation's buckets).
enum class BucketScope {
  kTenant,  // the caller's tenant's own bucket for the key (default)
  kGlobal,  // one bucket per key, shared by every tenant (an org-wide quota)
};

struct RateLimitRule {
  int64_t capacity = 0;                 // > 0, <= 1e9
  absl::Duration window = absl::ZeroDuration();  // > 0, <= 365 days
  StoreFailurePolicy on_store_failure = StoreFailurePolicy::kLocal;
  BucketScope scope = BucketScope::kTenant;
};

struct RateLimitingConfig {
  // false: every AcquirePermit is allowed without touching the store.
  bool enabled = true;
  // Operation name -> rule ("defaults" in YAML). Operation names match
  // [A-Za-z0-9_.-]{1,64} (no ':' so bucket keys cannot collide).
  std::map<std::string, RateLimitRule> operations;
  // Rule for operations not listed above; absent means NOT_FOUND.
  std::optional<RateLimitRule> default_rule;
  // Memory store: a shard sweeps idle (full) buckets once it holds this many.
  int64_t cleanup_threshold = 1000;
};

// ---- runtime.retry --------------------------------------------------------
enum class JitterMode { kNone, kFull, kEqual, kDecorrelated };

// gRPC retry throttling, kept in the store so every replica shares it.
struct RetryBudgetConfig {
  double max_tokens = 100;   // 0 disables the budget; else in [1, 1e6]
  double token_ratio = 0.1;  // deposited per success, in (0, max_tokens]
};

struct RetryPolicyConfig {
  int max_attempts = 3;                            // >= 1
  absl::Duration base_delay = absl::Milliseconds(500);
  absl::Duration max_delay = absl::Seconds(5);     // >= base_delay
  double exponential_base = 2.0;                   // >= 1
  JitterMode jitter = JitterMode::kFull;           // YAML: true|false|full|equal|decorrelated|none
  // HTTP statuses that may be retried. After loading, never empty unless the
  // user wrote []: a policy without its own list gets RetryConfig's.
  std::vector<int> retryable_codes;
  // gRPC codes that may be retried. YAML: names in the same retryable_codes
  // list (e.g. [429, 503, UNAVAILABLE]); default UNAVAILABLE,
  // RESOURCE_EXHAUSTED when the list is not given anywhere.
  std::vector<absl::StatusCode> retryable_grpc_codes;
  // The shortest useful attempt: no retry when delay + this exceeds the
  // caller's remaining deadline.
  absl::Duration min_attempt_time = absl::Milliseconds(50);
  RetryBudgetConfig budget;
};

struct RetryConfig {
  bool enabled = true;
  // Policy name -> policy. YAML key "<name>_policy"; a policy that omits a
  // field inherits it from default_policy.
  std::map<std::string, RetryPolicyConfig> policies;
  std::vector<int> retryable_codes = {429, 500, 502, 503, 504};
  std::vector<absl::StatusCode> retryable_grpc_codes = {
      absl::StatusCode::kUnavailable, absl::StatusCode::kResourceExhausted};
};

// ---- runtime.health_checks ------------------------------------------------
enum class CheckType { kPing, kTcp, kHttp, kGrpc, kEmbed };

struct HealthProviderConfig {
  bool enabled = true;
  CheckType check_type = CheckType::kTcp;
  // host:port for tcp and ping, a URL for http and embed, a gRPC target for
  // grpc. Required when enabled.
  std::string target;
  // Unset fields inherit the health_checks section's values.
  absl::Duration interval = absl::Seconds(30);
  absl::Duration timeout = absl::Seconds(10);
  int failure_threshold = 3;
  // embed: name of the environment variable holding the API key (optional).
  std::string api_key_env;
  // Retry policy callers should use for this dependency (must exist).
  std::string retry_policy = "default";
};

struct HealthChecksConfig {
  bool enabled = true;
  absl::Duration interval = absl::Seconds(30);
  absl::Duration timeout = absl::Seconds(10);   // < interval
  int failure_threshold = 3;                     // >= 1
  std::map<std::string, HealthProviderConfig> providers;
};

struct RuntimeConfig {
  RateLimitingConfig rate_limiting;
  RetryConfig retry;
  HealthChecksConfig health_checks;
};

// ---- auth -----------------------------------------------------------------
// Bearer tokens bound to tenants (server/auth/tenant_tokens.h has the tokens
// file's format). Reloadable: a reload reads the tokens file again.
struct AuthConfig {
  // true: every CrossBridge RPC needs a known token (grpc.health.v1 and
  // server reflection stay open).
  bool enabled = false;
  // The tokens file (YAML). Required when enabled.
  std::string tokens_file;
};

// ---- envoy ----------------------------------------------------------------
// Envoy's rate-limit service (envoy.service.ratelimit.v3.RateLimitService),
// configured like envoyproxy/ratelimit: per domain, a tree of descriptors
// matched entry by entry (server/envoy/descriptor_matcher.h). Reloadable:
// a reload swaps the tree; buckets of unchanged limits keep their state.

// One limit of a descriptor: a GCRA bucket of requests_per_unit permits
// refilling continuously over `window`.
struct EnvoyRateLimit {
  int64_t requests_per_unit = 0;  // >= 1, <= 1e9
  // unit: second|minute|hour|day, or window_seconds (exactly one is given).
  absl::Duration window = absl::ZeroDuration();
  // The unit as Envoy names it (1..4 = SECOND..DAY); 0 when window_seconds
  // was given (answered as UNKNOWN in current_limit).
  int unit = 0;
  std::string name;  // optional; answered in current_limit.name
};

struct EnvoyDescriptor {
  std::string key;  // not empty
  // Set: matches only this value; unset: any value of `key` (a key+value
  // sibling wins over it).
  std::optional<std::string> value;
  // Empty: a node with no limit (matches, limits nothing).
  std::vector<EnvoyRateLimit> rate_limits;
  bool shadow_mode = false;  // answers OK, counts what it would refuse
  std::vector<EnvoyDescriptor> descriptors;  // nested
};

struct EnvoyDomain {
  std::string domain;  // not empty, unique
  std::vector<EnvoyDescriptor> descriptors;
};

struct EnvoyConfig {
  std::vector<EnvoyDomain> domains;  // in file order
  // When the store fails: allow (fail open, the default: Envoy's own
  // failure_mode_deny is false), deny (UNAVAILABLE) or local (decided by
  // an in-process store).
  StoreFailurePolicy on_store_failure = StoreFailurePolicy::kAllow;
};

struct Config {
  // Where this config came from ("<embedded default>" or a path).
  std::string source = "<embedded default>";
  ServerConfig server;
  StorageConfig storage;
  LoggingConfig logging;
  AuthConfig auth;
  RuntimeConfig runtime;
  EnvoyConfig envoy;
};

// Looks up an environment variable; nullopt when unset. Injected so tests do
// not touch the process environment.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
// Reads the real process environment.
EnvLookup ProcessEnv();

// The embedded default: the runtime values the server starts with when no
// config file is given.
// Equal to what the shipped crossbridge.yml parses to (a test pins this).
Config DefaultConfig();

// Parses YAML text. `filename` is only used in error messages. Keys absent
// from the text keep their defaults; environment overrides apply last and are
// validated like file values.
absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text,
                                   absl::string_view filename,
                                   const EnvLookup& env);

// Reads and parses a file. NotFound if it cannot be read.
absl::StatusOr<Config> LoadConfigFile(const std::string& path,
                                      const EnvLookup& env);

// Discovery: `flag_path` if non-empty, else $CROSSBRIDGE_CONFIG, else
// crossbridge.yml in `working_dir` or up to 3 parents. Returns nullopt when
// none exists (the caller then uses DefaultConfig() with env overrides).
// NotFound if an explicitly named file does not exist.
absl::StatusOr<std::optional<std::string>> DiscoverConfigPath(
    const std::string& flag_path, const EnvLookup& env,
    const std::string& working_dir);

// The grpc.health.v1 name of the Redis store's own health.
inline constexpr char kRedisHealthName[] = "redis";
// True for names the server's own grpc.health.v1 services use ("redis",
// "crossbridge.v1.RateLimiter", ...): no health provider may take them.
bool IsReservedHealthName(absl::string_view name);

// OK if `address` is a listen address: host:port with a port 0..65535
// (0 picks a free one); else InvalidArgument saying why.
absl::Status CheckListenAddress(absl::string_view address);

// DefaultConfig() with environment overrides applied and validated.
absl::StatusOr<Config> DefaultConfigWithEnv(const EnvLookup& env);

// Names used in YAML and messages.
absl::string_view StorageBackendName(StorageBackend backend);
absl::string_view LogFormatName(LogFormat format);
absl::string_view JitterModeName(JitterMode mode);
absl::string_view CheckTypeName(CheckType type);
absl::string_view StoreFailurePolicyName(StoreFailurePolicy policy);
absl::string_view ClientAuthName(ClientAuth mode);
absl::string_view BucketScopeName(BucketScope scope);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_CONFIG_H_
