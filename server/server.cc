#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "common/config_diff.h"
#include "common/grpc_time.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/status.h"
#include "server/auth/authenticator.h"
#include "server/auth/tenant_tokens.h"
#include "server/envoy/envoy_rate_limit_service.h"
#include "server/envoy/envoy_rate_limiter.h"
#include "server/envoy/memory_envoy_store.h"
#include "server/envoy/redis_envoy_store.h"
#include "server/health/health_registry.h"
#include "server/health/memory_outcome_store.h"
#include "server/health/redis_outcome_store.h"
#include "server/metrics/metrics.h"
#include "server/metrics/metrics_endpoint.h"
#include "server/rate_limiter.h"
#include "server/redis/redis_cluster_executor.h"
#include "server/redis/redis_executor.h"
#include "server/retry/budget_store.h"
#include "server/retry/retry_advisor.h"
#include "server/state_metrics.h"
#include "server/service/grpc_health_service.h"
#include "server/service/health_listener.h"
#include "server/service/health_reporter_service.h"
#include "server/service/rate_limiter_service.h"
#include "server/service/retry_advisor_service.h"
#include "server/store/memory_store.h"
#include "server/store/redis_store.h"
#include "server/tls/server_tls.h"

namespace crossbridge {
namespace {

// Where state lives, as the config asks: everything in this process, or in
// Redis (one, or a cluster) with in-process fallbacks (used while Redis is
// unreachable).
struct Stores {
  std::unique_ptr<RedisBackend> redis;  // null for the memory backend
  std::unique_ptr<BucketStore> buckets;
  std::unique_ptr<BucketStore> local_buckets;  // null for the memory backend
  const MemoryStore* memory = nullptr;  // buckets or local_buckets
  std::unique_ptr<BudgetStore> budgets;
  std::unique_ptr<BudgetStore> local_budgets;
  std::unique_ptr<OutcomeStore> outcomes;
  // Envoy's rate-limit buckets: all-or-nothing over a request's buckets.
  std::unique_ptr<EnvoyBucketStore> envoy;
  std::unique_ptr<EnvoyBucketStore> local_envoy;  // null for the memory backend
};

Stores MakeStores(const Config& config, const Clock& clock, Metrics* metrics) {
  Stores s;
  auto memory = std::make_unique<MemoryStore>(
      clock, config.storage.memory,
      config.runtime.rate_limiting.cleanup_threshold);
  s.memory = memory.get();
  s.local_budgets = std::make_unique<MemoryBudgetStore>();
  auto memory_envoy =
      std::make_unique<MemoryEnvoyStore>(clock, config.storage.memory.max_buckets);
  if (config.storage.backend == StorageBackend::kMemory) {
    s.envoy = std::move(memory_envoy);
    s.buckets = std::move(memory);
    s.outcomes = std::make_unique<MemoryOutcomeStore>(clock);
    return s;
  }
  LatencyHistogram* round_trips =
      metrics != nullptr ? &metrics->StoreLatency("redis") : nullptr;
  if (config.storage.backend == StorageBackend::kRedisCluster) {
    const RedisClusterStorageConfig& cluster = config.storage.redis_cluster;
    std::vector<ClusterNode> seeds;
    for (const HostPort& node : cluster.nodes) seeds.push_back({node.host, node.port});
    s.redis = std::make_unique<RedisClusterExecutor>(
        cluster.connection, std::move(seeds), clock, round_trips);
  } else {
    s.redis = std::make_unique<RedisExecutor>(config.storage.redis, clock, round_trips);
  }
  s.buckets = std::make_unique<RedisStore>(*s.redis);
  s.envoy = std::make_unique<RedisEnvoyStore>(*s.redis);
  s.local_envoy = std::move(memory_envoy);
  s.local_buckets = std::move(memory);
  s.budgets = std::make_unique<RedisBudgetStore>(*s.redis);
  s.outcomes = std::make_unique<RedisOutcomeStore>(*s.redis);
  return s;
}

// The tokens `config` asks for: null with auth off, else the tokens file
// read and checked (its errors: auth.tokens_file, or file:line:col).
absl::StatusOr<std::shared_ptr<const TenantTokens>> LoadTokens(
    const AuthConfig& config) {
  if (!config.enabled) return std::shared_ptr<const TenantTokens>();
  return TenantTokens::Load(config.tokens_file);
}

void LogAuth(const AuthConfig& config, const TenantTokens* tokens) {
  if (tokens == nullptr) {
    Logger("auth")->info("auth off: every caller shares the buckets");
    return;
  }
  Logger("auth")->info("auth on: {} token(s) from {} for tenant(s) {}",
                       tokens->size(), config.tokens_file,
                       tokens->tenants().empty()
                           ? std::string("(none)")
                           : absl::StrJoin(tokens->tenants(), ", "));
}

// Whether losing the store makes the whole server unable to decide: some
// operation fails closed.
bool AnyOperationDenies(const RateLimitingConfig& config) {
  for (const auto& [name, rule] : config.operations) {
    if (rule.on_store_failure == StoreFailurePolicy::kDeny) return true;
  }
  return config.default_rule &&
         config.default_rule->on_store_failure == StoreFailurePolicy::kDeny;
}

class ServerImpl final : public Server {
 public:
  ServerImpl(std::shared_ptr<const Config> config, const Clock& clock,
             std::unique_ptr<Metrics> metrics, std::unique_ptr<ServerTls> tls,
             std::shared_ptr<const TenantTokens> tokens, Stores stores,
             std::unique_ptr<RateLimiter> limiter,
             std::unique_ptr<EnvoyRateLimiter> envoy_limiter)
      : config_(std::move(config)),
        clock_(clock),
        metrics_(std::move(metrics)),
        tls_(std::move(tls)),
        auth_(config_->auth.enabled, std::move(tokens)),
        stores_(std::move(stores)),
        probers_(MakeProbers(ProcessEnv())),
        health_(config_->runtime.health_checks, clock, *probers_,
                *stores_.outcomes, metrics_.get()),
        limiter_(std::move(limiter)),
        envoy_limiter_(std::move(envoy_limiter)),
        advisor_(config_->runtime.retry,
                 stores_.budgets ? *stores_.budgets : *stores_.local_budgets,
                 *stores_.local_budgets, &health_, std::random_device{}(),
                 metrics_.get()),
        rate_limiter_service_(*limiter_, auth_, metrics_.get()),
        envoy_service_(*envoy_limiter_, metrics_.get()),
        retry_advisor_service_(advisor_, auth_, metrics_.get()),
        health_reporter_service_(health_, advisor_, auth_,
                                 [this] { return StoreHealth(); }, metrics_.get()) {
    if (metrics_ != nullptr) {
      metrics_->SetStateCollector([this] {
        return CollectStateMetrics({.redis = stores_.redis.get(),
                                    .memory = stores_.memory,
                                    .health = &health_,
                                    .advisor = &advisor_});
      });
    }
  }

  ~ServerImpl() override {
    // No scrape may read the components below once they start to go.
    metrics_endpoint_.reset();
    if (metrics_ != nullptr) metrics_->SetStateCollector(nullptr);
    for (grpc::Server* server : {server_.get(), health_server_.get()}) {
      if (server == nullptr) continue;
      server->Shutdown(GrpcTimeout(absl::ZeroDuration()));
      server->Wait();
    }
    // Stop the threads that report to the health service while it exists.
    health_.Stop();
    stores_.redis.reset();
  }

  absl::Status Start() override {
    const Config& config = *config_;
    grpc::EnableDefaultHealthCheckService(false);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    // gRPC turns SO_REUSEPORT on by default: a second server on the same
    // port would then start and silently split the traffic (doubling every
    // limit). Off, a taken port fails Start instead.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.AddListeningPort(config.server.listen_address,
                             tls_ != nullptr ? tls_->credentials()
                                             : grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&grpc_health_);
    builder.RegisterService(&rate_limiter_service_);
    builder.RegisterService(&envoy_service_);
    builder.RegisterService(&retry_advisor_service_);
    builder.RegisterService(&health_reporter_service_);
    // Every name known before the first Check can arrive.
    grpc_health_.Set("", true);
    for (const char* service :
         {v1::RateLimiter::service_full_name(), v1::RetryAdvisor::service_full_name(),
          v1::HealthReporter::service_full_name()}) {
      grpc_health_.Set(service, true);
    }
    for (const DependencySnapshot& d : health_.Snapshot()) {
      if (d.state != DependencyState::kDisabled) {
        grpc_health_.Set(d.name, d.state != DependencyState::kNotServing);
      }
    }
    if (stores_.redis != nullptr) {
      grpc_health_.Set(kRedisHealthName, false);
      SetGate(AnyOperationDenies(config.runtime.rate_limiting));
      // Before the port opens: a replica that served its first calls from
      // the in-process fallback while Redis was still connecting would
      // admit a fresh local bucket's worth beyond the fleet-wide limit at
      // every restart.
      StartRedis();
      const RedisStorageConfig& connection =
          config.storage.backend == StorageBackend::kRedisCluster
              ? config.storage.redis_cluster.connection
              : config.storage.redis;
      stores_.redis->AwaitFirstAttempt(connection.connect_timeout + absl::Seconds(1));
    }
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      server_.reset();
      return absl::UnavailableError(absl::StrCat(
          "server.listen_address: cannot listen on ",
          config.server.listen_address,
          " (address in use, not local, or malformed)"));
    }
    if (!config.server.health_listen_address.empty()) {
      ASSIGN_OR_RETURN(health_server_,
                       StartHealthListener(config.server.health_listen_address,
                                           grpc_health_, &health_port_));
    }
    if (metrics_ != nullptr) {
      absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
          MetricsEndpoint::Start(config.server.metrics_listen_address, *metrics_);
      if (!endpoint.ok()) return endpoint.status();
      metrics_endpoint_ = *std::move(endpoint);
    }
    StartDependencyHealth();
    Logger("server")->info(
        "serving on {} (port {}, {}), store {}, metrics {}, health listener {}",
        config.server.listen_address, port_, tls_ != nullptr ? "TLS" : "plaintext",
        std::string(StorageBackendName(config.storage.backend)),
        metrics_endpoint_ != nullptr
            ? absl::StrCat("on port ", metrics_endpoint_->port())
            : std::string("off"),
        health_server_ != nullptr ? absl::StrCat("on port ", health_port_)
                                  : std::string("off"));
    LogAuth(config.auth, auth_.enabled() ? auth_.tokens().get() : nullptr);
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  int health_port() const override { return health_port_; }

  int metrics_port() const override {
    return metrics_endpoint_ != nullptr ? metrics_endpoint_->port() : 0;
  }

  absl::Status Reload(const absl::StatusOr<Config>& next) override {
    MutexLock lock(&reload_mu_);
    absl::Status result = next.ok() ? Apply(*next) : next.status();
    if (metrics_ != nullptr) metrics_->RecordReload(result.ok(), clock_.Now());
    if (result.ok()) {
      Logger("config")->info("reloaded the configuration from {}", next->source);
    } else {
      Logger("config")->error("configuration reload rejected, still serving the "
                              "previous one: {}", std::string(result.message()));
    }
    return result;
  }

  void Drain() override {
    {
      MutexLock lock(&drain_mu_);
      if (draining_ || server_ == nullptr) return;
      draining_ = true;
    }
    absl::Duration grace, timeout;
    {
      MutexLock lock(&reload_mu_);
      grace = config_->server.drain_grace;
      timeout = config_->server.shutdown_timeout;
    }
    auto log = Logger("server");
    // Every service NOT_SERVING now; later Set calls are ignored.
    grpc_health_.Shutdown();
    log->info("draining: health NOT_SERVING, still serving for {}",
              absl::FormatDuration(grace));
    clock_.SleepFor(grace);
    log->info("closing the listener; in-flight calls have {} to finish",
              absl::FormatDuration(timeout));
    server_->Shutdown(GrpcTimeout(timeout));
    if (health_server_ != nullptr) health_server_->Shutdown(GrpcTimeout(timeout));
    log->info("stopped");
  }

  void Wait() override {
    if (server_) server_->Wait();
    if (health_server_) health_server_->Wait();
  }

 private:
  // Reload: builds everything that can fail first, then applies it all.
  absl::Status Apply(const Config& next) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_) {
    absl::StatusOr<std::shared_ptr<const RateLimiter::RuleSet>> rules =
        limiter_->BuildRules(next.runtime.rate_limiting);
    if (!rules.ok()) return rules.status();
    ASSIGN_OR_RETURN(std::shared_ptr<const EnvoyRateLimiter::Rules> envoy_rules,
                     envoy_limiter_->BuildRules(next.envoy));
    std::shared_ptr<const RetryAdvisor::PolicySet> policies =
        advisor_.BuildPolicies(next.runtime.retry);
    ASSIGN_OR_RETURN(std::shared_ptr<const TenantTokens> tokens,
                     LoadTokens(next.auth));
    if (absl::Status s = InitLogging(next.logging); !s.ok()) return s;

    limiter_->Apply(*std::move(rules));
    envoy_limiter_->Apply(std::move(envoy_rules));
    auth_.Apply(next.auth.enabled, tokens);
    LogAuth(next.auth, tokens.get());
    advisor_.Apply(std::move(policies));
    health_.Reconfigure(next.runtime.health_checks);
    SetGate(AnyOperationDenies(next.runtime.rate_limiting));
    for (const std::string& key : RestartOnlyChanges(*config_, next)) {
      Logger("config")->warn("{} changed; it takes effect after a restart "
                             "(running with the old value)", key);
    }
    config_ = std::make_shared<const Config>(WithRestartOnlyKeysOf(*config_, next));
    return absl::OkStatus();
  }

  // Every enabled provider is a grpc.health.v1 service name that follows the
  // registry (UNKNOWN counts as serving until the first result); a reload
  // that removes or disables one removes its name (NOT_FOUND).
  void StartDependencyHealth() {
    health_.Start([this](const std::string& provider, std::optional<bool> serving) {
      if (serving.has_value()) {
        grpc_health_.Set(provider, *serving);
      } else {
        grpc_health_.Remove(provider);
      }
    });
  }

  // The Redis store as GetHealth shows it (nullopt on the memory backend):
  // UNKNOWN until the first connection attempt ends, then SERVING while a
  // connection works, NOT_SERVING with the reason otherwise.
  std::optional<DependencySnapshot> StoreHealth() const {
    if (stores_.redis == nullptr) return std::nullopt;
    const RedisBackend& redis = *stores_.redis;
    DependencySnapshot s;
    s.name = kRedisHealthName;
    s.check_type = CheckType::kPing;
    s.target = redis.where();
    if (redis.reachable()) {
      s.state = DependencyState::kServing;
    } else {
      s.last_error = redis.last_error();
      s.state = s.last_error.empty() ? DependencyState::kUnknown
                                     : DependencyState::kNotServing;
    }
    return s;
  }

  // "redis" is NOT_SERVING until the store connects and whenever it is
  // unreachable; "" follows it only while some operation fails closed
  // (which a reload may change: SetGate).
  void StartRedis() {
    stores_.redis->Start([this](bool reachable) {
      grpc_health_.Set(kRedisHealthName, reachable);
      SetGate(std::nullopt);
    });
  }

  // Sets (or, with nullopt, keeps) whether "" follows Redis, and sets "".
  void SetGate(std::optional<bool> gate) {
    if (stores_.redis == nullptr) return;
    MutexLock lock(&gate_mu_);
    if (gate.has_value()) gate_server_ = *gate;
    grpc_health_.Set("", !gate_server_ || stores_.redis->reachable());
  }

  absl::Mutex reload_mu_;  // serializes reloads; guards config_
  std::shared_ptr<const Config> config_ ABSL_GUARDED_BY(reload_mu_);
  const Clock& clock_;
  const std::unique_ptr<Metrics> metrics_;  // null: metrics off
  const std::unique_ptr<ServerTls> tls_;    // null: plaintext
  Authenticator auth_;
  Stores stores_;
  const std::unique_ptr<Probers> probers_;
  HealthRegistry health_;
  const std::unique_ptr<RateLimiter> limiter_;
  const std::unique_ptr<EnvoyRateLimiter> envoy_limiter_;
  RetryAdvisor advisor_;
  absl::Mutex gate_mu_;
  bool gate_server_ ABSL_GUARDED_BY(gate_mu_) = false;
  GrpcHealthService grpc_health_;
  RateLimiterService rate_limiter_service_;
  EnvoyRateLimitService envoy_service_;
  RetryAdvisorService retry_advisor_service_;
  HealthReporterService health_reporter_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> health_server_;  // null: no health listener
  int health_port_ = 0;
  std::unique_ptr<MetricsEndpoint> metrics_endpoint_;
  absl::Mutex drain_mu_;
  bool draining_ ABSL_GUARDED_BY(drain_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    std::shared_ptr<const Config> config, const Clock& clock) {
  std::unique_ptr<Metrics> metrics;
  if (!config->server.metrics_listen_address.empty()) {
    metrics = std::make_unique<Metrics>(clock);
  }
  std::unique_ptr<ServerTls> tls;
  if (config->server.tls.enabled()) {
    ASSIGN_OR_RETURN(tls, ServerTls::Create(config->server.tls, clock, metrics.get()));
  }
  ASSIGN_OR_RETURN(std::shared_ptr<const TenantTokens> tokens,
                   LoadTokens(config->auth));
  Stores stores = MakeStores(*config, clock, metrics.get());
  ASSIGN_OR_RETURN(std::unique_ptr<RateLimiter> limiter,
                   RateLimiter::Create(config->runtime.rate_limiting,
                                       *stores.buckets, stores.local_buckets.get(),
                                       metrics.get()));
  ASSIGN_OR_RETURN(std::unique_ptr<EnvoyRateLimiter> envoy_limiter,
                   EnvoyRateLimiter::Create(config->envoy, *stores.envoy,
                                            stores.local_envoy.get(), metrics.get()));
  if (metrics != nullptr) metrics->RecordStartupConfig(clock.Now());
  return std::unique_ptr<Server>(new ServerImpl(
      std::move(config), clock, std::move(metrics), std::move(tls),
      std::move(tokens), std::move(stores), std::move(limiter),
      std::move(envoy_limiter)));
}

}  // namespace crossbridge
