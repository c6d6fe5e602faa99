// End to end, as a new user would: the real crossbridge-server binary on a
// free loopback port, driven by the client SDK, the crossbridge-cli binary
// and a server-reflection client (what grpcurl does).
#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <fstream>
#include <future>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::CliBinary;
using ::crossbridge::testing::CommandResult;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RunCommand;
using ::crossbridge::testing::ServerBinary;
using ::crossbridge::testing::ServerProcess;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// The shipped defaults, plus a short drain so shutdown tests are quick.
constexpr char kConfig[] = R"(
server:
  drain_grace_seconds: 1
  shutdown_timeout_seconds: 2
runtime:
  rate_limiting:
    defaults:
      search: {capacity: 30, window_seconds: 60}
      embed: {capacity: 60, window_seconds: 60}
      # One permit a minute refills: slow (sanitizer) runs of many CLI
      # processes still see the exact counts.
      cli: {capacity: 60, window_seconds: 3600}
)";

class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(kConfig);
    ASSERT_THAT(server, IsOk());
    server_.emplace(std::move(*server));
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Create({.target = server_->address(),
                        .default_deadline = absl::Seconds(5)});
    ASSERT_THAT(client, IsOk());
    client_ = std::move(*client);
  }

  CommandResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {CliBinary(), "--target", server_->address()});
    absl::StatusOr<CommandResult> r = RunCommand(args, absl::Seconds(20));
    EXPECT_THAT(r, IsOk());
    return r.ok() ? *r : CommandResult{};
  }

  std::optional<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(E2eTest, FirstEmbedPermitLeaves59ThenExactly59OfTheNext100) {
  absl::StatusOr<Permit> first = client_->AcquirePermit("embed", "user:1");
  ASSERT_THAT(first, IsOk());
  EXPECT_TRUE(first->allowed);
  EXPECT_EQ(first->limit, 60u);
  EXPECT_EQ(first->remaining, 59u);

  int allowed = 0;
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<Permit> p = client_->AcquirePermit("embed", "user:1");
    ASSERT_THAT(p, IsOk());
    if (p->allowed) {
      ++allowed;
      continue;
    }
    EXPECT_GE(p->retry_after_ms, 1u);
    EXPECT_LE(p->retry_after_ms, 1000u);
  }
  // The bucket refills one permit per second: a slow machine may see one
  // more permit per second the loop took; it never sees fewer.
  EXPECT_GE(allowed, 59);
  EXPECT_LE(allowed, 60);
}

TEST_F(E2eTest, AsyncAcquiresFromManyThreadsAdmitExactlyTheCapacity) {
  std::atomic<int> allowed{0}, refused{0}, failed{0};
  std::vector<std::promise<void>> done(90);
  for (int i = 0; i < 90; ++i) {
    client_->AcquirePermitAsync(
        "search", "tenant:a", {}, [&, i](absl::StatusOr<Permit> p) {
          if (!p.ok()) {
            ++failed;
          } else if (p->allowed) {
            ++allowed;
          } else {
            ++refused;
          }
          done[i].set_value();
        });
  }
  for (auto& d : done) d.get_future().wait();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GE(allowed.load(), 30);  // 30 per minute: +1 only if a 2 s refill passed
  EXPECT_LE(allowed.load(), 31);
  EXPECT_EQ(allowed + refused, 90);
}

TEST_F(E2eTest, CliAcquirePrintsTheDecisionAndExitsByIt) {
  CommandResult r = Cli({"acquire", "--operation", "cli", "--key", "user:7"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("allowed"));
  EXPECT_THAT(r.out, HasSubstr("59/60"));

  r = Cli({"--json", "acquire", "--operation", "cli", "--key", "user:7",
           "--cost", "59"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  // The AcquirePermitResponse in the proto3 JSON mapping: uint64 as strings.
  EXPECT_THAT(r.out, MatchesRegex("\\{\"allowed\":true,\"limit\":60,\"remaining\":0,"
                                  "\"retry_after_ms\":\"0\",\"reset_after_ms\":"
                                  "\"[1-9][0-9]*\",\"granted\":59\\}\n"));

  r = Cli({"--json", "acquire", "--operation", "cli", "--key", "user:7"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.out, MatchesRegex("\\{\"allowed\":false,\"limit\":60,\"remaining\":0,"
                                  "\"retry_after_ms\":\"[1-9][0-9]*\","
                                  "\"reset_after_ms\":\"[1-9][0-9]*\",\"granted\":0\\}\n"));
}

TEST_F(E2eTest, CliReportsBadInputAsRpcErrorNamingTheField) {
  CommandResult r = Cli({"acquire", "--operation", "embed", "--key", "a\tb"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: key: control character"));

  r = Cli({"acquire", "--operation", "nope", "--key", "k"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND: operation: \"nope\""));

  r = Cli({"acquire", "--operation", "embed", "--key", "k", "--cost", "61"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("INVALID_ARGUMENT: cost: 61"));

  r = Cli({"acquire", "--operation", "embed", "--key", std::string(257, 'k')});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("key: 257 bytes"));

  // The server is still serving.
  absl::StatusOr<Permit> p = client_->AcquirePermit("embed", "after-bad-input");
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->allowed);
}

TEST_F(E2eTest, CliHealth) {
  CommandResult r = Cli({"health"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
  r = Cli({"--json", "health", "--service", "crossbridge.v1.RateLimiter"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "{\"status\":\"SERVING\"}\n");
  r = Cli({"health", "--service", "no.such.Service", "--json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "{\"status\":\"SERVICE_UNKNOWN\"}\n");
  r = Cli({"health", "--service", "no.such.Service"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.out, HasSubstr("SERVICE_UNKNOWN"));
}

TEST_F(E2eTest, ReflectionListsTheServices) {
  auto channel = grpc::CreateChannel(server_->address(),
                                     grpc::InsecureChannelCredentials());
  auto stub = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream = stub->ServerReflectionInfo(&ctx);
  grpc::reflection::v1alpha::ServerReflectionRequest req;
  req.set_list_services("");
  ASSERT_TRUE(stream->Write(req));
  grpc::reflection::v1alpha::ServerReflectionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  stream->WritesDone();
  std::set<std::string> names;
  for (const auto& s : resp.list_services_response().service()) {
    names.insert(s.name());
  }
  EXPECT_TRUE(names.count("crossbridge.v1.RateLimiter"));
  EXPECT_TRUE(names.count("grpc.health.v1.Health"));
  EXPECT_TRUE(names.count("grpc.reflection.v1alpha.ServerReflection"));

  // The request type can be described without any .proto file, as grpcurl
  // does before `describe` or a JSON call.
  req.set_file_containing_symbol("crossbridge.v1.AcquirePermitRequest");
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto stream2 = stub->ServerReflectionInfo(&ctx2);
  ASSERT_TRUE(stream2->Write(req));
  ASSERT_TRUE(stream2->Read(&resp));
  stream2->WritesDone();
  EXPECT_GT(resp.file_descriptor_response().file_descriptor_proto_size(), 0);
}

TEST_F(E2eTest, SigtermDrainsWithHealthNotServingThenExitsZero) {
  absl::StatusOr<ServingStatus> before = client_->CheckHealth("");
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(*before, ServingStatus::kServing);

  server_->Signal(SIGTERM);
  // During the 1 s grace the server still answers, and says NOT_SERVING.
  ServingStatus seen = ServingStatus::kServing;
  for (int i = 0; i < 500 && seen == ServingStatus::kServing; ++i) {
    absl::StatusOr<ServingStatus> s = client_->CheckHealth("");
    if (!s.ok()) break;
    seen = *s;
  }
  EXPECT_EQ(seen, ServingStatus::kNotServing);
  absl::StatusOr<ServingStatus> rl =
      client_->CheckHealth("crossbridge.v1.RateLimiter");
  if (rl.ok()) {
    EXPECT_EQ(*rl, ServingStatus::kNotServing);
  }

  absl::StatusOr<int> code = server_->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0) << server_->Logs();
}

TEST_F(E2eTest, SigintAlsoExitsZero) {
  server_->Signal(SIGINT);
  absl::StatusOr<int> code = server_->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 0);
}

// A config whose search capacity is -1, on line 5, column 17.
constexpr char kNegativeCapacity[] =
    "runtime:\n"
    "  rate_limiting:\n"
    "    defaults:\n"
    "      search:\n"
    "        capacity: -1\n"
    "        window_seconds: 60\n";

std::string WriteTemp(const std::string& name, const std::string& text) {
  std::string path = ::testing::TempDir() + name;
  std::ofstream(path) << text;
  return path;
}

TEST(E2eConfigTest, CheckConfigRejectsNegativeCapacityNamingLineAndKey) {
  std::string path = WriteTemp("negative-capacity.yml", kNegativeCapacity);
  absl::StatusOr<CommandResult> r = RunCommand(
      {ServerBinary(), "--check-config", path}, absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_THAT(r->err,
              HasSubstr("negative-capacity.yml:5:19: "
                        "runtime.rate_limiting.defaults.search.capacity"));
}

TEST(E2eConfigTest, ServerRefusesToStartOnAnInvalidConfig) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(kNegativeCapacity);
  EXPECT_THAT(server, testing::StatusIs(absl::StatusCode::kFailedPrecondition,
                                        HasSubstr("exited with 1")));
  EXPECT_THAT(server.status().message(),
              HasSubstr("runtime.rate_limiting.defaults.search.capacity"));
}

TEST(E2eConfigTest, CheckConfigAcceptsTheShippedConfig) {
  absl::StatusOr<CommandResult> r = RunCommand(
      {ServerBinary(), "--check-config",
       std::string(CROSSBRIDGE_SOURCE_DIR) + "/crossbridge.yml"},
      absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(r->out, HasSubstr(": OK"));
}

TEST(E2eConfigTest, EmbeddedDefaultServesTheShippedLimits) {
  // No config file at all (an empty directory, no CROSSBRIDGE_CONFIG).
  absl::StatusOr<ServerProcess> server = ServerProcess::Start("");
  ASSERT_THAT(server, IsOk());
  auto client = Client::Create({.target = server->address()});
  ASSERT_THAT(client, IsOk());
  for (auto [op, limit] : std::vector<std::pair<std::string, uint32_t>>{
           {"search", 30}, {"transform", 10}, {"embed", 60},
           {"ai_generate", 20}, {"health_check", 100}}) {
    absl::StatusOr<Permit> p = (*client)->AcquirePermit(op, "k");
    ASSERT_THAT(p, IsOk()) << op;
    EXPECT_EQ(p->limit, limit) << op;
  }
}

TEST(E2eConfigTest, UnknownFlagIsAUsageError) {
  absl::StatusOr<CommandResult> r =
      RunCommand({ServerBinary(), "--bogus"}, absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("crossbridge-server: The following argument was "
                                "not expected: --bogus\n"));
  EXPECT_THAT(r->err, HasSubstr("Usage: crossbridge-server [OPTIONS]"));
  r = RunCommand({ServerBinary(), "--listen"}, absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("crossbridge-server: --listen: 1 required "
                                "HOST:PORT missing"));
  r = RunCommand({ServerBinary(), "--hash-token", "--check-config=x.yml"},
                 absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("excludes"));
}

TEST(E2eConfigTest, HelpPrintsUsageToStdoutAndExitsZero) {
  for (const char* help : {"--help", "-h"}) {
    absl::StatusOr<CommandResult> r =
        RunCommand({ServerBinary(), help}, absl::Seconds(20));
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->exit_code, 0) << help;
    EXPECT_THAT(r->out, AllOf(HasSubstr("Usage: crossbridge-server [OPTIONS]"),
                              HasSubstr("--config PATH"),
                              HasSubstr("--listen HOST:PORT"),
                              HasSubstr("--metrics-listen HOST:PORT"),
                              HasSubstr("--check-config FILE"),
                              HasSubstr("--hash-token"),
                              HasSubstr("Exit codes: 0 ok")))
        << help;
    EXPECT_EQ(r->err, "") << help;
  }
}

TEST(E2eConfigTest, CheckConfigTakesEqualsFormToo) {
  std::string path = WriteTemp("negative-capacity-eq.yml", kNegativeCapacity);
  absl::StatusOr<CommandResult> r = RunCommand(
      {ServerBinary(), "--check-config=" + path}, absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 1);
  EXPECT_THAT(r->err,
              HasSubstr("negative-capacity-eq.yml:5:19: "
                        "runtime.rate_limiting.defaults.search.capacity"));
}

}  // namespace
}  // namespace crossbridge
