// Metrics: the lock-free histogram's arithmetic, the families and labels
// the contract names, and the per-rule counters a RateLimiter resolves (on
// a real MemoryStore), read back from the text exposition.
#include "server/metrics/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "server/metrics/latency_histogram.h"
#include "server/rate_limiter.h"
#include "server/store/memory_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::IsOk;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(LatencyHistogramTest, BucketsAreCumulativeAndBoundsInclusive) {
  LatencyHistogram h({absl::Milliseconds(1), absl::Milliseconds(10)});
  for (absl::Duration d : {absl::Microseconds(500), absl::Milliseconds(1),
                           absl::Milliseconds(5), absl::Milliseconds(20)}) {
    h.Observe(d);
  }
  prometheus::ClientMetric m = h.Collect();
  ASSERT_EQ(m.histogram.bucket.size(), 3u);
  EXPECT_EQ(m.histogram.bucket[0].upper_bound, 0.001);
  EXPECT_EQ(m.histogram.bucket[0].cumulative_count, 2u);  // 0.5 ms and 1 ms
  EXPECT_EQ(m.histogram.bucket[1].upper_bound, 0.01);
  EXPECT_EQ(m.histogram.bucket[1].cumulative_count, 3u);
  EXPECT_TRUE(std::isinf(m.histogram.bucket[2].upper_bound));
  EXPECT_EQ(m.histogram.bucket[2].cumulative_count, 4u);
  EXPECT_EQ(m.histogram.sample_count, 4u);
  EXPECT_DOUBLE_EQ(m.histogram.sample_sum, 0.0265);
}

TEST(LatencyHistogramTest, NegativeLatencyCountsAsZero) {
  LatencyHistogram h({absl::Milliseconds(1)});
  h.Observe(-absl::Seconds(1));
  prometheus::ClientMetric m = h.Collect();
  EXPECT_EQ(m.histogram.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(m.histogram.sample_sum, 0);
}

class MetricsTest : public ::testing::Test {
 protected:
  MetricsTest() : metrics_(clock_), store_(clock_, MemoryStorageConfig{}, 1000) {
    config_.operations["embed"] = {7, absl::Hours(1)};
    config_.default_rule = RateLimitRule{100, absl::Hours(1)};
  }

  std::unique_ptr<RateLimiter> Make() {
    auto limiter = RateLimiter::Create(config_, store_, nullptr, &metrics_);
    EXPECT_THAT(limiter, IsOk());
    return std::move(*limiter);
  }

  static void Acquire(RateLimiter& limiter, absl::string_view op,
                      absl::string_view key, std::optional<uint32_t> cost = {}) {
    limiter.Acquire("", op, key, cost, [](absl::StatusOr<GcraResult>) {});
  }

  FakeClock clock_;
  Metrics metrics_;
  MemoryStore store_;
  RateLimitingConfig config_;
};

TEST_F(MetricsTest, SevenAllowedThreeRefusedAreCountedExactly) {
  auto limiter = Make();
  for (int i = 0; i < 10; ++i) Acquire(*limiter, "embed", "user:1");
  const std::string text = metrics_.Text();
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"embed\",result=\"allowed\"} 7\n"));
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"embed\",result=\"refused\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"embed\",result=\"error\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("crossbridge_permits_granted_total{operation=\"embed\"} 7\n"));
  // Counted before any request: a first fallback is visible to rate().
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_store_fallbacks_total{operation=\"embed\",policy=\"local\"} 0\n"));
}

TEST_F(MetricsTest, GrantedSumsCostAndPeeksGrantNothing) {
  auto limiter = Make();
  Acquire(*limiter, "embed", "k", 3);
  Acquire(*limiter, "embed", "k", 0);  // a peek: allowed, nothing taken
  Acquire(*limiter, "embed", "k", 5);  // 4 left: refused
  const std::string text = metrics_.Text();
  EXPECT_THAT(text, HasSubstr("crossbridge_permits_granted_total{operation=\"embed\"} 3\n"));
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"embed\",result=\"allowed\"} 2\n"));
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"embed\",result=\"refused\"} 1\n"));
}

TEST_F(MetricsTest, DefaultRuleAndInvalidOperationsHaveFixedLabels) {
  auto limiter = Make();
  Acquire(*limiter, "unlisted-1", "k");
  Acquire(*limiter, "unlisted-2", "k");
  Acquire(*limiter, "bad op!", "k");
  Acquire(*limiter, "", "k");
  Acquire(*limiter, "embed", "");       // the rule's own error: a bad key
  Acquire(*limiter, "embed", "k", 8);   // the rule's own error: cost > capacity
  const std::string text = metrics_.Text();
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"_default\",result=\"allowed\"} 2\n"));
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"_invalid\",result=\"error\"} 2\n"));
  EXPECT_THAT(text, HasSubstr(
      "crossbridge_permit_requests_total{operation=\"embed\",result=\"error\"} 2\n"));
  // No request's own names reach a label, and "_invalid" has only errors.
  EXPECT_THAT(text, Not(HasSubstr("unlisted")));
  EXPECT_THAT(text, Not(HasSubstr("bad op")));
  EXPECT_THAT(text, Not(HasSubstr("operation=\"_invalid\",result=\"allowed\"")));
}

TEST_F(MetricsTest, WithoutDefaultRuleUnknownOperationsAreInvalid) {
  config_.default_rule.reset();
  auto limiter = Make();
  Acquire(*limiter, "unlisted", "k");
  EXPECT_THAT(metrics_.Text(), HasSubstr(
      "crossbridge_permit_requests_total{operation=\"_invalid\",result=\"error\"} 1\n"));
}

TEST_F(MetricsTest, ReloadsBuildInfoAndProcessFamilies) {
  metrics_.RecordReload(true, absl::FromUnixSeconds(1700000000));
  metrics_.RecordReload(false, absl::FromUnixSeconds(1700000100));
  const std::string text = metrics_.Text();
  EXPECT_THAT(text, HasSubstr("crossbridge_config_reloads_total{result=\"success\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("crossbridge_config_reloads_total{result=\"failure\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("crossbridge_config_last_reload_successful 0\n"));
  // The time of the last successful load, not of the failed attempt.
  EXPECT_THAT(text, HasSubstr("crossbridge_config_last_reload_timestamp_seconds 1700000000\n"));
  EXPECT_THAT(text, HasSubstr("crossbridge_build_info{version=\""));
  for (const char* family :
       {"process_cpu_seconds_total ", "process_resident_memory_bytes ",
        "process_open_fds ", "process_max_fds ", "process_start_time_seconds ",
        "process_virtual_memory_bytes "}) {
    EXPECT_THAT(text, HasSubstr(std::string("\n") + family)) << family;
  }
}

TEST_F(MetricsTest, GrpcCodesAreNamedAndUnusedCodesLeftOut) {
  GrpcMethodMetrics& m = metrics_.GrpcMethod("crossbridge.v1.RateLimiter/AcquirePermit");
  m.Record(0, absl::Microseconds(80));
  m.Record(3, absl::Microseconds(120));
  m.Record(99, absl::Microseconds(120));  // not a code: UNKNOWN
  const std::string text = metrics_.Text();
  EXPECT_THAT(text, HasSubstr("crossbridge_grpc_requests_total{code=\"OK\",method="
                              "\"crossbridge.v1.RateLimiter/AcquirePermit\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("crossbridge_grpc_requests_total{code=\"INVALID_ARGUMENT\","
                              "method=\"crossbridge.v1.RateLimiter/AcquirePermit\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("crossbridge_grpc_requests_total{code=\"UNKNOWN\","
                              "method=\"crossbridge.v1.RateLimiter/AcquirePermit\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("code=\"NOT_FOUND\"")));
  EXPECT_THAT(text, HasSubstr("crossbridge_grpc_request_duration_seconds_bucket{method="
                              "\"crossbridge.v1.RateLimiter/AcquirePermit\",le=\"0.0001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("crossbridge_grpc_request_duration_seconds_count{method="
                              "\"crossbridge.v1.RateLimiter/AcquirePermit\"} 3\n"));
}

TEST_F(MetricsTest, StateCollectorIsReadAtScrapeTimeAndCanBeCleared) {
  int calls = 0;
  metrics_.SetStateCollector([&calls] {
    ++calls;
    prometheus::MetricFamily f =
        MakeFamily("crossbridge_store_up", "help", prometheus::MetricType::Gauge);
    AddSample(f, {{"store", "redis"}}, 0);
    return std::vector<prometheus::MetricFamily>{f};
  });
  EXPECT_THAT(metrics_.Text(), HasSubstr("crossbridge_store_up{store=\"redis\"} 0\n"));
  EXPECT_EQ(calls, 1);
  metrics_.SetStateCollector(nullptr);
  EXPECT_THAT(metrics_.Text(), Not(HasSubstr("crossbridge_store_up")));
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace crossbridge
