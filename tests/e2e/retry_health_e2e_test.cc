// RetryAdvisor and HealthReporter end to end, on real crossbridge-server
// processes: a retry budget shared by two replicas through one real Redis,
// and a real TCP dependency going down and up, seen through
// grpc.health.v1 Check and Watch and through GetHealth.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "crossbridge/v1/retry_advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "common/mutex.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tcp_listener.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::TcpListener;
using ::crossbridge::testing::WaitFor;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

std::chrono::system_clock::time_point In(absl::Duration d) {
  return absl::ToChronoTime(absl::Now() + d);
}

// A replica and stubs for its three APIs.
struct Replica {
  explicit Replica(ServerProcess p)
      : process(std::move(p)),
        channel(grpc::CreateChannel(process.address(),
                                    grpc::InsecureChannelCredentials())),
        retry(v1::RetryAdvisor::NewStub(channel)),
        reporter(v1::HealthReporter::NewStub(channel)),
        health(grpc::health::v1::Health::NewStub(channel)) {}

  v1::DecideRetryResponse Decide(const std::string& policy, int attempt) {
    v1::DecideRetryRequest req;
    req.set_policy(policy);
    req.set_attempt(attempt);
    req.set_http_status(503);
    v1::DecideRetryResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(5)));
    grpc::Status s = retry->DecideRetry(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  void Report(const std::string& provider, bool success) {
    v1::ReportOutcomeRequest req;
    req.set_provider(provider);
    req.set_success(success);
    req.set_code(success ? "" : "503");
    v1::ReportOutcomeResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(5)));
    grpc::Status s = reporter->ReportOutcome(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
  }

  v1::DependencyHealth Dependency(const std::string& name) {
    v1::HealthReport report;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(5)));
    EXPECT_TRUE(reporter->GetHealth(&ctx, v1::GetHealthRequest(), &report).ok());
    for (const auto& d : report.dependencies()) {
      if (d.name() == name) return d;
    }
    ADD_FAILURE() << "no dependency " << name;
    return {};
  }

  HealthCheckResponse::ServingStatus Check(const std::string& service) {
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::ClientContext ctx;
    ctx.set_deadline(In(absl::Seconds(5)));
    grpc::Status s = health->Check(&ctx, req, &resp);
    return s.ok() ? resp.status() : HealthCheckResponse::SERVICE_UNKNOWN;
  }

  ServerProcess process;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::RetryAdvisor::Stub> retry;
  std::unique_ptr<v1::HealthReporter::Stub> reporter;
  std::unique_ptr<grpc::health::v1::Health::Stub> health;
};

TEST(RetryBudgetFleetTest, TwoReplicasDrainOneBudgetAndSuccessesRefillIt) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_THAT(redis, IsOk());
  // Budget of 10 tokens: retries stop once tokens <= 5, i.e. the 5th
  // withdrawal. A success deposits 1 token.
  const std::string config = absl::StrReplaceAll(R"(
server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}
logging: {level: warn}
storage:
  backend: redis
  redis: {url: "URL"}
runtime:
  retry:
    flaky_policy:
      max_attempts: 100
      base_delay: 0.01
      max_delay: 0.1
      budget: {max_tokens: 10, token_ratio: 1}
  health_checks:
    providers:
      flaky: {check_type: tcp, target: "127.0.0.1:1", interval: 3600, retry_policy: flaky}
)",
                                                 {{"URL", (*redis)->url()}});
  absl::StatusOr<ServerProcess> a = ServerProcess::Start(config);
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<ServerProcess> b = ServerProcess::Start(config);
  ASSERT_THAT(b, IsOk());
  Replica ra(std::move(*a)), rb(std::move(*b));

  for (int i = 1; i <= 4; ++i) {  // tokens 9, 8, 7, 6: all retry
    v1::DecideRetryResponse r = ra.Decide("flaky", i);
    EXPECT_TRUE(r.retry()) << i;
    EXPECT_EQ(r.reason(), v1::RETRYABLE);
  }
  // Replica B draws on the same budget: the 5th withdrawal leaves 5.
  v1::DecideRetryResponse r = rb.Decide("flaky", 1);
  EXPECT_FALSE(r.retry());
  EXPECT_EQ(r.reason(), v1::BUDGET_EXHAUSTED);
  EXPECT_EQ(ra.Decide("flaky", 1).reason(), v1::BUDGET_EXHAUSTED);
  EXPECT_EQ(*(*redis)->Command({"EXISTS", "cb:v2:budget:{flaky}"}), "1");

  // Successes (reported for the provider whose policy it is) refill it:
  // tokens 4 -> 7 after three deposits, so one retry is allowed again (6).
  for (int i = 0; i < 3; ++i) ra.Report("flaky", true);
  EXPECT_EQ(rb.Decide("flaky", 1).reason(), v1::RETRYABLE);
  EXPECT_EQ(rb.Decide("flaky", 1).reason(), v1::BUDGET_EXHAUSTED);
}

TEST(DependencyHealthE2eTest, TcpProviderGoesDownAfterThresholdAndComesBack) {
  TcpListener listener;
  ASSERT_THAT(listener.Open(), IsOk());
  const std::string config = absl::StrReplaceAll(R"(
server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}
logging: {level: warn}
runtime:
  health_checks:
    providers:
      database: {check_type: tcp, target: "127.0.0.1:PORT", interval: 0.2,
                 timeout: 0.1, failure_threshold: 3}
)",
                                                 {{"PORT", absl::StrCat(listener.port())}});
  absl::StatusOr<ServerProcess> p = ServerProcess::Start(config);
  ASSERT_THAT(p, IsOk());
  Replica r(std::move(*p));

  // Watch "database" from the start, recording every status the stream sends.
  struct Watcher {
    absl::Mutex mu;
    std::vector<HealthCheckResponse::ServingStatus> seen ABSL_GUARDED_BY(mu);
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> stream;
    std::thread thread;
    ~Watcher() {
      ctx.TryCancel();
      if (thread.joinable()) thread.join();
    }
    size_t size() {
      MutexLock lock(&mu);
      return seen.size();
    }
  } watcher;
  watcher.ctx.set_deadline(In(absl::Seconds(30)));
  HealthCheckRequest watch_req;
  watch_req.set_service("database");
  watcher.stream = r.health->Watch(&watcher.ctx, watch_req);
  watcher.thread = std::thread([&watcher] {
    HealthCheckResponse resp;
    while (watcher.stream->Read(&resp)) {
      MutexLock lock(&watcher.mu);
      watcher.seen.push_back(resp.status());
    }
  });

  auto wait_for = [](const std::function<bool()>& pred) {
    return WaitFor(pred, absl::Seconds(10), absl::Milliseconds(20));
  };

  ASSERT_TRUE(wait_for([&] {
    return r.Dependency("database").status() == v1::STATUS_SERVING;
  }));
  EXPECT_EQ(r.Check("database"), HealthCheckResponse::SERVING);

  listener.Close();
  // Failures climb 1, 2 while still SERVING; the 3rd turns it NOT_SERVING.
  std::vector<std::pair<uint32_t, v1::DependencyStatus>> seen;
  ASSERT_TRUE(wait_for([&] {
    v1::DependencyHealth d = r.Dependency("database");
    if (seen.empty() || seen.back().first != d.consecutive_failures()) {
      seen.emplace_back(d.consecutive_failures(), d.status());
    }
    return d.status() == v1::STATUS_NOT_SERVING;
  })) << r.process.Logs() << r.Dependency("database").DebugString();
  for (const auto& [failures, status] : seen) {
    EXPECT_EQ(status == v1::STATUS_NOT_SERVING, failures >= 3)
        << failures << " failures";
  }
  EXPECT_EQ(seen.back().first, 3u);
  v1::DependencyHealth down = r.Dependency("database");
  EXPECT_THAT(down.last_error(), ::testing::HasSubstr("refused"));
  EXPECT_EQ(r.Check("database"), HealthCheckResponse::NOT_SERVING);

  ASSERT_THAT(listener.Open(listener.port()), IsOk());
  ASSERT_TRUE(wait_for([&] {
    return r.Dependency("database").status() == v1::STATUS_SERVING;
  }));
  EXPECT_EQ(r.Dependency("database").consecutive_failures(), 0u);
  EXPECT_EQ(r.Check("database"), HealthCheckResponse::SERVING);

  ASSERT_TRUE(wait_for([&] { return watcher.size() >= 3; }));
  // The Watch stream saw SERVING, NOT_SERVING, SERVING (in that order).
  std::vector<HealthCheckResponse::ServingStatus> changes;
  {
    MutexLock lock(&watcher.mu);
    for (auto s : watcher.seen) {
      if (changes.empty() || changes.back() != s) changes.push_back(s);
    }
  }
  EXPECT_THAT(changes, ::testing::ElementsAre(HealthCheckResponse::SERVING,
                                              HealthCheckResponse::NOT_SERVING,
                                              HealthCheckResponse::SERVING));
}

TEST(DependencyHealthE2eTest, UnhealthyDependencyStopsRetries) {
  const std::string config = R"(
server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}
logging: {level: warn}
runtime:
  health_checks:
    providers:
      ai_provider: {check_type: tcp, target: "127.0.0.1:1", interval: 3600,
                    failure_threshold: 2, retry_policy: expensive}
)";
  absl::StatusOr<ServerProcess> p = ServerProcess::Start(config);
  ASSERT_THAT(p, IsOk());
  Replica r(std::move(*p));
  // The first probe (at start) failed once; one reported failure more
  // reaches the threshold of 2.
  r.Report("ai_provider", false);
  absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (r.Dependency("ai_provider").status() != v1::STATUS_NOT_SERVING &&
         absl::Now() < deadline) {
    r.Report("ai_provider", false);
  }
  ASSERT_EQ(r.Dependency("ai_provider").status(), v1::STATUS_NOT_SERVING);
  v1::DecideRetryRequest req;
  req.set_policy("expensive");
  req.set_attempt(1);
  req.set_grpc_code("UNAVAILABLE");
  req.set_dependency("ai_provider");
  v1::DecideRetryResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(In(absl::Seconds(5)));
  ASSERT_TRUE(r.retry->DecideRetry(&ctx, req, &resp).ok());
  EXPECT_FALSE(resp.retry());
  EXPECT_EQ(resp.reason(), v1::DEPENDENCY_UNHEALTHY);
}

}  // namespace
}  // namespace crossbridge
