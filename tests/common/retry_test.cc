#include "common/retry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/random/bit_gen_ref.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr int kDraws = 10'000;

// base 500 ms, max 5 s, base 2: capped = 500, 1000, 2000, 4000 ms at
// attempts 1..4.
RetryPolicyConfig Policy(JitterMode jitter) {
  RetryPolicyConfig policy;
  policy.max_attempts = 5;
  policy.base_delay = absl::Milliseconds(500);
  policy.max_delay = absl::Seconds(5);
  policy.exponential_base = 2.0;
  policy.jitter = jitter;
  policy.retryable_codes = {429, 503};
  policy.retryable_grpc_codes = {absl::StatusCode::kUnavailable};
  policy.min_attempt_time = absl::Milliseconds(50);
  return policy;
}

double CappedMs(const RetryPolicyConfig& policy, int attempt) {
  return std::min(absl::ToDoubleMilliseconds(policy.max_delay),
                  absl::ToDoubleMilliseconds(policy.base_delay) *
                      std::pow(policy.exponential_base, attempt - 1));
}

bool IsWholeMillis(absl::Duration d) {
  return absl::ToInt64Nanoseconds(d) % 1'000'000 == 0;
}

struct Sample {
  double lo = 1e300, hi = -1e300, mean = 0, stddev = 0;
  bool all_whole_ms = true;
};

// kDraws delays, in ms.
template <typename Draw>
Sample Collect(Draw draw) {
  std::vector<double> values;
  Sample s;
  for (int i = 0; i < kDraws; ++i) {
    const absl::Duration d = draw();
    s.all_whole_ms = s.all_whole_ms && IsWholeMillis(d);
    values.push_back(absl::ToDoubleMilliseconds(d));
  }
  for (double v : values) {
    s.lo = std::min(s.lo, v);
    s.hi = std::max(s.hi, v);
    s.mean += v / kDraws;
  }
  double sq = 0;
  for (double v : values) sq += (v - s.mean) * (v - s.mean);
  s.stddev = std::sqrt(sq / (kDraws - 1));
  return s;
}

// The sample mean is within 3% of `expected` or 3 standard errors of it.
void ExpectMeanNear(const Sample& s, double expected) {
  const double tolerance =
      std::max(0.03 * expected, 3 * s.stddev / std::sqrt(kDraws));
  EXPECT_NEAR(s.mean, expected, tolerance);
}

// ---- jitter modes -----------------------------------------------------------

TEST(BackoffDelayTest, NoneIsTheCappedExponential) {
  std::mt19937 gen(1);
  const RetryPolicyConfig policy = Policy(JitterMode::kNone);
  const int64_t expected_ms[] = {500, 1000, 2000, 4000, 5000, 5000};
  for (int attempt = 1; attempt <= 6; ++attempt) {
    EXPECT_EQ(BackoffDelay(policy, attempt, std::nullopt, std::nullopt,
                           absl::BitGenRef(gen)),
              absl::Milliseconds(expected_ms[attempt - 1]))
        << "attempt " << attempt;
  }
}

TEST(BackoffDelayTest, NoneStatisticsAreExact) {
  std::mt19937 gen(2);
  const RetryPolicyConfig policy = Policy(JitterMode::kNone);
  for (int attempt = 1; attempt <= 4; ++attempt) {
    SCOPED_TRACE(absl::StrCat("attempt ", attempt));
    const double capped = CappedMs(policy, attempt);
    const Sample s = Collect([&] {
      return BackoffDelay(policy, attempt, std::nullopt, std::nullopt,
                          absl::BitGenRef(gen));
    });
    EXPECT_EQ(s.lo, capped);
    EXPECT_EQ(s.hi, capped);
    ExpectMeanNear(s, capped);
  }
}

TEST(BackoffDelayTest, FullJitterIsUniformFromZeroToCapped) {
  std::mt19937 gen(3);
  const RetryPolicyConfig policy = Policy(JitterMode::kFull);
  for (int attempt = 1; attempt <= 4; ++attempt) {
    SCOPED_TRACE(absl::StrCat("attempt ", attempt));
    const double capped = CappedMs(policy, attempt);
    const Sample s = Collect([&] {
      return BackoffDelay(policy, attempt, std::nullopt, std::nullopt,
                          absl::BitGenRef(gen));
    });
    EXPECT_TRUE(s.all_whole_ms);
    EXPECT_GE(s.lo, 0);
    EXPECT_LE(s.hi, capped);
    // The range is used: both ends are approached.
    EXPECT_LT(s.lo, 0.01 * capped);
    EXPECT_GT(s.hi, 0.99 * capped);
    ExpectMeanNear(s, capped / 2);
  }
}

TEST(BackoffDelayTest, EqualJitterIsHalfPlusUniformHalf) {
  std::mt19937 gen(4);
  const RetryPolicyConfig policy = Policy(JitterMode::kEqual);
  for (int attempt = 1; attempt <= 4; ++attempt) {
    SCOPED_TRACE(absl::StrCat("attempt ", attempt));
    const double capped = CappedMs(policy, attempt);
    const Sample s = Collect([&] {
      return BackoffDelay(policy, attempt, std::nullopt, std::nullopt,
                          absl::BitGenRef(gen));
    });
    EXPECT_TRUE(s.all_whole_ms);
    EXPECT_GE(s.lo, std::floor(capped / 2));
    EXPECT_LE(s.hi, capped);
    EXPECT_LT(s.lo, 0.51 * capped);
    EXPECT_GT(s.hi, 0.99 * capped);
    ExpectMeanNear(s, 3 * capped / 4);
  }
}

// E[min(max, U[base, hi])], hi >= base.
double DecorrelatedMean(double base, double hi, double max) {
  if (hi <= max) return (base + hi) / 2;
  if (base >= max) return max;
  const double below = (max - base) / (hi - base);  // P(U <= max)
  return below * (base + max) / 2 + (1 - below) * max;
}

TEST(BackoffDelayTest, DecorrelatedJitterFollowsThePreviousDelay) {
  std::mt19937 gen(5);
  const RetryPolicyConfig policy = Policy(JitterMode::kDecorrelated);
  const double base = 500, max = 5000;
  // previous -> upper end 3 * previous (at least base): unset (= base),
  // below the cap, across the cap, and far beyond it.
  const std::vector<std::optional<double>> previous_ms = {std::nullopt, 1000,
                                                          1500, 3000, 60'000};
  for (int attempt = 1; attempt <= 4; ++attempt) {
    for (const std::optional<double>& p : previous_ms) {
      SCOPED_TRACE(absl::StrCat("attempt ", attempt, " previous ",
                                p ? absl::StrCat(*p) : "unset"));
      const std::optional<absl::Duration> previous =
          p ? std::optional<absl::Duration>(absl::Milliseconds(*p))
            : std::nullopt;
      const double hi = std::max(base, 3 * p.value_or(base));
      const Sample s = Collect([&] {
        return BackoffDelay(policy, attempt, std::nullopt, previous,
                            absl::BitGenRef(gen));
      });
      EXPECT_TRUE(s.all_whole_ms);
      EXPECT_GE(s.lo, base);
      EXPECT_LE(s.hi, std::min(max, hi));
      ExpectMeanNear(s, DecorrelatedMean(base, hi, max));
    }
  }
}

TEST(BackoffDelayTest, DecorrelatedNeverGoesBelowBaseDelay) {
  std::mt19937 gen(6);
  const RetryPolicyConfig policy = Policy(JitterMode::kDecorrelated);
  // 3 * 100 ms < base: the interval is the point base_delay.
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(BackoffDelay(policy, 2, std::nullopt, absl::Milliseconds(100),
                           absl::BitGenRef(gen)),
              absl::Milliseconds(500));
  }
}

// ---- the cap ----------------------------------------------------------------

TEST(BackoffDelayTest, LargeAttemptsStayAtMaxDelayWithoutOverflow) {
  std::mt19937 gen(7);
  for (JitterMode mode : {JitterMode::kNone, JitterMode::kFull,
                          JitterMode::kEqual, JitterMode::kDecorrelated}) {
    SCOPED_TRACE(JitterModeName(mode));
    RetryPolicyConfig policy = Policy(mode);
    for (int attempt : {20, 64, 1000, 1'000'000}) {
      for (int i = 0; i < 200; ++i) {
        const absl::Duration d = BackoffDelay(
            policy, attempt, std::nullopt, std::nullopt, absl::BitGenRef(gen));
        ASSERT_GE(d, absl::ZeroDuration()) << attempt;
        ASSERT_LE(d, policy.max_delay) << attempt;
      }
    }
    if (mode == JitterMode::kNone) {
      EXPECT_EQ(BackoffDelay(policy, 20, std::nullopt, std::nullopt,
                             absl::BitGenRef(gen)),
                policy.max_delay);
      EXPECT_EQ(BackoffDelay(policy, 1000, std::nullopt, std::nullopt,
                             absl::BitGenRef(gen)),
                policy.max_delay);
    }
  }
  // A huge base overflows a double (inf): still max_delay.
  RetryPolicyConfig steep = Policy(JitterMode::kNone);
  steep.exponential_base = 100;
  EXPECT_EQ(BackoffDelay(steep, 1000, std::nullopt, std::nullopt,
                         absl::BitGenRef(gen)),
            steep.max_delay);
  // A zero base stays zero at any attempt (no 0 * inf).
  RetryPolicyConfig zero = Policy(JitterMode::kNone);
  zero.base_delay = absl::ZeroDuration();
  EXPECT_EQ(BackoffDelay(zero, 1000, std::nullopt, std::nullopt,
                         absl::BitGenRef(gen)),
            absl::ZeroDuration());
  // Decorrelated with an enormous previous delay: capped.
  RetryPolicyConfig decorrelated = Policy(JitterMode::kDecorrelated);
  EXPECT_EQ(BackoffDelay(decorrelated, 3, std::nullopt,
                         absl::InfiniteDuration(), absl::BitGenRef(gen)),
            decorrelated.max_delay);
}

TEST(BackoffDelayTest, DelaysAreWholeMillisecondsRoundedDown) {
  std::mt19937 gen(8);
  RetryPolicyConfig policy = Policy(JitterMode::kNone);
  policy.base_delay = absl::Microseconds(1500);  // 1.5 ms
  policy.exponential_base = 1.5;
  // 1.5, 2.25, 3.375 ms -> 1, 2, 3 ms.
  EXPECT_EQ(
      BackoffDelay(policy, 1, std::nullopt, std::nullopt, absl::BitGenRef(gen)),
      absl::Milliseconds(1));
  EXPECT_EQ(
      BackoffDelay(policy, 2, std::nullopt, std::nullopt, absl::BitGenRef(gen)),
      absl::Milliseconds(2));
  EXPECT_EQ(
      BackoffDelay(policy, 3, std::nullopt, std::nullopt, absl::BitGenRef(gen)),
      absl::Milliseconds(3));
}

// ---- Retry-After ------------------------------------------------------------

TEST(BackoffDelayTest, RetryAfterIsAFloorCappedAtMaxDelay) {
  std::mt19937 gen(9);
  const RetryPolicyConfig none = Policy(JitterMode::kNone);
  // Above the delay: the hint wins, exactly (not rounded to ms).
  EXPECT_EQ(BackoffDelay(none, 1, absl::Microseconds(800'500), std::nullopt,
                         absl::BitGenRef(gen)),
            absl::Microseconds(800'500));
  // Below the delay: the delay wins.
  EXPECT_EQ(BackoffDelay(none, 1, absl::Milliseconds(300), std::nullopt,
                         absl::BitGenRef(gen)),
            absl::Milliseconds(500));
  // Above max_delay: capped at max_delay.
  EXPECT_EQ(BackoffDelay(none, 1, absl::Seconds(60), std::nullopt,
                         absl::BitGenRef(gen)),
            absl::Seconds(5));
  // Every jittered delay is floored at the hint.
  for (JitterMode mode :
       {JitterMode::kFull, JitterMode::kEqual, JitterMode::kDecorrelated}) {
    SCOPED_TRACE(JitterModeName(mode));
    const RetryPolicyConfig policy = Policy(mode);
    int at_hint = 0;
    for (int i = 0; i < 1000; ++i) {
      const absl::Duration d =
          BackoffDelay(policy, 2, absl::Milliseconds(900),
                       absl::Milliseconds(500), absl::BitGenRef(gen));
      ASSERT_GE(d, absl::Milliseconds(900));
      ASSERT_LE(d, policy.max_delay);
      at_hint += d == absl::Milliseconds(900);
    }
    EXPECT_GT(at_hint, 0);  // draws below the hint were raised to it
    EXPECT_EQ(BackoffDelay(policy, 2, absl::Hours(1), std::nullopt,
                           absl::BitGenRef(gen)),
              policy.max_delay);
  }
}

// ---- DecideRetry ------------------------------------------------------------

RetryRequest Http(int status, int attempt) {
  RetryRequest request;
  request.attempt = attempt;
  request.failure.http_status = status;
  return request;
}

RetryRequest Grpc(absl::StatusCode code, int attempt) {
  RetryRequest request;
  request.attempt = attempt;
  request.failure.grpc_code = code;
  return request;
}

TEST(DecideRetryTest, NonRetryableFailures) {
  std::mt19937 gen(10);
  const RetryPolicyConfig policy = Policy(JitterMode::kNone);
  for (const RetryRequest& request :
       {Http(404, 1), Http(500, 1), Grpc(absl::StatusCode::kInvalidArgument, 1),
        Grpc(absl::StatusCode::kResourceExhausted, 1), RetryRequest()}) {
    const RetryDecision d = DecideRetry(policy, request, absl::BitGenRef(gen));
    EXPECT_FALSE(d.retry);
    EXPECT_EQ(d.reason, RetryReason::kNotRetryable);
    EXPECT_EQ(d.delay, absl::ZeroDuration());
    EXPECT_EQ(d.attempts_remaining, 0);
  }
  // Not retryable wins over exhausted attempts.
  EXPECT_EQ(DecideRetry(policy, Http(404, 5), absl::BitGenRef(gen)).reason,
            RetryReason::kNotRetryable);
}

TEST(DecideRetryTest, IsRetryableLooksAtTheMatchingList) {
  const RetryPolicyConfig policy = Policy(JitterMode::kNone);
  EXPECT_TRUE(IsRetryable(policy, Http(503, 1).failure));
  EXPECT_TRUE(
      IsRetryable(policy, Grpc(absl::StatusCode::kUnavailable, 1).failure));
  // 14 is UNAVAILABLE's number but as an HTTP status it is not listed.
  EXPECT_FALSE(IsRetryable(policy, Http(14, 1).failure));
  EXPECT_FALSE(IsRetryable(policy, Failure()));
}

TEST(DecideRetryTest, AttemptsExhausted) {
  std::mt19937 gen(11);
  const RetryPolicyConfig policy = Policy(JitterMode::kNone);  // 5 attempts
  for (int attempt : {5, 6, 100}) {
    RetryRequest request = Http(503, attempt);
    request.deadline = absl::ZeroDuration();  // exhausted wins over deadline
    const RetryDecision d = DecideRetry(policy, request, absl::BitGenRef(gen));
    EXPECT_FALSE(d.retry);
    EXPECT_EQ(d.reason, RetryReason::kAttemptsExhausted) << attempt;
    EXPECT_EQ(d.delay, absl::ZeroDuration());
    EXPECT_EQ(d.attempts_remaining, 0);
  }
  RetryPolicyConfig once = policy;
  once.max_attempts = 1;
  EXPECT_EQ(DecideRetry(once, Http(503, 1), absl::BitGenRef(gen)).reason,
            RetryReason::kAttemptsExhausted);
}

TEST(DecideRetryTest, AttemptsRemainingCountsAttemptsAfterTheNextOne) {
  std::mt19937 gen(12);
  const RetryPolicyConfig policy = Policy(JitterMode::kNone);  // 5 attempts
  const int expected[] = {3, 2, 1, 0};
  for (int attempt = 1; attempt <= 4; ++attempt) {
    const RetryDecision d =
        DecideRetry(policy, Grpc(absl::StatusCode::kUnavailable, attempt),
                    absl::BitGenRef(gen));
    ASSERT_TRUE(d.retry) << attempt;
    EXPECT_EQ(d.reason, RetryReason::kRetryable);
    EXPECT_EQ(d.attempts_remaining, expected[attempt - 1]) << attempt;
    EXPECT_EQ(d.delay, absl::Milliseconds(CappedMs(policy, attempt)));
  }
}

TEST(DecideRetryTest, DeadlineMustFitTheDelayPlusAMinimalAttempt) {
  std::mt19937 gen(13);
  const RetryPolicyConfig policy = Policy(JitterMode::kNone);
  // Delay 500 ms + min_attempt_time 50 ms.
  RetryRequest request = Http(503, 1);
  request.deadline = absl::Milliseconds(549);
  RetryDecision d = DecideRetry(policy, request, absl::BitGenRef(gen));
  EXPECT_FALSE(d.retry);
  EXPECT_EQ(d.reason, RetryReason::kDeadlineTooShort);
  EXPECT_EQ(d.delay, absl::ZeroDuration());
  EXPECT_EQ(d.attempts_remaining, 0);

  request.deadline = absl::Milliseconds(550);  // just fits
  d = DecideRetry(policy, request, absl::BitGenRef(gen));
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.reason, RetryReason::kRetryable);
  EXPECT_EQ(d.delay, absl::Milliseconds(500));
  EXPECT_EQ(d.attempts_remaining, 3);

  request.deadline = std::nullopt;  // no deadline
  EXPECT_TRUE(DecideRetry(policy, request, absl::BitGenRef(gen)).retry);

  // The Retry-After floor counts against the deadline.
  request.deadline = absl::Milliseconds(1000);
  request.retry_after = absl::Milliseconds(960);
  EXPECT_EQ(DecideRetry(policy, request, absl::BitGenRef(gen)).reason,
            RetryReason::kDeadlineTooShort);
  request.retry_after = absl::Milliseconds(950);
  d = DecideRetry(policy, request, absl::BitGenRef(gen));
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.delay, absl::Milliseconds(950));
}

TEST(DecideRetryTest, DecorrelatedUsesThePreviousDelay) {
  std::mt19937 gen(14);
  const RetryPolicyConfig policy = Policy(JitterMode::kDecorrelated);
  RetryRequest request = Http(429, 2);
  request.previous_delay = absl::Milliseconds(100);  // 3 * 100 < base
  const RetryDecision d = DecideRetry(policy, request, absl::BitGenRef(gen));
  EXPECT_TRUE(d.retry);
  EXPECT_EQ(d.delay, absl::Milliseconds(500));
}

TEST(DecideRetryTest, ReasonNamesAreTheProtoNames) {
  EXPECT_EQ(RetryReasonName(RetryReason::kRetryable), "RETRYABLE");
  EXPECT_EQ(RetryReasonName(RetryReason::kNotRetryable), "NOT_RETRYABLE");
  EXPECT_EQ(RetryReasonName(RetryReason::kAttemptsExhausted),
            "ATTEMPTS_EXHAUSTED");
  EXPECT_EQ(RetryReasonName(RetryReason::kDeadlineTooShort),
            "DEADLINE_TOO_SHORT");
  EXPECT_EQ(RetryReasonName(RetryReason::kBudgetExhausted), "BUDGET_EXHAUSTED");
  EXPECT_EQ(RetryReasonName(RetryReason::kDependencyUnhealthy),
            "DEPENDENCY_UNHEALTHY");
}

// ---- ParseGrpcCode ----------------------------------------------------------

TEST(ParseGrpcCodeTest, NamesAndNumbers) {
  for (int i = 0; i <= 16; ++i) {
    const auto code = static_cast<absl::StatusCode>(i);
    const std::string name = absl::StatusCodeToString(code);
    SCOPED_TRACE(name);
    EXPECT_EQ(ParseGrpcCode(name).value_or(absl::StatusCode::kDataLoss), code);
    EXPECT_EQ(
        ParseGrpcCode(absl::StrCat(i)).value_or(absl::StatusCode::kDataLoss),
        code);
  }
  EXPECT_EQ(*ParseGrpcCode("unavailable"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(*ParseGrpcCode("Resource_Exhausted"),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(*ParseGrpcCode("DEADLINE_EXCEEDED"),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(*ParseGrpcCode("14"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(*ParseGrpcCode("0"), absl::StatusCode::kOk);
}

TEST(ParseGrpcCodeTest, GarbageIsInvalidArgumentNamingTheText) {
  for (const char* text : {"", "17", "-1", "99", "1.0", "0x0e", "UNAVAILABLEX",
                           "UN AVAILABLE", "CANCELED", "garbage"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(ParseGrpcCode(text),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("\"", text, "\""))));
  }
}

// ---- budget -----------------------------------------------------------------

TEST(RetryBudgetTest, FailuresDrainAndRetriesStopAtHalf) {
  const RetryBudgetRule rule{10, 0.5};
  double tokens = 10;
  const bool expected_allowed[] = {true,  true,  true,  true,  false,
                                   false, false, false, false, false};
  for (int i = 0; i < 10; ++i) {
    const BudgetUpdate u = WithdrawForRetry(rule, tokens);
    EXPECT_EQ(u.tokens, 9 - i) << i;
    EXPECT_EQ(u.retry_allowed, expected_allowed[i]) << "failure " << i + 1;
    tokens = u.tokens;
  }
  // Empty stays empty.
  const BudgetUpdate empty = WithdrawForRetry(rule, tokens);
  EXPECT_EQ(empty.tokens, 0);
  EXPECT_FALSE(empty.retry_allowed);
}

TEST(RetryBudgetTest, SuccessesRefillUpToMaxTokens) {
  const RetryBudgetRule rule{10, 0.5};
  double tokens = 0;
  // 11 successes: 5.5 > 5, retries are allowed again.
  for (int i = 1; i <= 11; ++i) {
    const BudgetUpdate u = DepositForSuccess(rule, tokens);
    EXPECT_DOUBLE_EQ(u.tokens, 0.5 * i);
    EXPECT_EQ(u.retry_allowed, i == 11) << "success " << i;
    tokens = u.tokens;
  }
  // The next failure withdraws to 4.5: throttled again.
  EXPECT_FALSE(WithdrawForRetry(rule, tokens).retry_allowed);
  for (int i = 0; i < 100; ++i) tokens = DepositForSuccess(rule, tokens).tokens;
  EXPECT_EQ(tokens, 10);
  const BudgetUpdate u = WithdrawForRetry(rule, tokens);
  EXPECT_EQ(u.tokens, 9);
  EXPECT_TRUE(u.retry_allowed);
}

TEST(RetryBudgetTest, ZeroMaxTokensDisablesTheBudget) {
  const RetryBudgetRule rule{0, 0.1};
  for (double tokens : {0.0, 3.0}) {
    BudgetUpdate u = WithdrawForRetry(rule, tokens);
    EXPECT_TRUE(u.retry_allowed);
    EXPECT_EQ(u.tokens, tokens);
    u = DepositForSuccess(rule, tokens);
    EXPECT_TRUE(u.retry_allowed);
    EXPECT_EQ(u.tokens, tokens);
  }
}

}  // namespace
}  // namespace crossbridge
