// HealthRegistry with scripted probers, MemoryOutcomeStore on a FakeClock.
// The registry's threads wait on the FAKE clock, and each probe also needs
// a claim from the store, granted once per `interval` of fake time: every
// clock.Advance(kInterval) allows exactly one more probe, so the tests step
// through probes one by one and poll (with a deadline) for the result.
#include "server/health/health_registry.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/health/memory_outcome_store.h"
#include "server/health/probers.h"
#include "tests/testing/tcp_listener.h"
#include "tests/testing/wait.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TcpListener;
using ::crossbridge::testing::WaitFor;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

constexpr absl::Duration kInterval = absl::Milliseconds(20);

// Answers per provider target: scripted results first, then the default.
class ScriptedProbers final : public Probers, public Prober {
 public:
  const Prober& For(CheckType) const override { return *this; }

  absl::Status Probe(const HealthProviderConfig& provider,
                     absl::Duration timeout) const override {
    std::chrono::milliseconds hold{0};
    absl::Status result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++calls_[provider.target];
      hold = hold_;
      auto& script = scripts_[provider.target];
      if (!script.empty()) {
        result = script.front();
        script.pop_front();
      } else {
        auto it = defaults_.find(provider.target);
        result = it == defaults_.end() ? absl::OkStatus() : it->second;
      }
    }
    // Simulates a probe that takes its whole budget.
    if (hold.count() > 0) std::this_thread::sleep_for(hold);
    return result;
  }

  void SetDefault(const std::string& target, absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    defaults_[target] = std::move(status);
  }
  void Hold(std::chrono::milliseconds hold) {
    std::lock_guard<std::mutex> lock(mu_);
    hold_ = hold;
  }
  int Calls(const std::string& target) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = calls_.find(target);
    return it == calls_.end() ? 0 : it->second;
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<std::string, int> calls_;
  mutable std::map<std::string, std::deque<absl::Status>> scripts_;
  std::map<std::string, absl::Status> defaults_;
  std::chrono::milliseconds hold_{0};
};

// Every call fails, as a Redis store does while Redis is down.
class FailingOutcomeStore final : public OutcomeStore {
 public:
  void RecordOutcome(absl::string_view, bool, CountCallback done) override {
    done(absl::UnavailableError("redis down"));
  }
  void ClaimProbe(absl::string_view, absl::Duration, ClaimCallback done) override {
    done(absl::UnavailableError("redis down"));
  }
};

// Listener calls, recorded.
class Transitions {
 public:
  HealthRegistry::Listener listener() {
    return [this](const std::string& provider, std::optional<bool> serving) {
      std::lock_guard<std::mutex> lock(mu_);
      if (serving.has_value()) {
        seen_.emplace_back(provider, *serving);
      } else {
        removed_.push_back(provider);
      }
    };
  }
  std::vector<std::string> removed() const {
    std::lock_guard<std::mutex> lock(mu_);
    return removed_;
  }
  std::vector<std::pair<std::string, bool>> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  size_t size() const { return seen().size(); }

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, bool>> seen_;
  std::vector<std::string> removed_;  // nullopt calls, in order
};

HealthProviderConfig ProviderConfig(std::string target, bool enabled = true,
                                    CheckType type = CheckType::kTcp) {
  HealthProviderConfig p;
  p.enabled = enabled;
  p.check_type = type;
  p.target = std::move(target);
  p.interval = kInterval;
  p.timeout = absl::Milliseconds(500);
  p.failure_threshold = 3;
  return p;
}

HealthChecksConfig Config(std::map<std::string, HealthProviderConfig> providers,
                          bool enabled = true) {
  HealthChecksConfig c;
  c.enabled = enabled;
  c.interval = kInterval;
  c.timeout = absl::Milliseconds(500);
  c.failure_threshold = 3;
  c.providers = std::move(providers);
  return c;
}

class HealthRegistryTest : public ::testing::Test {
 protected:
  // The provider's snapshot (fails the test if unknown).
  DependencySnapshot Get(const HealthRegistry& registry, const std::string& name) {
    absl::StatusOr<DependencySnapshot> s = registry.Get(name);
    EXPECT_THAT(s, IsOk());
    return s.ok() ? *s : DependencySnapshot{};
  }
  bool WaitForFailures(const HealthRegistry& registry, const std::string& name, int n) {
    return WaitFor([&] { return Get(registry, name).consecutive_failures == n; });
  }
  // Report, waiting for `done`.
  absl::StatusOr<DependencySnapshot> ReportAndWait(HealthRegistry& registry,
                                                   const std::string& name, bool success,
                                                   const std::string& error = "") {
    std::mutex mu;
    std::optional<absl::StatusOr<DependencySnapshot>> result;
    registry.Report(name, success, absl::Milliseconds(7), error,
                    [&](absl::StatusOr<DependencySnapshot> s) {
                      std::lock_guard<std::mutex> lock(mu);
                      result = std::move(s);
                    });
    EXPECT_TRUE(WaitFor([&] {
      std::lock_guard<std::mutex> lock(mu);
      return result.has_value();
    }));
    std::lock_guard<std::mutex> lock(mu);
    return result.has_value() ? *result : absl::InternalError("no callback");
  }

  FakeClock clock_;
  MemoryOutcomeStore store_{clock_};
  ScriptedProbers probers_;
  Transitions transitions_;
};

TEST_F(HealthRegistryTest, NotServingAfterExactlyThresholdProbeFailures) {
  probers_.SetDefault("a", absl::UnavailableError("connect a: Connection refused"));
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}), clock_, probers_, store_);
  EXPECT_EQ(Get(registry, "a").state, DependencyState::kUnknown);
  registry.Start(transitions_.listener());

  ASSERT_TRUE(WaitForFailures(registry, "a", 1));
  DependencySnapshot s = Get(registry, "a");
  EXPECT_EQ(s.state, DependencyState::kUnknown);
  EXPECT_EQ(s.failure_threshold, 3);
  EXPECT_EQ(s.last_error, "connect a: Connection refused");
  EXPECT_EQ(s.last_check_time, clock_.Now());
  EXPECT_TRUE(registry.IsServing("a"));

  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitForFailures(registry, "a", 2));
  EXPECT_EQ(Get(registry, "a").state, DependencyState::kUnknown);
  EXPECT_TRUE(registry.IsServing("a"));
  EXPECT_EQ(transitions_.size(), 0u);

  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitForFailures(registry, "a", 3));
  EXPECT_EQ(Get(registry, "a").state, DependencyState::kNotServing);
  EXPECT_FALSE(registry.IsServing("a"));
  ASSERT_TRUE(WaitFor([&] { return transitions_.size() == 1; }));

  // Further failures do not notify again.
  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitForFailures(registry, "a", 4));
  EXPECT_EQ(Get(registry, "a").state, DependencyState::kNotServing);

  // One success: SERVING, count 0.
  probers_.SetDefault("a", absl::OkStatus());
  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitFor([&] { return registry.IsServing("a"); }));
  s = Get(registry, "a");
  EXPECT_EQ(s.state, DependencyState::kServing);
  EXPECT_EQ(s.consecutive_failures, 0);
  EXPECT_EQ(s.last_error, "");
  ASSERT_TRUE(WaitFor([&] { return transitions_.size() == 2; }));
  EXPECT_THAT(transitions_.seen(), ElementsAre(Pair("a", false), Pair("a", true)));
  // One probe per granted claim: 5 advances of the fake clock (incl. start).
  EXPECT_EQ(probers_.Calls("a"), 5);
}

TEST_F(HealthRegistryTest, ServingAfterOneSuccess) {
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}), clock_, probers_, store_);
  registry.Start(transitions_.listener());
  ASSERT_TRUE(WaitFor([&] { return Get(registry, "a").state == DependencyState::kServing; }));
  DependencySnapshot s = Get(registry, "a");
  EXPECT_EQ(s.consecutive_failures, 0);
  EXPECT_EQ(s.last_check_time, clock_.Now());
  // UNKNOWN -> SERVING is no serving change: no listener call.
  EXPECT_EQ(transitions_.size(), 0u);
}

TEST_F(HealthRegistryTest, ReportsCountTowardTheSameThreshold) {
  // Health checks disabled: nothing is probed, reports still count.
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}, /*enabled=*/false),
                          clock_, probers_, store_);
  registry.Start(transitions_.listener());

  auto r = ReportAndWait(registry, "a", false, "HTTP 503");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->consecutive_failures, 1);
  EXPECT_EQ(r->state, DependencyState::kUnknown);
  EXPECT_EQ(r->last_error, "HTTP 503");
  EXPECT_EQ(r->last_latency, absl::Milliseconds(7));
  r = ReportAndWait(registry, "a", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->consecutive_failures, 2);
  EXPECT_EQ(r->state, DependencyState::kUnknown);
  EXPECT_EQ(r->last_error, "reported failure");
  r = ReportAndWait(registry, "a", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->consecutive_failures, 3);
  EXPECT_EQ(r->state, DependencyState::kNotServing);
  EXPECT_FALSE(registry.IsServing("a"));
  r = ReportAndWait(registry, "a", true);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->consecutive_failures, 0);
  EXPECT_EQ(r->state, DependencyState::kServing);

  ASSERT_TRUE(WaitFor([&] { return transitions_.size() == 2; }));
  EXPECT_THAT(transitions_.seen(), ElementsAre(Pair("a", false), Pair("a", true)));
  EXPECT_EQ(probers_.Calls("a"), 0);
}

TEST_F(HealthRegistryTest, ProbesAndReportsShareTheCount) {
  probers_.SetDefault("a", absl::UnavailableError("down"));
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}), clock_, probers_, store_);
  registry.Start(transitions_.listener());
  ASSERT_TRUE(WaitForFailures(registry, "a", 1));  // the first probe
  auto r = ReportAndWait(registry, "a", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->consecutive_failures, 2);
  EXPECT_EQ(r->state, DependencyState::kUnknown);
  r = ReportAndWait(registry, "a", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->consecutive_failures, 3);
  EXPECT_EQ(r->state, DependencyState::kNotServing);
  ASSERT_TRUE(WaitFor([&] { return transitions_.size() == 1; }));
  EXPECT_THAT(transitions_.seen(), ElementsAre(Pair("a", false)));
}

TEST_F(HealthRegistryTest, DisabledProviderIsNeverProbed) {
  HealthRegistry registry(
      Config({{"a", ProviderConfig("a")}, {"b", ProviderConfig("b", /*enabled=*/false)}}),
      clock_, probers_, store_);
  registry.Start(transitions_.listener());
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return probers_.Calls("a") == i; }));
    clock_.Advance(kInterval);
  }
  EXPECT_EQ(probers_.Calls("b"), 0);

  std::vector<DependencySnapshot> all = registry.Snapshot();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "a");
  EXPECT_EQ(all[0].state, DependencyState::kServing);
  EXPECT_EQ(all[1].name, "b");
  EXPECT_EQ(all[1].state, DependencyState::kDisabled);
  EXPECT_EQ(all[1].target, "b");
  EXPECT_TRUE(registry.IsServing("b"));

  // A report on a disabled provider answers its snapshot and counts nothing.
  auto r = ReportAndWait(registry, "b", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->state, DependencyState::kDisabled);
  EXPECT_EQ(r->consecutive_failures, 0);
}

TEST_F(HealthRegistryTest, UnknownProvider) {
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}), clock_, probers_, store_);
  EXPECT_THAT(registry.Get("nope"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
  EXPECT_TRUE(registry.IsServing("nope"));
  EXPECT_THAT(ReportAndWait(registry, "nope", false),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_F(HealthRegistryTest, StoreFailureCountsLocally) {
  FailingOutcomeStore store;
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}, /*enabled=*/false),
                          clock_, probers_, store);
  registry.Start(transitions_.listener());
  for (int i = 1; i <= 2; ++i) {
    auto r = ReportAndWait(registry, "a", false);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->consecutive_failures, i);
    EXPECT_EQ(r->state, DependencyState::kUnknown);
  }
  auto r = ReportAndWait(registry, "a", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->state, DependencyState::kNotServing);
  r = ReportAndWait(registry, "a", true);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->state, DependencyState::kServing);
  EXPECT_EQ(r->consecutive_failures, 0);
}

TEST_F(HealthRegistryTest, StoreFailureStillProbes) {
  FailingOutcomeStore store;
  probers_.SetDefault("a", absl::UnavailableError("down"));
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}), clock_, probers_, store);
  registry.Start(transitions_.listener());
  // No claim can be granted; the registry probes every interval regardless.
  ASSERT_TRUE(WaitFor([&] {
    clock_.Advance(kInterval);
    return !registry.IsServing("a");
  }));
  EXPECT_GE(Get(registry, "a").consecutive_failures, 3);
  EXPECT_GE(probers_.Calls("a"), 3);
}

TEST_F(HealthRegistryTest, DestructorWaitsAtMostForTheRunningProbe) {
  probers_.Hold(std::chrono::milliseconds(300));  // a probe using its budget
  auto registry = std::make_unique<HealthRegistry>(
      Config({{"a", ProviderConfig("a")}}), clock_, probers_, store_);
  registry->Start(transitions_.listener());
  ASSERT_TRUE(WaitFor([&] { return probers_.Calls("a") == 1; }));
  auto start = std::chrono::steady_clock::now();
  registry.reset();
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::milliseconds(300 + 200));
}

TEST_F(HealthRegistryTest, TwoReplicasShareOneProbePerInterval) {
  HealthChecksConfig config = Config({{"a", ProviderConfig("a")}});
  HealthRegistry one(config, clock_, probers_, store_);
  HealthRegistry two(config, clock_, probers_, store_);
  one.Start(nullptr);
  two.Start(nullptr);
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return probers_.Calls("a") >= i; }));
    EXPECT_EQ(probers_.Calls("a"), i);
    clock_.Advance(kInterval);
  }
}

// The integration check: a real TCP listener probed by the real tcp
// prober. Closing it turns the provider NOT_SERVING after exactly
// failure_threshold failed probes; reopening it on the same port turns it
// SERVING again.
TEST_F(HealthRegistryTest, RealTcpListenerDownAndBack) {
  TcpListener listener;
  ASSERT_THAT(listener.Open(), IsOk());
  int port = listener.port();
  std::unique_ptr<Probers> probers = MakeProbers(ProcessEnv());
  HealthRegistry registry(Config({{"backend", ProviderConfig(listener.address())}}),
                          clock_, *probers, store_);
  registry.Start(transitions_.listener());
  ASSERT_TRUE(WaitFor([&] { return Get(registry, "backend").state == DependencyState::kServing; }));

  listener.Close();
  for (int failures = 1; failures <= 3; ++failures) {
    clock_.Advance(kInterval);
    ASSERT_TRUE(WaitForFailures(registry, "backend", failures)) << failures;
    DependencySnapshot s = Get(registry, "backend");
    EXPECT_THAT(s.last_error, HasSubstr("refused"));
    EXPECT_EQ(s.state, failures < 3 ? DependencyState::kServing
                                    : DependencyState::kNotServing)
        << failures;
  }
  ASSERT_TRUE(WaitFor([&] { return transitions_.size() == 1; }));

  ASSERT_THAT(listener.Open(port), IsOk());
  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitFor([&] { return registry.IsServing("backend"); }));
  DependencySnapshot s = Get(registry, "backend");
  EXPECT_EQ(s.state, DependencyState::kServing);
  EXPECT_EQ(s.consecutive_failures, 0);
  EXPECT_EQ(s.last_error, "");
  ASSERT_TRUE(WaitFor([&] { return transitions_.size() == 2; }));
  EXPECT_THAT(transitions_.seen(),
              ElementsAre(Pair("backend", false), Pair("backend", true)));
}

// ---- Reconfigure (hot reload) ------------------------------------------------

TEST_F(HealthRegistryTest, ReconfigureAddsProbesAndAnnouncesANewProvider) {
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}), clock_, probers_, store_);
  registry.Start(transitions_.listener());
  ASSERT_TRUE(WaitFor([&] { return probers_.Calls("a") == 1; }));

  registry.Reconfigure(
      Config({{"a", ProviderConfig("a")}, {"b", ProviderConfig("b")}}));
  // Announced at once (UNKNOWN counts as serving), probed at once.
  ASSERT_TRUE(WaitFor([&] { return transitions_.size() == 1; }));
  EXPECT_THAT(transitions_.seen(), ElementsAre(Pair("b", true)));
  ASSERT_TRUE(WaitFor([&] { return Get(registry, "b").state == DependencyState::kServing; }));
  EXPECT_EQ(probers_.Calls("b"), 1);
}

TEST_F(HealthRegistryTest, ReconfigureRemovesAProviderAndItsName) {
  HealthRegistry registry(
      Config({{"a", ProviderConfig("a")}, {"b", ProviderConfig("b")}}), clock_,
      probers_, store_);
  registry.Start(transitions_.listener());
  ASSERT_TRUE(WaitFor([&] { return probers_.Calls("a") == 1 && probers_.Calls("b") == 1; }));

  registry.Reconfigure(Config({{"a", ProviderConfig("a")}}));
  EXPECT_THAT(transitions_.removed(), ElementsAre("b"));
  EXPECT_THAT(registry.Get("b"), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(ReportAndWait(registry, "b", false),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("unknown provider")));
  EXPECT_EQ(registry.Snapshot().size(), 1u);
  // b's thread ends: no probe of b however long we wait.
  const int calls = probers_.Calls("b");
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(kInterval);
    ASSERT_TRUE(WaitFor([&, i] { return probers_.Calls("a") >= i + 2; }))
        << i << ": " << probers_.Calls("a");
  }
  EXPECT_EQ(probers_.Calls("b"), calls);
}

TEST_F(HealthRegistryTest, AChangedProviderKeepsItsCountAndProbesTheNewTarget) {
  probers_.SetDefault("old", absl::UnavailableError("refused"));
  HealthRegistry registry(Config({{"a", ProviderConfig("old")}}), clock_, probers_, store_);
  registry.Start(transitions_.listener());
  ASSERT_TRUE(WaitForFailures(registry, "a", 1));

  HealthProviderConfig next = ProviderConfig("new");
  next.failure_threshold = 5;
  next.retry_policy = "quick";
  registry.Reconfigure(Config({{"a", next}}));
  DependencySnapshot s = Get(registry, "a");
  EXPECT_EQ(s.consecutive_failures, 1);  // the count survives
  EXPECT_EQ(s.failure_threshold, 5);
  EXPECT_EQ(s.target, "new");
  EXPECT_EQ(s.retry_policy, "quick");
  EXPECT_TRUE(transitions_.removed().empty());
  // The new target is probed once the interval's probe claim (taken by the
  // old probe) runs out, and succeeds.
  clock_.Advance(kInterval);
  ASSERT_TRUE(WaitFor([&] { return probers_.Calls("new") == 1; }));
  ASSERT_TRUE(WaitFor([&] { return Get(registry, "a").state == DependencyState::kServing; }));
  EXPECT_EQ(Get(registry, "a").consecutive_failures, 0);
}

TEST_F(HealthRegistryTest, DisablingAndEnablingAProviderRemovesAndAnnouncesIt) {
  HealthRegistry registry(Config({{"a", ProviderConfig("a")}}), clock_, probers_, store_);
  registry.Start(transitions_.listener());
  ASSERT_TRUE(WaitFor([&] { return probers_.Calls("a") == 1; }));

  registry.Reconfigure(Config({{"a", ProviderConfig("a", /*enabled=*/false)}}));
  EXPECT_THAT(transitions_.removed(), ElementsAre("a"));
  EXPECT_EQ(Get(registry, "a").state, DependencyState::kDisabled);

  registry.Reconfigure(Config({{"a", ProviderConfig("a")}}));
  clock_.Advance(kInterval);  // the first probe's claim runs out
  ASSERT_TRUE(WaitFor([&] { return probers_.Calls("a") == 2; }));
  EXPECT_THAT(transitions_.seen(), ::testing::Contains(Pair("a", true)));
}

}  // namespace
}  // namespace crossbridge
