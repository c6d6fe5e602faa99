// ChildProcess, the plumbing under ServerProcess, RunCommand and RedisServer.
#include "tests/testing/subprocess.h"

#include <signal.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <utility>

#include "tests/testing/status_matchers.h"

namespace crossbridge::testing {
namespace {

using ::testing::HasSubstr;

TEST(ChildProcessTest, CapturesOutputAndExitCode) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn(
      {"/bin/sh", "-c", "echo out; echo err >&2; echo \"$X\"; pwd; exit 3"},
      {"X=from-env"}, "/tmp");
  ASSERT_THAT(child, IsOk());
  absl::StatusOr<int> code = child->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, 3);
  EXPECT_EQ(child->Stdout(), "out\nfrom-env\n/tmp\n");
  EXPECT_EQ(child->Stderr(), "err\n");
  EXPECT_THAT(child->WaitForExit(absl::ZeroDuration()), IsOk());  // recorded
}

TEST(ChildProcessTest, SignalAndTimeout) {
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Spawn({"/bin/sh", "-c", "exec sleep 60"});
  ASSERT_THAT(child, IsOk());
  EXPECT_THAT(child->WaitForExit(absl::Milliseconds(100)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  child->Signal(SIGTERM);
  absl::StatusOr<int> code = child->WaitForExit(absl::Seconds(10));
  ASSERT_THAT(code, IsOk());
  EXPECT_EQ(*code, -1);  // killed by a signal
}

TEST(ChildProcessTest, MovedThenDestroyedKillsTheChild) {
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Spawn({"/bin/sh", "-c", "exec sleep 60"});
  ASSERT_THAT(child, IsOk());
  const pid_t pid = child->pid();
  {
    ChildProcess moved = std::move(*child);
    EXPECT_EQ(moved.pid(), pid);
    EXPECT_EQ(child->pid(), -1);
  }
  // Reaped by the destructor: no such process any more.
  EXPECT_NE(kill(pid, 0), 0);
}

TEST(ChildProcessTest, WaitUntilReportsAnEarlyExit) {
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Spawn({"/bin/sh", "-c", "echo bye >&2; exit 2"});
  ASSERT_THAT(child, IsOk());
  EXPECT_THAT(child->WaitUntil([] { return false; }, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("bye")));
}

TEST(ChildProcessTest, ExecFailureIsExit127) {
  absl::StatusOr<ChildProcess> child = ChildProcess::Spawn({"/nonexistent/x"});
  ASSERT_THAT(child, IsOk());
  EXPECT_EQ(child->WaitForExit(absl::Seconds(10)).value_or(0), 127);
}

TEST(RunCommandTest, TimesOutAndKills) {
  EXPECT_THAT(RunCommand({"/bin/sh", "-c", "exec sleep 60"}, absl::Milliseconds(100)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  absl::StatusOr<CommandResult> r =
      RunCommand({"/bin/sh", "-c", "echo hi"}, absl::Seconds(10));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out, "hi\n");
}

}  // namespace
}  // namespace crossbridge::testing
