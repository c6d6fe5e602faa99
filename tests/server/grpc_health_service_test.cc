// GrpcHealthService on a real loopback gRPC server (gRPC's own health
// service off): Check, Watch, Remove, Shutdown, the limits, and shutting the
// server down under open Watch streams.
#include "server/service/grpc_health_service.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::kSlowdown;
using ::crossbridge::testing::WaitFor;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;
using ::testing::Not;
using ServingStatus = HealthCheckResponse::ServingStatus;

constexpr ServingStatus kServing = HealthCheckResponse::SERVING;
constexpr ServingStatus kNotServing = HealthCheckResponse::NOT_SERVING;
constexpr ServingStatus kUnknown = HealthCheckResponse::SERVICE_UNKNOWN;

std::chrono::system_clock::time_point In(std::chrono::milliseconds d) {
  return std::chrono::system_clock::now() + d;
}
const std::chrono::milliseconds kCallTimeout(5000 * kSlowdown);
const std::chrono::milliseconds kStreamTimeout(20000 * kSlowdown);

// One Watch stream from the client side. Every read is bounded by the
// stream's deadline: a missing message fails the test instead of hanging.
class WatchCall {
 public:
  WatchCall(Health::Stub& stub, const std::string& service,
            std::chrono::milliseconds timeout = kStreamTimeout) {
    ctx_.set_deadline(In(timeout));
    HealthCheckRequest request;
    request.set_service(service);
    reader_ = stub.Watch(&ctx_, request);
  }
  ~WatchCall() {
    if (!finished_) {
      Cancel();
      Finish();
    }
  }

  // The next status sent, or nullopt when the stream ended.
  std::optional<ServingStatus> Next() {
    HealthCheckResponse response;
    if (!reader_->Read(&response)) return std::nullopt;
    return response.status();
  }
  void Cancel() { ctx_.TryCancel(); }
  // Drains what is left and returns the stream's status.
  grpc::Status Finish() {
    HealthCheckResponse ignored;
    while (reader_->Read(&ignored)) {
    }
    finished_ = true;
    return reader_->Finish();
  }

 private:
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> reader_;
  bool finished_ = false;
};

struct CheckResult {
  grpc::Status rpc;
  ServingStatus status;
};

class GrpcHealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(GrpcHealthService::Options()); }
  void TearDown() override { StopServer(); }

  void StartServer(GrpcHealthService::Options options) {
    service_ = std::make_unique<GrpcHealthService>(options);
    grpc::EnableDefaultHealthCheckService(false);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port_, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port_),
                                   grpc::InsecureChannelCredentials());
    stub_ = Health::NewStub(channel_);
  }

  // Stops the server (cancelling open streams at once), then the service.
  void StopServer() {
    if (server_ != nullptr) {
      server_->Shutdown(In(std::chrono::milliseconds(0)));
      server_->Wait();
      server_.reset();
    }
    service_.reset();
  }

  CheckResult Check(const std::string& service) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(kCallTimeout));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status rpc = stub_->Check(&ctx, request, &response);
    return {rpc, response.status()};
  }

  // Check's answer for a known service; fails the test otherwise.
  ServingStatus CheckedStatus(const std::string& service) {
    CheckResult r = Check(service);
    EXPECT_TRUE(r.rpc.ok()) << service << ": " << r.rpc.error_code() << " "
                            << r.rpc.error_message();
    return r.rpc.ok() ? r.status : HealthCheckResponse::UNKNOWN;
  }

  std::unique_ptr<GrpcHealthService> service_;  // outlives server_
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(GrpcHealthServiceTest, CheckAnswersAKnownStatusAndNotFoundOtherwise) {
  CheckResult unknown = Check("");
  EXPECT_EQ(unknown.rpc.error_code(), grpc::StatusCode::NOT_FOUND)
      << "nothing is known before the first Set, not even \"\"";

  service_->Set("", true);
  service_->Set("crossbridge.v1.RateLimiter", true);
  service_->Set("redis", false);
  EXPECT_EQ(CheckedStatus(""), kServing);
  EXPECT_EQ(CheckedStatus("crossbridge.v1.RateLimiter"), kServing);
  EXPECT_EQ(CheckedStatus("redis"), kNotServing);

  unknown = Check("billing");
  EXPECT_EQ(unknown.rpc.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(unknown.rpc.error_message(), "unknown service \"billing\"");
}

TEST_F(GrpcHealthServiceTest, SetTogglesTheStatus) {
  service_->Set("redis", true);
  EXPECT_EQ(CheckedStatus("redis"), kServing);
  service_->Set("redis", false);
  EXPECT_EQ(CheckedStatus("redis"), kNotServing);
  service_->Set("redis", false);
  EXPECT_EQ(CheckedStatus("redis"), kNotServing);
  service_->Set("redis", true);
  EXPECT_EQ(CheckedStatus("redis"), kServing);
  EXPECT_EQ(service_->Status("redis"), kServing);
  EXPECT_EQ(service_->Status("other"), kUnknown);
}

TEST_F(GrpcHealthServiceTest, RemoveMakesCheckAnswerNotFound) {
  service_->Set("", true);
  service_->Set("openai", true);
  service_->Set("anthropic", false);
  ASSERT_EQ(CheckedStatus("openai"), kServing);

  service_->Remove("openai");
  CheckResult removed = Check("openai");
  EXPECT_EQ(removed.rpc.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(removed.rpc.error_message(), "unknown service \"openai\"");
  // The others are untouched; removing an unknown name changes nothing.
  service_->Remove("never-set");
  EXPECT_EQ(CheckedStatus(""), kServing);
  EXPECT_EQ(CheckedStatus("anthropic"), kNotServing);

  // A removed name can come back.
  service_->Set("openai", false);
  EXPECT_EQ(CheckedStatus("openai"), kNotServing);

  service_->Remove("");
  EXPECT_EQ(Check("").rpc.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcHealthServiceTest, ShutdownTurnsEverythingNotServingAndLaterSetsCannotServe) {
  service_->Set("", true);
  service_->Set("crossbridge.v1.RetryAdvisor", true);
  service_->Set("redis", false);
  service_->Shutdown();
  EXPECT_EQ(CheckedStatus(""), kNotServing);
  EXPECT_EQ(CheckedStatus("crossbridge.v1.RetryAdvisor"), kNotServing);
  EXPECT_EQ(CheckedStatus("redis"), kNotServing);

  service_->Set("", true);
  service_->Set("redis", true);
  EXPECT_EQ(CheckedStatus(""), kNotServing);
  EXPECT_EQ(CheckedStatus("redis"), kNotServing);
  // A name first set after Shutdown exists, NOT_SERVING (as in gRPC's own
  // service).
  service_->Set("added-on-reload", true);
  EXPECT_EQ(CheckedStatus("added-on-reload"), kNotServing);

  // Remove still applies; Shutdown again changes nothing.
  service_->Remove("redis");
  EXPECT_EQ(Check("redis").rpc.error_code(), grpc::StatusCode::NOT_FOUND);
  service_->Shutdown();
  EXPECT_EQ(CheckedStatus(""), kNotServing);
  EXPECT_EQ(Check("redis").rpc.error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(GrpcHealthServiceTest, WatchSendsTheStatusThenEachChangeThenServiceUnknownAfterRemove) {
  service_->Set("openai", true);
  WatchCall watch(*stub_, "openai");
  EXPECT_EQ(watch.Next(), kServing);

  // Sets that change nothing send nothing: the next message is the change.
  service_->Set("openai", true);
  service_->Set("openai", true);
  service_->Set("openai", false);
  EXPECT_EQ(watch.Next(), kNotServing);
  service_->Set("openai", true);
  EXPECT_EQ(watch.Next(), kServing);

  service_->Remove("openai");
  EXPECT_EQ(watch.Next(), kUnknown);
  service_->Remove("openai");  // already gone: nothing to send
  service_->Set("openai", false);
  EXPECT_EQ(watch.Next(), kNotServing);
  EXPECT_EQ(service_->WatcherCount(), 1u);

  watch.Cancel();
  EXPECT_EQ(watch.Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitFor([&] { return service_->WatcherCount() == 0; },
                      absl::Seconds(10 * kSlowdown)));
}

// A flap while a write is in flight (the examples' health monitor saw it
// under TSan): both changes arrive, not only the last one, which equals
// what was already sent.
TEST_F(GrpcHealthServiceTest, AQuickFlapReachesTheWatcherAsTwoChanges) {
  service_->Set("openai", true);
  for (int i = 0; i < 20; ++i) {
    WatchCall watch(*stub_, "openai");
    ASSERT_TRUE(WaitFor([&] { return service_->WatcherCount() == 1; },
                        absl::Seconds(10 * kSlowdown)));
    service_->Set("openai", false);  // likely while SERVING is being written
    service_->Set("openai", true);
    EXPECT_EQ(watch.Next(), kServing) << i;
    EXPECT_EQ(watch.Next(), kNotServing) << i;
    EXPECT_EQ(watch.Next(), kServing) << i;
    watch.Cancel();
    watch.Finish();
    ASSERT_TRUE(WaitFor([&] { return service_->WatcherCount() == 0; },
                        absl::Seconds(10 * kSlowdown)));
  }
}

TEST_F(GrpcHealthServiceTest, WatchOfAnUnknownServiceGetsServiceUnknownThenServingOnceSet) {
  WatchCall watch(*stub_, "anthropic");
  EXPECT_EQ(watch.Next(), kUnknown);
  // Other names do not reach this stream.
  service_->Set("openai", true);
  service_->Remove("openai");
  service_->Set("anthropic", true);
  EXPECT_EQ(watch.Next(), kServing);
}

TEST_F(GrpcHealthServiceTest, EveryWatcherOfAServiceGetsEachChange) {
  service_->Set("redis", true);
  std::vector<std::unique_ptr<WatchCall>> watches;
  for (int i = 0; i < 5; ++i) {
    watches.push_back(std::make_unique<WatchCall>(*stub_, "redis"));
    EXPECT_EQ(watches.back()->Next(), kServing) << i;
  }
  EXPECT_EQ(service_->WatcherCount(), 5u);
  service_->Set("redis", false);
  for (auto& w : watches) EXPECT_EQ(w->Next(), kNotServing);
  service_->Remove("redis");
  for (auto& w : watches) EXPECT_EQ(w->Next(), kUnknown);
}

TEST_F(GrpcHealthServiceTest, WatchersSeeShutdownAndStayOpen) {
  service_->Set("", true);
  service_->Set("openai", true);
  service_->Set("redis", false);
  WatchCall server(*stub_, "");
  WatchCall openai(*stub_, "openai");
  WatchCall redis(*stub_, "redis");
  ASSERT_EQ(server.Next(), kServing);
  ASSERT_EQ(openai.Next(), kServing);
  ASSERT_EQ(redis.Next(), kNotServing);

  service_->Shutdown();
  EXPECT_EQ(server.Next(), kNotServing);
  EXPECT_EQ(openai.Next(), kNotServing);

  // Set after Shutdown sends nothing (the status stays NOT_SERVING), and
  // "redis", already NOT_SERVING, got no message from Shutdown: the next
  // message each stream sees is Remove's.
  service_->Set("openai", true);
  service_->Remove("openai");
  service_->Remove("redis");
  EXPECT_EQ(openai.Next(), kUnknown);
  EXPECT_EQ(redis.Next(), kUnknown);
  service_->Set("openai", true);  // re-created after Shutdown: NOT_SERVING
  EXPECT_EQ(openai.Next(), kNotServing);
}

TEST_F(GrpcHealthServiceTest, ServerShutdownWithOpenWatchesEndsThemWithoutHanging) {
  service_->Set("", true);
  service_->Set("redis", true);
  std::vector<std::unique_ptr<WatchCall>> watches;
  for (const char* name : {"", "redis", "unknown"}) {
    watches.push_back(std::make_unique<WatchCall>(*stub_, name));
    ASSERT_TRUE(watches.back()->Next().has_value()) << name;
  }
  ASSERT_EQ(service_->WatcherCount(), 3u);
  // A status change racing the shutdown.
  std::thread toggler([this] {
    for (int i = 0; i < 200; ++i) service_->Set("redis", i % 2 == 0);
  });

  // Drain-style: a grace deadline the open streams cannot meet, then gRPC
  // cancels them.
  std::future<void> stopped = std::async(std::launch::async, [this] {
    server_->Shutdown(In(std::chrono::milliseconds(100)));
    server_->Wait();
  });
  ASSERT_EQ(stopped.wait_for(std::chrono::seconds(30 * kSlowdown)),
            std::future_status::ready)
      << "server shutdown hangs on open Watch streams";
  toggler.join();
  // Shutdown + Wait returned: every stream is done (OnDone ran), so the
  // service may go now.
  EXPECT_EQ(service_->WatcherCount(), 0u);
  for (auto& w : watches) {
    EXPECT_FALSE(w->Finish().ok());
  }
  service_->Set("redis", false);  // no stream left to tell: no crash
  server_.reset();
  service_.reset();  // returns: no stream left to wait for
}

TEST_F(GrpcHealthServiceTest, ClientDeadlineEndsAWatch) {
  WatchCall watch(*stub_, "redis", std::chrono::milliseconds(300 * kSlowdown));
  ASSERT_EQ(watch.Next(), kUnknown);
  EXPECT_EQ(watch.Next(), std::nullopt);  // ends at the deadline
  EXPECT_EQ(watch.Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitFor([&] { return service_->WatcherCount() == 0; },
                      absl::Seconds(10 * kSlowdown)));
}

TEST_F(GrpcHealthServiceTest, WatchersBeyondTheLimitAreResourceExhausted) {
  StopServer();
  GrpcHealthService::Options options;
  options.max_watchers = 3;
  StartServer(options);
  service_->Set("redis", true);

  std::vector<std::unique_ptr<WatchCall>> watches;
  for (const char* name : {"redis", "redis", "other"}) {
    watches.push_back(std::make_unique<WatchCall>(*stub_, name));
    ASSERT_TRUE(watches.back()->Next().has_value()) << name;
  }
  ASSERT_EQ(service_->WatcherCount(), 3u);

  WatchCall refused(*stub_, "redis");
  EXPECT_EQ(refused.Next(), std::nullopt);
  grpc::Status status = refused.Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(status.error_message(), HasSubstr("3 Watch streams"));
  EXPECT_EQ(service_->WatcherCount(), 3u);
  // Check is not limited; the open streams still get changes.
  EXPECT_EQ(CheckedStatus("redis"), kServing);
  service_->Set("redis", false);
  EXPECT_EQ(watches[0]->Next(), kNotServing);

  // A stream that ends frees its place.
  watches[0]->Cancel();
  EXPECT_EQ(watches[0]->Finish().error_code(), grpc::StatusCode::CANCELLED);
  ASSERT_TRUE(WaitFor([&] { return service_->WatcherCount() == 2; },
                      absl::Seconds(10 * kSlowdown)));
  WatchCall admitted(*stub_, "redis");
  EXPECT_EQ(admitted.Next(), kNotServing);
  EXPECT_EQ(service_->WatcherCount(), 3u);
}

TEST_F(GrpcHealthServiceTest, TheDefaultLimitIsAThousandWatchers) {
  ASSERT_EQ(GrpcHealthService::kDefaultMaxWatchers, 1000u);
  std::vector<std::unique_ptr<WatchCall>> watches;
  for (size_t i = 0; i < GrpcHealthService::kDefaultMaxWatchers; ++i) {
    watches.push_back(std::make_unique<WatchCall>(*stub_, "redis"));
    ASSERT_EQ(watches.back()->Next(), kUnknown) << i;
  }
  EXPECT_EQ(service_->WatcherCount(), 1000u);
  WatchCall refused(*stub_, "redis");
  EXPECT_EQ(refused.Next(), std::nullopt);
  EXPECT_EQ(refused.Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  service_->Set("redis", true);
  for (auto& w : watches) ASSERT_EQ(w->Next(), kServing);
}

TEST_F(GrpcHealthServiceTest, ServiceNamesLongerThanTheLimitAreInvalidArgument) {
  ASSERT_EQ(GrpcHealthService::kMaxServiceNameBytes, 256u);
  const std::string longest(256, 'n');
  const std::string too_long(257, 'n');

  CheckResult check = Check(too_long);
  EXPECT_EQ(check.rpc.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(check.rpc.error_message(),
              HasSubstr("service: 257 bytes, longer than the limit of 256"));
  EXPECT_LT(check.rpc.error_message().size(), 200u)
      << "the name is shown bounded, not whole";

  WatchCall watch(*stub_, too_long);
  EXPECT_EQ(watch.Next(), std::nullopt);
  grpc::Status watched = watch.Finish();
  EXPECT_EQ(watched.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(watched.error_message(), HasSubstr("service: 257 bytes"));
  EXPECT_EQ(service_->WatcherCount(), 0u);

  // At the limit: an ordinary name.
  EXPECT_EQ(Check(longest).rpc.error_code(), grpc::StatusCode::NOT_FOUND);
  service_->Set(longest, true);
  EXPECT_EQ(CheckedStatus(longest), kServing);
  WatchCall at_limit(*stub_, longest);
  EXPECT_EQ(at_limit.Next(), kServing);
}

TEST_F(GrpcHealthServiceTest, NotFoundShowsTheNameEscaped) {
  CheckResult r = Check("a\x1b]0;title\x07");
  EXPECT_EQ(r.rpc.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(r.rpc.error_message(), HasSubstr("unknown service \"a\\x1b"));
  EXPECT_THAT(r.rpc.error_message(), Not(HasSubstr("\x1b")));
}

TEST_F(GrpcHealthServiceTest, AMalformedRequestIsInvalidArgument) {
  grpc::GenericStub generic(channel_);
  const std::string truncated = "\x0a\x05" "ab";  // field 1, 5 bytes: 2 sent
  grpc::Slice slice(truncated);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  ctx.set_deadline(In(kCallTimeout));
  std::promise<grpc::Status> done;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(),
                    &request, &response,
                    [&](grpc::Status s) { done.set_value(std::move(s)); });
  std::future<grpc::Status> result = done.get_future();
  ASSERT_EQ(result.wait_for(kCallTimeout + std::chrono::seconds(5)),
            std::future_status::ready);
  grpc::Status s = result.get();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("grpc.health.v1.HealthCheckRequest"));
}

// Changes from many threads while streams come and go: each watcher sees
// an ordered subsequence of the changes, never the same status twice in a
// row, and once the changes stop it converges on the final status (a
// status may be coalesced away while a write is in flight, never the last).
TEST_F(GrpcHealthServiceTest, ConcurrentChangesReachWatchersInOrderWithoutRepeats) {
  service_->Set("redis", true);
  WatchCall watch(*stub_, "redis");
  ASSERT_EQ(watch.Next(), kServing);

  absl::Mutex mu;
  std::vector<ServingStatus> seen;  // guarded by mu
  std::thread reader([&] {
    while (std::optional<ServingStatus> s = watch.Next()) {
      MutexLock lock(&mu);
      seen.push_back(*s);
      if (*s == kUnknown) return;
    }
  });
  // The last status the watcher received is `want` (within a deadline).
  auto converges_on = [&](ServingStatus want) {
    return WaitFor(
        [&] {
          MutexLock lock(&mu);
          return !seen.empty() && seen.back() == want;
        },
        absl::Seconds(10 * kSlowdown));
  };
  std::atomic<bool> stop{false};
  std::thread churn([&] {  // streams opening and closing meanwhile
    while (!stop.load()) {
      WatchCall w(*stub_, "redis");
      if (!w.Next().has_value()) return;
      w.Cancel();
      w.Finish();
    }
  });
  std::vector<std::thread> setters;
  for (int t = 0; t < 4; ++t) {
    setters.emplace_back([this, t] {
      for (int i = 0; i < 500; ++i) {
        service_->Set("redis", (i + t) % 2 == 0);
        if (i % 100 == 0) service_->Set("other", i % 200 == 0);
      }
    });
  }
  for (std::thread& t : setters) t.join();
  stop.store(true);
  churn.join();
  service_->Set("redis", false);
  EXPECT_TRUE(converges_on(kNotServing));
  service_->Set("redis", true);
  EXPECT_TRUE(converges_on(kServing));
  service_->Remove("redis");
  EXPECT_TRUE(converges_on(kUnknown));
  reader.join();

  MutexLock lock(&mu);
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.back(), kUnknown);
  EXPECT_EQ(seen[seen.size() - 2], kServing);
  for (size_t i = 1; i < seen.size(); ++i) {
    EXPECT_NE(seen[i], seen[i - 1]) << "repeated at " << i;
  }
  EXPECT_EQ(seen.front(), kNotServing) << "after the initial SERVING";
  EXPECT_LE(seen.size(), 2003u);  // at most one per change
  EXPECT_TRUE(WaitFor([&] { return service_->WatcherCount() == 1; },
                      absl::Seconds(10 * kSlowdown)));
}

}  // namespace
}  // namespace crossbridge
