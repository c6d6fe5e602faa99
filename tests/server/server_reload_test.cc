// Reload under load, in process (so TSan sees every thread): 8 threads
// acquire over gRPC while the main thread reloads in a loop between two
// configs (capacity, providers, policies and log level change each time)
// and another thread scrapes /metrics. Every call must succeed on one of
// the two configs, whole: never a mix, never an error.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/config.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "server/server.h"
#include "tests/testing/http_get.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_listener.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::HttpGet;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::TcpListener;

Config Variant(int n, const std::string& provider_target) {
  const bool odd = n % 2 == 1;
  std::string yaml = absl::StrCat(
      "server: {listen_address: \"127.0.0.1:0\", metrics_listen_address: "
      "\"127.0.0.1:0\"}\n"
      "logging: {level: ", odd ? "warn" : "error", "}\n"
      "runtime:\n"
      "  rate_limiting:\n"
      "    defaults:\n"
      "      embed: {capacity: ", odd ? 2000000 : 1000000, ", window_seconds: 60}\n"
      "  retry:\n"
      "    default_policy: {max_attempts: ", odd ? 5 : 3, "}\n"
      "  health_checks:\n"
      "    interval: 0.05\n"
      "    timeout: 0.05\n"
      "    providers:\n"
      "      ", odd ? "odd" : "even", ": {check_type: tcp, target: \"",
      provider_target, "\"}\n");
  absl::StatusOr<Config> config =
      ParseConfig(yaml, "variant.yml", [](const std::string&) { return std::nullopt; });
  EXPECT_THAT(config, IsOk());
  return *config;
}

TEST(ServerReloadTest, ReloadsInALoopWhileEightThreadsAcquire) {
  TcpListener dependency;
  ASSERT_THAT(dependency.Open(), IsOk());
  auto config = std::make_shared<const Config>(Variant(0, dependency.address()));
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(config, RealClock::Get());
  ASSERT_THAT(server, IsOk());
  ASSERT_THAT((*server)->Start(), IsOk());
  const int metrics_port = (*server)->metrics_port();
  ASSERT_NE(metrics_port, 0);

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*server)->port()),
                                     grpc::InsecureChannelCredentials());
  constexpr int kCallsPerThread = 300;
  std::atomic<int> running{8}, calls{0}, failures{0}, other_limits{0}, scrapes{0};
  std::atomic<bool> probed_after{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto stub = v1::RateLimiter::NewStub(channel);
      for (int i = 0; i < kCallsPerThread; ++i) {
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
        v1::AcquirePermitRequest request;
        request.set_operation("embed");
        request.set_key(absl::StrCat("user:", t));
        v1::AcquirePermitResponse response;
        grpc::Status s = stub->AcquirePermit(&context, request, &response);
        calls.fetch_add(1);
        if (!s.ok()) {
          failures.fetch_add(1);
        } else if (response.limit() != 1000000 && response.limit() != 2000000) {
          other_limits.fetch_add(1);
        }
      }
      running.fetch_sub(1);
    });
  }
  // The dependency accepts (and drops) every probe's connection, so its
  // backlog never fills however long the test runs.
  std::thread acceptor([&] {
    while (running.load() > 0 || !probed_after.load()) {
      pollfd p{dependency.fd(), POLLIN, 0};
      if (poll(&p, 1, 20) == 1) {
        int fd = accept(dependency.fd(), nullptr, nullptr);
        if (fd >= 0) close(fd);
      }
    }
  });
  std::thread scraper([&] {
    while (running.load() > 0) {
      if (HttpGet(metrics_port, "/metrics").ok()) scrapes.fetch_add(1);
    }
  });

  // Reloads for as long as the callers run (bounded), ending on an even
  // variant.
  int reloads = 0;
  while ((running.load() > 0 || reloads % 2 == 1) && reloads < 5000) {
    ++reloads;
    absl::Status reloaded = (*server)->Reload(Variant(reloads, dependency.address()));
    EXPECT_THAT(reloaded, IsOk()) << reloads;
    if (!reloaded.ok()) break;  // the threads below still get joined
    absl::SleepFor(absl::Milliseconds(2));
  }
  for (std::thread& t : threads) t.join();
  scraper.join();

  EXPECT_EQ(calls.load(), 8 * kCallsPerThread);
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(other_limits.load(), 0);
  EXPECT_GT(reloads, 10);
  EXPECT_GT(scrapes.load(), 0);
  absl::StatusOr<std::string> text = HttpGet(metrics_port, "/metrics");
  EXPECT_THAT(text, IsOk());
  EXPECT_THAT(text.value_or(""), ::testing::HasSubstr(absl::StrCat(
                         "crossbridge_config_reloads_total{result=\"success\"} ",
                         reloads, "\n")));
  EXPECT_THAT(text.value_or(""), ::testing::HasSubstr(absl::StrCat(
                         "crossbridge_permit_requests_total{operation=\"embed\","
                         "result=\"allowed\"} ", 8 * kCallsPerThread, "\n")));
  // The last config (even) has only "even", probed within an interval.
  EXPECT_TRUE(::crossbridge::testing::WaitFor([&] {
    absl::StatusOr<std::string> t = HttpGet(metrics_port, "/metrics");
    return t.ok() && absl::StrContains(*t, "crossbridge_dependency_up{provider=\"even\"} 1");
  }));
  probed_after.store(true);
  acceptor.join();
  text = HttpGet(metrics_port, "/metrics");
  ASSERT_THAT(text, IsOk());
  EXPECT_THAT(*text, ::testing::Not(::testing::HasSubstr(
                         "crossbridge_dependency_up{provider=\"odd\"}")));
}

}  // namespace
}  // namespace crossbridge
