#include "client/call_runner.h"

#include <algorithm>
#include <optional>
#include <string>
#include <utility>

#include "absl/random/bit_gen_ref.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "common/retry.h"
#include "common/status.h"

namespace crossbridge {
namespace {

// After the rate limiter was unreachable, fail_open calls use the local
// limiter for this long without asking the server again.
constexpr absl::Duration kServerDownHold = absl::Seconds(1);

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

CallRunner::CallRunner(ServerRpcs& rpcs, PolicyCache& policies,
                       LocalLimiter& local, Executor& executor,
                       const Clock& clock, uint64_t seed, AcquireFn acquire)
    : rpcs_(rpcs),
      policies_(policies),
      local_(local),
      executor_(executor),
      clock_(clock),
      acquire_(std::move(acquire)),
      rng_(seed) {}

RetryDecision CallRunner::DecideLocally(const RetryPolicyConfig& policy,
                                        const RetryRequest& request) {
  MutexLock lock(&mu_);
  return ::crossbridge::DecideRetry(policy, request, absl::BitGenRef(rng_));
}

absl::Status CallRunner::AcquirePermit(absl::string_view operation,
                                    absl::string_view key,
                                    const CallOptions& options,
                                    absl::Time end, CallReport& report) {
  auto Remaining = [this, end] { return end - clock_.MonotonicNow(); };
  for (;;) {
    if (executor_.ShuttingDown()) return absl::CancelledError("client is shutting down");
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
      acquire.deadline = std::min(rpcs_.default_deadline(), remaining);
      absl::StatusOr<Permit> permit = acquire_(operation, key, acquire);
      if (permit.ok()) {
        local_.Learn(operation, permit->limit);
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
                       local_.Acquire(operation, key, options.cost));
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
    executor_.Sleep(wait);
    report.permit_wait += wait;
  }
}

absl::Status CallRunner::Run(
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
    if (executor_.ShuttingDown()) {
      return last_failure.ok()
                 ? absl::CancelledError("client is shutting down")
                 : Annotate(last_failure, attempt - 1, "CANCELLED");
    }
    if (rate_limited) {
      absl::Status permit = AcquirePermit(operation, key, options, end, rep);
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
        rpcs_.ReportOutcomeAsync(options.dependency, true, latency, "",
                                 nullptr);
      }
      return absl::OkStatus();
    }
    rep.failures.push_back(status);
    last_failure = status;
    if (report_outcomes) {
      rpcs_.ReportOutcomeAsync(options.dependency, false, latency,
                               OutcomeCode(status), nullptr);
    }
    const RetryPolicyConfig policy =
        policies_.Get(options.retry_policy, Remaining());
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
          std::min(rpcs_.default_deadline(), Remaining());
      if (budget > absl::ZeroDuration()) {
        absl::StatusOr<ServingStatus> health =
            rpcs_.CheckHealth(options.dependency, budget);
        // Unknown or unreachable: no evidence the dependency is down.
        if (health.ok() && *health == ServingStatus::kNotServing) {
          return Annotate(
              status, attempt,
              RetryReasonName(RetryReason::kDependencyUnhealthy));
        }
      }
    }
    rep.delays.push_back(decision.delay);
    executor_.Sleep(decision.delay);
    previous_delay = decision.delay;
  }
}

}  // namespace crossbridge
