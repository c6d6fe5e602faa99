#include "server/service/grpc_health_service.h"

#include <deque>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "common/quote.h"
#include "server/service/raw_message.h"

namespace crossbridge {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

// The request's service name, or INVALID_ARGUMENT (unparsable bytes, or a
// name longer than the limit).
grpc::Status ParseRequest(const grpc::ByteBuffer& bytes, std::string* service) {
  HealthCheckRequest request;
  if (grpc::Status parsed = ParseRawRequest(bytes, request); !parsed.ok()) {
    return parsed;
  }
  if (request.service().size() > GrpcHealthService::kMaxServiceNameBytes) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("service: ", request.service().size(),
                     " bytes, longer than the limit of ",
                     GrpcHealthService::kMaxServiceNameBytes, " (",
                     QuoteForMessage(request.service()), ")"));
  }
  *service = std::move(*request.mutable_service());
  return grpc::Status::OK;
}

// A Watch refused before it starts: finishes at once, frees itself.
class FinishedWatch final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit FinishedWatch(grpc::Status status) { Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

// One open Watch stream. Owned by shared_ptr: one reference in the
// service's watchers_ (dropped in OnDone), and one per Set/Remove/Shutdown
// that is notifying it at the moment. gRPC uses it only until OnDone.
class GrpcHealthService::WatchReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  WatchReactor(GrpcHealthService* service, std::string name)
      : service_(service), name_(std::move(name)) {}

  const std::string& name() const { return name_; }

  // The status changed to `status` (nullopt: may have changed). While a
  // write is in flight the changes queue up (at most kMaxPending, the
  // oldest dropped first), so a quick NOT_SERVING -> SERVING flap still
  // reaches the watcher as two messages; when the queue is empty the
  // current status is written unless it is the one last written.
  void Notify(std::optional<ServingStatus> status = std::nullopt) {
    MutexLock lock(&mu_);
    if (status.has_value() && !finished_) {
      const std::optional<ServingStatus> last =
          pending_.empty() ? sent_ : std::optional<ServingStatus>(pending_.back());
      if (last != status) {
        if (pending_.size() == kMaxPending) pending_.pop_front();
        pending_.push_back(*status);
      }
    }
    MaybeWriteLocked();
  }

  void OnWriteDone(bool ok) override {
    MutexLock lock(&mu_);
    write_in_flight_ = false;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED,
                                "watch: the stream is closed"));
      return;
    }
    MaybeWriteLocked();
  }

  void OnCancel() override {
    MutexLock lock(&mu_);
    FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "watch cancelled"));
  }

  void OnDone() override {
    // May hold the last reference: nothing may touch `this` after it goes.
    std::shared_ptr<WatchReactor> self = service_->Unregister(this);
  }

 private:
  void MaybeWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_ || write_in_flight_) return;
    // Queued changes first, then the current status (lock order: this
    // stream's mu_, then the service's, never reversed).
    ServingStatus status;
    do {
      if (pending_.empty()) {
        status = service_->Status(name_);
        if (sent_ == status) return;
        break;
      }
      status = pending_.front();
      pending_.pop_front();
    } while (sent_ == status);
    HealthCheckResponse response;
    response.set_status(status);
    buffer_.Clear();  // no write in flight: gRPC is done with it
    if (!SerializeRawResponse(response, buffer_).ok()) {
      FinishLocked(grpc::Status(grpc::StatusCode::INTERNAL,
                                "watch: cannot encode the response"));
      return;
    }
    sent_ = status;
    write_in_flight_ = true;
    // gRPC never runs OnWriteDone inline here (it is not an inlineable
    // reaction), so holding mu_ cannot deadlock with it.
    StartWrite(&buffer_);
  }

  void FinishLocked(grpc::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

  GrpcHealthService* const service_;
  const std::string name_;
  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool write_in_flight_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<ServingStatus> sent_ ABSL_GUARDED_BY(mu_);
  static constexpr size_t kMaxPending = 8;
  std::deque<ServingStatus> pending_ ABSL_GUARDED_BY(mu_);  // changes not yet written
  grpc::ByteBuffer buffer_ ABSL_GUARDED_BY(mu_);  // the write in flight
};

GrpcHealthService::GrpcHealthService(Options options) : options_(options) {}

GrpcHealthService::~GrpcHealthService() {
  // With the gRPC server shut down every stream is done; otherwise wait
  // for them (as gRPC's own service does) rather than free what they use.
  MutexLock lock(&mu_);
  lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return watcher_count_ == 0;
  });
}

void GrpcHealthService::Set(const std::string& service, bool serving) {
  Update(service, /*remove=*/false, serving);
}

void GrpcHealthService::Remove(const std::string& service) {
  Update(service, /*remove=*/true, false);
}

void GrpcHealthService::Update(const std::string& service, bool remove,
                               bool serving) {
  std::vector<std::shared_ptr<WatchReactor>> notify;
  ServingStatus changed_to;
  {
    MutexLock lock(&mu_);
    if (remove) {
      if (statuses_.erase(service) == 0) return;
      changed_to = HealthCheckResponse::SERVICE_UNKNOWN;
    } else {
      const ServingStatus status =
          serving && !shutdown_ ? HealthCheckResponse::SERVING
                                : HealthCheckResponse::NOT_SERVING;
      changed_to = status;
      auto [it, inserted] = statuses_.try_emplace(service, status);
      if (!inserted) {
        if (it->second == status) return;
        it->second = status;
      }
    }
    if (auto it = watchers_.find(service); it != watchers_.end()) {
      notify.reserve(it->second.size());
      for (const auto& [raw, ref] : it->second) notify.push_back(ref);
    }
  }
  for (const std::shared_ptr<WatchReactor>& w : notify) w->Notify(changed_to);
}

void GrpcHealthService::Shutdown() {
  std::vector<std::shared_ptr<WatchReactor>> notify;
  {
    MutexLock lock(&mu_);
    if (shutdown_) return;
    shutdown_ = true;
    for (auto& [name, status] : statuses_) {
      if (status == HealthCheckResponse::NOT_SERVING) continue;
      status = HealthCheckResponse::NOT_SERVING;
      if (auto it = watchers_.find(name); it != watchers_.end()) {
        for (const auto& [raw, ref] : it->second) notify.push_back(ref);
      }
    }
  }
  for (const std::shared_ptr<WatchReactor>& w : notify) {
    w->Notify(HealthCheckResponse::NOT_SERVING);
  }
}

GrpcHealthService::ServingStatus GrpcHealthService::Status(
    const std::string& service) const {
  MutexLock lock(&mu_);
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN
                               : it->second;
}

size_t GrpcHealthService::WatcherCount() const {
  MutexLock lock(&mu_);
  return watcher_count_;
}

grpc::ServerUnaryReactor* GrpcHealthService::Check(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  std::string service;
  if (grpc::Status parsed = ParseRequest(*request, &service); !parsed.ok()) {
    reactor->Finish(parsed);
    return reactor;
  }
  const ServingStatus status = Status(service);
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::NOT_FOUND,
        absl::StrCat("unknown service ", QuoteForMessage(service))));
    return reactor;
  }
  HealthCheckResponse answer;
  answer.set_status(status);
  reactor->Finish(SerializeRawResponse(answer, *response));
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* GrpcHealthService::Watch(
    grpc::CallbackServerContext* /*context*/, const grpc::ByteBuffer* request) {
  std::string service;
  if (grpc::Status parsed = ParseRequest(*request, &service); !parsed.ok()) {
    return new FinishedWatch(std::move(parsed));
  }
  auto reactor = std::make_shared<WatchReactor>(this, std::move(service));
  {
    MutexLock lock(&mu_);
    if (watcher_count_ >= options_.max_watchers) {
      return new FinishedWatch(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("watch: ", options_.max_watchers,
                       " Watch streams are open, the limit; retry later")));
    }
    ++watcher_count_;
    watchers_[reactor->name()].emplace(reactor.get(), reactor);
  }
  reactor->Notify();  // the current status (a Set may have sent it already)
  return reactor.get();
}

std::shared_ptr<GrpcHealthService::WatchReactor> GrpcHealthService::Unregister(
    WatchReactor* reactor) {
  std::shared_ptr<WatchReactor> ref;
  MutexLock lock(&mu_);
  if (auto it = watchers_.find(reactor->name()); it != watchers_.end()) {
    if (auto w = it->second.find(reactor); w != it->second.end()) {
      ref = std::move(w->second);
      it->second.erase(w);
    }
    if (it->second.empty()) watchers_.erase(it);
  }
  --watcher_count_;
  return ref;
}

}  // namespace crossbridge
