// GET /metrics of the real crossbridge-server after a short mixed load:
// every family of the contract is present, promtool check metrics finds
// nothing, and the allowed/refused counts equal the responses exactly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "tests/testing/http_get.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tcp_listener.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::HttpGet;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RunCommand;
using ::crossbridge::testing::SampleValue;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::TcpListener;
using ::crossbridge::testing::WaitFor;
using ::testing::HasSubstr;

TEST(MetricsE2ETest, EveryFamilyAfterAMixedLoadAndExactCounts) {
  TcpListener dependency;
  ASSERT_THAT(dependency.Open(), IsOk());
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(absl::StrCat(
      "server: {drain_grace_seconds: 0}\n"
      "runtime:\n"
      "  rate_limiting:\n"
      "    defaults:\n"
      "      embed: {capacity: 7, window_seconds: 3600}\n"
      "  health_checks:\n"
      "    interval: 1\n"
      "    timeout: 0.5\n"
      "    providers:\n"
      "      db: {check_type: tcp, target: \"", dependency.address(), "\"}\n"));
  ASSERT_THAT(server, IsOk());
  // Unary: the exact counts below are AcquirePermit's (a stream is counted
  // once, when it ends).
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(
      {.target = server->address(),
       .default_deadline = absl::Seconds(5),
       .permit_transport = ClientOptions::PermitTransport::kUnary});
  ASSERT_THAT(client, IsOk());

  int allowed = 0, refused = 0;
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<Permit> p = (*client)->AcquirePermit("embed", "user:1");
    ASSERT_THAT(p, IsOk());
    (p->allowed ? allowed : refused)++;
  }
  EXPECT_EQ(allowed, 7);
  EXPECT_EQ(refused, 3);
  EXPECT_FALSE((*client)->AcquirePermit("embed", "").ok());  // an error
  RetryRequest retry;
  retry.attempt = 1;
  retry.failure.http_status = 503;
  EXPECT_THAT((*client)->DecideRetry("default", retry, "db"), IsOk());
  EXPECT_THAT((*client)->ReportOutcome("db", false, absl::Milliseconds(3), "503"), IsOk());
  EXPECT_THAT((*client)->ReportOutcome("db", true, absl::Milliseconds(3)), IsOk());
  EXPECT_THAT((*client)->GetHealth(), IsOk());

  std::string text;
  // The first probe of db has run (its dependency_up sample exists).
  ASSERT_TRUE(WaitFor([&] {
    absl::StatusOr<std::string> t = HttpGet(server->metrics_port(), "/metrics");
    if (t.ok()) text = *t;
    return t.ok() && absl::StrContains(text, "crossbridge_dependency_up{provider=\"db\"} 1");
  })) << text;
  for (const char* family : {
           "crossbridge_permit_requests_total", "crossbridge_permits_granted_total",
           "crossbridge_store_fallbacks_total", "crossbridge_store_up",
           "crossbridge_store_request_duration_seconds", "crossbridge_retry_decisions_total",
           "crossbridge_retry_budget_tokens", "crossbridge_dependency_up",
           "crossbridge_dependency_failures_total", "crossbridge_probe_duration_seconds",
           "crossbridge_grpc_requests_total", "crossbridge_grpc_request_duration_seconds",
           "crossbridge_config_reloads_total", "crossbridge_config_last_reload_successful",
           "crossbridge_config_last_reload_timestamp_seconds", "crossbridge_build_info",
           "process_resident_memory_bytes", "process_cpu_seconds_total",
           "process_open_fds", "process_start_time_seconds"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("# TYPE ", family, " "))) << family;
  }
  auto value = [&](const std::string& series) {
    absl::StatusOr<double> v = SampleValue(text, series);
    EXPECT_THAT(v, IsOk()) << series;
    return v.ok() ? *v : -1;
  };
  EXPECT_EQ(value("crossbridge_permit_requests_total{operation=\"embed\",result=\"allowed\"}"), 7);
  EXPECT_EQ(value("crossbridge_permit_requests_total{operation=\"embed\",result=\"refused\"}"), 3);
  EXPECT_EQ(value("crossbridge_permit_requests_total{operation=\"embed\",result=\"error\"}"), 1);
  EXPECT_EQ(value("crossbridge_retry_decisions_total{policy=\"default\",reason=\"retryable\"}"), 1);
  EXPECT_EQ(value("crossbridge_dependency_failures_total{provider=\"db\",source=\"report\"}"), 1);
  EXPECT_EQ(value("crossbridge_grpc_requests_total{code=\"INVALID_ARGUMENT\","
                  "method=\"crossbridge.v1.RateLimiter/AcquirePermit\"}"), 1);
  EXPECT_EQ(value("crossbridge_store_up{store=\"memory\"}"), 1);
  EXPECT_EQ(value("crossbridge_config_last_reload_successful"), 1);
  // The retry withdrew one token from the default budget (100).
  EXPECT_EQ(value("crossbridge_retry_budget_tokens{policy=\"default\"}"), 99.1);

  // promtool check metrics reads the exposition on stdin and prints
  // nothing when it has no complaint.
  const std::string path = absl::StrCat(::testing::TempDir(), "/metrics.txt");
  std::ofstream(path) << text;
  absl::StatusOr<testing::CommandResult> check = RunCommand(
      {"/bin/sh", "-c", absl::StrCat("promtool check metrics < ", path)}, absl::Seconds(30));
  ASSERT_THAT(check, IsOk());
  EXPECT_EQ(check->exit_code, 0) << check->out << check->err;
  EXPECT_EQ(check->out + check->err, "");
}

}  // namespace
}  // namespace crossbridge
