// The eight integration examples (examples/), each run as a user would run
// it: the real example binary against a real crossbridge-server started with
// examples/crossbridge-examples.yml. Each example checks itself (exit 0 only
// when everything it shows happened); this test also looks for the lines
// that prove the interesting part was exercised.
//
// The config's health providers are probed by a TCP connect once an hour;
// the test points them at a listener of its own so they start SERVING and
// only the outcomes the examples report change them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/tcp_listener.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::CommandResult;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RunCommand;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::TcpListener;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kExamplesConfig[] =
    CROSSBRIDGE_SOURCE_DIR "/examples/crossbridge-examples.yml";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_THAT(listener_.Open(), IsOk());
    std::string config = ReadFile(kExamplesConfig);
    ASSERT_THAT(config, HasSubstr("target: \"127.0.0.1:50051\""));
    config = absl::StrReplaceAll(
        config,
        {{"target: \"127.0.0.1:50051\"",
          absl::StrCat("target: \"127.0.0.1:", listener_.port(), "\"")}});
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(config);
    ASSERT_THAT(server, IsOk());
    server_.emplace(std::move(*server));
  }

  // Runs build/examples/<name> --target <server> <extra...>; the example's
  // output is printed when it fails.
  CommandResult Run(const std::string& name,
                    std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {
        absl::StrCat(CROSSBRIDGE_EXAMPLES_DIR, "/", name), "--target",
        server_->address()};
    argv.insert(argv.end(), extra.begin(), extra.end());
    absl::StatusOr<CommandResult> r = RunCommand(argv, absl::Seconds(60));
    EXPECT_THAT(r, IsOk());
    CommandResult result = r.ok() ? *r : CommandResult{};
    EXPECT_EQ(result.exit_code, 0) << name << " stdout:\n"
                                   << result.out << "\nstderr:\n"
                                   << result.err << "\nserver log:\n"
                                   << server_->Logs();
    EXPECT_THAT(result.out, HasSubstr("RESULT: ok"));
    EXPECT_THAT(result.out, Not(HasSubstr("FAIL")));
    return result;
  }

  TcpListener listener_;
  std::optional<ServerProcess> server_;
};

TEST_F(ExamplesTest, HardenedAiProviderRetries503And429ThenAnswers) {
  CommandResult r = Run("01_hardened_ai_provider");
  EXPECT_THAT(r.out, HasSubstr("attempt 1 failed: UNAVAILABLE: HTTP 503"));
  EXPECT_THAT(r.out,
              HasSubstr("attempt 2 failed: RESOURCE_EXHAUSTED: HTTP 429"));
  EXPECT_THAT(r.out, HasSubstr("Retry-After 40ms"));
  EXPECT_THAT(r.out, HasSubstr("result: fake-gpt: Summarise the incident"));
  EXPECT_THAT(r.out, HasSubstr("ok   the provider was called once"));
}

TEST_F(ExamplesTest, HardenedEmbeddingProviderRetriesAndEmbeds) {
  CommandResult r = Run("02_hardened_embedding_provider");
  EXPECT_THAT(r.out, HasSubstr("model fake-embed-small, dimension 8"));
  EXPECT_THAT(r.out, HasSubstr("report: 3 attempts"));
  EXPECT_THAT(r.out, HasSubstr("(8 floats)"));
}

TEST_F(ExamplesTest, DatabaseWithRetryRetriesLostConnectionsAndDeadlocks) {
  CommandResult r = Run("03_database_with_retry");
  EXPECT_THAT(r.out, HasSubstr("the database saw 2 calls"));
  EXPECT_THAT(r.out, HasSubstr("ABORTED is retryable"));
  EXPECT_THAT(r.out, HasSubstr("ok   the deadlocked update was retried once"));
  EXPECT_THAT(r.out, HasSubstr("| t-2 | search ranks results | passed |"));
  EXPECT_THAT(r.out, HasSubstr("database: SERVING"));
}

TEST_F(ExamplesTest, HealthMonitoringDrivesAProviderDownAndBack) {
  CommandResult r = Run("04_health_monitoring");
  EXPECT_THAT(r.out, HasSubstr("ai_provider"));
  EXPECT_THAT(r.out, HasSubstr("failure 3 reported: NOT_SERVING, 3/3"));
  EXPECT_THAT(r.out, HasSubstr("reason=DEPENDENCY_UNHEALTHY"));
  EXPECT_THAT(r.out, HasSubstr("NOT_SERVING -> SERVING"));
}

TEST_F(ExamplesTest, FullStackAnswersDespiteOneFailurePerStage) {
  CommandResult r = Run("05_full_stack");
  EXPECT_THAT(r.out, HasSubstr("ok   t-2 (search) ranks first"));
  EXPECT_THAT(r.out, HasSubstr("ok   each stage needed exactly one retry"));
  EXPECT_THAT(r.out, HasSubstr("answer: fake-gpt: Why does search fail"));
}

TEST_F(ExamplesTest, SemanticSearchShowsRefusalsAndWaits) {
  CommandResult r = Run("06_semantic_search");
  EXPECT_THAT(r.out, HasSubstr("embed/user:"));
  EXPECT_THAT(r.out, HasSubstr("refused: RESOURCE_EXHAUSTED"));
  EXPECT_THAT(r.out, HasSubstr("for a permit"));
  EXPECT_THAT(r.out, HasSubstr("ok   the best match is doc-2"));
}

TEST_F(ExamplesTest, ConfigurationDrivenSetupMatchesTheServer) {
  CommandResult r =
      Run("07_configuration_driven", {"--config", kExamplesConfig});
  EXPECT_THAT(r.out, HasSubstr("ok   embed: the server enforces capacity 10"));
  for (const char* policy : {"default", "expensive", "quick", "conservative"}) {
    EXPECT_THAT(r.out,
                HasSubstr(absl::StrCat("ok   policy ", policy, " matches")));
  }
  EXPECT_THAT(
      r.out,
      HasSubstr("ok   the server monitors exactly the configured providers"));
}

TEST_F(ExamplesTest, TestingWithFakesPassesEveryTest) {
  CommandResult r = Run("08_testing_with_fakes");
  EXPECT_THAT(r.out, HasSubstr("PASS: the fake was called 3 times"));
  EXPECT_THAT(r.out, HasSubstr("PASS: seed 7 gives the same two delays twice"));
  EXPECT_THAT(r.out, HasSubstr("RESULT: ok (5 checks passed)"));
}

TEST_F(ExamplesTest, ExamplesRejectABadCommandLineAndAMissingServer) {
  absl::StatusOr<CommandResult> r = RunCommand(
      {absl::StrCat(CROSSBRIDGE_EXAMPLES_DIR, "/01_hardened_ai_provider"),
       "--bogus"},
      absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 2);
  EXPECT_THAT(r->err, HasSubstr("unknown argument --bogus"));

  // No server: the port of this test's server, once it is killed.
  std::string address = server_->address();
  server_->Signal(SIGKILL);
  ASSERT_THAT(server_->WaitForExit(absl::Seconds(10)), IsOk());
  r = RunCommand(
      {absl::StrCat(CROSSBRIDGE_EXAMPLES_DIR, "/01_hardened_ai_provider"),
       "--target", address},
      absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_THAT(r->err, HasSubstr("no CrossBridge server at " + address));
}

}  // namespace
}  // namespace crossbridge
