// Argument handling of crossbridge-cli, run in-process through RunCli. None of
// these tests needs a server: they stop at a usage error, or talk to a port
// where nothing listens.
#include "client/cli.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

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
  EXPECT_THAT(r.err, AllOf(HasSubstr("unknown command 'frobnicate'"),
                           HasSubstr("Commands:")));
}

TEST(CliArgsTest, UnknownFlagIsUsageErrorWithCommandUsage) {
  const CliResult r =
      RunWith({"acquire", "--operation", "embed", "--key", "k", "--bogus", "1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, AllOf(HasSubstr("unknown flag --bogus"),
                           HasSubstr("acquire --operation OP --key KEY")));
}

TEST(CliArgsTest, FlagOfOtherCommandIsUsageError) {
  const CliResult r = RunWith({"health", "--key", "user:1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err,
              HasSubstr("flag --key does not apply to command 'health'"));
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
  EXPECT_THAT(r.err, HasSubstr("missing required flag --operation"));
}

TEST(CliArgsTest, MissingKeyNamesTheFlag) {
  const CliResult r = RunWith({"acquire", "--operation=embed"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("missing required flag --key"));
}

TEST(CliArgsTest, FlagWithoutValueIsUsageError) {
  const CliResult r = RunWith({"acquire", "--key", "k", "--operation"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("flag --operation needs a value"));
  // A following flag is not taken as the value.
  const CliResult r2 = RunWith({"acquire", "--operation", "--key", "k"});
  EXPECT_EQ(r2.exit_code, kExitUsage);
  EXPECT_THAT(r2.err, HasSubstr("flag --operation needs a value"));
}

TEST(CliArgsTest, BadCostIsUsageError) {
  for (const char* cost : {"-1", "abc", "99999999999", "4294967296", "", "1.5",
                           " 3", "+2"}) {
    const CliResult r = RunWith({"acquire", "--operation", "embed", "--key", "k",
                             std::string("--cost=") + cost});
    EXPECT_EQ(r.exit_code, kExitUsage) << "cost '" << cost << "'";
    EXPECT_THAT(r.err, HasSubstr("--cost: expected an integer in [0, "
                                 "4294967295], got '" +
                                 std::string(cost) + "'"))
        << "cost '" << cost << "'";
  }
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
  EXPECT_THAT(twice.err, HasSubstr("flag --operation given more than once"));
  const CliResult stray = RunWith({"health", "extra"});
  EXPECT_EQ(stray.exit_code, kExitUsage);
  EXPECT_THAT(stray.err, HasSubstr("unexpected argument 'extra'"));
  const CliResult json = RunWith({"health", "--json=yes"});
  EXPECT_EQ(json.exit_code, kExitUsage);
  EXPECT_THAT(json.err, HasSubstr("--json takes no value"));
}

TEST(CliArgsTest, EmptyTargetIsUsageError) {
  const CliResult r = RunWith({"health", "--target="});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--target must not be empty"));
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
  EXPECT_THAT(r.err, HasSubstr("missing required flag --attempt"));
  r = RunWith({"retry", "--attempt", "1"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err,
              HasSubstr("exactly one of --code and --http-status is required"));
  r = RunWith({"retry", "--attempt", "1", "--code", "14", "--http-status",
               "503"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  r = RunWith({"retry", "--attempt", "0", "--http-status", "503"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--attempt: expected an integer in [1, "));
  r = RunWith({"retry", "--attempt", "1", "--http-status", "99"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--http-status: expected an integer in [100, "
                               "599]"));
  r = RunWith({"retry", "--attempt", "1", "--code", "BOGUS"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--code: "));
}

TEST(CliArgsTest, ReportNeedsProviderAndExactlyOneOutcome) {
  CliResult r = RunWith({"report", "--success"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("missing required flag --provider"));
  r = RunWith({"report", "--provider", "db"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err,
              HasSubstr("exactly one of --success and --failure is required"));
  r = RunWith({"report", "--provider", "db", "--success", "--failure"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  r = RunWith({"report", "--provider", "db", "--success=yes"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("--success takes no value"));
}

TEST(CliArgsTest, NewFlagsBelongToTheirCommands) {
  CliResult r = RunWith({"acquire", "--operation", "o", "--key", "k",
                         "--watch"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err,
              HasSubstr("flag --watch does not apply to command 'acquire'"));
  r = RunWith({"health", "--code", "14"});
  EXPECT_EQ(r.exit_code, kExitUsage);
  EXPECT_THAT(r.err, HasSubstr("flag --code does not apply to command "
                               "'health'"));
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

}  // namespace
}  // namespace crossbridge
