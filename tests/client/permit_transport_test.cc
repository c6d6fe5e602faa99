// The SDK's stream transport against a server that predates StreamPermits:
// an in-process gRPC server whose RateLimiter implements AcquirePermit only
// (what an older crossbridge-server answers), so the stream ends
// UNIMPLEMENTED and every call must still be answered, unary.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;

class UnaryOnlyRateLimiter final : public v1::RateLimiter::Service {
 public:
  grpc::Status AcquirePermit(grpc::ServerContext*, const v1::AcquirePermitRequest* request,
                             v1::AcquirePermitResponse* response) override {
    ++calls_;
    response->set_allowed(true);
    response->set_limit(10);
    response->set_remaining(7);
    response->set_granted(request->cost());
    return grpc::Status::OK;
  }
  int calls() const { return calls_.load(); }

 private:
  std::atomic<int> calls_{0};
};

TEST(PermitTransportTest, AServerWithoutStreamPermitsGetsUnaryCalls) {
  UnaryOnlyRateLimiter service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create({.target = absl::StrCat("127.0.0.1:", port)});
    ASSERT_THAT(client, IsOk());
    // The first call rides the stream, which the server refuses: it is sent
    // again as a unary call. Later calls go unary at once.
    for (int i = 0; i < 5; ++i) {
      absl::StatusOr<Permit> permit = (*client)->AcquirePermit("embed", "k", {.cost = 3});
      ASSERT_THAT(permit, IsOk());
      EXPECT_TRUE(permit->allowed);
      EXPECT_EQ(permit->remaining, 7u);
      EXPECT_EQ(permit->granted, 3u);
    }
  }
  EXPECT_EQ(service.calls(), 5);
  server->Shutdown();
}

}  // namespace
}  // namespace crossbridge
