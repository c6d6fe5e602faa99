// Retry decisions: backoff, jitter, Retry-After floors, deadlines and the
// retry-budget rule. Pure functions shared by the server (RetryAdvisor) and
// the client SDK (local decisions with a policy fetched from the server).
//
// Delay before attempt n+1, after attempt n failed (n >= 1):
//   capped = min(max_delay, base_delay * exponential_base^(n-1))
//   none:          capped
//   full:          uniform[0, capped]
//   equal:         capped/2 + uniform[0, capped/2]
//   decorrelated:  min(max_delay, uniform[base_delay, 3 * previous_delay])
//                  (previous_delay = base_delay before the first retry)
// then floored at a server's Retry-After hint (itself capped at max_delay).
// Delays are whole milliseconds.
//
// Randomness comes from the injected absl::BitGenRef, so tests are
// deterministic with a seeded generator. Thread-compatible.
#ifndef CROSSBRIDGE_COMMON_RETRY_H_
#define CROSSBRIDGE_COMMON_RETRY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace crossbridge {

enum class RetryReason {
  kRetryable,
  kNotRetryable,
  kAttemptsExhausted,
  kDeadlineTooShort,
  kBudgetExhausted,
  kDependencyUnhealthy,
};
// "RETRYABLE", "NOT_RETRYABLE", ... (the proto enum names).
absl::string_view RetryReasonName(RetryReason reason);

// What failed: exactly one of the two is set.
struct Failure {
  std::optional<absl::StatusCode> grpc_code;
  std::optional<int> http_status;
};

// Parses a canonical gRPC code name ("UNAVAILABLE", case-insensitive) or its
// number ("14"). InvalidArgument naming the text otherwise.
absl::StatusOr<absl::StatusCode> ParseGrpcCode(absl::string_view text);

struct RetryRequest {
  int attempt = 1;                              // the attempt that failed, >= 1
  Failure failure;
  std::optional<absl::Duration> retry_after;    // server hint
  std::optional<absl::Duration> deadline;       // caller's remaining deadline
  // Only for decorrelated jitter: the delay used before this attempt
  // (unset before the first retry).
  std::optional<absl::Duration> previous_delay;
};

struct RetryDecision {
  bool retry = false;
  absl::Duration delay = absl::ZeroDuration();  // zero unless retry
  RetryReason reason = RetryReason::kNotRetryable;
  int attempts_remaining = 0;  // after the next attempt; 0 unless retry
};

// True iff `failure` is retryable under `policy` (HTTP statuses in
// retryable_codes, gRPC codes in retryable_grpc_codes).
bool IsRetryable(const RetryPolicyConfig& policy, const Failure& failure);

// The jittered, capped delay before the attempt after `attempt`, floored at
// `retry_after` (capped at max_delay). REQUIRES: attempt >= 1.
absl::Duration BackoffDelay(const RetryPolicyConfig& policy, int attempt,
                            std::optional<absl::Duration> retry_after,
                            std::optional<absl::Duration> previous_delay,
                            absl::BitGenRef rng);

// The whole decision, in this order: not retryable -> NOT_RETRYABLE;
// attempt >= max_attempts -> ATTEMPTS_EXHAUSTED; delay + min_attempt_time >
// deadline -> DEADLINE_TOO_SHORT; else RETRYABLE with the delay. (Budget and
// dependency health are checked by the caller, which owns that state.)
RetryDecision DecideRetry(const RetryPolicyConfig& policy,
                          const RetryRequest& request, absl::BitGenRef rng);

// The gRPC retry-throttling rule over a token count (kept by a store):
// a retry may go ahead iff tokens > max_tokens / 2 after withdrawing 1.
struct RetryBudgetRule {
  double max_tokens = 0;   // 0 disables the budget
  double token_ratio = 0;
};
struct BudgetUpdate {
  double tokens = 0;       // new token count, in [0, max_tokens]
  bool retry_allowed = true;
};
// A failure that wants a retry: withdraw one token.
BudgetUpdate WithdrawForRetry(const RetryBudgetRule& rule, double tokens);
// A success: deposit token_ratio (capped at max_tokens).
BudgetUpdate DepositForSuccess(const RetryBudgetRule& rule, double tokens);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_RETRY_H_
