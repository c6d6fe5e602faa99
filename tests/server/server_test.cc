// The wired server in this process, over a real loopback gRPC channel:
// request parsing, status codes, health and drain.
#include "server/server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "crossbridge/v1/retry_advisor.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto config = std::make_shared<Config>(DefaultConfig());
    config->server.listen_address = "127.0.0.1:0";
    config->server.metrics_listen_address = "127.0.0.1:0";
    config->server.drain_grace = absl::Milliseconds(300);
    config->server.shutdown_timeout = absl::Seconds(1);
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Create(config, RealClock::Get());
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    ASSERT_THAT(server_->Start(), IsOk());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::RateLimiter::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  grpc::Status Acquire(const v1::AcquirePermitRequest& req,
                       v1::AcquirePermitResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub_->AcquirePermit(&ctx, req, resp);
  }

  // grpc.health.v1 Check: the RPC's status, and the answer in *status.
  grpc::Status Health(const std::string& service,
                      HealthCheckResponse::ServingStatus* status) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::Status s = health_->Check(&ctx, req, &resp);
    *status = resp.status();
    return s;
  }

  // Sends `bytes` as the request body of `method` (default AcquirePermit).
  grpc::Status SendRaw(const std::string& bytes,
                       const std::string& method =
                           "/crossbridge.v1.RateLimiter/AcquirePermit") {
    grpc::GenericStub generic(channel_);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) { done.set_value(s); });
    return done.get_future().get();
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::RateLimiter::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(ServerTest, AcquirePermitAnswersWithTheBucketState) {
  v1::AcquirePermitRequest req;
  req.set_operation("embed");
  req.set_key("user:1");
  v1::AcquirePermitResponse resp;
  ASSERT_TRUE(Acquire(req, &resp).ok());
  EXPECT_TRUE(resp.allowed());
  EXPECT_EQ(resp.limit(), 60u);
  EXPECT_EQ(resp.remaining(), 59u);
  EXPECT_EQ(resp.retry_after_ms(), 0u);
  EXPECT_EQ(resp.reset_after_ms(), 1000u);
}

TEST_F(ServerTest, ExplicitZeroCostPeeksWhileUnsetCostTakesOne) {
  v1::AcquirePermitRequest req;
  req.set_operation("embed");
  req.set_key("peek");
  req.set_cost(0);
  v1::AcquirePermitResponse resp;
  ASSERT_TRUE(Acquire(req, &resp).ok());
  EXPECT_EQ(resp.remaining(), 60u);
  req.clear_cost();
  ASSERT_TRUE(Acquire(req, &resp).ok());
  EXPECT_EQ(resp.remaining(), 59u);
}

TEST_F(ServerTest, BadFieldsAreInvalidArgumentNamingTheField) {
  v1::AcquirePermitRequest req;
  req.set_operation("embed");
  v1::AcquirePermitResponse resp;
  grpc::Status s = Acquire(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("key:"));

  req.set_key("k");
  req.set_cost(1000);
  s = Acquire(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("cost:"));
}

TEST_F(ServerTest, UnknownOperationIsNotFound) {
  v1::AcquirePermitRequest req;
  req.set_operation("nope");
  req.set_key("k");
  v1::AcquirePermitResponse resp;
  grpc::Status s = Acquire(req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), HasSubstr("operation: \"nope\""));
}

TEST_F(ServerTest, MalformedAndTruncatedRequestsAreInvalidArgument) {
  v1::AcquirePermitRequest req;
  req.set_operation("embed");
  req.set_key("user:1");
  std::string wire = req.SerializeAsString();
  for (const std::string& bytes :
       {wire.substr(0, wire.size() - 3), std::string("\xff\xff\xff\xff", 4),
        std::string("\x12\x05\xc3\x28\x41\x42\x43", 7) /* key not UTF-8 */}) {
    grpc::Status s = SendRaw(bytes);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(s.error_message(), HasSubstr("request: not a valid"));
  }
  // ... and the server keeps serving.
  v1::AcquirePermitResponse resp;
  EXPECT_TRUE(Acquire(req, &resp).ok());
  EXPECT_TRUE(resp.allowed());
}

TEST_F(ServerTest, EmptyBodyIsAnEmptyRequest) {
  grpc::Status s = SendRaw("");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("operation: must not be empty"));
}

TEST_F(ServerTest, HealthServesTheServerAndTheRateLimiter) {
  HealthCheckResponse::ServingStatus status = HealthCheckResponse::UNKNOWN;
  for (const char* service : {"", "crossbridge.v1.RateLimiter",
                              "crossbridge.v1.RetryAdvisor",
                              "crossbridge.v1.HealthReporter"}) {
    ASSERT_TRUE(Health(service, &status).ok()) << service;
    EXPECT_EQ(status, HealthCheckResponse::SERVING) << service;
  }
  // An unknown name is the RPC's NOT_FOUND, not a status in the answer.
  grpc::Status s = Health("no.such.Service", &status);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, DrainTurnsHealthNotServingWhileStillAnswering) {
  std::thread drainer([&] { server_->Drain(); });
  // Drain flips health first, then keeps serving for drain_grace (300 ms).
  HealthCheckResponse::ServingStatus status = HealthCheckResponse::SERVING;
  for (int i = 0; i < 200 && status == HealthCheckResponse::SERVING; ++i) {
    ASSERT_TRUE(Health("", &status).ok());
  }
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  v1::AcquirePermitRequest req;
  req.set_operation("embed");
  req.set_key("during-drain");
  v1::AcquirePermitResponse resp;
  EXPECT_TRUE(Acquire(req, &resp).ok());
  drainer.join();
  server_->Wait();
}

TEST_F(ServerTest, MalformedBytesToEveryMethodAreInvalidArgumentNamingTheRequest) {
  const std::vector<std::pair<std::string, std::string>> methods = {
      {"/crossbridge.v1.RateLimiter/AcquirePermit", "AcquirePermitRequest"},
      {"/crossbridge.v1.RetryAdvisor/DecideRetry", "DecideRetryRequest"},
      {"/crossbridge.v1.RetryAdvisor/GetRetryPolicy", "GetRetryPolicyRequest"},
      {"/crossbridge.v1.HealthReporter/ReportOutcome", "ReportOutcomeRequest"},
      {"/crossbridge.v1.HealthReporter/GetHealth", "GetHealthRequest"},
  };
  for (const auto& [method, type] : methods) {
    std::vector<std::string> inputs = {std::string("\xff\xff\xff\xff", 4)};
    // Field 1 is a string in every request but GetHealth's (which has none).
    if (type != "GetHealthRequest") inputs.emplace_back("\x0a\x05\xc3\x28zzz", 7);
    for (const std::string& bytes : inputs) {
      grpc::Status s = SendRaw(bytes, method);
      EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << method;
      EXPECT_THAT(s.error_message(),
                  HasSubstr("request: not a valid crossbridge.v1." + type))
          << method;
    }
  }
}

// Each field a caller controls comes back, if at all, as a short escaped
// prefix: a 100 KB field used to come back whole in grpc-message.
TEST_F(ServerTest, CallerInputIsEchoedBoundedAndEscaped) {
  const std::string huge(100 * 1024, '\x1b');
  auto retry = v1::RetryAdvisor::NewStub(channel_);
  auto reporter = v1::HealthReporter::NewStub(channel_);
  auto call = [](auto method) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return method(&ctx);
  };
  std::vector<grpc::Status> statuses;
  {
    v1::DecideRetryRequest req;
    req.set_attempt(1);
    req.set_grpc_code(huge);
    v1::DecideRetryResponse resp;
    statuses.push_back(call([&](grpc::ClientContext* c) { return retry->DecideRetry(c, req, &resp); }));
    EXPECT_EQ(statuses.back().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    req.set_grpc_code("UNAVAILABLE");
    req.set_dependency(huge);
    statuses.push_back(call([&](grpc::ClientContext* c) { return retry->DecideRetry(c, req, &resp); }));
    EXPECT_EQ(statuses.back().error_code(), grpc::StatusCode::NOT_FOUND);
    req.set_dependency("");
    req.set_policy(huge);
    statuses.push_back(call([&](grpc::ClientContext* c) { return retry->DecideRetry(c, req, &resp); }));
    EXPECT_EQ(statuses.back().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(statuses.back().error_message(), HasSubstr("policy:"));
  }
  {
    v1::ReportOutcomeRequest req;
    req.set_provider(huge);
    v1::ReportOutcomeResponse resp;
    statuses.push_back(call([&](grpc::ClientContext* c) { return reporter->ReportOutcome(c, req, &resp); }));
    EXPECT_EQ(statuses.back().error_code(), grpc::StatusCode::NOT_FOUND);
    req.set_provider("database");
    req.set_code(huge);
    statuses.push_back(call([&](grpc::ClientContext* c) { return reporter->ReportOutcome(c, req, &resp); }));
    EXPECT_EQ(statuses.back().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(statuses.back().error_message(), HasSubstr("code: 102400 bytes"));
    // A terminal escape in a reported code never becomes a last_error.
    req.set_code("503\x1b]0;owned\x07");
    statuses.push_back(call([&](grpc::ClientContext* c) { return reporter->ReportOutcome(c, req, &resp); }));
    EXPECT_EQ(statuses.back().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(statuses.back().error_message(), HasSubstr("code: \"503\\x1b]0;owned\\x07\""));
  }
  for (const grpc::Status& s : statuses) {
    EXPECT_LT(s.error_message().size(), 512u) << s.error_message().substr(0, 80);
    EXPECT_EQ(s.error_message().find('\x1b'), std::string::npos);
  }
}

TEST_F(ServerTest, ASecondServerOnTheSamePortFailsToStart) {
  auto config = std::make_shared<Config>(DefaultConfig());
  config->server.listen_address = absl::StrCat("127.0.0.1:", server_->port());
  config->server.metrics_listen_address = "";
  absl::StatusOr<std::unique_ptr<Server>> second =
      Server::Create(config, RealClock::Get());
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT((*second)->Start(),
              testing::StatusIs(absl::StatusCode::kUnavailable,
                                HasSubstr("cannot listen on 127.0.0.1:")));
}

TEST(ServerCreateTest, UnbindableAddressIsUnavailable) {
  auto config = std::make_shared<Config>(DefaultConfig());
  config->server.listen_address = "203.0.113.1:1";  // not a local address
  config->server.metrics_listen_address = "";
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(config, RealClock::Get());
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT((*server)->Start(),
              testing::StatusIs(absl::StatusCode::kUnavailable,
                                HasSubstr("server.listen_address")));
}

}  // namespace
}  // namespace crossbridge
