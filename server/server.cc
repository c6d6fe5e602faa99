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

namespace crossbridge {
namespace {

absl::StatusOr<std::unique_ptr<BucketStore>> MakeStore(const Config& config,
                                                       const Clock& clock) {
  switch (config.storage.backend) {
    case StorageBackend::kMemory:
      return std::make_unique<MemoryStore>(
          clock, config.storage.memory,
          config.runtime.rate_limiting.cleanup_threshold);
    case StorageBackend::kRedis:
      break;
  }
  return absl::InvalidArgumentError(
      "storage.backend: \"redis\" is not available in this build yet; use "
      "\"memory\"");
}

class ServerImpl final : public Server {
 public:
  ServerImpl(std::shared_ptr<const Config> config,
             std::unique_ptr<BucketStore> store,
             std::unique_ptr<RateLimiter> limiter)
      : config_(std::move(config)),
        store_(std::move(store)),
        limiter_(std::move(limiter)),
        rate_limiter_service_(*limiter_) {}

  ~ServerImpl() override {
    if (server_) {
      server_->Shutdown(absl::ToChronoTime(absl::Now()));
      server_->Wait();
    }
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
  const std::unique_ptr<BucketStore> store_;
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
  ASSIGN_OR_RETURN(std::unique_ptr<BucketStore> store, MakeStore(*config, clock));
  ASSIGN_OR_RETURN(std::unique_ptr<RateLimiter> limiter,
                   RateLimiter::Create(config->runtime.rate_limiting, *store));
  return std::unique_ptr<Server>(new ServerImpl(
      std::move(config), std::move(store), std::move(limiter)));
}

}  // namespace crossbridge
