// Argument handling of crossbridge-cli, run in-process through RunCli. None of
// these tests needs a server: they stop at a usage error, or talk to a port
// where nothing listens. (The --tls-* / --token-file flags against a real
// TLS server: tests/client/client_tls_test.cc.)
#include "cli/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "tests/testing/status_matchers.h"
#include "tests/testing/test_pki.h"

namespace crossbridge {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

// Nothing listens on port 1 of loopback (privileged, never bound in CI), so
// the connection is refused at once.
constexpr char kDeadTarget[] = "127.0.0.1:1";

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
};

CliResult RunWith(std::initializer_list<std::string> args) {
  std::vector<std::string> storage = {"crossbridge-cli"};
  storage.insert(storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  const int code =
      RunCli(static_cast<int>(storage.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

TEST(CliArgsTest, NoCommandIsUsageError) {
  const CliResult r = RunWith({});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: no command given"),
                           HasSubstr("Usage: crossbridge-cli")));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(CliArgsTest, UnknownCommandIsUsageError) {
  const CliResult r = RunWith({"frobnicate"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: unknown command 'frobnicate'"),
                           HasSubstr("Subcommands:")));
}

TEST(CliArgsTest, UnknownFlagIsUsageErrorWithCommandUsage) {
  const CliResult r =
      RunWith({"acquire", "--operation", "embed", "--key", "k", "--bogus", "1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: unknown flag --bogus\n"),
                           HasSubstr("Usage: crossbridge-cli acquire [OPTIONS]"),
                           HasSubstr("--operation OP REQUIRED")));
  // Before the command too, and a single-dash one.
  const CliResult before = RunWith({"--bogus", "health"});
  EXPECT_EQ(before.exit_code, kExitUsage);
  EXPECT_THAT(before.err, HasSubstr("error: unknown flag --bogus\n"));
  const CliResult dash = RunWith({"health", "-x"});
  EXPECT_EQ(dash.exit_code, kExitUsage);
  EXPECT_THAT(dash.err, HasSubstr("error: unknown flag -x\n"));
}

TEST(CliArgsTest, FlagOfOtherCommandIsUsageError) {
  const CliResult r = RunWith({"health", "--key", "user:1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: unknown flag --key\n"));
}

TEST(CliArgsTest, HelpPrintsUsageAndExitCodesToOut) {
  for (const char* help : {"--help", "-h"}) {
    const CliResult r = RunWith({help});
    EXPECT_EQ(r.exit_code, kExitOk) << help;
    EXPECT_THAT(r.out, AllOf(HasSubstr("acquire"), HasSubstr("health"),
                             HasSubstr("Exit codes:"), HasSubstr("--target")))
        << help;
    EXPECT_THAT(r.err, IsEmpty()) << help;
  }
}

TEST(CliArgsTest, CommandHelpShowsCommandFlagsEvenWithOtherErrors) {
  const CliResult acquire = RunWith({"acquire", "--help", "--cost", "abc"});
  EXPECT_EQ(acquire.exit_code, kExitOk);
  EXPECT_THAT(acquire.out, AllOf(HasSubstr("--operation"),
                                 HasSubstr("--cost"), HasSubstr("peeks")));
  const CliResult health = RunWith({"health", "-h"});
  EXPECT_EQ(health.exit_code, kExitOk);
  EXPECT_THAT(health.out, HasSubstr("--service NAME"));
}

TEST(CliArgsTest, MissingOperationNamesTheFlag) {
  const CliResult r = RunWith({"acquire", "--key", "user:1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --operation is required\n"));
}

TEST(CliArgsTest, MissingKeyNamesTheFlag) {
  const CliResult r = RunWith({"acquire", "--operation=embed"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --key is required\n"));
}

TEST(CliArgsTest, FlagWithoutValueIsUsageError) {
  const CliResult r = RunWith({"acquire", "--key", "k", "--operation"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --operation: 1 required OP missing"));
  // A following flag is not taken as the value.
  const CliResult r2 = RunWith({"acquire", "--operation", "--key", "k"});
  EXPECT_EQ(r2.exit_code, kExitUsage);
  EXPECT_THAT(r2.err,
              HasSubstr("error: --operation: needs a value (got the flag --key)"));
}

TEST(CliArgsTest, BadCostIsUsageError) {
  for (const char* cost : {"-1", "abc", "99999999999", "4294967296", "1.5",
                           " 3", "+2", "0x10", "1e3"}) {
    const CliResult r = RunWith({"acquire", "--operation", "embed", "--key", "k",
                             std::string("--cost=") + cost});
    EXPECT_EQ(r.exit_code, kExitUsage) << "cost '" << cost << "'";
    EXPECT_THAT(r.err, HasSubstr("--cost: expected an integer in [0, "
                                 "4294967295], got '" +
                                 std::string(cost) + "'"))
        << "cost '" << cost << "'";
  }
  // `--cost=` is --cost without a value.
  const CliResult empty =
      RunWith({"acquire", "--operation", "embed", "--key", "k", "--cost="});
  EXPECT_EQ(empty.exit_code, kExitUsage);
  EXPECT_THAT(empty.err, HasSubstr("error: --cost: 1 required N missing"));
}

TEST(CliArgsTest, NegativeCostAsSeparateValueIsUsageError) {
  // "-1" after --cost is the value, not an unknown flag.
  const CliResult r =
      RunWith({"acquire", "--operation", "embed", "--key", "k", "--cost", "-1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--cost: expected an integer"));
}

TEST(CliArgsTest, BadTimeoutIsUsageError) {
  for (const char* timeout : {"0", "-5", "soon", "86400001"}) {
    const CliResult r =
        RunWith({"health", "--timeout-ms", timeout, "--target", kDeadTarget});
    EXPECT_EQ(r.exit_code, kExitUsage) << timeout;
    EXPECT_THAT(r.err, HasSubstr("--timeout-ms: expected an integer in [1, "))
        << timeout;
  }
}

TEST(CliArgsTest, RepeatedFlagAndStrayArgumentsAreUsageErrors) {
  const CliResult twice =
      RunWith({"acquire", "--operation=a", "--operation=b", "--key=k"});
  EXPECT_EQ(twice.exit_code, kExitUsage);
  EXPECT_THAT(twice.err,
              HasSubstr("error: --operation: At Most 1 required but received 2"));
  const CliResult stray = RunWith({"health", "extra"});
  EXPECT_EQ(stray.exit_code, kExitUsage);
  EXPECT_THAT(stray.err, HasSubstr("error: unexpected argument 'extra'"));
  const CliResult json = RunWith({"health", "--json=yes"});
  EXPECT_EQ(json.exit_code, kExitUsage);
  EXPECT_THAT(json.err, HasSubstr("error: json was given a disallowed flag "
                                  "override"));
}

TEST(CliArgsTest, EmptyTargetIsUsageError) {
  CliResult r = RunWith({"health", "--target="});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --target: 1 required HOST:PORT missing"));
  r = RunWith({"health", "--target", ""});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --target: must not be empty"));
}

TEST(CliArgsTest, UnreachableTargetIsRpcError) {
  const CliResult r =
      RunWith({"--target", kDeadTarget, "--timeout-ms", "200", "acquire",
           "--operation", "embed", "--key", "user:1", "--cost", "0"});
  EXPECT_EQ(r.exit_code, kExitRpcError);
  EXPECT_THAT(r.err, AllOf(AnyOf(HasSubstr("error: UNAVAILABLE: "),
                                 HasSubstr("error: DEADLINE_EXCEEDED: ")),
                           HasSubstr("(target 127.0.0.1:1)")));
  EXPECT_THAT(r.err, Not(HasSubstr("Usage:")));
  EXPECT_THAT(r.out, IsEmpty());
}

TEST(CliArgsTest, UnreachableHealthIsRpcErrorWithGlobalFlagsAfterCommand) {
  const CliResult r = RunWith({"health", "--json", "--service", "database",
                           "--target=127.0.0.1:1", "--timeout-ms=200"});
  EXPECT_EQ(r.exit_code, kExitRpcError);
  EXPECT_THAT(r.err, AnyOf(HasSubstr("error: UNAVAILABLE: "),
                           HasSubstr("error: DEADLINE_EXCEEDED: ")));
}

TEST(CliArgsTest, TargetComesFromEnvironmentWhenFlagAbsent) {
  ASSERT_EQ(setenv("CROSSBRIDGE_TARGET", kDeadTarget, /*overwrite=*/1), 0);
  const CliResult r = RunWith({"health", "--timeout-ms", "200"});
  unsetenv("CROSSBRIDGE_TARGET");
  EXPECT_EQ(r.exit_code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("(target 127.0.0.1:1)"));
}

TEST(CliArgsTest, RetryNeedsAttemptAndExactlyOneFailure) {
  CliResult r = RunWith({"retry", "--code", "UNAVAILABLE"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --attempt is required\n"));
  r = RunWith({"retry", "--attempt", "1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err,
              HasSubstr("exactly one of --code and --http-status is required"));
  r = RunWith({"retry", "--attempt", "1", "--code", "14", "--http-status",
               "503"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --code excludes --http-status"));
  r = RunWith({"retry", "--attempt", "0", "--http-status", "503"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--attempt: expected an integer in [1, "));
  r = RunWith({"retry", "--attempt", "1", "--http-status", "99"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--http-status: expected an integer in [100, "
                               "599]"));
  r = RunWith({"retry", "--attempt", "1", "--code", "BOGUS"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --code: unknown gRPC status code "
                               "\"BOGUS\""));
}

TEST(CliArgsTest, ReportNeedsProviderAndExactlyOneOutcome) {
  CliResult r = RunWith({"report", "--success"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --provider is required\n"));
  r = RunWith({"report", "--provider", "db"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err,
              HasSubstr("exactly one of --success and --failure is required"));
  r = RunWith({"report", "--provider", "db", "--success", "--failure"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --success excludes --failure"));
  r = RunWith({"report", "--provider", "db", "--success=yes"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("success was given a disallowed flag override"));
  r = RunWith({"report", "--provider", "db", "--failure", "--latency-ms",
               "soon"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --latency-ms: expected an integer in "
                               "[0, 86400000], got 'soon'"));
}

TEST(CliArgsTest, NewFlagsBelongToTheirCommands) {
  CliResult r = RunWith({"acquire", "--operation", "o", "--key", "k",
                         "--watch"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: unknown flag --watch\n"));
  r = RunWith({"health", "--code", "14"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: unknown flag --code\n"));
  // A command's flag before the command is not a global flag.
  r = RunWith({"--service", "db", "health"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: unknown flag --service\n"));
  r = RunWith({"health", "--watch", "--watch-seconds", "0"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--watch-seconds: expected an integer in [1, "
                               "86400]"));
}

TEST(CliArgsTest, NewCommandsHaveHelp) {
  const CliResult main_help = RunWith({"--help"});
  EXPECT_THAT(main_help.out, AllOf(HasSubstr("retry"), HasSubstr("report")));
  const CliResult retry = RunWith({"retry", "--help"});
  EXPECT_EQ(retry.exit_code, kExitOk);
  EXPECT_THAT(retry.out, AllOf(HasSubstr("--http-status"),
                               HasSubstr("--retry-after-ms")));
  const CliResult report = RunWith({"report", "-h"});
  EXPECT_THAT(report.out, AllOf(HasSubstr("--provider"), HasSubstr("--failure")));
  const CliResult health = RunWith({"health", "-h"});
  EXPECT_THAT(health.out, HasSubstr("--watch-seconds"));
}

TEST(CliArgsTest, NewCommandsAgainstUnreachableTargetAreRpcErrors) {
  for (std::initializer_list<std::string> args :
       {std::initializer_list<std::string>{"retry", "--attempt", "1",
                                           "--http-status", "503"},
        std::initializer_list<std::string>{"report", "--provider", "db",
                                           "--failure"},
        std::initializer_list<std::string>{"health", "--watch",
                                           "--watch-seconds", "5"}}) {
    std::vector<std::string> all(args);
    all.insert(all.end(), {"--target", kDeadTarget, "--timeout-ms", "300"});
    std::vector<char*> argv;
    std::string name = "crossbridge-cli";
    argv.push_back(name.data());
    for (std::string& a : all) argv.push_back(a.data());
    std::ostringstream out, err;
    const int code = RunCli(static_cast<int>(argv.size()), argv.data(), out,
                            err);
    EXPECT_EQ(code, kExitRpcError) << *args.begin() << ": " << err.str();
    EXPECT_THAT(err.str(), AnyOf(HasSubstr("error: UNAVAILABLE: "),
                                 HasSubstr("error: DEADLINE_EXCEEDED: ")));
  }
}

// Each command parses with the global flags before it, after it, or split,
// in both `--name value` and `--name=value` forms: the call gets as far as
// the RPC (exit 3, naming the target).
TEST(CliArgsTest, EveryCommandTakesGlobalFlagsBeforeOrAfterIt) {
  const std::vector<std::vector<std::string>> commands = {
      {"acquire", "--operation", "embed", "--key=user:1", "--cost", "0"},
      {"health", "--service=database"},
      {"health", "--watch", "--watch-seconds=2"},
      {"retry", "--policy=default", "--attempt", "2", "--code=UNAVAILABLE",
       "--retry-after-ms", "5", "--deadline-ms=100", "--dependency", "db"},
      {"report", "--provider=db", "--failure", "--latency-ms=7", "--code",
       "503"}};
  const std::vector<std::string> globals = {"--target=127.0.0.1:1", "--json",
                                            "--timeout-ms", "200"};
  for (const std::vector<std::string>& command : commands) {
    for (int placement = 0; placement < 3; ++placement) {
      std::vector<std::string> args;
      if (placement == 0) {  // all before
        args = globals;
        args.insert(args.end(), command.begin(), command.end());
      } else if (placement == 1) {  // all after
        args = command;
        args.insert(args.end(), globals.begin(), globals.end());
      } else {  // split around the command
        args = {globals[0], globals[1]};
        args.insert(args.end(), command.begin(), command.end());
        args.insert(args.end(), {globals[2], globals[3]});
      }
      std::vector<char*> argv;
      std::string name = "crossbridge-cli";
      argv.push_back(name.data());
      for (std::string& a : args) argv.push_back(a.data());
      std::ostringstream out, err;
      const int code =
          RunCli(static_cast<int>(argv.size()), argv.data(), out, err);
      EXPECT_EQ(code, kExitRpcError)
          << command[0] << " placement " << placement << ": " << err.str();
      EXPECT_THAT(err.str(), AllOf(AnyOf(HasSubstr("error: UNAVAILABLE: "),
                                         HasSubstr("error: DEADLINE_EXCEEDED: ")),
                                   HasSubstr("(target 127.0.0.1:1)")))
          << command[0] << " placement " << placement;
      EXPECT_THAT(out.str(), IsEmpty());
    }
  }
}

TEST(CliArgsTest, HelpIsTheUsageOfTheCommand) {
  const CliResult main_help = RunWith({"--help"});
  EXPECT_EQ(main_help.exit_code, kExitOk);
  EXPECT_THAT(main_help.out,
              AllOf(HasSubstr("Usage: crossbridge-cli [OPTIONS] [SUBCOMMAND]"),
                    HasSubstr("Global flags (before or after the command):"),
                    HasSubstr("Subcommands:"),
                    HasSubstr("--target HOST:PORT (Env:CROSSBRIDGE_TARGET)")));
  // -h after global flags and the command: the command's usage, with the
  // global flags and exit codes after its own.
  const CliResult retry = RunWith({"--json", "retry", "--attempt", "0", "-h"});
  EXPECT_EQ(retry.exit_code, kExitOk);
  EXPECT_THAT(retry.err, IsEmpty());
  EXPECT_THAT(retry.out,
              AllOf(HasSubstr("Usage: crossbridge-cli retry [OPTIONS]"),
                    HasSubstr("--attempt N REQUIRED"),
                    HasSubstr("Global flags (before or after the command):"),
                    HasSubstr("--timeout-ms N"), HasSubstr("Exit codes:")));
}

TEST(CliArgsTest, FlagTargetWinsOverTheEnvironment) {
  ASSERT_EQ(setenv("CROSSBRIDGE_TARGET", "127.0.0.1:2", /*overwrite=*/1), 0);
  const CliResult r =
      RunWith({"health", "--timeout-ms", "200", "--target", kDeadTarget});
  unsetenv("CROSSBRIDGE_TARGET");
  EXPECT_EQ(r.exit_code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("(target 127.0.0.1:1)"));
}

// ---- Security flags (--token-file, --tls-*) ----------------------------------
// Against a dead target: a flag that was taken gets as far as the RPC
// (exit 3); a file that cannot be used stops at Create (exit 2).

class CliSecurityFlagsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("CROSSBRIDGE_TOKEN");
    absl::StatusOr<std::unique_ptr<testing::TestPki>> pki =
        testing::TestPki::Create();
    ASSERT_THAT(pki, testing::IsOk());
    pki_ = *std::move(pki);
    token_file_ = pki_->dir() + "/token";
    std::ofstream(token_file_) << "file-token\n";
  }
  void TearDown() override { unsetenv("CROSSBRIDGE_TOKEN"); }

  std::unique_ptr<testing::TestPki> pki_;
  std::string token_file_;
};

TEST_F(CliSecurityFlagsTest, FlagsAreAcceptedBeforeAndAfterTheCommand) {
  absl::StatusOr<testing::CertFiles> cert = pki_->IssueClient("cli", 1);
  ASSERT_THAT(cert, testing::IsOk());
  const CliResult before = RunWith(
      {"--tls-ca", pki_->ca_cert(), "--token-file", token_file_, "--tls-cert",
       cert->cert, "--tls-key", cert->key, "--tls-server-name=localhost",
       "health", "--target", kDeadTarget, "--timeout-ms", "200"});
  EXPECT_EQ(before.exit_code, kExitRpcError) << before.err;
  EXPECT_THAT(before.err, AnyOf(HasSubstr("error: UNAVAILABLE: "),
                                HasSubstr("error: DEADLINE_EXCEEDED: ")));
  const CliResult after = RunWith(
      {"acquire", "--operation", "embed", "--key", "k", "--target", kDeadTarget,
       "--timeout-ms=200", "--tls-ca=" + pki_->ca_cert(),
       "--token-file=" + token_file_, "--tls-cert", cert->cert, "--tls-key",
       cert->key});
  EXPECT_EQ(after.exit_code, kExitRpcError) << after.err;
  // --tls-server-name alone turns TLS on (system roots).
  const CliResult name_only =
      RunWith({"health", "--tls-server-name", "localhost", "--target",
               kDeadTarget, "--timeout-ms", "200"});
  EXPECT_EQ(name_only.exit_code, kExitRpcError) << name_only.err;
}

TEST_F(CliSecurityFlagsTest, CertWithoutKeyIsUsageErrorNamingBoth) {
  absl::StatusOr<testing::CertFiles> cert = pki_->IssueClient("cli", 1);
  ASSERT_THAT(cert, testing::IsOk());
  const std::vector<std::vector<std::string>> halves = {
      {"--tls-cert", cert->cert}, {"--tls-key", cert->key}};
  for (const std::vector<std::string>& half : halves) {
    std::vector<std::string> args = {"health", "--target", kDeadTarget,
                                     "--tls-ca", pki_->ca_cert()};
    args.insert(args.end(), half.begin(), half.end());
    std::vector<char*> argv;
    std::string name = "crossbridge-cli";
    argv.push_back(name.data());
    for (std::string& a : args) argv.push_back(a.data());
    std::ostringstream out, err;
    EXPECT_EQ(RunCli(static_cast<int>(argv.size()), argv.data(), out, err),
              kExitUsage);
    EXPECT_THAT(err.str(),
                AllOf(AnyOf(HasSubstr("error: --tls-cert requires --tls-key"),
                            HasSubstr("error: --tls-key requires --tls-cert")),
                      HasSubstr("Usage:")));
  }
}

TEST_F(CliSecurityFlagsTest, EmptyValuesAreUsageErrors) {
  for (const char* flag :
       {"--token-file", "--tls-ca", "--tls-cert", "--tls-key",
        "--tls-server-name"}) {
    CliResult r = RunWith({"health", std::string(flag) + "="});
    EXPECT_EQ(r.exit_code, kExitUsage) << flag;
    EXPECT_THAT(r.err, HasSubstr(std::string(flag) + ": 1 required "));
    r = RunWith({"health", flag, ""});
    EXPECT_EQ(r.exit_code, kExitUsage) << flag;
    EXPECT_THAT(r.err, HasSubstr(std::string(flag) + ": must not be empty"));
  }
  const CliResult twice = RunWith({"health", "--tls-ca", pki_->ca_cert(),
                                   "--tls-ca", pki_->ca_cert()});
  EXPECT_EQ(twice.exit_code, kExitUsage);
  EXPECT_THAT(twice.err,
              HasSubstr("error: --tls-ca: At Most 1 required but received 2"));
}

TEST_F(CliSecurityFlagsTest, UnreadableFilesAreUsageErrorsNamingTheFlag) {
  const std::string missing = pki_->dir() + "/missing.pem";
  CliResult r = RunWith({"health", "--target", kDeadTarget, "--tls-ca", missing});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --tls-ca: cannot read \"" + missing +
                               "\": No such file or directory"));
  r = RunWith({"health", "--target", kDeadTarget, "--token-file", missing});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --token-file: cannot read \"" + missing +
                               "\""));
  r = RunWith({"health", "--target", kDeadTarget, "--tls-cert", missing,
               "--tls-key", missing});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("error: --tls-cert: cannot read"));
}

TEST_F(CliSecurityFlagsTest, TokenComesFromEnvironmentUnlessTheFlagIsGiven) {
  // A token that is not a valid header value shows that the environment was
  // read (without echoing the token).
  ASSERT_EQ(setenv("CROSSBRIDGE_TOKEN", "env secret", 1), 0);
  CliResult r = RunWith({"health", "--target", kDeadTarget, "--timeout-ms",
                         "200"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, AllOf(HasSubstr("error: $CROSSBRIDGE_TOKEN: the token "
                                     "must be printable ASCII"),
                           Not(HasSubstr("env secret"))));
  // --token-file wins: the environment is not looked at.
  r = RunWith({"health", "--target", kDeadTarget, "--timeout-ms", "200",
               "--token-file", token_file_});
  EXPECT_EQ(r.exit_code, kExitRpcError) << r.err;
  // Set but empty: no token.
  ASSERT_EQ(setenv("CROSSBRIDGE_TOKEN", "", 1), 0);
  r = RunWith({"health", "--target", kDeadTarget, "--timeout-ms", "200"});
  EXPECT_EQ(r.exit_code, kExitRpcError) << r.err;
}

TEST(CliArgsTest, HelpListsSecurityFlags) {
  for (const char* command : {"--help", "acquire"}) {
    const CliResult r = command == std::string("--help")
                            ? RunWith({"--help"})
                            : RunWith({command, "--help"});
    EXPECT_EQ(r.exit_code, kExitOk);
    EXPECT_THAT(r.out,
                AllOf(HasSubstr("--token-file PATH"),
                      HasSubstr("$CROSSBRIDGE_TOKEN"),
                      HasSubstr("--tls-ca PATH"), HasSubstr("--tls-cert PATH"),
                      HasSubstr("--tls-key PATH"),
                      HasSubstr("--tls-server-name NAME"),
                      HasSubstr("system roots")))
        << command;
  }
}

}  // namespace
}  // namespace crossbridge
