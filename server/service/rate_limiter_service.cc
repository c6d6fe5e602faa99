#include "server/service/rate_limiter_service.h"

#include <atomic>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_status.h"
#include "server/service/call_auth.h"
#include "server/service/permit_messages.h"
#include "server/service/permit_stream.h"
#include "server/service/raw_message.h"

namespace crossbridge {
namespace {

// One AcquirePermits call: owns its request and response while the items
// are answered; the last answer finishes the reactor and frees the call.
class BatchCall final : public BatchResults {
 public:
  BatchCall(grpc::ServerUnaryReactor* reactor, grpc::ByteBuffer* response,
            RpcTimer timer)
      : reactor_(reactor), response_bytes_(response), timer_(timer) {}

  v1::AcquirePermitsRequest& request() { return request_; }

  // Sizes the response; from here each of the n items is answered once,
  // through Set (store items) or Answer (items refused before the store).
  void Expect(int n) {
    for (int i = 0; i < n; ++i) response_.add_results();
    left_.store(n, std::memory_order_relaxed);
  }
  // Which response slot the i-th item sent to the limiter fills.
  void Route(std::vector<int> slots) { slots_ = std::move(slots); }

  void Set(size_t index, absl::StatusOr<GcraResult> result) override {
    Answer(slots_[index], result);
  }
  void Answer(int slot, const absl::StatusOr<GcraResult>& result) {
    FillPermitResult(result, *response_.mutable_results(slot));
    // acq_rel: the last answer sees every slot the others filled.
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::unique_ptr<BatchCall> self(this);
      timer_.Finish(reactor_, SerializeRawResponse(response_, *response_bytes_));
    }
  }

 private:
  grpc::ServerUnaryReactor* const reactor_;
  grpc::ByteBuffer* const response_bytes_;
  const RpcTimer timer_;
  v1::AcquirePermitsRequest request_;
  v1::AcquirePermitsResponse response_;
  std::vector<int> slots_;
  std::atomic<int> left_{0};
};

}  // namespace

grpc::ServerUnaryReactor* RateLimiterService::AcquirePermit(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(acquire_permit_);

  v1::AcquirePermitRequest req;
  if (grpc::Status parsed = ParseRawRequest(*request, req); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  absl::StatusOr<Caller> caller = auth_.Authorize(
      AuthorizationOf(*context), Scope::kAcquire, req.operation(), "AcquirePermit");
  if (!caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  limiter_.Acquire(caller->tenant, ToPermitRequest(req),
                   [reactor, response, timer](absl::StatusOr<GcraResult> result) {
                     if (!result.ok()) {
                       timer.Finish(reactor, ToGrpcStatus(result.status()));
                       return;
                     }
                     v1::AcquirePermitResponse resp;
                     FillPermitResponse(*result, resp);
                     timer.Finish(reactor, SerializeRawResponse(resp, *response));
                   });
  return reactor;
}

grpc::ServerUnaryReactor* RateLimiterService::AcquirePermits(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(acquire_permits_);
  auto call = std::make_unique<BatchCall>(reactor, response, timer);
  v1::AcquirePermitsRequest& req = call->request();
  if (grpc::Status parsed = ParseRawRequest(*request, req); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  const int n = req.items_size();
  if (n == 0 || n > kMaxBatchItems) {
    timer.Finish(reactor, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                       absl::StrCat("items: ", n, " items; send 1 to ",
                                                    kMaxBatchItems)));
    return reactor;
  }
  // The token once for the call, then each item's operation.
  const std::optional<absl::string_view> authorization = AuthorizationOf(*context);
  absl::StatusOr<Caller> caller =
      auth_.Authorize(authorization, Scope::kAcquire, "", "AcquirePermits");
  if (!caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  std::vector<PermitRequest> permits;
  std::vector<int> slots;
  std::vector<std::pair<int, absl::Status>> denied;
  permits.reserve(n);
  slots.reserve(n);
  for (int i = 0; i < n; ++i) {
    const v1::AcquirePermitRequest& item = req.items(i);
    if (absl::StatusOr<Caller> allowed = auth_.Authorize(
            authorization, Scope::kAcquire, item.operation(), "AcquirePermits");
        !allowed.ok()) {
      denied.emplace_back(i, allowed.status());
      continue;
    }
    permits.push_back(ToPermitRequest(item));
    slots.push_back(i);
  }
  call->Expect(n);
  call->Route(std::move(slots));
  // From here the call frees itself with its last answer.
  BatchCall* batch = call.release();
  for (auto& [slot, why] : denied) batch->Answer(slot, why);
  if (!permits.empty()) limiter_.AcquireBatch(caller->tenant, permits, *batch);
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
RateLimiterService::StreamPermits(grpc::CallbackServerContext* context) {
  return PermitStream::Start(*context, limiter_, auth_, stream_permits_);
}

grpc::ServerUnaryReactor* RateLimiterService::ReturnPermits(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const RpcTimer timer(return_permits_);

  v1::ReturnPermitsRequest req;
  if (grpc::Status parsed = ParseRawRequest(*request, req); !parsed.ok()) {
    timer.Finish(reactor, parsed);
    return reactor;
  }
  absl::StatusOr<Caller> caller = auth_.Authorize(
      AuthorizationOf(*context), Scope::kAcquire, req.operation(), "ReturnPermits");
  if (!caller.ok()) {
    timer.Finish(reactor, ToGrpcStatus(caller.status()));
    return reactor;
  }
  limiter_.Return(caller->tenant, req.operation(), req.key(), req.count(),
                  [reactor, response, timer](absl::StatusOr<GcraResult> result) {
                    if (!result.ok()) {
                      timer.Finish(reactor, ToGrpcStatus(result.status()));
                      return;
                    }
                    v1::ReturnPermitsResponse resp;
                    resp.set_remaining(static_cast<uint32_t>(result->remaining));
                    resp.set_limit(static_cast<uint32_t>(result->limit));
                    timer.Finish(reactor, SerializeRawResponse(resp, *response));
                  });
  return reactor;
}

}  // namespace crossbridge
