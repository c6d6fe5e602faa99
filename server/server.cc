#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/status.h"
#include "server/rate_limiter.h"
#include "server/service/rate_limiter_service.h"
#include "server/store/memory_store.h"
#include "server/store/redis_store.h"

namespace crossbridge {
namespace {

// The health service name of the Redis dependency.
constexpr char kRedisHealthName[] = "redis";

// The stores a config asks for: the primary one, and for Redis the
// in-process fallback used by on_store_failure: local.
struct Stores {
  std::unique_ptr<BucketStore> primary;
  std::unique_ptr<BucketStore> fallback;
  RedisStore* redis = nullptr;  // == primary when the backend is Redis
};

Stores MakeStores(const Config& config, const Clock& clock) {
  Stores stores;
  auto memory = std::make_unique<MemoryStore>(
      clock, config.storage.memory,
      config.runtime.rate_limiting.cleanup_threshold);
  if (config.storage.backend == StorageBackend::kMemory) {
    stores.primary = std::move(memory);
    return stores;
  }
  auto redis = std::make_unique<RedisStore>(config.storage.redis, clock);
  stores.redis = redis.get();
  stores.primary = std::move(redis);
  stores.fallback = std::move(memory);
  return stores;
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
  ServerImpl(std::shared_ptr<const Config> config, Stores stores,
             std::unique_ptr<RateLimiter> limiter)
      : config_(std::move(config)),
        stores_(std::move(stores)),
        limiter_(std::move(limiter)),
        rate_limiter_service_(*limiter_) {}

  ~ServerImpl() override {
    if (server_) {
      server_->Shutdown(absl::ToChronoTime(absl::Now()));
      server_->Wait();
    }
    // Stop the store's workers while the health service they report to
    // still exists.
    stores_.primary.reset();
  }

  absl::Status Start() override {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    grpc::ServerBuilder builder;
    builder.AddListeningPort(config_->server.listen_address,
                             grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&rate_limiter_service_);
    server_ = builder.BuildAndStart();
    if (server_ == nullptr || port_ == 0) {
      server_.reset();
      return absl::UnavailableError(absl::StrCat(
          "server.listen_address: cannot listen on ",
          config_->server.listen_address,
          " (address in use, not local, or malformed)"));
    }
    grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService();
    health->SetServingStatus("", true);
    health->SetServingStatus(v1::RateLimiter::service_full_name(), true);
    if (stores_.redis != nullptr) StartRedis(*health);
    Logger("server")->info("serving on {} (port {}), store {}",
                           config_->server.listen_address, port_,
                           std::string(StorageBackendName(config_->storage.backend)));
    return absl::OkStatus();
  }

  int port() const override { return port_; }

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
    absl::SleepFor(config_->server.drain_grace);
    log->info("closing the listener; in-flight calls have {} to finish",
              absl::FormatDuration(config_->server.shutdown_timeout));
    server_->Shutdown(
        absl::ToChronoTime(absl::Now() + config_->server.shutdown_timeout));
    log->info("stopped");
  }

  void Wait() override {
    if (server_) server_->Wait();
  }

 private:
  const std::shared_ptr<const Config> config_;
  Stores stores_;
  const std::unique_ptr<RateLimiter> limiter_;
  RateLimiterService rate_limiter_service_;
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
                                       *stores.primary, stores.fallback.get()));
  return std::unique_ptr<Server>(new ServerImpl(
      std::move(config), std::move(stores), std::move(limiter)));
}

}  // namespace crossbridge
