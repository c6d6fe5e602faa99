#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_time.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/status.h"
#include "server/health/health_registry.h"
#include "server/health/memory_outcome_store.h"
#include "server/health/redis_outcome_store.h"
#include "server/rate_limiter.h"
#include "server/redis/redis_executor.h"
#include "server/retry/budget_store.h"
#include "server/retry/retry_advisor.h"
#include "server/service/health_reporter_service.h"
#include "server/service/rate_limiter_service.h"
#include "server/service/retry_advisor_service.h"
#include "server/store/memory_store.h"
#include "server/store/redis_store.h"

namespace crossbridge {
namespace {

// Where state lives, as the config asks: everything in this process, or in
// Redis with in-process fallbacks (used while Redis is unreachable).
struct Stores {
  std::unique_ptr<RedisExecutor> redis;  // null for the memory backend
  std::unique_ptr<BucketStore> buckets;
  std::unique_ptr<BucketStore> local_buckets;  // null for the memory backend
  std::unique_ptr<BudgetStore> budgets;
  std::unique_ptr<BudgetStore> local_budgets;
  std::unique_ptr<OutcomeStore> outcomes;
};

Stores MakeStores(const Config& config, const Clock& clock) {
  Stores s;
  auto memory = std::make_unique<MemoryStore>(
      clock, config.storage.memory,
      config.runtime.rate_limiting.cleanup_threshold);
  s.local_budgets = std::make_unique<MemoryBudgetStore>();
  if (config.storage.backend == StorageBackend::kMemory) {
    s.buckets = std::move(memory);
    s.outcomes = std::make_unique<MemoryOutcomeStore>(clock);
    return s;
  }
  s.redis = std::make_unique<RedisExecutor>(config.storage.redis, clock);
  s.buckets = std::make_unique<RedisStore>(*s.redis);
  s.local_buckets = std::move(memory);
  s.budgets = std::make_unique<RedisBudgetStore>(*s.redis);
  s.outcomes = std::make_unique<RedisOutcomeStore>(*s.redis);
  return s;
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
             Stores stores, std::unique_ptr<RateLimiter> limiter)
      : config_(std::move(config)),
        clock_(clock),
        stores_(std::move(stores)),
        probers_(MakeProbers(ProcessEnv())),
        health_(config_->runtime.health_checks, clock, *probers_,
                *stores_.outcomes),
        limiter_(std::move(limiter)),
        advisor_(config_->runtime.retry,
                 stores_.budgets ? *stores_.budgets : *stores_.local_budgets,
                 *stores_.local_budgets, &health_),
        rate_limiter_service_(*limiter_),
        retry_advisor_service_(advisor_),
        health_reporter_service_(config_->runtime.health_checks, health_,
                                 advisor_, [this] { return StoreHealth(); }) {}

  ~ServerImpl() override {
    if (server_) {
      server_->Shutdown(GrpcTimeout(absl::ZeroDuration()));
      server_->Wait();
    }
    // Stop the threads that report to the health service while it exists.
    health_.Stop();
    stores_.redis.reset();
  }

  absl::Status Start() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    // gRPC turns SO_REUSEPORT on by default: a second server on the same
    // port would then start and silently split the traffic (doubling every
    // limit). Off, a taken port fails Start instead.
    builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
    builder.AddListeningPort(config_->server.listen_address,
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&rate_limiter_service_);
    builder.RegisterService(&retry_advisor_service_);
    builder.RegisterService(&health_reporter_service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      server_.reset();
      return absl::UnavailableError(absl::StrCat(
          "server.listen_address: cannot listen on ",
          config_->server.listen_address,
          " (address in use, not local, or malformed)"));
    }
    grpc::HealthCheckServiceInterface& health = *server_->GetHealthCheckService();
    health.SetServingStatus("", true);
    for (const char* service :
         {v1::RateLimiter::service_full_name(), v1::RetryAdvisor::service_full_name(),
          v1::HealthReporter::service_full_name()}) {
      health.SetServingStatus(service, true);
    }
    StartDependencyHealth(health);
    if (stores_.redis != nullptr) StartRedis(health);
    Logger("server")->info("serving on {} (port {}), store {}",
                           config_->server.listen_address, port_,
                           std::string(StorageBackendName(config_->storage.backend)));
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  void Drain() override {
    {
      MutexLock lock(&drain_mu_);
      if (draining_ || server_ == nullptr) return;
      draining_ = true;
    }
    auto log = Logger("server");
    // Every service NOT_SERVING now; later SetServingStatus calls are ignored.
    server_->GetHealthCheckService()->Shutdown();
    log->info("draining: health NOT_SERVING, still serving for {}",
              absl::FormatDuration(config_->server.drain_grace));
    clock_.SleepFor(config_->server.drain_grace);
    log->info("closing the listener; in-flight calls have {} to finish",
              absl::FormatDuration(config_->server.shutdown_timeout));
    server_->Shutdown(GrpcTimeout(config_->server.shutdown_timeout));
    log->info("stopped");
  }

  void Wait() override {
    if (server_) server_->Wait();
  }

 private:
  // Every enabled provider is a grpc.health.v1 service name that follows the
  // registry (UNKNOWN counts as serving until the first result).
  void StartDependencyHealth(grpc::HealthCheckServiceInterface& health) {
    for (const DependencySnapshot& d : health_.Snapshot()) {
      if (d.state != DependencyState::kDisabled) {
        health.SetServingStatus(d.name, d.state != DependencyState::kNotServing);
      }
    }
    health_.Start([&health](const std::string& provider, bool serving) {
      health.SetServingStatus(provider, serving);
    });
  }

  // The Redis store as GetHealth shows it (nullopt on the memory backend):
  // UNKNOWN until the first connection attempt ends, then SERVING while a
  // connection works, NOT_SERVING with the reason otherwise.
  std::optional<DependencySnapshot> StoreHealth() const {
    if (stores_.redis == nullptr) return std::nullopt;
    const RedisExecutor& redis = *stores_.redis;
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
  // unreachable; "" follows it only when some operation fails closed.
  void StartRedis(grpc::HealthCheckServiceInterface& health) {
    const bool gate_server = AnyOperationDenies(config_->runtime.rate_limiting);
    health.SetServingStatus(kRedisHealthName, false);
    if (gate_server) health.SetServingStatus("", false);
    stores_.redis->Start([&health, gate_server](bool reachable) {
      health.SetServingStatus(kRedisHealthName, reachable);
      if (gate_server) health.SetServingStatus("", reachable);
    });
  }

  const std::shared_ptr<const Config> config_;
  const Clock& clock_;
  Stores stores_;
  const std::unique_ptr<Probers> probers_;
  HealthRegistry health_;
  const std::unique_ptr<RateLimiter> limiter_;
  RetryAdvisor advisor_;
  RateLimiterService rate_limiter_service_;
  RetryAdvisorService retry_advisor_service_;
  HealthReporterService health_reporter_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  absl::Mutex drain_mu_;
  bool draining_ ABSL_GUARDED_BY(drain_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    std::shared_ptr<const Config> config, const Clock& clock) {
  Stores stores = MakeStores(*config, clock);
  ASSIGN_OR_RETURN(std::unique_ptr<RateLimiter> limiter,
                   RateLimiter::Create(config->runtime.rate_limiting,
                                       *stores.buckets, stores.local_buckets.get()));
  return std::unique_ptr<Server>(new ServerImpl(
      std::move(config), clock, std::move(stores), std::move(limiter)));
}

}  // namespace crossbridge
