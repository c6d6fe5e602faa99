// Hardened calls without a server: the HTTP-in-Status helpers, Retry() on a
// simulated clock with a seed (the policy fetch fails, so the built-in
// policies apply), and Call()'s fail-open (local limiter) and fail-closed
// behaviour against a port where nothing listens.
#include "client/hardened_call.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/hardened.h"
#include "common/mutex.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;

constexpr char kDeadTarget[] = "127.0.0.1:1";

std::unique_ptr<Client> MakeClient(ClientOptions options) {
  options.target = kDeadTarget;
  options.default_deadline = absl::Milliseconds(500);
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(std::move(options));
  EXPECT_THAT(client, IsOk());
  return client.ok() ? std::move(*client) : nullptr;
}

// A clock whose waits take no real time and are recorded.
FakeClock::Options Recording() { return {.advance_on_wait = true}; }

std::unique_ptr<Client> MakeClient(FakeClock& clock, uint64_t seed = 42) {
  ClientOptions options;
  options.clock = &clock;
  options.rng_seed = seed;
  return MakeClient(std::move(options));
}

// ---- HttpError / HttpStatusOf / RetryAfterOf --------------------------------

TEST(HttpErrorTest, MapsHttpStatusToCode) {
  const std::vector<std::pair<int, absl::StatusCode>> cases = {
      {429, absl::StatusCode::kResourceExhausted},
      {503, absl::StatusCode::kUnavailable},
      {502, absl::StatusCode::kUnavailable},
      {504, absl::StatusCode::kUnavailable},
      {500, absl::StatusCode::kInternal},
      {501, absl::StatusCode::kUnimplemented},
      {599, absl::StatusCode::kInternal},
      {400, absl::StatusCode::kInvalidArgument},
      {401, absl::StatusCode::kUnauthenticated},
      {403, absl::StatusCode::kPermissionDenied},
      {404, absl::StatusCode::kNotFound},
      {409, absl::StatusCode::kAborted},
      {418, absl::StatusCode::kInvalidArgument},
      {200, absl::StatusCode::kUnknown},
  };
  for (const auto& [http, code] : cases) {
    const absl::Status s = HttpError(http, "boom");
    EXPECT_EQ(s.code(), code) << http;
    EXPECT_EQ(s.message(), "HTTP " + std::to_string(http) + ": boom");
    EXPECT_THAT(HttpStatusOf(s), Optional(http));
    EXPECT_EQ(RetryAfterOf(s), std::nullopt) << http;
  }
}

TEST(HttpErrorTest, CarriesRetryAfterRoundedUpToMilliseconds) {
  const absl::Status s =
      HttpError(429, "slow down", absl::Microseconds(1200));
  EXPECT_THAT(RetryAfterOf(s), Optional(absl::Milliseconds(2)));
  EXPECT_THAT(RetryAfterOf(HttpError(503, "", absl::Seconds(3))),
              Optional(absl::Seconds(3)));
  EXPECT_THAT(RetryAfterOf(HttpError(503, "", absl::ZeroDuration())),
              Optional(absl::ZeroDuration()));
  EXPECT_EQ(RetryAfterOf(HttpError(503, "", -absl::Seconds(1))), std::nullopt);
}

TEST(HttpErrorTest, OtherStatusesHaveNoHttpStatus) {
  EXPECT_EQ(HttpStatusOf(absl::UnavailableError("x")), std::nullopt);
  EXPECT_EQ(HttpStatusOf(absl::OkStatus()), std::nullopt);
  EXPECT_EQ(RetryAfterOf(absl::UnavailableError("x")), std::nullopt);
}

// ---- Create ------------------------------------------------------------------

TEST(ClientOptionsTest, CreateRejectsBadHardenedOptions) {
  ClientOptions bad_threads;
  bad_threads.executor_threads = 0;
  EXPECT_THAT(Client::Create(bad_threads),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("executor_threads")));
  ClientOptions bad_local;
  bad_local.local_fallback.capacity = 0;
  EXPECT_THAT(Client::Create(bad_local),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("local_fallback")));
  ClientOptions bad_ttl;
  bad_ttl.policy_cache_ttl = -absl::Seconds(1);
  EXPECT_THAT(Client::Create(bad_ttl),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("policy_cache_ttl")));
}

// ---- Retry (no rate limiter; built-in policies since the fetch fails) -------

TEST(RetryTest, TwoFailuresThenSuccessTakesThreeAttemptsWithinBounds) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  std::vector<int> attempts;
  CallReport report;
  absl::StatusOr<std::string> result = client->Retry<std::string>(
      [&](const AttemptInfo& a) -> absl::StatusOr<std::string> {
        attempts.push_back(a.attempt);
        EXPECT_GT(a.remaining, absl::ZeroDuration());
        if (a.attempt < 3) return HttpError(503, "busy");
        return std::string("ok");
      },
      {}, &report);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result, "ok");
  EXPECT_THAT(attempts, ElementsAre(1, 2, 3));
  EXPECT_EQ(report.attempts, 3);
  ASSERT_EQ(report.delays.size(), 2u);
  EXPECT_EQ(report.delays, clock.waits());
  // The built-in "default" policy: base 500 ms, x2, full jitter.
  EXPECT_GE(report.delays[0], absl::ZeroDuration());
  EXPECT_LE(report.delays[0], absl::Milliseconds(500));
  EXPECT_GE(report.delays[1], absl::ZeroDuration());
  EXPECT_LE(report.delays[1], absl::Milliseconds(1000));
  ASSERT_EQ(report.failures.size(), 2u);
  EXPECT_THAT(HttpStatusOf(report.failures[0]), Optional(503));
  EXPECT_FALSE(report.used_local_limiter);
}

// The whole retry loop runs on the injected clock: attempts that take
// simulated time and backoffs that take none of the real kind leave every
// deadline figure exact.
TEST(RetryTest, TheDeadlineArithmeticRunsOnTheInjectedClock) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  const absl::Time start = clock.MonotonicNow();
  std::vector<absl::Duration> remaining_seen;
  CallOptions options;
  options.deadline = absl::Seconds(2);
  CallReport report;
  absl::StatusOr<int> r = client->Retry<int>(
      [&](const AttemptInfo& a) -> absl::StatusOr<int> {
        remaining_seen.push_back(a.remaining);
        clock.Advance(absl::Milliseconds(300));  // a slow attempt
        return HttpError(503, "busy");
      },
      options, &report);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_EQ(remaining_seen.size(), static_cast<size_t>(report.attempts));
  absl::Duration elapsed;
  for (int k = 0; k < report.attempts; ++k) {
    EXPECT_EQ(remaining_seen[k], absl::Seconds(2) - elapsed) << k;
    elapsed += absl::Milliseconds(300);
    if (k < static_cast<int>(report.delays.size())) elapsed += report.delays[k];
  }
  EXPECT_EQ(clock.MonotonicNow() - start, elapsed);
  EXPECT_EQ(report.delays, clock.waits());
  // Seed 42 on the fake clock is deterministic: all three attempts of the
  // default policy fit in the 2 s (3 x 300 ms plus two backoffs).
  EXPECT_EQ(report.attempts, 3);
  EXPECT_THAT(r.status().message(), HasSubstr("ATTEMPTS_EXHAUSTED"));
  EXPECT_LT(elapsed, absl::Seconds(2));
}

TEST(RetryTest, SameSeedGivesSameDelays) {
  std::vector<std::vector<absl::Duration>> runs;
  for (int run = 0; run < 2; ++run) {
    FakeClock clock(Recording());
    std::unique_ptr<Client> client = MakeClient(clock, /*seed=*/7);
    CallOptions options;
    options.retry_policy = "expensive";  // 5 attempts
    absl::StatusOr<int> r = client->Retry<int>(
        [](const AttemptInfo&) -> absl::StatusOr<int> {
          return HttpError(503, "busy");
        },
        options);
    EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable));
    runs.push_back(clock.waits());
  }
  EXPECT_EQ(runs[0].size(), 4u);
  EXPECT_EQ(runs[0], runs[1]);
}

TEST(RetryTest, ExhaustedReturnsLastFailureWithSuffixAndPayloads) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  int calls = 0;
  absl::StatusOr<int> r = client->Retry<int>(
      [&](const AttemptInfo&) -> absl::StatusOr<int> {
        ++calls;
        return HttpError(503, "busy " + std::to_string(calls));
      });
  EXPECT_EQ(calls, 3);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                          "HTTP 503: busy 3 (after 3 attempts: "
                          "ATTEMPTS_EXHAUSTED)"));
  EXPECT_THAT(HttpStatusOf(r.status()), Optional(503));
}

TEST(RetryTest, NotRetryableStopsAfterOneAttempt) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  int calls = 0;
  absl::StatusOr<int> r = client->Retry<int>(
      [&](const AttemptInfo&) -> absl::StatusOr<int> {
        ++calls;
        return HttpError(400, "bad");
      });
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kInvalidArgument,
                          HasSubstr("(after 1 attempt: NOT_RETRYABLE)")));
  // A gRPC code outside retryable_grpc_codes is not retried either.
  calls = 0;
  r = client->Retry<int>([&](const AttemptInfo&) -> absl::StatusOr<int> {
    ++calls;
    return absl::AbortedError("deadlock");
  });
  EXPECT_EQ(calls, 1);
  // And UNAVAILABLE is.
  calls = 0;
  r = client->Retry<int>([&](const AttemptInfo&) -> absl::StatusOr<int> {
    if (++calls == 1) return absl::UnavailableError("down");
    return 5;
  });
  EXPECT_THAT(r, IsOk());
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(clock.waits().size() == 1);
}

TEST(RetryTest, RetryAfterIsAFloorAndTooLongForTheDeadlineStops) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  CallReport report;
  int calls = 0;
  absl::StatusOr<int> r = client->Retry<int>(
      [&](const AttemptInfo&) -> absl::StatusOr<int> {
        if (++calls == 1) return HttpError(429, "slow", absl::Seconds(2));
        return 1;
      },
      {}, &report);
  ASSERT_THAT(r, IsOk());
  ASSERT_EQ(report.delays.size(), 1u);
  EXPECT_GE(report.delays[0], absl::Seconds(2));

  CallOptions short_deadline;
  short_deadline.deadline = absl::Milliseconds(300);
  r = client->Retry<int>(
      [](const AttemptInfo&) -> absl::StatusOr<int> {
        return HttpError(503, "busy", absl::Seconds(1));
      },
      short_deadline);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("DEADLINE_TOO_SHORT")));
}

TEST(RetryTest, NonPositiveDeadlineFailsWithoutCalling) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  CallOptions options;
  options.deadline = absl::ZeroDuration();
  bool called = false;
  absl::StatusOr<int> r = client->Retry<int>(
      [&](const AttemptInfo&) -> absl::StatusOr<int> {
        called = true;
        return 1;
      },
      options);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kDeadlineExceeded));
  EXPECT_FALSE(called);
}

// ---- Call against an unreachable server ---------------------------------------

TEST(CallUnreachableTest, FailOpenUsesTheLocalLimiter) {
  FakeClock clock(Recording());
  ClientOptions client_options;
  client_options.clock = &clock;
  client_options.local_fallback = {3, absl::Seconds(60)};
  std::unique_ptr<Client> client = MakeClient(std::move(client_options));
  CallOptions options;
  options.wait_for_permit = false;
  int calls = 0;
  const auto fn = [&](const AttemptInfo&) -> absl::StatusOr<int> {
    return ++calls;
  };
  const absl::Time start = absl::Now();
  for (int i = 1; i <= 3; ++i) {
    CallReport report;
    absl::StatusOr<int> r = client->Call<int>("embed", "user:1", fn, options,
                                              &report);
    ASSERT_THAT(r, IsOk()) << i;
    EXPECT_EQ(*r, i);
    EXPECT_TRUE(report.used_local_limiter);
  }
  CallReport report;
  absl::StatusOr<int> r =
      client->Call<int>("embed", "user:1", fn, options, &report);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kResourceExhausted,
                          HasSubstr("rate limited (local limiter)")));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(report.attempts, 0);
  // Another key has its own bucket.
  EXPECT_THAT(client->Call<int>("embed", "user:2", fn, options), IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));  // Never hangs.

  // Waiting for a local permit that does not fit in the deadline.
  options.wait_for_permit = true;
  options.deadline = absl::Seconds(2);
  EXPECT_THAT(client->Call<int>("embed", "user:1", fn, options),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("exceeds the remaining deadline")));
}

TEST(CallUnreachableTest, FailOpenWaitsForALocalPermitWhenItFits) {
  // On simulated time the wait is exact: the one local permit refills in
  // 200 ms, and that is the one wait.
  FakeClock clock(Recording());
  ClientOptions client_options;
  client_options.clock = &clock;
  client_options.local_fallback = {1, absl::Milliseconds(200)};
  std::unique_ptr<Client> client = MakeClient(std::move(client_options));
  const auto fn = [](const AttemptInfo&) -> absl::StatusOr<int> { return 1; };
  ASSERT_THAT(client->Call<int>("op", "k", fn), IsOk());
  CallReport report;
  ASSERT_THAT(client->Call<int>("op", "k", fn, {}, &report), IsOk());
  EXPECT_TRUE(report.used_local_limiter);
  EXPECT_EQ(report.permit_wait, absl::Milliseconds(200));
  EXPECT_THAT(clock.waits(), ElementsAre(absl::Milliseconds(200)));
}

TEST(CallUnreachableTest, FailClosedReturnsUnavailableWithoutCalling) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  CallOptions options;
  options.fail_open = false;
  bool called = false;
  absl::StatusOr<int> r = client->Call<int>(
      "embed", "user:1",
      [&](const AttemptInfo&) -> absl::StatusOr<int> {
        called = true;
        return 1;
      },
      options);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("fail closed")));
  EXPECT_FALSE(called);
}

TEST(CallUnreachableTest, RetriesWithDependencyWhenHealthIsUnknown) {
  // Reports and health checks fail (unreachable): no evidence the
  // dependency is down, so retries go ahead.
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  CallOptions options;
  options.dependency = "ai_provider";
  options.retry_policy = "expensive";
  CallReport report;
  int calls = 0;
  absl::StatusOr<int> r = client->Call<int>(
      "ai_generate", "user:1",
      [&](const AttemptInfo&) -> absl::StatusOr<int> {
        if (++calls < 3) return HttpError(502, "bad gateway");
        return 7;
      },
      options, &report);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(report.attempts, 3);
  EXPECT_TRUE(report.used_local_limiter);
  // "expensive": base 1 s, x2, full jitter.
  ASSERT_EQ(report.delays.size(), 2u);
  EXPECT_LE(report.delays[0], absl::Seconds(1));
  EXPECT_LE(report.delays[1], absl::Seconds(2));
}

// ---- CallAsync ------------------------------------------------------------------

TEST(CallAsyncTest, RunsOffTheCallersThreadAndCallsDoneOnce) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  const std::thread::id caller = std::this_thread::get_id();
  std::promise<std::pair<absl::StatusOr<int>, std::thread::id>> done;
  std::atomic<bool> fn_on_caller{false};
  client->CallAsync<int>(
      "embed", "user:9",
      [&](const AttemptInfo& a) -> absl::StatusOr<int> {
        if (std::this_thread::get_id() == caller) fn_on_caller = true;
        if (a.attempt == 1) return HttpError(503, "busy");
        return 42;
      },
      CallOptions{},
      [&](absl::StatusOr<int> r) {
        done.set_value({std::move(r), std::this_thread::get_id()});
      });
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
  auto [result, thread] = future.get();
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result, 42);
  EXPECT_NE(thread, caller);
  EXPECT_FALSE(fn_on_caller);
}

TEST(CallAsyncTest, DestructorCancelsPendingCallsPromptly) {
  ClientOptions options;  // Built-in (interruptible) sleeper.
  options.executor_threads = 1;
  std::unique_ptr<Client> client = MakeClient(std::move(options));
  std::atomic<int> done_count{0};
  std::atomic<int> ok_count{0};
  CallOptions call;
  call.retry_policy = "conservative";  // 2 s base delay
  for (int i = 0; i < 5; ++i) {
    client->CallAsync<int>(
        "embed", "user:1",
        [](const AttemptInfo&) -> absl::StatusOr<int> {
          return HttpError(503, "busy");
        },
        call, [&](absl::StatusOr<int> r) {
          if (r.ok()) ++ok_count;
          ++done_count;
        });
  }
  absl::SleepFor(absl::Milliseconds(100));  // Let the first one start.
  const absl::Time start = absl::Now();
  client.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_EQ(done_count.load(), 5);
  EXPECT_EQ(ok_count.load(), 0);
}

// ---- Hardened decorators -----------------------------------------------------

class FlakyDatabase : public DatabaseConnection {
 public:
  explicit FlakyDatabase(int failures) : failures_(failures) {}
  absl::StatusOr<std::vector<std::vector<std::string>>> Execute(
      const std::string& query) override {
    ++calls;
    if (calls <= failures_) return absl::UnavailableError("connection reset");
    return std::vector<std::vector<std::string>>{{query}};
  }
  int calls = 0;

 private:
  const int failures_;
};

TEST(HardenedTest, DatabaseRetriesUnderTheQuickPolicy) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  FlakyDatabase db(/*failures=*/1);
  std::unique_ptr<HardenedDatabaseConnection> hardened =
      HardenDatabaseConnection(*client, db);
  absl::StatusOr<std::vector<std::vector<std::string>>> rows =
      hardened->Execute("SELECT 1");
  ASSERT_THAT(rows, IsOk());
  EXPECT_EQ((*rows)[0][0], "SELECT 1");
  EXPECT_EQ(hardened->last_report().attempts, 2);
  // "quick": 2 attempts, base 100 ms.
  ASSERT_EQ(clock.waits().size(), 1u);
  EXPECT_LE(clock.waits()[0], absl::Milliseconds(100));

  FlakyDatabase down(/*failures=*/100);
  std::unique_ptr<HardenedDatabaseConnection> hardened_down =
      HardenDatabaseConnection(*client, down);
  EXPECT_THAT(hardened_down->Execute("SELECT 1"),
              StatusIs(absl::StatusCode::kUnavailable,
                       HasSubstr("ATTEMPTS_EXHAUSTED")));
  EXPECT_EQ(down.calls, 2);

  int calls = 0;
  absl::StatusOr<int> n = WithDatabaseRetry<int>(
      *client, [&]() -> absl::StatusOr<int> {
        if (++calls == 1) return absl::UnavailableError("failover");
        return 3;
      });
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(*n, 3);
  EXPECT_EQ(calls, 2);
}

class FakeAi : public AiProvider, public EmbeddingProvider {
 public:
  std::string name() const override { return "fake"; }
  std::string model_name() const override { return "fake-embed"; }
  int dimension() const override { return 2; }
  absl::StatusOr<Completion> Complete(
      const std::vector<ChatMessage>& messages) override {
    if (++complete_calls == 1) return HttpError(429, "slow", absl::Seconds(1));
    return Completion{"hi " + messages.back().content, "fake-1"};
  }
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override {
    return std::vector<std::vector<float>>(texts.size(), {1.0f, 0.0f});
  }
  int complete_calls = 0;
};

TEST(HardenedTest, AiAndEmbeddingDecoratorsCallThrough) {
  FakeClock clock(Recording());
  std::unique_ptr<Client> client = MakeClient(clock);
  FakeAi fake;
  std::unique_ptr<HardenedAiProvider> ai =
      HardenAiProvider(*client, fake, "user:1");
  EXPECT_EQ(ai->name(), "fake");
  absl::StatusOr<Completion> c = ai->Complete({{"user", "there"}});
  ASSERT_THAT(c, IsOk());
  EXPECT_EQ(c->text, "hi there");
  const CallReport report = ai->last_report();
  EXPECT_EQ(report.attempts, 2);
  ASSERT_EQ(report.delays.size(), 1u);
  EXPECT_GE(report.delays[0], absl::Seconds(1));  // Retry-After floor.
  EXPECT_TRUE(report.used_local_limiter);         // Server unreachable.
  absl::StatusOr<std::vector<std::vector<float>>> v = ai->Embed({"a", "b"});
  ASSERT_THAT(v, IsOk());
  EXPECT_EQ(v->size(), 2u);

  std::unique_ptr<HardenedEmbeddingProvider> embed =
      HardenEmbeddingProvider(*client, fake, "user:1");
  EXPECT_EQ(embed->model_name(), "fake-embed");
  EXPECT_EQ(embed->dimension(), 2);
  ASSERT_THAT(embed->Embed({"x"}), IsOk());
  EXPECT_EQ(embed->last_report().attempts, 1);
}

}  // namespace
}  // namespace crossbridge
