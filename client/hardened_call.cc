// Client::Call / Retry / CallAsync core and the HTTP-in-Status helpers. See
// client/hardened_call.h for the semantics.
#include "client/hardened_call.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "common/config.h"
#include "common/gcra.h"
#include "common/mutex.h"
#include "common/retry.h"
#include "common/status.h"

namespace crossbridge {
namespace {

constexpr char kHttpStatusUrl[] = "type.crossbridge.dev/http_status";
constexpr char kRetryAfterUrl[] = "type.crossbridge.dev/retry_after_ms";
// After the rate limiter was unreachable, fail_open calls use the local
// limiter for this long without asking the server again.
constexpr absl::Duration kServerDownHold = absl::Seconds(1);
// A failed GetRetryPolicy is retried after at most this.
constexpr absl::Duration kPolicyRetryAfterFailure = absl::Seconds(1);
// Local buckets beyond this many are swept (full ones dropped).
constexpr size_t kMaxLocalBuckets = 10000;
// The local limiter's window for an operation whose limit the server told us.
constexpr absl::Duration kLearnedWindow = absl::Seconds(60);

absl::StatusCode CodeForHttp(int http_status) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
      return absl::StatusCode::kDeadlineExceeded;
    case 409:
      return absl::StatusCode::kAborted;
    case 412:
      return absl::StatusCode::kFailedPrecondition;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 499:
      return absl::StatusCode::kCancelled;
    case 500:
      return absl::StatusCode::kInternal;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) {
    return absl::StatusCode::kInvalidArgument;
  }
  if (http_status >= 500 && http_status < 600) {
    return absl::StatusCode::kInternal;
  }
  return absl::StatusCode::kUnknown;
}

std::optional<int64_t> IntPayload(const absl::Status& status,
                                  absl::string_view url) {
  auto payload = status.GetPayload(url);
  if (!payload.has_value()) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value)) return std::nullopt;
  return value;
}

// The status with " (after N attempts: REASON)" appended; code and payloads
// are kept.
absl::Status Annotate(const absl::Status& failure, int attempts,
                      absl::string_view reason) {
  absl::Status out(failure.code(),
                   absl::StrCat(failure.message(), " (after ", attempts,
                                attempts == 1 ? " attempt: " : " attempts: ",
                                reason, ")"));
  failure.ForEachPayload([&out](absl::string_view url, const absl::Cord& p) {
    out.SetPayload(url, p);
  });
  return out;
}

Failure FailureOf(const absl::Status& status) {
  Failure failure;
  if (std::optional<int> http = HttpStatusOf(status); http.has_value()) {
    failure.http_status = *http;
  } else {
    failure.grpc_code = status.code();
  }
  return failure;
}

// What ReportOutcome shows as last_error: "503" or "UNAVAILABLE".
std::string OutcomeCode(const absl::Status& status) {
  if (std::optional<int> http = HttpStatusOf(status); http.has_value()) {
    return std::to_string(*http);
  }
  return absl::StatusCodeToString(status.code());
}

}  // namespace

absl::Status HttpError(int http_status, absl::string_view message,
                       std::optional<absl::Duration> retry_after) {
  absl::Status status(CodeForHttp(http_status),
                      absl::StrCat("HTTP ", http_status, ": ", message));
  status.SetPayload(kHttpStatusUrl, absl::Cord(std::to_string(http_status)));
  if (retry_after.has_value() && *retry_after >= absl::ZeroDuration()) {
    const int64_t ms = absl::ToInt64Milliseconds(
        absl::Ceil(*retry_after, absl::Milliseconds(1)));
    status.SetPayload(kRetryAfterUrl, absl::Cord(std::to_string(ms)));
  }
  return status;
}

std::optional<int> HttpStatusOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  std::optional<int64_t> value = IntPayload(status, kHttpStatusUrl);
  if (!value.has_value() || *value < 0 || *value > 999) return std::nullopt;
  return static_cast<int>(*value);
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  std::optional<int64_t> ms = IntPayload(status, kRetryAfterUrl);
  if (!ms.has_value() || *ms < 0) return std::nullopt;
  return absl::Milliseconds(*ms);
}

// ---- Client: executor ------------------------------------------------------

bool Client::ShuttingDown() const {
  MutexLock lock(&mu_);
  return shutting_down_;
}

void Client::Submit(std::function<void()> task) {
  MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
  if (workers_.empty() && !shutting_down_) {
    for (int i = 0; i < options_.executor_threads; ++i) {
      workers_.emplace_back([this] { WorkerLoop(); });
    }
  }
}

void Client::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      MutexLock lock(&mu_);
      lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return shutting_down_ || !tasks_.empty();
      });
      if (tasks_.empty()) return;  // Shutting down and drained.
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // Calls started during shutdown end with CANCELLED at once.
  }
}

void Client::Sleep(absl::Duration duration) {
  if (duration <= absl::ZeroDuration()) return;
  MutexLock lock(&mu_);
  clock_.AwaitFor(
      lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return shutting_down_; },
      duration);
}

// ---- Client: policies and decisions ----------------------------------------

RetryPolicyConfig Client::PolicyFor(const std::string& name,
                                    absl::Duration budget) {
  const absl::Time now = clock_.MonotonicNow();
  std::optional<RetryPolicyConfig> stale;
  {
    MutexLock lock(&mu_);
    auto it = policies_.find(name);
    if (it != policies_.end()) {
      if (now < it->second.expires) return it->second.policy;
      stale = it->second.policy;
    }
  }
  absl::StatusOr<RetryPolicyConfig> fetched =
      absl::DeadlineExceededError("no time left to fetch the policy");
  const absl::Duration rpc_deadline = std::min(default_deadline_, budget);
  if (rpc_deadline > absl::ZeroDuration()) {
    fetched = FetchRetryPolicy(name, rpc_deadline);
  }
  RetryPolicyConfig policy;
  absl::Duration ttl;
  if (fetched.ok()) {
    policy = *std::move(fetched);
    ttl = options_.policy_cache_ttl;
  } else {
    if (stale.has_value()) {
      policy = *std::move(stale);
    } else {
      static const Config* const kDefaults = new Config(DefaultConfig());
      const auto& builtin = kDefaults->runtime.retry.policies;
      auto it = builtin.find(name);
      if (it == builtin.end()) it = builtin.find("default");
      if (it != builtin.end()) policy = it->second;  // Else the struct default.
    }
    ttl = std::min(options_.policy_cache_ttl, kPolicyRetryAfterFailure);
  }
  MutexLock lock(&mu_);
  policies_[name] = CachedPolicy{policy, now + ttl};
  return policy;
}

RetryDecision Client::DecideLocally(const RetryPolicyConfig& policy,
                                    const RetryRequest& request) {
  MutexLock lock(&mu_);
  return ::crossbridge::DecideRetry(policy, request, absl::BitGenRef(rng_));
}

// ---- Client: permits -------------------------------------------------------

absl::StatusOr<std::optional<absl::Duration>> Client::LocalAcquire(
    absl::string_view operation, absl::string_view key, uint32_t cost) {
  MutexLock lock(&mu_);
  int64_t capacity = options_.local_fallback.capacity;
  absl::Duration window = options_.local_fallback.window;
  if (auto it = seen_limits_.find(std::string(operation));
      it != seen_limits_.end()) {
    capacity = it->second;
    window = kLearnedWindow;
  }
  ASSIGN_OR_RETURN(GcraRule rule, GcraRule::Create(capacity, window));
  if (static_cast<int64_t>(cost) > rule.capacity) {
    return absl::ResourceExhaustedError(
        absl::StrCat("rate limited (local limiter): cost ", cost,
                     " exceeds the capacity ", rule.capacity));
  }
  const int64_t now_us = absl::ToUnixMicros(clock_.MonotonicNow());
  if (local_buckets_.size() > kMaxLocalBuckets) {
    for (auto it = local_buckets_.begin(); it != local_buckets_.end();) {
      it = it->second.tat_us <= now_us ? local_buckets_.erase(it) : ++it;
    }
  }
  LocalBucket& bucket =
      local_buckets_[absl::StrCat(operation, std::string(1, '\0'), key)];
  if (bucket.capacity != rule.capacity) bucket = LocalBucket{0, rule.capacity};
  const GcraResult result =
      GcraAcquire(rule, bucket.tat_us, now_us, static_cast<int64_t>(cost));
  if (result.allowed) {
    bucket.tat_us = result.new_tat_us;
    return std::optional<absl::Duration>();
  }
  return std::optional<absl::Duration>(
      absl::Milliseconds(std::max<int64_t>(1, result.retry_after_ms)));
}

absl::Status Client::AcquireForCall(absl::string_view operation,
                                    absl::string_view key,
                                    const CallOptions& options,
                                    absl::Time end, CallReport& report) {
  auto Remaining = [this, end] { return end - clock_.MonotonicNow(); };
  for (;;) {
    if (ShuttingDown()) return absl::CancelledError("client is shutting down");
    const absl::Duration remaining = Remaining();
    if (remaining <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(
          absl::StrCat("deadline of ", absl::FormatDuration(options.deadline),
                       " exceeded while acquiring a permit"));
    }
    bool use_local = false;
    if (options.fail_open) {
      MutexLock lock(&mu_);
      use_local = clock_.MonotonicNow() < server_down_until_;
    }
    absl::Duration wait;
    std::string who = "";
    if (!use_local) {
      AcquireOptions acquire;
      acquire.cost = options.cost;
      acquire.deadline = std::min(default_deadline_, remaining);
      absl::StatusOr<Permit> permit = AcquirePermit(operation, key, acquire);
      if (permit.ok()) {
        {
          MutexLock lock(&mu_);
          if (permit->limit > 0) {
            seen_limits_[std::string(operation)] = permit->limit;
          }
        }
        if (permit->allowed) return absl::OkStatus();
        wait = absl::Milliseconds(
            static_cast<int64_t>(std::max<uint64_t>(1, permit->retry_after_ms)));
      } else if (absl::IsUnavailable(permit.status()) ||
                 absl::IsDeadlineExceeded(permit.status())) {
        if (Remaining() <= absl::ZeroDuration()) {
          return absl::DeadlineExceededError(absl::StrCat(
              "deadline of ", absl::FormatDuration(options.deadline),
              " exceeded while acquiring a permit: ",
              permit.status().message()));
        }
        if (!options.fail_open) {
          return absl::UnavailableError(
              absl::StrCat("rate limiter unreachable (fail closed): ",
                           permit.status().message()));
        }
        {
          MutexLock lock(&mu_);
          server_down_until_ = clock_.MonotonicNow() + kServerDownHold;
        }
        use_local = true;
      } else {
        return permit.status();  // NOT_FOUND, INVALID_ARGUMENT, ...
      }
    }
    if (use_local) {
      report.used_local_limiter = true;
      ASSIGN_OR_RETURN(std::optional<absl::Duration> local_wait,
                       LocalAcquire(operation, key, options.cost));
      if (!local_wait.has_value()) return absl::OkStatus();
      wait = *local_wait;
      who = " (local limiter)";
    }
    const int64_t wait_ms = absl::ToInt64Milliseconds(wait);
    if (!options.wait_for_permit) {
      return absl::ResourceExhaustedError(
          absl::StrCat("rate limited", who, ": retry after ", wait_ms, " ms"));
    }
    if (wait >= Remaining()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("rate limited", who, ": retry after ", wait_ms,
                       " ms exceeds the remaining deadline"));
    }
    Sleep(wait);
    report.permit_wait += wait;
  }
}

// ---- Client: the call ------------------------------------------------------

absl::Status Client::CallImpl(
    absl::string_view operation, absl::string_view key, bool rate_limited,
    const std::function<absl::Status(const AttemptInfo&)>& fn,
    const CallOptions& options, CallReport* report) {
  CallReport local_report;
  CallReport& rep = report != nullptr ? *report : local_report;
  rep = CallReport{};
  if (options.deadline <= absl::ZeroDuration()) {
    return absl::DeadlineExceededError(absl::StrCat(
        "deadline ", absl::FormatDuration(options.deadline),
        " is not positive"));
  }
  const absl::Time end = clock_.MonotonicNow() + options.deadline;
  auto Remaining = [this, end] { return end - clock_.MonotonicNow(); };
  const bool report_outcomes = !options.dependency.empty();
  std::optional<absl::Duration> previous_delay;
  absl::Status last_failure;
  for (int attempt = 1;; ++attempt) {
    if (ShuttingDown()) {
      return last_failure.ok()
                 ? absl::CancelledError("client is shutting down")
                 : Annotate(last_failure, attempt - 1, "CANCELLED");
    }
    if (rate_limited) {
      absl::Status permit = AcquireForCall(operation, key, options, end, rep);
      if (!permit.ok()) {
        if (last_failure.ok()) return permit;
        return absl::Status(
            permit.code(),
            absl::StrCat(permit.message(), "; last failure: ",
                         last_failure.message(), " (after ", attempt - 1,
                         attempt == 2 ? " attempt)" : " attempts)"));
      }
    }
    const absl::Duration remaining = Remaining();
    if (remaining <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "deadline of ", absl::FormatDuration(options.deadline),
          " exceeded before attempt ", attempt));
    }
    rep.attempts = attempt;
    const absl::Time started = clock_.MonotonicNow();
    absl::Status status = fn(AttemptInfo{attempt, remaining});
    const absl::Duration latency = clock_.MonotonicNow() - started;
    if (status.ok()) {
      if (report_outcomes) {
        ReportOutcomeAsync(options.dependency, true, latency);
      }
      return absl::OkStatus();
    }
    rep.failures.push_back(status);
    last_failure = status;
    if (report_outcomes) {
      ReportOutcomeAsync(options.dependency, false, latency,
                         OutcomeCode(status));
    }
    const RetryPolicyConfig policy =
        PolicyFor(options.retry_policy, Remaining());
    RetryRequest request;
    request.attempt = attempt;
    request.failure = FailureOf(status);
    request.retry_after = RetryAfterOf(status);
    request.deadline = std::max(absl::ZeroDuration(), Remaining());
    request.previous_delay = previous_delay;
    const RetryDecision decision = DecideLocally(policy, request);
    if (!decision.retry) {
      return Annotate(status, attempt, RetryReasonName(decision.reason));
    }
    if (report_outcomes) {
      const absl::Duration budget =
          std::min(default_deadline_, Remaining());
      if (budget > absl::ZeroDuration()) {
        absl::StatusOr<ServingStatus> health =
            CheckHealth(options.dependency, budget);
        // Unknown or unreachable: no evidence the dependency is down.
        if (health.ok() && *health == ServingStatus::kNotServing) {
          return Annotate(
              status, attempt,
              RetryReasonName(RetryReason::kDependencyUnhealthy));
        }
      }
    }
    rep.delays.push_back(decision.delay);
    Sleep(decision.delay);
    previous_delay = decision.delay;
  }
}

}  // namespace crossbridge
