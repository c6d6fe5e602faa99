// End to end for the hardened-call SDK: Client::Call / Retry, the
// RetryAdvisor and HealthReporter wrappers, WatchHealth and the retry, report
// and health CLI commands, against the real crossbridge-server binary.
//
// The providers probe a TCP socket this test listens on, once (interval
// 3600 s), so after the first probe only the outcomes the test reports move
// their failure counts.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/hardened.h"
#include "client/hardened_call.h"
#include "common/mutex.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tcp_listener.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::CliBinary;
using ::crossbridge::testing::CommandResult;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::RunCommand;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TcpListener;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr char kConfigTemplate[] = R"(
server:
  drain_grace_seconds: 0
  shutdown_timeout_seconds: 1
runtime:
  rate_limiting:
    defaults:
      search: {capacity: 30, window_seconds: 60}
  health_checks:
    providers:
      flaky_api:
        check_type: tcp
        target: "127.0.0.1:$PORT"
        interval: 3600
        timeout: 2
        failure_threshold: 3
      database:
        check_type: tcp
        target: "127.0.0.1:$PORT"
        interval: 3600
        timeout: 2
        failure_threshold: 3
        retry_policy: quick
)";

class SdkE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(socket_.Open(), IsOk());
    const std::string config = absl::StrReplaceAll(
        kConfigTemplate, {{"$PORT", std::to_string(socket_.port())}});
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(config);
    ASSERT_THAT(server, IsOk());
    server_.emplace(std::move(*server));
    ClientOptions options;
    options.target = server_->address();
    options.default_deadline = absl::Seconds(5);
    options.clock = &clock_;
    options.rng_seed = 1234;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    ASSERT_THAT(client, IsOk());
    client_ = std::move(*client);
  }

  // The provider's entry in GetHealth, or nullopt.
  std::optional<v1::DependencyHealth> Dependency(const std::string& name) {
    absl::StatusOr<v1::HealthReport> report = client_->GetHealth();
    EXPECT_THAT(report, IsOk());
    if (!report.ok()) return std::nullopt;
    for (const v1::DependencyHealth& d : report->dependencies()) {
      if (d.name() == name) return d;
    }
    return std::nullopt;
  }

  // Polls GetHealth until `ready` holds for the provider (reports are fire
  // and forget, probes asynchronous). Returns the last entry seen.
  std::optional<v1::DependencyHealth> WaitForDependency(
      const std::string& name,
      const std::function<bool(const v1::DependencyHealth&)>& ready,
      absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    std::optional<v1::DependencyHealth> d;
    while (absl::Now() < end) {
      d = Dependency(name);
      if (d.has_value() && ready(*d)) return d;
      absl::SleepFor(absl::Milliseconds(20));
    }
    ADD_FAILURE() << "timed out waiting for " << name << ": "
                  << (d.has_value() ? d->DebugString() : "absent");
    return d;
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {CliBinary(), "--target", server_->address()});
    absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(20));
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : CommandResult{};
  }

  TcpListener socket_;
  FakeClock clock_{FakeClock::Options{.advance_on_wait = true}};
  std::optional<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

bool Probed(const v1::DependencyHealth& d) {
  return d.status() == v1::STATUS_SERVING;
}

TEST_F(SdkE2eTest, CallRetriesAFlakyProviderAndItsOutcomesReachGetHealth) {
  // Wait for the one probe, so it cannot reset the count mid-test.
  WaitForDependency("flaky_api", Probed);

  std::optional<v1::DependencyHealth> before_success;
  CallOptions options;
  options.retry_policy = "default";
  options.dependency = "flaky_api";
  CallReport report;
  absl::StatusOr<std::string> result = client_->Call<std::string>(
      "search", "tenant:e2e",
      [&](const AttemptInfo& a) -> absl::StatusOr<std::string> {
        if (a.attempt <= 2) return HttpError(503, "upstream busy");
        before_success = WaitForDependency(
            "flaky_api", [](const v1::DependencyHealth& d) {
              return d.consecutive_failures() == 2;
            });
        return std::string("answer");
      },
      options, &report);

  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(*result, "answer");
  EXPECT_EQ(report.attempts, 3);
  EXPECT_FALSE(report.used_local_limiter);
  ASSERT_EQ(report.failures.size(), 2u);
  // The "default" policy, full jitter: [0, 500ms] then [0, 1000ms].
  ASSERT_EQ(report.delays.size(), 2u);
  EXPECT_EQ(report.delays, clock_.waits());
  EXPECT_GE(report.delays[0], absl::ZeroDuration());
  EXPECT_LE(report.delays[0], absl::Milliseconds(500));
  EXPECT_GE(report.delays[1], absl::ZeroDuration());
  EXPECT_LE(report.delays[1], absl::Milliseconds(1000));

  // Two failures were visible before the success...
  ASSERT_TRUE(before_success.has_value());
  EXPECT_EQ(before_success->consecutive_failures(), 2u);
  EXPECT_THAT(before_success->last_error(), HasSubstr("503"));
  // ...and the success reset them.
  std::optional<v1::DependencyHealth> after = WaitForDependency(
      "flaky_api", [](const v1::DependencyHealth& d) {
        return d.consecutive_failures() == 0 && d.last_error().empty();
      });
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status(), v1::STATUS_SERVING);

  // The permits were taken from the server's bucket (3 of 30).
  absl::StatusOr<Permit> peek =
      client_->AcquirePermit("search", "tenant:e2e", {.cost = 0});
  ASSERT_THAT(peek, IsOk());
  EXPECT_EQ(peek->limit, 30u);
  EXPECT_EQ(peek->remaining, 27u);
}

TEST_F(SdkE2eTest, GetRetryPolicyMatchesTheConfig) {
  absl::StatusOr<RetryPolicyConfig> policy = client_->GetRetryPolicy("default");
  ASSERT_THAT(policy, IsOk());
  EXPECT_EQ(policy->max_attempts, 3);
  EXPECT_EQ(policy->base_delay, absl::Milliseconds(500));
  EXPECT_EQ(policy->max_delay, absl::Seconds(5));
  EXPECT_EQ(policy->exponential_base, 2.0);
  EXPECT_EQ(policy->jitter, JitterMode::kFull);
  EXPECT_THAT(policy->retryable_codes, ::testing::Contains(503));
  EXPECT_THAT(policy->retryable_grpc_codes,
              ::testing::Contains(absl::StatusCode::kUnavailable));

  absl::StatusOr<RetryPolicyConfig> quick = client_->GetRetryPolicy("quick");
  ASSERT_THAT(quick, IsOk());
  EXPECT_EQ(quick->max_attempts, 2);
  EXPECT_EQ(quick->base_delay, absl::Milliseconds(100));

  EXPECT_THAT(client_->GetRetryPolicy("no_such_policy"),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SdkE2eTest, DecideRetryRpcFollowsThePolicy) {
  RetryRequest request;
  request.attempt = 1;
  request.failure.http_status = 503;
  absl::StatusOr<RetryDecision> first = client_->DecideRetry("default", request);
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->retry);
  EXPECT_EQ(first->reason, RetryReason::kRetryable);
  EXPECT_LE(first->delay, absl::Milliseconds(500));
  EXPECT_EQ(first->attempts_remaining, 1);

  request.attempt = 3;
  absl::StatusOr<RetryDecision> last = client_->DecideRetry("default", request);
  ASSERT_THAT(last, IsOk());
  EXPECT_FALSE(last->retry);
  EXPECT_EQ(last->reason, RetryReason::kAttemptsExhausted);

  request.attempt = 1;
  request.failure = Failure{absl::StatusCode::kInvalidArgument, std::nullopt};
  absl::StatusOr<RetryDecision> bad = client_->DecideRetry("default", request);
  ASSERT_THAT(bad, IsOk());
  EXPECT_EQ(bad->reason, RetryReason::kNotRetryable);

  request.failure = Failure{std::nullopt, 503};
  request.retry_after = absl::Seconds(2);
  absl::StatusOr<RetryDecision> hinted =
      client_->DecideRetry("default", request);
  ASSERT_THAT(hinted, IsOk());
  EXPECT_GE(hinted->delay, absl::Seconds(2));

  EXPECT_THAT(client_->DecideRetry("no_such_policy", request),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(SdkE2eTest, ReportOutcomeCountsFailuresAndAnUnhealthyDependencyStopsRetries) {
  WaitForDependency("database", Probed);
  for (uint32_t i = 1; i <= 3; ++i) {
    absl::StatusOr<v1::DependencyHealth> d = client_->ReportOutcome(
        "database", false, absl::Milliseconds(12), "UNAVAILABLE");
    ASSERT_THAT(d, IsOk());
    EXPECT_EQ(d->name(), "database");
    EXPECT_EQ(d->consecutive_failures(), i);
    EXPECT_THAT(d->last_error(), HasSubstr("UNAVAILABLE"));
  }
  EXPECT_THAT(client_->ReportOutcome("no_such_provider", true,
                                     absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kNotFound));
  // Three failures = failure_threshold: NOT_SERVING, also for
  // grpc.health.v1.
  absl::StatusOr<ServingStatus> status = client_->CheckHealth("database");
  ASSERT_THAT(status, IsOk());
  EXPECT_EQ(*status, ServingStatus::kNotServing);

  int calls = 0;
  absl::StatusOr<int> r = WithDatabaseRetry<int>(
      *client_, [&]() -> absl::StatusOr<int> {
        ++calls;
        return absl::UnavailableError("connection refused");
      });
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(r, StatusIs(absl::StatusCode::kUnavailable,
                          HasSubstr("(after 1 attempt: DEPENDENCY_UNHEALTHY)")));

  // A success turns it SERVING again.
  absl::StatusOr<v1::DependencyHealth> ok =
      client_->ReportOutcome("database", true, absl::Milliseconds(3));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->consecutive_failures(), 0u);
  EXPECT_EQ(ok->status(), v1::STATUS_SERVING);
}

TEST_F(SdkE2eTest, WatchHealthStreamsUntilTheCallbackStops) {
  std::vector<ServingStatus> seen;
  const absl::Time start = absl::Now();
  absl::Status s = client_->WatchHealth("", absl::Seconds(10),
                                        [&](ServingStatus status) {
                                          seen.push_back(status);
                                          return false;
                                        });
  EXPECT_THAT(s, IsOk());
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], ServingStatus::kServing);

  // The duration ends the watch with OK (long enough for the first status
  // to arrive on a loaded machine, under TSan).
  seen.clear();
  s = client_->WatchHealth("", absl::Seconds(2),
                           [&](ServingStatus status) {
                             seen.push_back(status);
                             return true;
                           });
  EXPECT_THAT(s, IsOk());
  EXPECT_FALSE(seen.empty());
}

TEST_F(SdkE2eTest, CliRetryPrintsTheDecisionAndExitsByIt) {
  CommandResult r =
      Cli({"retry", "--policy", "default", "--attempt", "1", "--http-status",
           "503"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  int delay_ms = -1;
  ASSERT_EQ(std::sscanf(r.out.c_str(), "retry after %dms", &delay_ms), 1)
      << r.out;
  EXPECT_GE(delay_ms, 0);
  EXPECT_LE(delay_ms, 500);
  EXPECT_THAT(r.out, HasSubstr("(RETRYABLE, 1 attempts remaining)"));

  r = Cli({"retry", "--policy", "default", "--attempt", "3", "--http-status",
           "503"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "no retry: ATTEMPTS_EXHAUSTED\n");

  r = Cli({"--json", "retry", "--attempt", "1", "--code", "UNAVAILABLE"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The DecideRetryResponse in the proto3 JSON mapping (uint64 as a string).
  EXPECT_THAT(r.out, MatchesRegex("\\{\"retry\":true,\"delay_ms\":\"[0-9]+\","
                                  "\"reason\":\"RETRYABLE\","
                                  "\"attempts_remaining\":1\\}\n"));
  r = Cli({"retry", "--attempt", "3", "--http-status", "503", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(r.out, "{\"retry\":false,\"delay_ms\":\"0\",\"reason\":"
                   "\"ATTEMPTS_EXHAUSTED\",\"attempts_remaining\":0}\n");

  r = Cli({"retry", "--attempt", "1", "--code", "NOT_A_CODE"});
  EXPECT_EQ(r.exit_code, 2);
  r = Cli({"retry", "--policy", "nope", "--attempt", "1", "--code", "14"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
}

TEST_F(SdkE2eTest, CliReportThenHealthShowsTheFailureCount) {
  WaitForDependency("flaky_api", Probed);
  CommandResult r = Cli({"report", "--provider", "flaky_api", "--failure",
                         "--latency-ms", "12", "--code", "503"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("failures 1/3"));

  r = Cli({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SERVING\n"));
  // last_error is the server's text around the code (e.g. "reported 503").
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*flaky_api +SERVING +1/3 +12ms +"
                                  "[^\n]*503\n(.|\n)*"));
  EXPECT_THAT(r.out, MatchesRegex("(.|\n)*database +SERVING +0/3 (.|\n)*"));

  r = Cli({"--json", "health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // Two responses, one a line: the Check status, then the HealthReport.
  EXPECT_THAT(r.out, StartsWith("{\"status\":\"SERVING\"}\n{\"status\":\"STATUS_"));
  EXPECT_THAT(r.out, HasSubstr("{\"name\":\"flaky_api\",\"status\":\"STATUS_SERVING\","
                               "\"consecutive_failures\":1,\"last_latency_ms\":\""));
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 2) << r.out;

  r = Cli({"--json", "report", "--provider", "flaky_api", "--success"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The ReportOutcomeResponse: the dependency inside.
  EXPECT_THAT(r.out, StartsWith("{\"dependency\":{\"name\":\"flaky_api\","
                                "\"status\":\"STATUS_SERVING\","
                                "\"consecutive_failures\":0,"));
  EXPECT_THAT(r.out, HasSubstr(",\"last_latency_ms\":\"0\",\"last_error\":\"\","
                               "\"check_type\":\"tcp\",\"target\":\"127.0.0.1:"));
  // uint64 as a string, the Timestamp in RFC 3339.
  EXPECT_THAT(r.out, MatchesRegex(".*,\"failure_threshold\":3,\"last_check_time\":"
                                  "\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\"\\}\\}\n"));

  r = Cli({"report", "--provider", "nope", "--success"});
  EXPECT_EQ(r.exit_code, 3);
}

TEST_F(SdkE2eTest, CliHealthWatchPrintsStatusesForTheDuration) {
  const absl::Time start = absl::Now();
  CommandResult r = Cli({"health", "--watch", "--watch-seconds", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SERVING\n"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

}  // namespace
}  // namespace crossbridge
