// What the outside battery did to the real crossbridge-server process, each
// kept as a regression test: a closed stderr (SIGPIPE), stray signals, a
// second server on the same port, listen addresses gRPC would have bent, a
// flood of non-UTF-8 requests (one libprotobuf log line each), and calls
// racing the listener close of a drain (CANCELLED).
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::ChildProcess;
using ::crossbridge::testing::CommandResult;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RunCommand;
using ::crossbridge::testing::ServerBinary;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

using ::crossbridge::testing::kSlowdown;

constexpr char kQuickDrain[] =
    "server: {drain_grace_seconds: 0.2, shutdown_timeout_seconds: 1}\n";

// The port of a child's "CROSSBRIDGE_LISTENING host:port" line, once it is
// printed.
absl::StatusOr<int> ListeningPort(ChildProcess& child) {
  const std::string& out = child.captured_stdout();
  absl::Status ready = child.WaitUntil(
      [&] { return out.find('\n') != std::string::npos; }, absl::Seconds(10));
  if (!ready.ok()) return ready;
  const std::string line = out.substr(0, out.find('\n'));
  int port = 0;
  if (!absl::SimpleAtoi(line.substr(line.rfind(':') + 1), &port)) {
    return absl::InternalError(absl::StrCat("bad listening line: ", line));
  }
  return port;
}

std::unique_ptr<Client> ClientFor(int port) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(
      {.target = absl::StrCat("127.0.0.1:", port),
       .default_deadline = absl::Seconds(5)});
  EXPECT_THAT(client, IsOk());
  return client.ok() ? std::move(*client) : nullptr;
}

std::string WriteConfig(const std::string& yaml) {
  char path[] = "/tmp/crossbridge-hostile-XXXXXX.yml";
  const int fd = mkstemps(path, 4);
  EXPECT_GE(fd, 0);
  close(fd);
  std::FILE* f = std::fopen(path, "w");
  std::fputs(yaml.c_str(), f);
  std::fclose(f);
  return path;
}

// crossbridge-server ... 2> >(head -n1 >/dev/null): stderr's reader goes
// away after one line. That killed the server with SIGPIPE (exit 141) at
// startup, under load and during a drain; SIGHUP and SIGUSR1 killed it too.
TEST(HostileProcessTest, ClosedStderrAndStraySignalsNeverKillTheServer) {
  const std::string config = WriteConfig(
      absl::StrCat(kQuickDrain, "logging: {level: debug}\n"));
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      {"/bin/bash", "-c", "exec \"$0\" \"$@\" 2> >(head -n1 >/dev/null)",
       ServerBinary(), "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
       "--config", config},
      {}, "/tmp");
  ASSERT_THAT(child, IsOk());
  absl::StatusOr<int> port = ListeningPort(*child);
  ASSERT_THAT(port, IsOk());
  std::unique_ptr<Client> client = ClientFor(*port);
  // Load that logs (debug), signals that log, then a drain that logs.
  for (int i = 0; i < 200; ++i) {
    ASSERT_THAT(client->AcquirePermit("embed", absl::StrCat("k", i % 7)), IsOk()) << i;
    ASSERT_THAT(client->GetHealth(), IsOk());
    if (i == 50) child->Signal(SIGHUP);
    if (i == 100) child->Signal(SIGUSR1);
    if (i == 150) child->Signal(SIGUSR2);
  }
  EXPECT_FALSE(child->Poll());
  child->Signal(SIGTERM);
  absl::StatusOr<int> code = child->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0);
  unlink(config.c_str());
}

TEST(HostileProcessTest, StraySignalsAreLoggedAndIgnored) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(kQuickDrain);
  ASSERT_THAT(server, IsOk());
  for (int s : {SIGUSR1, SIGUSR2}) server->Signal(s);
  std::unique_ptr<Client> client = ClientFor(server->port());
  EXPECT_TRUE(WaitFor([&] { return absl::StrContains(server->Logs(), "SIGUSR2"); }));
  const std::string logs = server->Logs();
  EXPECT_THAT(logs, HasSubstr("received SIGUSR1; ignored"));
  EXPECT_THAT(logs, HasSubstr("received SIGUSR2; ignored"));
  EXPECT_THAT(client->AcquirePermit("embed", "still-serving"), IsOk());
}

// gRPC turns SO_REUSEPORT on by default: a second server on the port
// started and split the traffic, doubling every limit without a word.
TEST(HostileProcessTest, ASecondServerOnATakenPortExits3) {
  absl::StatusOr<ServerProcess> first = ServerProcess::Start(kQuickDrain);
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<CommandResult> second = RunCommand(
      {ServerBinary(), "--listen", first->address()}, absl::Seconds(20));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->exit_code, 3);
  EXPECT_THAT(second->err, HasSubstr(absl::StrCat("cannot listen on ", first->address())));
  EXPECT_THAT(second->out, Not(HasSubstr("CROSSBRIDGE_LISTENING")));
  // The first one still answers alone.
  EXPECT_THAT(ClientFor(first->port())->AcquirePermit("embed", "k"), IsOk());
}

// A taken metrics port is the same failure as a taken gRPC port: exit 3,
// naming the key, and no CROSSBRIDGE_LISTENING line for a half-started
// server.
TEST(HostileProcessTest, ATakenMetricsPortExits3) {
  absl::StatusOr<ServerProcess> first = ServerProcess::Start(kQuickDrain);
  ASSERT_THAT(first, IsOk());
  ASSERT_NE(first->metrics_port(), 0);
  const std::string taken = absl::StrCat("127.0.0.1:", first->metrics_port());
  absl::StatusOr<CommandResult> second = RunCommand(
      {ServerBinary(), "--listen", "127.0.0.1:0", "--metrics-listen", taken},
      absl::Seconds(20));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->exit_code, 3);
  EXPECT_THAT(second->err, HasSubstr(absl::StrCat(
                               "server.metrics_listen_address: cannot listen on ", taken)));
  EXPECT_THAT(second->out, Not(HasSubstr("CROSSBRIDGE_LISTENING")));
}

// 127.0.0.1:99999 listened on 34463, :131073 on port 1, no port meant 443.
TEST(HostileProcessTest, BadListenAddressesAreRefusedNotBent) {
  for (const char* address : {"127.0.0.1:99999", ":131073", "127.0.0.1", "not-an-address"}) {
    absl::StatusOr<CommandResult> r =
        RunCommand({ServerBinary(), "--listen", address}, absl::Seconds(20));
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->exit_code, 2) << address;
    EXPECT_THAT(r->err, HasSubstr("--listen: ")) << address;
    EXPECT_THAT(r->err, HasSubstr("is not host:port")) << address;

    const std::string config =
        WriteConfig(absl::StrCat("server:\n  listen_address: \"", address, "\"\n"));
    r = RunCommand({ServerBinary(), "--check-config", config}, absl::Seconds(20));
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->exit_code, 1) << address;
    EXPECT_THAT(r->err, HasSubstr(":2:19: server.listen_address: ")) << address;
    unlink(config.c_str());
  }
}

// Each request that was not valid UTF-8 wrote one libprotobuf ERROR line:
// 20,000 requests wrote 4.4 MB to stderr.
TEST(HostileProcessTest, NonUtf8FloodLeavesTheLogSmall) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(kQuickDrain);
  ASSERT_THAT(server, IsOk());
  auto channel = grpc::CreateChannel(server->address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub generic(channel);
  const std::string bytes("\x0a\x05\xc3\x28zzz\x12\x01k", 10);  // operation not UTF-8
  const int kRequests = 20000 / kSlowdown;
  constexpr int kWindow = 64;
  std::atomic<int> invalid{0};
  for (int sent = 0; sent < kRequests; sent += kWindow) {
    std::vector<std::promise<void>> done(kWindow);
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<grpc::ByteBuffer> responses(kWindow);
    for (int i = 0; i < kWindow; ++i) {
      contexts.push_back(std::make_unique<grpc::ClientContext>());
      contexts.back()->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      grpc::Slice slice(bytes);
      grpc::ByteBuffer request(&slice, 1);
      generic.UnaryCall(contexts.back().get(), "/crossbridge.v1.RateLimiter/AcquirePermit",
                        grpc::StubOptions(), &request, &responses[i],
                        [&, i](grpc::Status s) {
                          if (s.error_code() == grpc::StatusCode::INVALID_ARGUMENT) ++invalid;
                          done[i].set_value();
                        });
    }
    for (auto& d : done) d.get_future().wait();
    if (sent % 2048 == 0) server->Logs();  // keep the pipe drained
  }
  const int sent = (kRequests + kWindow - 1) / kWindow * kWindow;
  EXPECT_EQ(invalid.load(), sent);
  const std::string logs = server->Logs();
  EXPECT_LT(logs.size(), 16u * 1024) << logs.substr(0, 2000);
}

// gRPC cancels calls that reach a server after its Shutdown began (they are
// never run): callers saw grpc-status CANCELLED, which nothing retries.
// The SDK retries exactly those once; a drain under load must leave its
// callers with answers, or UNAVAILABLE once the server is gone, never
// CANCELLED.
TEST(HostileProcessTest, SdkCallersNeverSeeCancelledDuringADrain) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(
      "server: {drain_grace_seconds: 0.3, shutdown_timeout_seconds: 2}\n"
      "logging: {level: warn}\n");
  ASSERT_THAT(server, IsOk());
  std::unique_ptr<Client> client = ClientFor(server->port());
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::map<absl::StatusCode, int> codes;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      std::map<absl::StatusCode, int> mine;
      for (int i = 0; !stop.load() && i < 200000; ++i) {
        absl::StatusOr<Permit> p = client->AcquirePermit(
            "health_check", absl::StrCat("t", t, "-", i % 50), {.cost = 0});
        ++mine[p.status().code()];
      }
      std::lock_guard<std::mutex> lock(mu);
      for (auto [code, n] : mine) codes[code] += n;
    });
  }
  absl::SleepFor(absl::Milliseconds(300));
  server->Signal(SIGTERM);
  absl::StatusOr<int> code = server->WaitForExit(absl::Seconds(15));
  absl::SleepFor(absl::Milliseconds(200));  // calls after the close, too
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0);
  EXPECT_GT(codes[absl::StatusCode::kOk], 100);
  EXPECT_EQ(codes.count(absl::StatusCode::kCancelled), 0u);
  for (auto [c, n] : codes) {
    EXPECT_TRUE(c == absl::StatusCode::kOk || c == absl::StatusCode::kUnavailable)
        << absl::StatusCodeToString(c) << " x" << n;
  }
}

}  // namespace
}  // namespace crossbridge
