#include "common/retry.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/random/distributions.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"

namespace crossbridge {
namespace {

struct NamedCode {
  absl::string_view name;
  absl::StatusCode code;
};
constexpr NamedCode kGrpcCodes[] = {
    {"OK", absl::StatusCode::kOk},
    {"CANCELLED", absl::StatusCode::kCancelled},
    {"UNKNOWN", absl::StatusCode::kUnknown},
    {"INVALID_ARGUMENT", absl::StatusCode::kInvalidArgument},
    {"DEADLINE_EXCEEDED", absl::StatusCode::kDeadlineExceeded},
    {"NOT_FOUND", absl::StatusCode::kNotFound},
    {"ALREADY_EXISTS", absl::StatusCode::kAlreadyExists},
    {"PERMISSION_DENIED", absl::StatusCode::kPermissionDenied},
    {"RESOURCE_EXHAUSTED", absl::StatusCode::kResourceExhausted},
    {"FAILED_PRECONDITION", absl::StatusCode::kFailedPrecondition},
    {"ABORTED", absl::StatusCode::kAborted},
    {"OUT_OF_RANGE", absl::StatusCode::kOutOfRange},
    {"UNIMPLEMENTED", absl::StatusCode::kUnimplemented},
    {"INTERNAL", absl::StatusCode::kInternal},
    {"UNAVAILABLE", absl::StatusCode::kUnavailable},
    {"DATA_LOSS", absl::StatusCode::kDataLoss},
    {"UNAUTHENTICATED", absl::StatusCode::kUnauthenticated},
};
constexpr int kMaxGrpcCode = 16;

// Durations as double nanoseconds: exact for every delay below ~104 days,
// and infinity instead of overflow beyond.
double ToNanos(absl::Duration d) { return absl::ToDoubleNanoseconds(d); }

// Whole milliseconds, rounded down. `nanos` is finite and >= 0.
absl::Duration FloorMillis(double nanos) {
  return absl::Milliseconds(static_cast<int64_t>(std::floor(nanos / 1e6)));
}

// uniform[lo, hi]; lo when the interval is empty or a point.
double UniformClosed(absl::BitGenRef rng, double lo, double hi) {
  if (!(hi > lo)) return lo;
  return absl::Uniform(absl::IntervalClosedClosed, rng, lo, hi);
}

}  // namespace

absl::string_view RetryReasonName(RetryReason reason) {
  switch (reason) {
    case RetryReason::kRetryable:
      return "RETRYABLE";
    case RetryReason::kNotRetryable:
      return "NOT_RETRYABLE";
    case RetryReason::kAttemptsExhausted:
      return "ATTEMPTS_EXHAUSTED";
    case RetryReason::kDeadlineTooShort:
      return "DEADLINE_TOO_SHORT";
    case RetryReason::kBudgetExhausted:
      return "BUDGET_EXHAUSTED";
    case RetryReason::kDependencyUnhealthy:
      return "DEPENDENCY_UNHEALTHY";
  }
  return "RETRY_REASON_UNSPECIFIED";
}

absl::StatusOr<absl::StatusCode> ParseGrpcCode(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  for (const NamedCode& entry : kGrpcCodes) {
    if (absl::EqualsIgnoreCase(trimmed, entry.name)) return entry.code;
  }
  const bool all_digits =
      !trimmed.empty() && trimmed.size() <= 2 &&
      std::all_of(trimmed.begin(), trimmed.end(),
                  [](char c) { return absl::ascii_isdigit(c); });
  int number = -1;
  if (all_digits && absl::SimpleAtoi(trimmed, &number) && number >= 0 &&
      number <= kMaxGrpcCode) {
    return static_cast<absl::StatusCode>(number);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown gRPC status code ", QuoteForMessage(text),
      " (expected a name such as UNAVAILABLE or a number 0..16)"));
}

bool IsRetryable(const RetryPolicyConfig& policy, const Failure& failure) {
  if (failure.grpc_code.has_value() &&
      std::find(policy.retryable_grpc_codes.begin(),
                policy.retryable_grpc_codes.end(),
                *failure.grpc_code) != policy.retryable_grpc_codes.end()) {
    return true;
  }
  if (failure.http_status.has_value() &&
      std::find(policy.retryable_codes.begin(), policy.retryable_codes.end(),
                *failure.http_status) != policy.retryable_codes.end()) {
    return true;
  }
  return false;
}

absl::Duration BackoffDelay(const RetryPolicyConfig& policy, int attempt,
                            std::optional<absl::Duration> retry_after,
                            std::optional<absl::Duration> previous_delay,
                            absl::BitGenRef rng) {
  const double max_delay = std::max(0.0, ToNanos(policy.max_delay));
  const double base_delay =
      std::min(max_delay, std::max(0.0, ToNanos(policy.base_delay)));

  // capped = min(max_delay, base * exponential_base^(attempt-1)), in double
  // so a large attempt gives infinity (clamped) rather than overflow. A zero
  // base stays zero (0 * inf would be NaN).
  double capped = 0;
  if (base_delay > 0) {
    const double growth = std::pow(std::max(1.0, policy.exponential_base),
                                   std::max(0, attempt - 1));
    const double raw = base_delay * growth;
    capped = (std::isfinite(raw) && raw < max_delay) ? raw : max_delay;
  }

  double delay = capped;
  switch (policy.jitter) {
    case JitterMode::kNone:
      break;
    case JitterMode::kFull:
      delay = UniformClosed(rng, 0, capped);
      break;
    case JitterMode::kEqual:
      delay = capped / 2 + UniformClosed(rng, 0, capped / 2);
      break;
    case JitterMode::kDecorrelated: {
      const double previous = previous_delay.has_value()
                                  ? std::max(0.0, ToNanos(*previous_delay))
                                  : base_delay;
      // 3 * previous < base_delay: the interval is the point base_delay.
      const double upper = std::max(base_delay, 3 * previous);
      delay = std::isfinite(upper) ? UniformClosed(rng, base_delay, upper)
                                   : max_delay;
      delay = std::min(max_delay, delay);
      break;
    }
  }
  delay = std::min(max_delay, std::max(0.0, delay));
  absl::Duration result = FloorMillis(delay);

  // The Retry-After floor is exact (not rounded), capped at max_delay.
  if (retry_after.has_value()) {
    const absl::Duration cap = std::max(absl::ZeroDuration(), policy.max_delay);
    const absl::Duration hint =
        std::clamp(*retry_after, absl::ZeroDuration(), cap);
    result = std::max(result, hint);
  }
  return result;
}

RetryDecision DecideRetry(const RetryPolicyConfig& policy,
                          const RetryRequest& request, absl::BitGenRef rng) {
  RetryDecision decision;
  if (!IsRetryable(policy, request.failure)) {
    decision.reason = RetryReason::kNotRetryable;
    return decision;
  }
  if (request.attempt >= policy.max_attempts) {
    decision.reason = RetryReason::kAttemptsExhausted;
    return decision;
  }
  const absl::Duration delay =
      BackoffDelay(policy, std::max(1, request.attempt), request.retry_after,
                   request.previous_delay, rng);
  if (request.deadline.has_value() &&
      delay + policy.min_attempt_time > *request.deadline) {
    decision.reason = RetryReason::kDeadlineTooShort;
    return decision;
  }
  decision.retry = true;
  decision.delay = delay;
  decision.reason = RetryReason::kRetryable;
  decision.attempts_remaining =
      std::max(0, policy.max_attempts - request.attempt - 1);
  return decision;
}

BudgetUpdate WithdrawForRetry(const RetryBudgetRule& rule, double tokens) {
  if (!(rule.max_tokens > 0)) return {tokens, true};
  BudgetUpdate update;
  update.tokens = std::clamp(tokens - 1, 0.0, rule.max_tokens);
  update.retry_allowed = update.tokens > rule.max_tokens / 2;
  return update;
}

BudgetUpdate DepositForSuccess(const RetryBudgetRule& rule, double tokens) {
  if (!(rule.max_tokens > 0)) return {tokens, true};
  BudgetUpdate update;
  update.tokens = std::clamp(tokens + std::max(0.0, rule.token_ratio), 0.0,
                             rule.max_tokens);
  // Not throttled (the gRPC rule: throttled iff tokens <= max_tokens / 2).
  update.retry_allowed = update.tokens > rule.max_tokens / 2;
  return update;
}

}  // namespace crossbridge
