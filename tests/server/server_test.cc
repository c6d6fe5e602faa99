// The wired server in this process, over a real loopback gRPC channel:
// request parsing, status codes, health and drain.
#include "server/server.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <future>
#include <thread>

#include "absl/strings/str_cat.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
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

  HealthCheckResponse::ServingStatus Health(const std::string& service) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    HealthCheckRequest req;
    req.set_service(service);
    HealthCheckResponse resp;
    grpc::Status s = health_->Check(&ctx, req, &resp);
    if (!s.ok()) return HealthCheckResponse::SERVICE_UNKNOWN;
    return resp.status();
  }

  // Sends `bytes` as the AcquirePermit request body.
  grpc::Status SendRaw(const std::string& bytes) {
    grpc::GenericStub generic(channel_);
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1);
    grpc::ByteBuffer response;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    std::promise<grpc::Status> done;
    generic.UnaryCall(&ctx, "/crossbridge.v1.RateLimiter/AcquirePermit",
                      grpc::StubOptions(), &request, &response,
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
  EXPECT_EQ(Health(""), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("crossbridge.v1.RateLimiter"), HealthCheckResponse::SERVING);
  EXPECT_EQ(Health("no.such.Service"), HealthCheckResponse::SERVICE_UNKNOWN);
}

TEST_F(ServerTest, DrainTurnsHealthNotServingWhileStillAnswering) {
  std::thread drainer([&] { server_->Drain(); });
  // Drain flips health first, then keeps serving for drain_grace (300 ms).
  HealthCheckResponse::ServingStatus status = HealthCheckResponse::SERVING;
  for (int i = 0; i < 200 && status == HealthCheckResponse::SERVING; ++i) {
    status = Health("");
  }
  EXPECT_EQ(status, HealthCheckResponse::NOT_SERVING);
  drainer.join();
  server_->Wait();
}

TEST(ServerCreateTest, UnbindableAddressIsUnavailable) {
  auto config = std::make_shared<Config>(DefaultConfig());
  config->server.listen_address = "203.0.113.1:1";  // not a local address
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(config, RealClock::Get());
  ASSERT_THAT(server, IsOk());
  EXPECT_THAT((*server)->Start(),
              testing::StatusIs(absl::StatusCode::kUnavailable,
                                HasSubstr("server.listen_address")));
}

}  // namespace
}  // namespace crossbridge
