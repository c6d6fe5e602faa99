// The SDK's permit transports end to end, on the real crossbridge-server
// binary: the StreamPermits multiplexer (many calls on one stream; the
// server SIGKILLed mid-stream and restarted on the same port) and leases
// (exact counts across 3 Clients on one real redis-server, the refund when
// a Client goes, expiry, the cold lease size).
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/mutex.h"
#include "tests/testing/http_get.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::HttpGet;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::SampleValue;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::StatusIs;
using ::testing::HasSubstr;

// "hot": 300 permits per hour (one refills every 12 s: none during a test).
// "lease": 100 per hour (one per 36 s). "wide": plenty.
std::string Config(const std::string& storage) {
  return absl::StrCat(
      "logging: {level: warn}\nstorage: ", storage,
      "\nruntime:\n  rate_limiting:\n    defaults:\n"
      "      hot: {capacity: 300, window_seconds: 3600}\n"
      "      lease: {capacity: 100, window_seconds: 3600}\n"
      "      wide: {capacity: 1000000, window_seconds: 1}\n"
      "  health_checks: {enabled: false}\n");
}

// The count of `method`'s answers with `code` in the server's /metrics.
double Answered(const ServerProcess& server, const std::string& method,
                const std::string& code = "OK") {
  absl::StatusOr<std::string> metrics =
      HttpGet(server.metrics_port(), "/metrics", absl::Seconds(5));
  if (!metrics.ok()) return -1;
  absl::StatusOr<double> value = SampleValue(
      *metrics, absl::StrCat("crossbridge_grpc_requests_total{code=\"", code,
                             "\",method=\"crossbridge.v1.RateLimiter/", method,
                             "\"}"));
  return value.ok() ? *value : 0;
}

std::unique_ptr<Client> MakeClient(const std::string& target,
                                   ClientOptions options = {}) {
  options.target = target;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(std::move(options));
  EXPECT_THAT(client, IsOk());
  return client.ok() ? *std::move(client) : nullptr;
}

// What the bucket holds now, by a peek (cost 0) over a unary Client.
int64_t Remaining(const std::string& target, const std::string& operation,
                  const std::string& key) {
  ClientOptions options;
  options.permit_transport = ClientOptions::PermitTransport::kUnary;
  std::unique_ptr<Client> peeker = MakeClient(target, options);
  absl::StatusOr<Permit> p =
      peeker->AcquirePermit(operation, key, AcquireOptions{.cost = 0});
  EXPECT_THAT(p, IsOk());
  return p.ok() ? p->remaining : -1;
}

// Collects async answers; Wait blocks until `n` arrived.
class Answers {
 public:
  Client::PermitCallback Callback() {
    return [this](absl::StatusOr<Permit> permit) {
      MutexLock lock(&mu_);
      if (!permit.ok()) {
        errors_.push_back(permit.status());
      } else if (permit->allowed) {
        ++allowed_;
      } else {
        ++refused_;
      }
    };
  }
  bool Wait(int n, absl::Duration timeout) {
    MutexLock lock(&mu_);
    return lock.AwaitWithTimeout(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return allowed_ + refused_ + static_cast<int>(errors_.size()) >= n;
        },
        timeout);
  }
  int allowed() {
    MutexLock lock(&mu_);
    return allowed_;
  }
  int refused() {
    MutexLock lock(&mu_);
    return refused_;
  }
  std::vector<absl::Status> errors() {
    MutexLock lock(&mu_);
    return errors_;
  }

 private:
  absl::Mutex mu_;
  int allowed_ ABSL_GUARDED_BY(mu_) = 0;
  int refused_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<absl::Status> errors_ ABSL_GUARDED_BY(mu_);
};

// ---- the stream ------------------------------------------------------------

TEST(SdkStreamTest, FiveHundredConcurrentCallsShareOneStreamExactly) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(Config("{backend: memory}"));
  ASSERT_THAT(server, IsOk());
  Answers answers;
  {
    std::unique_ptr<Client> client = MakeClient(server->address());
    for (int i = 0; i < 500; ++i) {
      client->AcquirePermitAsync("hot", "k", {}, answers.Callback());
    }
    ASSERT_TRUE(answers.Wait(500, absl::Seconds(20)));
    EXPECT_THAT(answers.errors(), ::testing::IsEmpty());
    EXPECT_EQ(answers.allowed(), 300);  // the capacity, exactly
    EXPECT_EQ(answers.refused(), 200);
    // None went unary.
    EXPECT_EQ(Answered(*server, "AcquirePermit"), 0);
  }
  // The Client's end cancels its one stream (counted when it finishes).
  EXPECT_EQ(Answered(*server, "StreamPermits", "CANCELLED") +
                Answered(*server, "StreamPermits", "OK"),
            1);
  EXPECT_EQ(Remaining(server->address(), "hot", "k"), 0);
}

TEST(SdkStreamTest, ServerKilledMidStreamThenRestartedOnTheSamePort) {
  absl::StatusOr<ServerProcess> first = ServerProcess::Start(Config("{backend: memory}"));
  ASSERT_THAT(first, IsOk());
  const std::string address = first->address();
  ClientOptions options;
  options.default_deadline = absl::Seconds(2);
  std::unique_ptr<Client> client = MakeClient(address, options);
  ASSERT_THAT(client->AcquirePermit("wide", "k"), IsOk());

  // 4 callers, each one call at a time, until told to stop.
  std::atomic<bool> stop{false};
  absl::Mutex mu;
  int ok_calls = 0, failed_calls = 0;
  absl::Duration slowest;
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; !stop.load() && i < 1000000; ++i) {
        const absl::Time start = absl::Now();
        absl::StatusOr<Permit> p = client->AcquirePermit("wide", absl::StrCat("k", t));
        const absl::Duration took = absl::Now() - start;
        MutexLock lock(&mu);
        slowest = std::max(slowest, took);
        (p.ok() ? ok_calls : failed_calls)++;
        if (!p.ok()) {
          EXPECT_THAT(p.status().code(),
                      ::testing::AnyOf(absl::StatusCode::kUnavailable,
                                       absl::StatusCode::kDeadlineExceeded))
              << p.status();
        }
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  first->Signal(SIGKILL);
  ASSERT_THAT(first->WaitForExit(absl::Seconds(10)), IsOk());
  absl::SleepFor(absl::Milliseconds(300));
  absl::StatusOr<ServerProcess> second = ServerProcess::Start(
      Config("{backend: memory}"), {"--listen", address});
  ASSERT_THAT(second, IsOk());
  // Long enough for the stream's backoff (at most 5 s) to end.
  absl::SleepFor(absl::Seconds(6));
  int ok_before_end = 0;
  {
    MutexLock lock(&mu);
    ok_before_end = ok_calls;
  }
  absl::SleepFor(absl::Milliseconds(500));
  stop = true;
  for (std::thread& caller : callers) caller.join();
  {
    MutexLock lock(&mu);
    EXPECT_GT(ok_calls, ok_before_end);  // served again after the restart
    // Every call ended within its 2 s deadline (and scheduling slack).
    EXPECT_LT(slowest, absl::Seconds(3));
  }
  // The restarted server saw a stream again (counted once it ends): the
  // mux reconnected after its backoff instead of staying unary.
  client.reset();
  EXPECT_GE(Answered(*second, "StreamPermits", "CANCELLED") +
                Answered(*second, "StreamPermits", "OK"),
            1);
}

// ---- leases ----------------------------------------------------------------

ClientOptions Leased(uint32_t max_permits, absl::Duration ttl) {
  ClientOptions options;
  options.leases["lease"] = ClientOptions::Lease{max_permits, ttl};
  return options;
}

class SdkLeaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(Config(absl::StrCat(
        "{backend: redis, redis: {url: \"redis://127.0.0.1:", redis_->port(), "/0\"}}")));
    ASSERT_THAT(server, IsOk());
    server_ = std::make_unique<ServerProcess>(std::move(*server));
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<ServerProcess> server_;
};

TEST_F(SdkLeaseTest, ThreeLeasingClientsNeverAdmitMoreThanTheBucket) {
  int allowed = 0;
  {
    std::vector<std::unique_ptr<Client>> clients;
    for (int c = 0; c < 3; ++c) {
      clients.push_back(MakeClient(server_->address(), Leased(20, absl::Seconds(30))));
    }
    absl::Mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        Client& client = *clients[t % 3];
        // Until 50 refusals in a row: every lease of this Client is empty.
        for (int refused_in_row = 0, i = 0; refused_in_row < 50 && i < 10000; ++i) {
          absl::StatusOr<Permit> p = client.AcquirePermit("lease", "k");
          ASSERT_THAT(p, IsOk());
          refused_in_row = p->allowed ? 0 : refused_in_row + 1;
          if (p->allowed) {
            EXPECT_EQ(p->granted, 1u);
            MutexLock lock(&mu);
            ++allowed;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    EXPECT_LE(allowed, 100);
    // Whatever a Client still held went back when it was destroyed.
  }
  EXPECT_EQ(Remaining(server_->address(), "lease", "k"), 100 - allowed);
}

TEST_F(SdkLeaseTest, AColdKeyLeasesOneAndUnusedPermitsReturnWithTheClient) {
  std::unique_ptr<Client> client =
      MakeClient(server_->address(), Leased(50, absl::Seconds(60)));
  ASSERT_THAT(client->AcquirePermit("lease", "k"), IsOk());
  EXPECT_EQ(Remaining(server_->address(), "lease", "k"), 99);  // N = 1 when cold
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<Permit> p = client->AcquirePermit("lease", "k");
    ASSERT_THAT(p, IsOk());
    EXPECT_TRUE(p->allowed);
  }
  // Sizes 1, 4, 16 (each at most 4x the last): 21 taken, 11 granted.
  EXPECT_EQ(Remaining(server_->address(), "lease", "k"), 79);
  client.reset();  // the 10 unused go back
  EXPECT_EQ(Remaining(server_->address(), "lease", "k"), 89);
}

TEST_F(SdkLeaseTest, AnExpiredLeaseGivesItsUnusedPermitsBack) {
  std::unique_ptr<Client> client =
      MakeClient(server_->address(), Leased(50, absl::Milliseconds(200)));
  for (int i = 0; i < 11; ++i) ASSERT_THAT(client->AcquirePermit("lease", "k"), IsOk());
  EXPECT_EQ(Remaining(server_->address(), "lease", "k"), 79);
  // The sweeper (every 50 ms) returns the 10 unused once the 200 ms ttl ends.
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  int64_t remaining = 0;
  while ((remaining = Remaining(server_->address(), "lease", "k")) != 89 &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(remaining, 89);
  // The key is cold again: the next lease is 1 permit.
  ASSERT_THAT(client->AcquirePermit("lease", "k"), IsOk());
  EXPECT_EQ(Remaining(server_->address(), "lease", "k"), 88);
}

TEST_F(SdkLeaseTest, PeeksAndOtherCostsBypassTheLease) {
  std::unique_ptr<Client> client =
      MakeClient(server_->address(), Leased(50, absl::Seconds(60)));
  absl::StatusOr<Permit> peek = client->AcquirePermit("lease", "k", {.cost = 0});
  ASSERT_THAT(peek, IsOk());
  EXPECT_EQ(peek->remaining, 100u);
  absl::StatusOr<Permit> three = client->AcquirePermit("lease", "k", {.cost = 3});
  ASSERT_THAT(three, IsOk());
  EXPECT_EQ(three->granted, 3u);
  EXPECT_EQ(three->remaining, 97u);  // the server's answer, not a lease's
}

TEST(SdkLeaseOptionsTest, BadLeasesAreRefusedByCreate) {
  ClientOptions zero = Leased(0, absl::Seconds(1));
  EXPECT_THAT(Client::Create(zero),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("leases[\"lease\"].max_permits: must be >= 1")));
  ClientOptions short_ttl = Leased(10, absl::Milliseconds(1));
  EXPECT_THAT(Client::Create(short_ttl),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("leases[\"lease\"].ttl: 1ms is outside [10ms, 1h]")));
}

}  // namespace
}  // namespace crossbridge
