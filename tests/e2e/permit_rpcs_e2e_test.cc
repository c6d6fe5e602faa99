// AcquirePermits, StreamPermits and ReturnPermits end to end: the real
// crossbridge-server binary (memory and real redis-server backends, tenant
// tokens on), driven by a plain gRPC stub of crossbridge.v1.RateLimiter.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "server/auth/token_hash.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::ServerProcess;
using ::testing::HasSubstr;

constexpr char kTokenA[] = "token-a-permit-rpcs";  // every operation
constexpr char kTokenB[] = "token-b-permit-rpcs";  // only "embed"

v1::AcquirePermitRequest Item(const std::string& op, const std::string& key,
                              std::optional<uint32_t> cost = {}, bool up_to = false) {
  v1::AcquirePermitRequest item;
  item.set_operation(op);
  item.set_key(key);
  if (cost) item.set_cost(*cost);
  item.set_up_to_cost(up_to);
  return item;
}

class PermitRpcsTest : public ::testing::TestWithParam<bool /*redis*/> {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/crossbridge-permit-rpcs-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    const std::string tokens = dir_ + "/tokens.yml";
    std::ofstream(tokens) << "- tenant: a\n  token_sha256: " << Sha256Hex(kTokenA)
                          << "\n- tenant: b\n  token_sha256: " << Sha256Hex(kTokenB)
                          << "\n  operations: [embed]\n";
    std::string storage = "{backend: memory}";
    if (GetParam()) {
      absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
      ASSERT_THAT(redis, IsOk());
      redis_ = std::move(*redis);
      storage = absl::StrCat("{backend: redis, redis: {url: \"redis://127.0.0.1:",
                             redis_->port(), "/0\"}}");
    }
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(absl::StrCat(
        "logging: {level: warn}\nstorage: ", storage,
        "\nauth: {enabled: true, tokens_file: ", tokens, "}\n",
        "runtime:\n  rate_limiting:\n    defaults:\n"
        "      embed: {capacity: 10, window_seconds: 10}\n"
        "      search: {capacity: 100000, window_seconds: 60}\n"
        "  health_checks: {enabled: false}\n"));
    ASSERT_THAT(server, IsOk());
    server_ = std::make_unique<ServerProcess>(std::move(*server));
    stub_ = v1::RateLimiter::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (!dir_.empty()) std::system(("rm -rf " + dir_).c_str());
  }

  std::unique_ptr<grpc::ClientContext> Context(const char* token) {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (token != nullptr) context->AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return context;
  }

  std::string dir_;
  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<ServerProcess> server_;
  std::unique_ptr<v1::RateLimiter::Stub> stub_;
};

TEST_P(PermitRpcsTest, BatchAnswersEachItemInOrderWithItsOwnError) {
  v1::AcquirePermitsRequest request;
  *request.add_items() = Item("embed", "k", 4);
  *request.add_items() = Item("search", "k");     // b may not use search
  *request.add_items() = Item("embed", "");       // no key
  *request.add_items() = Item("embed", "k", 11);  // above capacity
  *request.add_items() = Item("embed", "k", 7);   // 6 left: refused
  *request.add_items() = Item("embed", "k", 9, /*up_to=*/true);  // takes 6
  v1::AcquirePermitsResponse response;
  const grpc::Status status = stub_->AcquirePermits(Context(kTokenB).get(), request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.results_size(), 6);
  ASSERT_TRUE(response.results(0).has_permit());
  EXPECT_TRUE(response.results(0).permit().allowed());
  EXPECT_EQ(response.results(0).permit().remaining(), 6u);
  EXPECT_EQ(response.results(0).permit().granted(), 4u);
  ASSERT_TRUE(response.results(1).has_error());
  EXPECT_EQ(response.results(1).error().code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(response.results(1).error().message(), HasSubstr("search"));
  EXPECT_EQ(response.results(2).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.results(2).error().message(), HasSubstr("key"));
  EXPECT_EQ(response.results(3).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(response.results(3).error().message(), HasSubstr("cost"));
  ASSERT_TRUE(response.results(4).has_permit());
  EXPECT_FALSE(response.results(4).permit().allowed());
  EXPECT_EQ(response.results(4).permit().granted(), 0u);
  ASSERT_TRUE(response.results(5).has_permit());
  EXPECT_TRUE(response.results(5).permit().allowed());
  EXPECT_EQ(response.results(5).permit().granted(), 6u);
  EXPECT_EQ(response.results(5).permit().remaining(), 0u);
}

TEST_P(PermitRpcsTest, BatchRefusesABadTokenAndTooManyOrNoItems) {
  v1::AcquirePermitsRequest request;
  *request.add_items() = Item("embed", "k");
  v1::AcquirePermitsResponse response;
  EXPECT_EQ(stub_->AcquirePermits(Context("wrong").get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(stub_->AcquirePermits(Context(nullptr).get(), request, &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  for (int i = 0; i < 1000; ++i) *request.add_items() = Item("search", "k");
  grpc::Status too_many = stub_->AcquirePermits(Context(kTokenA).get(), request, &response);
  EXPECT_EQ(too_many.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_many.error_message(), HasSubstr("items: 1001"));
  grpc::Status none = stub_->AcquirePermits(Context(kTokenA).get(), {}, &response);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(none.error_message(), HasSubstr("items: 0"));
  // Exactly 1000 is fine, and every item is counted: 1000 taken.
  request.mutable_items()->RemoveLast();
  request.mutable_items()->erase(request.mutable_items()->begin());
  request.mutable_items()->Add()->CopyFrom(Item("search", "k"));
  ASSERT_EQ(request.items_size(), 1000);
  ASSERT_TRUE(stub_->AcquirePermits(Context(kTokenA).get(), request, &response).ok());
  ASSERT_EQ(response.results_size(), 1000);
  uint32_t granted = 0;
  for (const v1::PermitResult& r : response.results()) {
    ASSERT_TRUE(r.has_permit());
    ASSERT_TRUE(r.permit().allowed());
    granted += r.permit().granted();
  }
  EXPECT_EQ(granted, 1000u);
}

TEST_P(PermitRpcsTest, StreamAnswersEveryIdOnceAndEndsOk) {
  auto context = Context(kTokenB);
  std::unique_ptr<grpc::ClientReaderWriter<v1::StreamPermitsRequest, v1::StreamPermitsResponse>>
      stream = stub_->StreamPermits(context.get());
  constexpr int kItems = 2000;
  std::thread writer([&] {
    for (int i = 0; i < kItems; ++i) {
      v1::StreamPermitsRequest request;
      request.set_id(1000 + i);
      // Every 100th item asks for an operation b may not use.
      *request.mutable_item() = Item(i % 100 == 7 ? "search" : "embed", absl::StrCat("k", i % 50));
      if (!stream->Write(request)) return;
    }
    stream->WritesDone();
  });
  std::map<uint64_t, int> seen;
  int allowed = 0, denied = 0;
  v1::StreamPermitsResponse response;
  while (stream->Read(&response)) {
    ++seen[response.id()];
    if (response.result().has_permit() && response.result().permit().allowed()) ++allowed;
    if (response.result().has_error()) {
      EXPECT_EQ(response.result().error().code(), grpc::StatusCode::PERMISSION_DENIED);
      ++denied;
    }
  }
  writer.join();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kItems));
  for (const auto& [id, n] : seen) {
    EXPECT_GE(id, 1000u);
    EXPECT_EQ(n, 1) << id;
  }
  EXPECT_EQ(denied, kItems / 100);
  // 50 keys of capacity 10 (plus at most a permit each of refill in the run).
  EXPECT_GE(allowed, 500);
  EXPECT_LE(allowed, 500 + 50 * 2);
}

TEST_P(PermitRpcsTest, StreamWithABadTokenEndsUnauthenticated) {
  auto context = Context("wrong");
  auto stream = stub_->StreamPermits(context.get());
  v1::StreamPermitsResponse response;
  EXPECT_FALSE(stream->Read(&response));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
}

TEST_P(PermitRpcsTest, ReturnGivesPermitsBackNeverAboveCapacity) {
  v1::AcquirePermitResponse taken;
  v1::AcquirePermitRequest take = Item("embed", "refund", 5);
  ASSERT_TRUE(stub_->AcquirePermit(Context(kTokenA).get(), take, &taken).ok());
  ASSERT_EQ(taken.remaining(), 5u);
  v1::ReturnPermitsRequest give;
  give.set_operation("embed");
  give.set_key("refund");
  give.set_count(3);
  v1::ReturnPermitsResponse returned;
  ASSERT_TRUE(stub_->ReturnPermits(Context(kTokenA).get(), give, &returned).ok());
  EXPECT_EQ(returned.remaining(), 8u);
  EXPECT_EQ(returned.limit(), 10u);
  // Tenant b's bucket of the same key is its own: still full.
  v1::AcquirePermitResponse peek;
  ASSERT_TRUE(stub_->AcquirePermit(Context(kTokenB).get(), Item("embed", "refund", 0), &peek).ok());
  EXPECT_EQ(peek.remaining(), 10u);
  give.set_count(10);
  ASSERT_TRUE(stub_->ReturnPermits(Context(kTokenA).get(), give, &returned).ok());
  EXPECT_EQ(returned.remaining(), 10u);
  give.set_count(0);
  const grpc::Status zero = stub_->ReturnPermits(Context(kTokenA).get(), give, &returned);
  EXPECT_EQ(zero.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(zero.error_message(), HasSubstr("count"));
  give.set_count(1);
  give.set_operation("search");
  EXPECT_EQ(stub_->ReturnPermits(Context(kTokenB).get(), give, &returned).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

// A client that writes many items and cancels before reading any: the
// server's answers still arrive from the store after the cancel, and must
// find the stream alive (it finishes only when none is in flight). The
// server then serves the next call; under ASan/TSan any late completion on a
// freed stream would end the server instead.
TEST_P(PermitRpcsTest, ACancelledStreamWithItemsInFlightLeavesTheServerServing) {
  for (int round = 0; round < 5; ++round) {
    auto context = Context(kTokenA);
    auto stream = stub_->StreamPermits(context.get());
    for (int i = 0; i < 500; ++i) {
      v1::StreamPermitsRequest request;
      request.set_id(i);
      *request.mutable_item() = Item("search", absl::StrCat("cancel", i % 7));
      if (!stream->Write(request)) break;
    }
    context->TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  v1::AcquirePermitResponse response;
  const grpc::Status after =
      stub_->AcquirePermit(Context(kTokenA).get(), Item("search", "after"), &response);
  EXPECT_TRUE(after.ok()) << after.error_message();
  EXPECT_TRUE(response.allowed());
}

INSTANTIATE_TEST_SUITE_P(Backends, PermitRpcsTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Redis" : "Memory";
                         });

}  // namespace
}  // namespace crossbridge
