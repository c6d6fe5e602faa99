// Envoy rate limiting without gRPC: descriptor matching exactly as
// envoyproxy/ratelimit (key+value over key, nested, last entry's node), and
// the limiter's decisions on the memory store under a fake clock
// (all-or-nothing, shadow mode, hits_addend, overrides, statuses).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"
#include "server/envoy/descriptor_matcher.h"
#include "server/envoy/envoy_rate_limiter.h"
#include "server/envoy/memory_envoy_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_env.h"
#include "tests/testing/status_matchers.h"
#include "server/metrics/metrics.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeClock;
using ::crossbridge::testing::FakeEnv;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kConfig[] = R"(
envoy:
  domains:
    - domain: edge
      descriptors:
        - key: remote_address
          rate_limit: {unit: minute, requests_per_unit: 2}
        - key: remote_address
          value: 10.0.0.1
          rate_limit: {unit: minute, requests_per_unit: 5, name: vip}
        - key: tenant
          descriptors:
            - key: user
              rate_limit: {unit: hour, requests_per_unit: 3}
            - key: user
              value: admin
        - key: path
          value: /login
          shadow_mode: true
          rate_limit: {unit: minute, requests_per_unit: 1}
        - key: burst
          rate_limit:
            - {name: burst, window_seconds: 1, requests_per_unit: 2}
            - {name: sustained, unit: minute, requests_per_unit: 3}
)";

EnvoyConfig LoadEnvoy() {
  absl::StatusOr<Config> c = ParseConfig(kConfig, "t.yml", FakeEnv({}));
  EXPECT_THAT(c, IsOk());
  return c->envoy;
}

TEST(DescriptorMatcherTest, KeyValueBeatsKeyAndTheLastEntryDecides) {
  absl::StatusOr<std::unique_ptr<const DescriptorMatcher>> m =
      DescriptorMatcher::Create(LoadEnvoy());
  ASSERT_THAT(m, IsOk());
  const DescriptorMatcher& matcher = **m;
  auto match = [&](std::vector<EnvoyEntry> entries, absl::string_view domain = "edge") {
    return matcher.Match(domain, entries);
  };
  const auto* vip = match({{"remote_address", "10.0.0.1"}});
  ASSERT_NE(vip, nullptr);
  EXPECT_EQ(vip->limits.at(0).requests_per_unit, 5);
  const auto* any = match({{"remote_address", "10.0.0.2"}});
  ASSERT_NE(any, nullptr);
  EXPECT_EQ(any->limits.at(0).requests_per_unit, 2);
  // Nested: tenant has no limit itself; tenant+user reaches user's.
  const auto* tenant = match({{"tenant", "t1"}});
  ASSERT_NE(tenant, nullptr);
  EXPECT_TRUE(tenant->limits.empty());
  const auto* user = match({{"tenant", "t1"}, {"user", "bob"}});
  ASSERT_NE(user, nullptr);
  EXPECT_EQ(user->limits.at(0).requests_per_unit, 3);
  // user=admin is configured without a limit: it matches and limits nothing.
  const auto* admin = match({{"tenant", "t1"}, {"user", "admin"}});
  ASSERT_NE(admin, nullptr);
  EXPECT_TRUE(admin->limits.empty());
  // No node for an entry at some level: nothing.
  EXPECT_EQ(match({{"tenant", "t1"}, {"group", "g"}}), nullptr);
  EXPECT_EQ(match({{"remote_address", "1"}, {"user", "bob"}}), nullptr);
  EXPECT_EQ(match({{"path", "/other"}}), nullptr);
  EXPECT_EQ(match({{"remote_address", "10.0.0.1"}}, "nope"), nullptr);
  EXPECT_TRUE(match({{"path", "/login"}})->shadow_mode);
  EXPECT_EQ(match({{"burst", "x"}})->limits.size(), 2u);
}

class EnvoyRateLimiterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EnvoyRateLimiter>> l =
        EnvoyRateLimiter::Create(LoadEnvoy(), store_, nullptr, nullptr);
    ASSERT_THAT(l, IsOk());
    limiter_ = std::move(*l);
  }

  absl::StatusOr<EnvoyResponse> Call(const EnvoyRequest& request) {
    absl::StatusOr<EnvoyResponse> out = absl::UnknownError("no answer");
    limiter_->ShouldRateLimit(request, [&](absl::StatusOr<EnvoyResponse> r) { out = r; });
    return out;
  }
  static EnvoyDescriptorRequest D(std::vector<std::pair<std::string, std::string>> entries) {
    EnvoyDescriptorRequest d;
    d.entries = std::move(entries);
    return d;
  }
  EnvoyCode Overall(std::vector<EnvoyDescriptorRequest> ds, uint32_t hits = 0) {
    absl::StatusOr<EnvoyResponse> r = Call({"edge", std::move(ds), hits});
    EXPECT_THAT(r, IsOk());
    return r.ok() ? r->overall_code : EnvoyCode::kOk;
  }

  FakeClock clock_;
  MemoryEnvoyStore store_{clock_, 1000};
  std::unique_ptr<EnvoyRateLimiter> limiter_;
};

TEST_F(EnvoyRateLimiterTest, StatusesCarryTheDecidingLimit) {
  absl::StatusOr<EnvoyResponse> r =
      Call({"edge", {D({{"remote_address", "10.0.0.1"}}), D({{"nothing", "x"}})}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->overall_code, EnvoyCode::kOk);
  ASSERT_EQ(r->statuses.size(), 2u);
  ASSERT_TRUE(r->statuses[0].current_limit.has_value());
  EXPECT_EQ(r->statuses[0].current_limit->requests_per_unit, 5);
  EXPECT_EQ(r->statuses[0].current_limit->unit, 2);
  EXPECT_EQ(r->statuses[0].current_limit->name, "vip");
  EXPECT_EQ(r->statuses[0].limit_remaining, 4);
  EXPECT_EQ(r->statuses[0].duration_until_reset_ms, 12000);  // one of 5 per minute
  EXPECT_FALSE(r->statuses[1].current_limit.has_value());
}

TEST_F(EnvoyRateLimiterTest, AllOrNothingAcrossDescriptors) {
  // a has 2 per minute, vip 5. Two requests of (a, vip) take from both; the
  // third is over on a and must not take from vip's bucket.
  auto a = D({{"remote_address", "a"}});
  auto vip = D({{"remote_address", "10.0.0.1"}});
  EXPECT_EQ(Overall({a, vip}), EnvoyCode::kOk);
  EXPECT_EQ(Overall({a, vip}), EnvoyCode::kOk);
  absl::StatusOr<EnvoyResponse> r = Call({"edge", {vip, a}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->overall_code, EnvoyCode::kOverLimit);
  EXPECT_EQ(r->statuses[0].code, EnvoyCode::kOk);
  EXPECT_EQ(r->statuses[1].code, EnvoyCode::kOverLimit);
  EXPECT_EQ(r->statuses[1].duration_until_reset_ms, 30000);  // one permit refills
  auto peek = vip;
  peek.hits_addend = 0;
  r = Call({"edge", {peek}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->statuses[0].limit_remaining, 3);  // 5 - 2: the refusal took none
}

TEST_F(EnvoyRateLimiterTest, SeveralLimitsOnOneNodeEachMustAdmit) {
  auto d = D({{"burst", "x"}});
  EXPECT_EQ(Overall({d}), EnvoyCode::kOk);
  EXPECT_EQ(Overall({d}), EnvoyCode::kOk);
  absl::StatusOr<EnvoyResponse> r = Call({"edge", {d}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->overall_code, EnvoyCode::kOverLimit);
  EXPECT_EQ(r->statuses[0].current_limit->name, "burst");
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(Overall({d}), EnvoyCode::kOk);  // burst refilled; sustained 3rd
  clock_.Advance(absl::Seconds(1));
  r = Call({"edge", {d}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->overall_code, EnvoyCode::kOverLimit);
  EXPECT_EQ(r->statuses[0].current_limit->name, "sustained");
}

TEST_F(EnvoyRateLimiterTest, ShadowModeNeverBlocks) {
  auto login = D({{"path", "/login"}});
  auto a = D({{"remote_address", "s"}});
  EXPECT_EQ(Overall({login, a}), EnvoyCode::kOk);
  absl::StatusOr<EnvoyResponse> r = Call({"edge", {login, a}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->overall_code, EnvoyCode::kOk);  // login would refuse: shadow
  EXPECT_EQ(r->statuses[0].code, EnvoyCode::kOk);
  EXPECT_EQ(Overall({a}), EnvoyCode::kOverLimit);  // a's 2 were both taken
}

TEST_F(EnvoyRateLimiterTest, HitsAddendAndPeek) {
  auto a = D({{"remote_address", "h"}});
  auto peek = a;
  peek.hits_addend = 0;
  absl::StatusOr<EnvoyResponse> r = Call({"edge", {peek}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->statuses[0].limit_remaining, 2);  // consumed nothing
  EXPECT_EQ(Overall({a}, /*hits=*/3), EnvoyCode::kOverLimit);  // above the capacity
  EXPECT_EQ(Overall({a}, /*hits=*/2), EnvoyCode::kOk);
  EXPECT_EQ(Overall({peek}), EnvoyCode::kOverLimit);  // empty: a peek says so
  auto one = a;
  one.hits_addend = 1;  // the descriptor's wins over the request's
  EXPECT_EQ(Overall({one}, /*hits=*/0), EnvoyCode::kOverLimit);
}

TEST_F(EnvoyRateLimiterTest, OverrideHasItsOwnBucket) {
  auto a = D({{"remote_address", "o"}});
  a.limit = EnvoyDescriptorRequest::Override{1, 1};  // 1 per second
  absl::StatusOr<EnvoyResponse> r = Call({"edge", {a}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->statuses[0].current_limit->requests_per_unit, 1);
  EXPECT_EQ(r->statuses[0].current_limit->unit, 1);
  EXPECT_EQ(Overall({a}), EnvoyCode::kOverLimit);
  // The configured 2/minute bucket of the same entries is untouched.
  auto plain = D({{"remote_address", "o"}});
  EXPECT_EQ(Overall({plain}), EnvoyCode::kOk);
  EXPECT_EQ(Overall({plain}), EnvoyCode::kOk);
  // An override for an unknown domain is not applied (envoyproxy/ratelimit).
  r = Call({"nope", {a}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->statuses[0].current_limit.has_value());
}

TEST_F(EnvoyRateLimiterTest, InvalidRequestsNameTheField) {
  EXPECT_THAT(Call({"", {D({{"k", "v"}})}, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("domain")));
  EXPECT_THAT(Call({"edge", {D({})}, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptors[0].entries")));
  EXPECT_THAT(Call({"edge", {D({{"k", "v"}}), D({{"", "v"}})}, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("descriptors[1].entries[0].key")));
  auto bad_unit = D({{"k", "v"}});
  bad_unit.limit = EnvoyDescriptorRequest::Override{1, 9};
  EXPECT_THAT(Call({"edge", {bad_unit}, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("descriptors[0].limit.unit")));
  auto big = D({{"k", "v"}});
  big.hits_addend = uint64_t{1} << 40;
  EXPECT_THAT(Call({"edge", {big}, 0}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("descriptors[0].hits_addend: too large")));
}

// A store that always fails, as Redis down does.
class FailingStore final : public EnvoyBucketStore {
 public:
  void AcquireAll(std::vector<Take> takes, Callback done) override {
    ++calls;
    done(absl::UnavailableError("redis: connection refused"));
  }
  int calls = 0;
};

absl::StatusOr<EnvoyResponse> CallOn(EnvoyRateLimiter& limiter, const EnvoyRequest& request) {
  absl::StatusOr<EnvoyResponse> out = absl::UnknownError("no answer");
  limiter.ShouldRateLimit(request, [&](absl::StatusOr<EnvoyResponse> r) { out = r; });
  return out;
}

EnvoyConfig WithPolicy(StoreFailurePolicy policy) {
  EnvoyConfig c = LoadEnvoy();
  c.on_store_failure = policy;
  return c;
}

TEST(EnvoyStoreFailureTest, AllowDenyAndLocal) {
  FakeClock clock;
  FailingStore failing;
  MemoryEnvoyStore local(clock, 1000);
  EnvoyDescriptorRequest d;
  d.entries = {{"remote_address", "f"}};
  const EnvoyRequest request{"edge", {d}, 0};

  auto allow = EnvoyRateLimiter::Create(WithPolicy(StoreFailurePolicy::kAllow), failing,
                                        &local, nullptr);
  ASSERT_THAT(allow, IsOk());
  for (int i = 0; i < 3; ++i) {  // 2 per minute, but the store is down: open
    absl::StatusOr<EnvoyResponse> r = CallOn(**allow, request);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->overall_code, EnvoyCode::kOk);
    EXPECT_EQ(r->statuses[0].current_limit->requests_per_unit, 2);
  }

  auto deny = EnvoyRateLimiter::Create(WithPolicy(StoreFailurePolicy::kDeny), failing,
                                       &local, nullptr);
  ASSERT_THAT(deny, IsOk());
  EXPECT_THAT(CallOn(**deny, request),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("envoy.on_store_failure is deny")));

  auto with_local = EnvoyRateLimiter::Create(WithPolicy(StoreFailurePolicy::kLocal), failing,
                                             &local, nullptr);
  ASSERT_THAT(with_local, IsOk());
  EXPECT_EQ(CallOn(**with_local, request)->overall_code, EnvoyCode::kOk);
  EXPECT_EQ(CallOn(**with_local, request)->overall_code, EnvoyCode::kOk);
  EXPECT_EQ(CallOn(**with_local, request)->overall_code, EnvoyCode::kOverLimit);
  EXPECT_EQ(local.size(), 1);

  // The memory backend: the failing store is the local one; nothing else.
  auto no_local = EnvoyRateLimiter::Create(WithPolicy(StoreFailurePolicy::kLocal), failing,
                                           nullptr, nullptr);
  ASSERT_THAT(no_local, IsOk());
  EXPECT_THAT(CallOn(**no_local, request),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("no other local store")));
  // A request that matches no limit never reaches the store.
  const int calls = failing.calls;
  EnvoyDescriptorRequest none;
  none.entries = {{"unknown", "x"}};
  EXPECT_EQ(CallOn(**deny, {"edge", {none}, 0})->overall_code, EnvoyCode::kOk);
  EXPECT_EQ(failing.calls, calls);
}

TEST(EnvoyMetricsTest, DecisionsByDomainKeyAndCodeWithoutValues) {
  FakeClock clock;
  Metrics metrics(clock);
  MemoryEnvoyStore store(clock, 1000);
  auto limiter = EnvoyRateLimiter::Create(LoadEnvoy(), store, nullptr, &metrics);
  ASSERT_THAT(limiter, IsOk());
  EnvoyDescriptorRequest a, login, unknown;
  a.entries = {{"remote_address", "secret-value-1"}};
  login.entries = {{"path", "/login"}};
  unknown.entries = {{"never_configured", "x"}};
  for (int i = 0; i < 3; ++i) ASSERT_THAT(CallOn(**limiter, {"edge", {a}, 0}), IsOk());
  for (int i = 0; i < 2; ++i) ASSERT_THAT(CallOn(**limiter, {"edge", {login}, 0}), IsOk());
  ASSERT_THAT(CallOn(**limiter, {"edge", {unknown}, 0}), IsOk());
  ASSERT_THAT(CallOn(**limiter, {"elsewhere", {a}, 0}), IsOk());
  const std::string text = metrics.Text();
  EXPECT_THAT(text, HasSubstr(R"(crossbridge_envoy_decisions_total{code="ok",domain="edge",key="remote_address"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(crossbridge_envoy_decisions_total{code="over_limit",domain="edge",key="remote_address"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(crossbridge_envoy_decisions_total{code="shadow_over_limit",domain="edge",key="path"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(crossbridge_envoy_decisions_total{code="ok",domain="edge",key="_other"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(crossbridge_envoy_decisions_total{code="ok",domain="_unknown",key="_other"} 1)"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("secret-value-1")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("never_configured")));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("elsewhere")));
}

TEST(EnvoyReloadTest, ANewTreeAppliesAndUnchangedLimitsKeepTheirBuckets) {
  FakeClock clock;
  MemoryEnvoyStore store(clock, 1000);
  auto limiter = EnvoyRateLimiter::Create(LoadEnvoy(), store, nullptr, nullptr);
  ASSERT_THAT(limiter, IsOk());
  EnvoyDescriptorRequest a, user;
  a.entries = {{"remote_address", "r"}};
  user.entries = {{"tenant", "t"}, {"user", "u"}};
  EXPECT_EQ(CallOn(**limiter, {"edge", {a}, 0})->overall_code, EnvoyCode::kOk);
  EXPECT_EQ(CallOn(**limiter, {"edge", {a}, 0})->overall_code, EnvoyCode::kOk);
  EnvoyConfig next = LoadEnvoy();
  next.domains[0].descriptors[2].descriptors.clear();  // tenant.user removed
  absl::StatusOr<std::shared_ptr<const EnvoyRateLimiter::Rules>> rules =
      (*limiter)->BuildRules(next);
  ASSERT_THAT(rules, IsOk());
  (*limiter)->Apply(*std::move(rules));
  EXPECT_EQ(CallOn(**limiter, {"edge", {a}, 0})->overall_code, EnvoyCode::kOverLimit);
  absl::StatusOr<EnvoyResponse> r = CallOn(**limiter, {"edge", {user}, 0});
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->statuses[0].current_limit.has_value());
}

// Concurrent requests on the memory store are exact and all or nothing:
// 8 threads send (vip, tenant+user) pairs; user (3 per hour) binds, and vip
// (5 per minute) loses a permit only to the 3 admitted requests.
TEST(EnvoyConcurrencyTest, ConcurrentRequestsAreExactOnTheMemoryStore) {
  FakeClock clock;
  MemoryEnvoyStore store(clock, 1000);
  auto limiter = EnvoyRateLimiter::Create(LoadEnvoy(), store, nullptr, nullptr);
  ASSERT_THAT(limiter, IsOk());
  EnvoyDescriptorRequest vip, user;
  vip.entries = {{"remote_address", "10.0.0.1"}};
  user.entries = {{"tenant", "t"}, {"user", "u"}};  // 3 per hour
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20; ++i) {
        absl::StatusOr<EnvoyResponse> r = CallOn(**limiter, {"edge", {vip, user}, 0});
        if (r.ok() && r->overall_code == EnvoyCode::kOk) ++admitted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 3);  // user binds first
  EnvoyDescriptorRequest peek = vip;
  peek.hits_addend = 0;
  EXPECT_EQ(CallOn(**limiter, {"edge", {peek}, 0})->statuses[0].limit_remaining, 2);
}

}  // namespace
}  // namespace crossbridge
