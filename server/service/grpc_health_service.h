// grpc.health.v1.Health (the standard gRPC health protocol) on the callback
// API, in place of gRPC's DefaultHealthCheckService, which cannot forget a
// name: hot reload removes providers, and a removed one must answer
// NOT_FOUND. Both methods are registered raw (server/service/raw_message.h),
// so a malformed request is INVALID_ARGUMENT, as with the default service.
//
// The contract (that of gRPC's default service, plus Remove):
//   Set(name, serving)  creates or updates `name`: SERVING / NOT_SERVING.
//                       After Shutdown `serving` is ignored: the name is
//                       (created, as) NOT_SERVING - the default service does
//                       the same.
//   Remove(name)        forgets `name` (also after Shutdown; "" included,
//                       though the server never removes it). Removing an
//                       unknown name does nothing.
//   Shutdown()          every known name turns NOT_SERVING at once and stays
//                       so (drain). Idempotent.
//   Check               unknown name: NOT_FOUND "unknown service \"<name>\""
//                       (the name quoted and bounded, common/quote.h);
//                       known: its status.
//   Watch               the current status at once (SERVICE_UNKNOWN for an
//                       unknown name), then one message per change of that
//                       name's status - never the same status twice in a
//                       row; while a write is in flight changes coalesce to
//                       the latest status. Open until the client cancels (or
//                       its deadline passes) or the gRPC server shuts down.
//   Limits              a request's service name longer than
//                       kMaxServiceNameBytes: INVALID_ARGUMENT naming
//                       `service`; more than Options::max_watchers open
//                       Watch streams: RESOURCE_EXHAUSTED for the new one.
//
// Threads: every method may be called from any thread, also from inside
// other components' callbacks. Set/Remove/Shutdown never hold the service's
// lock while they touch a stream: they collect the affected streams under
// it, release it, then each stream (under its own lock) reads the latest
// status and starts a write only if none is in flight. Lock order is
// stream -> service, never the reverse; gRPC runs the write-done reactions
// on its own threads, never inline in StartWrite.
//
// Lifetime: the service must outlive the grpc::Server it is registered with
// (destroy it after Server::Shutdown + Wait, or after the server itself).
// The destructor waits for open Watch streams to end, as gRPC's own service
// does; with the server shut down there are none.
//
// Wiring: grpc::EnableDefaultHealthCheckService(false) before building the
// server (otherwise gRPC registers its own grpc.health.v1.Health and the
// names clash), then builder.RegisterService(&service).
#ifndef CROSSBRIDGE_SERVER_SERVICE_GRPC_HEALTH_SERVICE_H_
#define CROSSBRIDGE_SERVER_SERVICE_GRPC_HEALTH_SERVICE_H_

#include <cstddef>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace crossbridge {

class GrpcHealthService final
    : public grpc::health::v1::Health::WithRawCallbackMethod_Check<
          grpc::health::v1::Health::WithRawCallbackMethod_Watch<
              grpc::health::v1::Health::Service>> {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // Longest service name a Check or Watch request may carry.
  static constexpr size_t kMaxServiceNameBytes = 256;
  static constexpr size_t kDefaultMaxWatchers = 1000;

  struct Options {
    // Watch streams open at once, over all names.
    size_t max_watchers = kDefaultMaxWatchers;
  };

  GrpcHealthService() : GrpcHealthService(Options()) {}
  explicit GrpcHealthService(Options options);
  ~GrpcHealthService() override;

  GrpcHealthService(const GrpcHealthService&) = delete;
  GrpcHealthService& operator=(const GrpcHealthService&) = delete;

  void Set(const std::string& service, bool serving);
  void Remove(const std::string& service);
  void Shutdown();

  // What Watch would send for `service` now: SERVING, NOT_SERVING or
  // SERVICE_UNKNOWN.
  ServingStatus Status(const std::string& service) const;
  // Watch streams open now (registered and not yet done).
  size_t WatcherCount() const;

  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* context,
                                  const grpc::ByteBuffer* request,
                                  grpc::ByteBuffer* response) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

 private:
  class WatchReactor;
  using Watchers =
      absl::flat_hash_map<WatchReactor*, std::shared_ptr<WatchReactor>>;

  // Updates `service` and tells its watchers (outside mu_).
  void Update(const std::string& service, bool remove, bool serving);
  void NotifyAll(const std::string& service);
  // Takes the reactor out of watchers_ (OnDone); the caller drops the ref.
  std::shared_ptr<WatchReactor> Unregister(WatchReactor* reactor);

  const Options options_;
  mutable absl::Mutex mu_;
  bool shutdown_ ABSL_GUARDED_BY(mu_) = false;
  absl::flat_hash_map<std::string, ServingStatus> statuses_ ABSL_GUARDED_BY(mu_);
  // Per name, the open streams watching it (the map holds one reference).
  absl::flat_hash_map<std::string, Watchers> watchers_ ABSL_GUARDED_BY(mu_);
  size_t watcher_count_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_GRPC_HEALTH_SERVICE_H_
