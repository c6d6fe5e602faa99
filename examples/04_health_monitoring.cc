// Example 4: health monitoring.
//
// The server keeps one health entry per dependency (runtime.health_checks.
// providers), fed by its own probes and by outcomes callers report. This
// example
//   - prints the GetHealth table (a dependency is healthy when
//     report.status() == STATUS_SERVING);
//   - watches "ai_provider" over grpc.health.v1 Watch on a second thread;
//   - reports failures until the provider turns NOT_SERVING, shows that the
//     server then advises against retrying calls to it, and reports one
//     success to bring it back.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"
#include "common/mutex.h"
#include "common/retry.h"
#include "examples/fakes/example_support.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;

std::string StatusName(cb::v1::DependencyStatus s) {
  return std::string(
      absl::StripPrefix(cb::v1::DependencyStatus_Name(s), "STATUS_"));
}

void PrintTable(const cb::v1::HealthReport& report) {
  std::printf("overall: %s\n", StatusName(report.status()).c_str());
  std::printf("  %-20s %-12s %-9s %-8s %-6s %s\n", "dependency", "status",
              "failures", "latency", "check", "last error");
  for (const cb::v1::DependencyHealth& d : report.dependencies()) {
    std::printf("  %-20s %-12s %4u/%-4u %6llums %-6s %s\n", d.name().c_str(),
                StatusName(d.status()).c_str(), d.consecutive_failures(),
                d.failure_threshold(),
                static_cast<unsigned long long>(d.last_latency_ms()),
                d.check_type().c_str(), d.last_error().c_str());
  }
}

int main(int argc, char** argv) {
  ex::Example example("Example 4: health monitoring", argc, argv);
  cb::Client& client = example.client();
  const std::string provider = "ai_provider";

  example.Step("GetHealth: every dependency the server knows");
  absl::StatusOr<cb::v1::HealthReport> report = client.GetHealth();
  if (!example.Expect(report.ok(), "GetHealth answered"))
    return example.Finish();
  PrintTable(*report);
  std::printf("is_healthy: %s\n",
              report->status() == cb::v1::STATUS_SERVING ? "yes" : "no");

  example.Step("Watch " + provider +
               " on another thread (grpc.health.v1 Watch)");
  absl::Mutex mu;
  std::vector<std::string> seen;  // guarded by mu
  std::thread watcher([&] {
    bool went_down = false;
    absl::Status s = client.WatchHealth(
        provider, absl::Seconds(10), [&](cb::ServingStatus status) {
          cb::MutexLock lock(&mu);
          seen.emplace_back(cb::ServingStatusName(status));
          std::printf("  [watch] %s is %s\n", provider.c_str(),
                      seen.back().c_str());
          std::fflush(stdout);
          if (status == cb::ServingStatus::kNotServing) went_down = true;
          // Stop once it went down and came back.
          return !(went_down && status == cb::ServingStatus::kServing);
        });
    if (!s.ok()) std::printf("  [watch] ended: %s\n", s.ToString().c_str());
  });
  {  // Let the watch deliver its first status before anything changes.
    cb::MutexLock lock(&mu);
    lock.AwaitWithTimeout([&seen] { return !seen.empty(); }, absl::Seconds(5));
  }

  example.Step("Report failed calls until the provider is NOT_SERVING");
  bool down = false;
  for (int i = 1; i <= 10 && !down; ++i) {
    absl::StatusOr<cb::v1::DependencyHealth> d =
        client.ReportOutcome(provider, false, absl::Milliseconds(250), "503");
    if (!example.Expect(d.ok(), "ReportOutcome(failure) accepted")) break;
    std::printf("failure %d reported: %s, %u/%u consecutive failures\n", i,
                StatusName(d->status()).c_str(), d->consecutive_failures(),
                d->failure_threshold());
    down = d->status() == cb::v1::STATUS_NOT_SERVING;
  }
  example.Expect(down,
                 provider + " turned NOT_SERVING at its failure threshold");

  absl::StatusOr<cb::ServingStatus> check = client.CheckHealth(provider);
  example.Expect(check.ok() && *check == cb::ServingStatus::kNotServing,
                 "grpc.health.v1 Check(" + provider + ") says NOT_SERVING");
  cb::RetryRequest request;
  request.attempt = 1;
  request.failure.http_status = 503;
  absl::StatusOr<cb::RetryDecision> decision =
      client.DecideRetry("expensive", request, provider);
  if (decision.ok()) {
    std::printf("DecideRetry(expensive, HTTP 503, %s): retry=%s reason=%s\n",
                provider.c_str(), decision->retry ? "yes" : "no",
                std::string(cb::RetryReasonName(decision->reason)).c_str());
  }
  example.Expect(decision.ok() && !decision->retry &&
                     decision->reason == cb::RetryReason::kDependencyUnhealthy,
                 "the server advises not to retry an unhealthy dependency");
  report = client.GetHealth();
  example.Expect(report.ok() && report->status() != cb::v1::STATUS_SERVING,
                 "is_healthy() is false while a dependency is down");

  example.Step("One successful call brings it back");
  absl::StatusOr<cb::v1::DependencyHealth> up =
      client.ReportOutcome(provider, true, absl::Milliseconds(12));
  if (up.ok()) {
    std::printf("success reported: %s, %u consecutive failures\n",
                StatusName(up->status()).c_str(), up->consecutive_failures());
  }
  example.Expect(up.ok() && up->status() == cb::v1::STATUS_SERVING,
                 provider + " is SERVING again");
  watcher.join();
  {
    cb::MutexLock lock(&mu);
    std::printf("the watcher saw: %s\n", absl::StrJoin(seen, " -> ").c_str());
    example.Expect(seen.size() >= 2 && seen[seen.size() - 2] == "NOT_SERVING" &&
                       seen.back() == "SERVING",
                   "the watcher saw ... -> NOT_SERVING -> SERVING");
  }

  example.Step("GetHealth again");
  report = client.GetHealth();
  if (example.Expect(report.ok(), "GetHealth answered")) PrintTable(*report);
  return example.Finish();
}
