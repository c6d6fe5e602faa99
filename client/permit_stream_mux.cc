#include "client/permit_stream_mux.h"

#include <grpcpp/support/client_callback.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"

namespace crossbridge {
namespace {

constexpr absl::Duration kFirstBackoff = absl::Milliseconds(100);
constexpr absl::Duration kMaxBackoff = absl::Seconds(5);

}  // namespace

// The reactor of one stream. The mux decides what to write, under its lock,
// and starts it after releasing the lock; the reactor only forwards gRPC's
// reactions. A hold keeps gRPC from ending the stream while the mux may
// still start a write on it. The mux owns the reactor and frees it on one
// of its callers' threads once OnDone has run, never on gRPC's callback
// thread: the stream's call may hold the channel's last reference then,
// and a channel destroyed from its own callback thread aborts.
class PermitStreamMux::Stream final
    : public grpc::ClientBidiReactor<v1::StreamPermitsRequest,
                                     v1::StreamPermitsResponse> {
 public:
  explicit Stream(PermitStreamMux& mux) : mux_(mux) {
    mux.rpcs_.PrepareContext(context_, std::nullopt);
    mux.rpcs_.rate_limiter().async()->StreamPermits(&context_, this);
  }

  void Start() {
    AddHold();
    StartRead(&response_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return mux_.OnReadFailed(this);
    v1::StreamPermitsResponse response;
    response.Swap(&response_);
    StartRead(&response_);
    mux_.OnAnswer(response);
  }
  void OnWriteDone(bool ok) override { mux_.OnWriteDone(this, ok); }
  // The last use of this object by gRPC and by the reactor.
  void OnDone(const grpc::Status& status) override { mux_.OnStreamDone(this, status); }

  grpc::ClientContext context_;
  // The write buffer: the mux fills it while it holds writing_.
  v1::StreamPermitsRequest request_;
  // Guarded by the mux's lock.
  bool broken_ = false;
  bool released_ = false;

 private:
  PermitStreamMux& mux_;
  v1::StreamPermitsResponse response_;
};

PermitStreamMux::PermitStreamMux(ServerRpcs& rpcs, const Clock& clock)
    : rpcs_(rpcs), clock_(clock), backoff_(kFirstBackoff) {
  timer_ = std::thread([this] { TimerLoop(); });
}

PermitStreamMux::~PermitStreamMux() {
  Stream* stream = nullptr;
  {
    MutexLock lock(&mu_);
    closing_ = true;
    // Each call ends by its answer, a resend or its deadline (the timer).
    lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return calls_.empty(); });
    stream = stream_;
  }
  // Still owned by streams_ (freed below, not by its OnDone).
  if (stream != nullptr) stream->context_.TryCancel();
  std::vector<std::unique_ptr<Stream>> ended;  // freed on this thread
  {
    MutexLock lock(&mu_);
    lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return live_streams_ == 0; });
    stop_timer_ = true;
    ended.swap(streams_);
  }
  timer_.join();
}

void PermitStreamMux::Acquire(v1::AcquirePermitRequest request,
                              absl::Duration deadline, PermitDone done) {
  Call call{std::move(request), clock_.MonotonicNow() + deadline,
            std::move(done)};
  Stream* opened = nullptr;
  std::vector<std::unique_ptr<Stream>> ended;  // freed after the lock
  Write write;
  bool unary = false;
  {
    MutexLock lock(&mu_);
    // No open stream and none may open yet (the last one is still ending,
    // or in its backoff), no StreamPermits, or closing: unary.
    unary = stream_ == nullptr &&
            (live_streams_ > 0 || unimplemented_ || closing_ ||
             clock_.MonotonicNow() < reopen_at_);
    if (!unary) {
      if (stream_ == nullptr) {
        ended.swap(streams_);  // live_streams_ == 0: every one has ended
        streams_.push_back(std::make_unique<Stream>(*this));
        stream_ = opened = streams_.back().get();
        ++live_streams_;
      }
      const uint64_t id = next_id_++;
      deadlines_.emplace(call.deadline, id);
      calls_.emplace(id, std::move(call));
      to_write_.push_back(id);
      if (!writing_) write = NextWriteLocked();
    }
  }
  if (unary) return SendUnary(std::move(call));
  if (opened != nullptr) opened->Start();
  if (write.stream != nullptr) StartWrite(write);
}

PermitStreamMux::Write PermitStreamMux::NextWriteLocked() {
  writing_ = false;
  if (stream_ == nullptr) return Write{};
  while (!to_write_.empty()) {
    const uint64_t id = to_write_.front();
    to_write_.pop_front();
    auto it = calls_.find(id);
    if (it == calls_.end()) continue;  // answered by its deadline already
    stream_->request_.set_id(id);
    *stream_->request_.mutable_item() = it->second.request;
    writing_ = true;
    return Write{stream_, !to_write_.empty()};
  }
  return Write{};
}

void PermitStreamMux::StartWrite(const Write& write) {
  grpc::WriteOptions options;
  if (write.hint) options.set_buffer_hint();
  write.stream->StartWrite(&write.stream->request_, options);
}

void PermitStreamMux::MarkBrokenLocked(Stream& stream) {
  stream.broken_ = true;
  if (stream_ == &stream) stream_ = nullptr;
}

bool PermitStreamMux::ReleaseLocked(Stream& stream) {
  if (!stream.broken_ || stream.released_ || writing_) return false;
  stream.released_ = true;
  return true;
}

void PermitStreamMux::OnWriteDone(Stream* stream, bool ok) {
  Write write;
  bool release = false;
  {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) MarkBrokenLocked(*stream);
    if (stream->broken_) {
      release = ReleaseLocked(*stream);
    } else {
      write = NextWriteLocked();
    }
  }
  if (release) stream->RemoveHold();
  if (write.stream != nullptr) StartWrite(write);
}

void PermitStreamMux::OnReadFailed(Stream* stream) {
  bool release = false;
  {
    MutexLock lock(&mu_);
    MarkBrokenLocked(*stream);
    release = ReleaseLocked(*stream);
  }
  if (release) stream->RemoveHold();
}

void PermitStreamMux::OnAnswer(const v1::StreamPermitsResponse& response) {
  PermitDone done;
  {
    MutexLock lock(&mu_);
    backoff_ = kFirstBackoff;  // the stream works
    auto it = calls_.find(response.id());
    if (it == calls_.end()) return;  // past its deadline: already answered
    done = std::move(it->second.done);
    deadlines_.erase({it->second.deadline, it->first});
    calls_.erase(it);
  }
  done(FromPermitResult(response.result()));
}

void PermitStreamMux::OnStreamDone(Stream* stream, const grpc::Status& status) {
  std::vector<Call> resend;
  {
    MutexLock lock(&mu_);
    MarkBrokenLocked(*stream);
    --live_streams_;
    resend.reserve(calls_.size());
    for (auto& [id, call] : calls_) resend.push_back(std::move(call));
    calls_.clear();
    to_write_.clear();
    deadlines_.clear();
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
      unimplemented_ = true;
    } else {
      reopen_at_ = clock_.MonotonicNow() + backoff_;
      backoff_ = std::min(2 * backoff_, kMaxBackoff);
    }
  }
  for (Call& call : resend) SendUnary(std::move(call));
}

void PermitStreamMux::SendUnary(Call call) {
  const absl::Duration left = call.deadline - clock_.MonotonicNow();
  if (left <= absl::ZeroDuration()) {
    return call.done(absl::DeadlineExceededError(
        "deadline exceeded before the permit call was answered"));
  }
  rpcs_.AcquirePermitAsync(std::move(call.request), left, std::move(call.done));
}

void PermitStreamMux::TimerLoop() {
  for (;;) {
    std::vector<PermitDone> expired;
    {
      MutexLock lock(&mu_);
      const absl::Time wake = deadlines_.empty() ? absl::InfiniteFuture()
                                                 : deadlines_.begin()->first;
      clock_.AwaitUntil(
          lock,
          [this, wake]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
            return stop_timer_ ||
                   (!deadlines_.empty() && deadlines_.begin()->first < wake);
          },
          wake);
      if (stop_timer_) return;
      const absl::Time now = clock_.MonotonicNow();
      while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        auto it = calls_.find(deadlines_.begin()->second);
        expired.push_back(std::move(it->second.done));
        calls_.erase(it);
        deadlines_.erase(deadlines_.begin());
      }
    }
    for (PermitDone& done : expired) {
      done(absl::DeadlineExceededError(
          "deadline exceeded waiting for the permit stream's answer"));
    }
  }
}

}  // namespace crossbridge
