// Envoy's rate-limit service on the real crossbridge-server binary, through
// a client built from the trimmed rls.proto (what Envoy sends): matching,
// nesting, all-or-nothing, shadow mode, hits_addend, overrides, unknown
// domains and invalid requests, on the memory and the Redis backend; and
// exact counts from two replicas sharing one real redis-server.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <set>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "envoy/service/ratelimit/v3/rls.grpc.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/testing/http_get.h"
#include "tests/testing/redis_cluster.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

namespace rls = ::envoy::service::ratelimit::v3;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisCluster;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::ServerProcess;
using Code = rls::RateLimitResponse;

constexpr char kEnvoySection[] = R"(
envoy:
  domains:
    - domain: edge
      descriptors:
        - key: remote_address
          rate_limit: {unit: minute, requests_per_unit: 2}
        - key: remote_address
          value: 10.0.0.1
          rate_limit: {unit: minute, requests_per_unit: 5}
        - key: tenant
          descriptors:
            - key: user
              rate_limit: {unit: hour, requests_per_unit: 3}
        - key: path
          value: /login
          shadow_mode: true
          rate_limit: {unit: minute, requests_per_unit: 1}
        - key: hot
          rate_limit: {unit: hour, requests_per_unit: 100}
)";

std::string ConfigFor(const RedisServer* redis) {
  std::string storage = "storage: {backend: memory}\n";
  if (redis != nullptr) {
    storage = absl::StrCat("storage:\n  backend: redis\n  redis: {url: \"", redis->url(),
                           "\", timeout_seconds: 2}\n");
  }
  return absl::StrCat("server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}\n",
                      "logging: {level: warn}\n", storage, kEnvoySection);
}

using Entries = std::vector<std::pair<std::string, std::string>>;

rls::RateLimitRequest Request(std::vector<Entries> descriptors, uint32_t hits = 0,
                              const std::string& domain = "edge") {
  rls::RateLimitRequest r;
  r.set_domain(domain);
  r.set_hits_addend(hits);
  for (const Entries& d : descriptors) {
    auto* desc = r.add_descriptors();
    for (const auto& [k, v] : d) {
      auto* e = desc->add_entries();
      e->set_key(k);
      e->set_value(v);
    }
  }
  return r;
}

class Rls {
 public:
  explicit Rls(const std::string& address)
      : stub_(rls::RateLimitService::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()))) {}

  grpc::Status Call(const rls::RateLimitRequest& request, rls::RateLimitResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->ShouldRateLimit(&context, request, response);
  }
  rls::RateLimitResponse Ok(const rls::RateLimitRequest& request) {
    rls::RateLimitResponse response;
    grpc::Status s = Call(request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response;
  }
  Code::Code Overall(const rls::RateLimitRequest& request) { return Ok(request).overall_code(); }

 private:
  std::unique_ptr<rls::RateLimitService::Stub> stub_;
};

class EnvoyRlsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    if (GetParam()) {
      absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
      ASSERT_THAT(redis, IsOk());
      redis_ = std::move(*redis);
    }
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(ConfigFor(redis_.get()));
    ASSERT_THAT(server, IsOk());
    server_ = std::make_unique<ServerProcess>(std::move(*server));
    rls_ = std::make_unique<Rls>(server_->address());
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<Rls> rls_;
};

TEST_P(EnvoyRlsTest, KeyValueBeatsKeyAndNestedDescriptorsMatch) {
  rls::RateLimitResponse vip = rls_->Ok(Request({{{"remote_address", "10.0.0.1"}}}));
  EXPECT_EQ(vip.overall_code(), Code::OK);
  ASSERT_EQ(vip.statuses_size(), 1);
  EXPECT_EQ(vip.statuses(0).current_limit().requests_per_unit(), 5u);
  EXPECT_EQ(vip.statuses(0).current_limit().unit(), Code::RateLimit::MINUTE);
  EXPECT_EQ(vip.statuses(0).limit_remaining(), 4u);
  rls::RateLimitResponse other = rls_->Ok(Request({{{"remote_address", "10.9.9.9"}}}));
  EXPECT_EQ(other.statuses(0).current_limit().requests_per_unit(), 2u);
  rls::RateLimitResponse user = rls_->Ok(Request({{{"tenant", "t"}, {"user", "u"}}}));
  EXPECT_EQ(user.statuses(0).current_limit().requests_per_unit(), 3u);
  EXPECT_EQ(user.statuses(0).current_limit().unit(), Code::RateLimit::HOUR);
  // tenant alone reaches a node with no limit: OK, no limit.
  rls::RateLimitResponse tenant = rls_->Ok(Request({{{"tenant", "t"}}}));
  EXPECT_EQ(tenant.overall_code(), Code::OK);
  EXPECT_FALSE(tenant.statuses(0).has_current_limit());
}

TEST_P(EnvoyRlsTest, OneDescriptorOverLimitTakesNothingFromTheOthers) {
  const Entries a = {{"remote_address", "a"}};
  const Entries vip = {{"remote_address", "10.0.0.1"}};
  EXPECT_EQ(rls_->Overall(Request({a, vip})), Code::OK);
  EXPECT_EQ(rls_->Overall(Request({a, vip})), Code::OK);
  rls::RateLimitResponse r = rls_->Ok(Request({vip, a}));
  EXPECT_EQ(r.overall_code(), Code::OVER_LIMIT);
  ASSERT_EQ(r.statuses_size(), 2);
  EXPECT_EQ(r.statuses(0).code(), Code::OK);
  EXPECT_EQ(r.statuses(1).code(), Code::OVER_LIMIT);
  EXPECT_GT(r.statuses(1).duration_until_reset().seconds(), 0);
  // vip: 5 - 2 remain (the refused request took none); a peek says so.
  rls::RateLimitRequest peek = Request({vip});
  peek.mutable_descriptors(0)->mutable_hits_addend()->set_value(0);
  EXPECT_EQ(rls_->Ok(peek).statuses(0).limit_remaining(), 3u);
  EXPECT_EQ(rls_->Ok(peek).statuses(0).limit_remaining(), 3u);
}

TEST_P(EnvoyRlsTest, ShadowModeAnswersOk) {
  const Entries login = {{"path", "/login"}};
  for (int i = 0; i < 4; ++i) {
    rls::RateLimitResponse r = rls_->Ok(Request({login}));
    EXPECT_EQ(r.overall_code(), Code::OK) << i;
    EXPECT_EQ(r.statuses(0).code(), Code::OK) << i;
  }
}

TEST_P(EnvoyRlsTest, HitsAddendOverrideAndUnknownDomain) {
  const Entries h = {{"remote_address", "h"}};
  EXPECT_EQ(rls_->Overall(Request({h}, /*hits=*/3)), Code::OVER_LIMIT);  // > 2
  EXPECT_EQ(rls_->Overall(Request({h}, /*hits=*/2)), Code::OK);
  EXPECT_EQ(rls_->Overall(Request({h})), Code::OVER_LIMIT);
  // An override: its own bucket of 1 per second on the same entries.
  rls::RateLimitRequest o = Request({{{"remote_address", "h"}}});
  o.mutable_descriptors(0)->mutable_limit()->set_requests_per_unit(1);
  o.mutable_descriptors(0)->mutable_limit()->set_unit(envoy::type::v3::SECOND);
  rls::RateLimitResponse r = rls_->Ok(o);
  EXPECT_EQ(r.overall_code(), Code::OK);
  EXPECT_EQ(r.statuses(0).current_limit().requests_per_unit(), 1u);
  EXPECT_EQ(r.statuses(0).current_limit().unit(), Code::RateLimit::SECOND);
  EXPECT_EQ(rls_->Overall(o), Code::OVER_LIMIT);
  // Unknown domain, unknown descriptor: OK, no limit.
  r = rls_->Ok(Request({h}, 0, "nobody"));
  EXPECT_EQ(r.overall_code(), Code::OK);
  EXPECT_FALSE(r.statuses(0).has_current_limit());
  EXPECT_EQ(rls_->Overall(Request({{{"unknown", "x"}}})), Code::OK);
}

TEST_P(EnvoyRlsTest, InvalidRequestsAreInvalidArgumentNamingTheField) {
  rls::RateLimitResponse response;
  grpc::Status s = rls_->Call(Request({{{"k", "v"}}}, 0, ""), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("domain"));
  s = rls_->Call(Request({{}}), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("descriptors[0].entries"));
  rls::RateLimitRequest bad = Request({{{"k", "v"}}});
  bad.mutable_descriptors(0)->mutable_limit()->set_requests_per_unit(1);
  bad.mutable_descriptors(0)->mutable_limit()->set_unit(static_cast<envoy::type::v3::RateLimitUnit>(9));
  s = rls_->Call(bad, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("descriptors[0].limit.unit"));
}

// What grpcurl needs: the service listed and its types described by
// reflection, and the README's JSON request accepted as is.
TEST_P(EnvoyRlsTest, ReflectionAndTheReadmesJsonRequest) {
  auto channel = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = stub->ServerReflectionInfo(&ctx);
    req.set_list_services("");
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&resp));
    stream->WritesDone();
  }
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) names.insert(s.name());
  EXPECT_TRUE(names.count("envoy.service.ratelimit.v3.RateLimitService"));
  EXPECT_TRUE(names.count("crossbridge.v1.RateLimiter"));
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    auto stream = stub->ServerReflectionInfo(&ctx);
    req.set_file_containing_symbol("envoy.service.ratelimit.v3.RateLimitRequest");
    ASSERT_TRUE(stream->Write(req));
    ASSERT_TRUE(stream->Read(&resp));
    stream->WritesDone();
  }
  EXPECT_GT(resp.file_descriptor_response().file_descriptor_proto_size(), 0);

  rls::RateLimitRequest request;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"domain":"edge","descriptors":[{"entries":[{"key":"remote_address","value":"10.0.0.1"}]}]})",
                  &request)
                  .ok());
  rls::RateLimitResponse response = rls_->Ok(request);
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(response, &json).ok());
  EXPECT_EQ(json,
            R"({"overallCode":"OK","statuses":[{"code":"OK","currentLimit":)"
            R"({"requestsPerUnit":5,"unit":"MINUTE"},"limitRemaining":4,)"
            R"("durationUntilReset":"12s"}]})");
}

TEST_P(EnvoyRlsTest, MetricsCountDecisionsAndCalls) {
  const Entries a = {{"remote_address", "m-secret"}};
  for (int i = 0; i < 3; ++i) rls_->Ok(Request({a}));
  rls_->Ok(Request({{{"path", "/login"}}}));
  rls_->Ok(Request({{{"path", "/login"}}}));
  rls::RateLimitResponse ignored;
  rls_->Call(Request({{{"k", "v"}}}, 0, ""), &ignored);
  absl::StatusOr<std::string> text = ::crossbridge::testing::HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_THAT(text, IsOk());
  auto value = [&](const std::string& series) {
    absl::StatusOr<double> v = ::crossbridge::testing::SampleValue(*text, series);
    EXPECT_THAT(v, IsOk()) << series;
    return v.ok() ? *v : -1;
  };
  EXPECT_EQ(value(R"(crossbridge_envoy_decisions_total{code="ok",domain="edge",key="remote_address"})"), 2);
  EXPECT_EQ(value(R"(crossbridge_envoy_decisions_total{code="over_limit",domain="edge",key="remote_address"})"), 1);
  EXPECT_EQ(value(R"(crossbridge_envoy_decisions_total{code="shadow_over_limit",domain="edge",key="path"})"), 1);
  EXPECT_EQ(value(R"(crossbridge_grpc_requests_total{code="OK",method="envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"})"), 5);
  EXPECT_EQ(value(R"(crossbridge_grpc_requests_total{code="INVALID_ARGUMENT",method="envoy.service.ratelimit.v3.RateLimitService/ShouldRateLimit"})"), 1);
  EXPECT_THAT(*text, ::testing::Not(::testing::HasSubstr("m-secret")));
}

// envoy is reloadable: a new tree applies on SIGHUP without a restart.
TEST_P(EnvoyRlsTest, AReloadAppliesANewTree) {
  const rls::RateLimitRequest user = Request({{{"tenant", "t"}, {"user", "reload"}}});
  EXPECT_EQ(rls_->Ok(user).statuses(0).current_limit().requests_per_unit(), 3u);
  std::string next = ConfigFor(redis_.get());
  const std::string from = "rate_limit: {unit: hour, requests_per_unit: 3}";
  ASSERT_NE(next.find(from), std::string::npos);
  next.replace(next.find(from), from.size(), "rate_limit: {unit: hour, requests_per_unit: 7}");
  std::ofstream(server_->config_path(), std::ios::trunc) << next;
  server_->Signal(SIGHUP);
  EXPECT_TRUE(::crossbridge::testing::WaitFor([&] {
    return rls_->Ok(user).statuses(0).current_limit().requests_per_unit() == 7u;
  }));
}

INSTANTIATE_TEST_SUITE_P(Backends, EnvoyRlsTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Redis" : "Memory"; });

// Two replicas, one Redis, 16 threads racing for hot:shared (100 per hour):
// exactly 100 are admitted.
TEST(EnvoyRlsFleetTest, TwoReplicasAdmitExactlyTheBoundUnderConcurrency) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_THAT(redis, IsOk());
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::unique_ptr<Rls>> clients;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ServerProcess> s = ServerProcess::Start(ConfigFor(redis->get()));
    ASSERT_THAT(s, IsOk());
    servers.push_back(std::make_unique<ServerProcess>(std::move(*s)));
    clients.push_back(std::make_unique<Rls>(servers.back()->address()));
  }
  std::atomic<int> admitted{0}, refused{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 16; ++t) {
    threads.emplace_back([&, t] {
      Rls& rls = *clients[t % 2];
      for (int i = 0; i < 25; ++i) {
        rls::RateLimitResponse response;
        grpc::Status s = rls.Call(Request({{{"hot", "shared"}}}), &response);
        if (!s.ok()) {
          ++errors;
        } else if (response.overall_code() == Code::OK) {
          ++admitted;
        } else {
          ++refused;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), 100);
  EXPECT_EQ(refused.load(), 16 * 25 - 100);
}

// Two replicas on `config`'s store, 8 threads, 80 requests in all, each from
// hot:pair (100 per hour) and the vip bucket (5 per minute): vip binds, so
// exactly 5 are admitted, and no refused request took from hot:pair (peeked
// afterwards: 95 left).
void ExpectAllOrNothingAcrossTwoReplicas(const std::string& config) {
  std::vector<std::unique_ptr<ServerProcess>> servers;
  std::vector<std::unique_ptr<Rls>> clients;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ServerProcess> s = ServerProcess::Start(config);
    ASSERT_THAT(s, IsOk());
    servers.push_back(std::make_unique<ServerProcess>(std::move(*s)));
    clients.push_back(std::make_unique<Rls>(servers.back()->address()));
  }
  std::atomic<int> admitted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Rls& rls = *clients[t % 2];
      for (int i = 0; i < 10; ++i) {
        rls::RateLimitResponse response;
        grpc::Status s = rls.Call(
            Request({{{"hot", "pair"}}, {{"remote_address", "10.0.0.1"}}}), &response);
        if (!s.ok()) ++errors;
        if (s.ok() && response.overall_code() == Code::OK) ++admitted;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(admitted.load(), 5);
  rls::RateLimitRequest peek = Request({{{"hot", "pair"}}});
  peek.mutable_descriptors(0)->mutable_hits_addend()->set_value(0);
  EXPECT_EQ(clients[1]->Ok(peek).statuses(0).limit_remaining(), 95u);
}

TEST(EnvoyRlsFleetTest, AllOrNothingHoldsAcrossReplicas) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_THAT(redis, IsOk());
  ExpectAllOrNothingAcrossTwoReplicas(ConfigFor(redis->get()));
}

// The same on a Redis Cluster (3 masters): a request's buckets share the
// domain's slot, so the multi-key script runs on one master.
TEST(EnvoyRlsClusterTest, AllOrNothingOnARedisCluster) {
  absl::StatusOr<std::unique_ptr<RedisCluster>> cluster = RedisCluster::Start();
  ASSERT_THAT(cluster, IsOk());
  std::vector<std::string> quoted;
  for (const std::string& seed : (*cluster)->seeds()) quoted.push_back(absl::StrCat("\"", seed, "\""));
  ExpectAllOrNothingAcrossTwoReplicas(absl::StrCat(
      "server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}\n"
      "logging: {level: warn}\n"
      "storage:\n  backend: redis-cluster\n  redis_cluster: {nodes: [",
      absl::StrJoin(quoted, ", "), "], timeout_seconds: 2}\n", kEnvoySection));
}

}  // namespace
}  // namespace crossbridge
