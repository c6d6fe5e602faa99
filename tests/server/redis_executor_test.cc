// RedisExecutor against a scripted fake Redis on a real socket, for reply
// sequences a real redis-server cannot be made to produce on cue. The
// contract under test (script_executor.h): every call's callback runs
// exactly once, whatever the replies.
#include "server/redis/redis_executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/tcp_listener.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TcpListener;

// One side of a fake Redis connection: reads whole RESP commands (arrays of
// bulk strings, as hiredis sends them) and writes raw replies.
class FakeRedisPeer {
 public:
  explicit FakeRedisPeer(int fd) : fd_(fd) {}
  ~FakeRedisPeer() { close(fd_); }

  // The next command's words, or nullopt once the client has gone.
  std::optional<std::vector<std::string>> ReadCommand() {
    for (;;) {
      if (std::optional<std::vector<std::string>> c = Parse()) return c;
      char buf[4096];
      const ssize_t n = read(fd_, buf, sizeof(buf));
      if (n <= 0) return std::nullopt;
      buf_.append(buf, static_cast<size_t>(n));
    }
  }

  void Write(const std::string& reply) { (void)write(fd_, reply.data(), reply.size()); }

  // Answers what the executor sends on its own (PING, SCRIPT LOAD);
  // false for anything else.
  bool AnswerHandshake(const std::string& verb) {
    if (verb == "PING") {
      Write("+PONG\r\n");
    } else if (verb == "SCRIPT") {
      Write("$40\r\n" + std::string(40, 'a') + "\r\n");
    } else {
      return false;
    }
    return true;
  }

 private:
  // Takes one complete command off the front of buf_, if there is one.
  std::optional<std::vector<std::string>> Parse() {
    size_t pos = 0;
    auto number_line = [&](char type) -> std::optional<size_t> {
      const size_t end = buf_.find("\r\n", pos);
      if (end == std::string::npos || buf_[pos] != type) return std::nullopt;
      size_t n = 0;
      if (!absl::SimpleAtoi(buf_.substr(pos + 1, end - pos - 1), &n)) return std::nullopt;
      pos = end + 2;
      return n;
    };
    const std::optional<size_t> words = number_line('*');
    if (!words) return std::nullopt;
    std::vector<std::string> out;
    for (size_t i = 0; i < *words; ++i) {
      const std::optional<size_t> len = number_line('$');
      if (!len || buf_.size() < pos + *len + 2) return std::nullopt;
      out.push_back(buf_.substr(pos, *len));
      pos += *len + 2;
    }
    buf_.erase(0, pos);
    return out;
  }

  const int fd_;
  std::string buf_;
};

// Serves `listener`'s first connection on a thread of its own: answers the
// handshake (PING, SCRIPT LOAD) and hands every other command to
// `on_command`, which answers through the peer and returns false to close
// the connection.
using OnCommand = std::function<bool(FakeRedisPeer&, const std::vector<std::string>&)>;
std::thread ServeFake(TcpListener& listener, OnCommand on_command) {
  return std::thread([&listener, on_command = std::move(on_command)] {
    const int fd = accept(listener.fd(), nullptr, nullptr);
    if (fd < 0) return;
    FakeRedisPeer peer(fd);
    while (std::optional<std::vector<std::string>> cmd = peer.ReadCommand()) {
      if (peer.AnswerHandshake((*cmd)[0])) continue;
      if (!on_command(peer, *cmd)) return;
    }
  });
}

RedisStorageConfig FakeConfig(int port) {
  RedisStorageConfig c;
  c.host = "127.0.0.1";
  c.port = port;
  c.connections = 1;
  c.timeout = absl::Seconds(2);
  c.connect_timeout = absl::Seconds(2);
  c.reconnect_max_backoff = absl::Milliseconds(200);
  return c;
}

// Starts `executor` and waits up to 2 s for its connection to the fake.
bool StartAndConnect(RedisExecutor& executor) {
  executor.Start([](bool) {});
  for (int i = 0; i < 200 && !executor.reachable(); ++i) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  return executor.reachable();
}

// Collects the outcome of each call, by index.
class Outcomes {
 public:
  explicit Outcomes(size_t n) : results_(n) {}

  ScriptExecutor::ReplyCallback For(size_t i) {
    return [this, i](absl::StatusOr<ReplyPtr> r) {
      MutexLock lock(&mu_);
      ++calls_;
      // Code and text, not the Status: its shared payload's reference
      // count lives in Debian's uninstrumented libabsl_status, which TSan
      // would see as a race once the worker's copy and ours both drop it.
      results_[i] = Result{r.status().code(), std::string(r.status().message())};
    };
  }

  // True once every call has been answered (exactly `results_.size()`
  // answers), within `timeout`.
  bool AllAnswered(absl::Duration timeout) {
    MutexLock lock(&mu_);
    return lock.AwaitWithTimeout(
        [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return calls_ >= results_.size(); },
        timeout);
  }

  absl::Status result(size_t i) {
    MutexLock lock(&mu_);
    if (!results_[i]) return absl::InternalError("no answer");
    return absl::Status(results_[i]->code, results_[i]->message);
  }
  size_t calls() {
    MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  size_t calls_ ABSL_GUARDED_BY(mu_) = 0;
  struct Result {
    absl::StatusCode code;
    std::string message;
  };
  std::vector<std::optional<Result>> results_ ABSL_GUARDED_BY(mu_);
};

// A batch in which one call meets NOSCRIPT (scripts flushed) and the
// connection then drops before the next reply: the NOSCRIPT call was set
// aside for a retry after reloading, and must fail with the rest instead
// of never being answered.
TEST(RedisExecutorTest, ACallSetAsideByNoscriptIsAnsweredWhenTheConnectionDrops) {
  TcpListener listener;
  ASSERT_TRUE(listener.Open().ok());
  std::atomic<bool> second_batch_seen{false};
  int evals = 0;
  std::thread fake = ServeFake(listener, [&](FakeRedisPeer& peer,
                                             const std::vector<std::string>& cmd) {
    if (cmd[0] == "EVALSHA" && ++evals == 1) {
      // Held while the test sends two more.
      absl::SleepFor(absl::Milliseconds(300));
      peer.Write(":1\r\n");
    } else if (cmd[0] == "EVALSHA" && evals == 3) {
      second_batch_seen = true;
      peer.Write("-NOSCRIPT No matching script. Please use EVAL.\r\n");
      return false;  // closes before the third reply
    }
    return true;
  });

  RedisExecutor executor(FakeConfig(listener.port()), RealClock::Get());
  const ScriptExecutor::Script script = executor.Register("return 1");
  ASSERT_TRUE(StartAndConnect(executor));

  Outcomes outcomes(3);
  executor.Eval(script, "k1", {}, outcomes.For(0));
  absl::SleepFor(absl::Milliseconds(100));
  executor.Eval(script, "k2", {}, outcomes.For(1));
  executor.Eval(script, "k3", {}, outcomes.For(2));

  EXPECT_TRUE(outcomes.AllAnswered(absl::Seconds(5)))
      << outcomes.calls() << " of 3 calls answered";
  fake.join();
  listener.Close();
  EXPECT_TRUE(second_batch_seen);
  EXPECT_TRUE(outcomes.result(0).ok()) << outcomes.result(0);
  EXPECT_THAT(outcomes.result(1), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(outcomes.result(2), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_EQ(outcomes.calls(), 3u);
}

// EvalBatch writes its calls together: the fake answers none until it has
// read all three (an executor that waited for each reply before sending the
// next would time out), then answers in order, and each call gets its own
// reply. Keys and arguments are views that die when EvalBatch returns.
TEST(RedisExecutorTest, ABatchIsSentAsOnePipelineAndAnsweredInOrder) {
  TcpListener listener;
  ASSERT_TRUE(listener.Open().ok());
  std::vector<std::vector<std::string>> evals;
  std::thread fake = ServeFake(listener, [&](FakeRedisPeer& peer,
                                             const std::vector<std::string>& cmd) {
    if (cmd[0] != "EVALSHA") return true;
    evals.push_back(cmd);
    if (evals.size() < 3) return true;
    peer.Write(":1\r\n:2\r\n:3\r\n");
    return false;
  });

  RedisExecutor executor(FakeConfig(listener.port()), RealClock::Get());
  const ScriptExecutor::Script script = executor.Register("return 1");
  ASSERT_TRUE(StartAndConnect(executor));

  std::vector<int64_t> replies(3, -1);
  absl::Mutex mu;
  int answered = 0;
  {
    std::vector<std::string> keys = {"k1", "k2", "k3"};
    std::vector<std::string> args = {"a1", "a2", "a3"};
    std::vector<absl::string_view> views[3];
    std::vector<ScriptExecutor::BatchCall> calls;
    for (int i = 0; i < 3; ++i) {
      views[i] = {args[i]};
      calls.push_back({script, keys[i], views[i],
                       [&, i](absl::StatusOr<ReplyPtr> r) {
                         MutexLock lock(&mu);
                         ++answered;
                         if (r.ok() && (*r)->type == REDIS_REPLY_INTEGER) {
                           replies[i] = (*r)->integer;
                         }
                       }});
    }
    executor.EvalBatch(absl::MakeSpan(calls));
  }  // keys and args are gone before Redis answers
  {
    MutexLock lock(&mu);
    ASSERT_TRUE(lock.AwaitWithTimeout(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return answered == 3; }, absl::Seconds(5)));
  }
  fake.join();
  listener.Close();
  EXPECT_EQ(replies, (std::vector<int64_t>{1, 2, 3}));
  ASSERT_EQ(evals.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    // EVALSHA <sha of "return 1"> 1 k<i> a<i>
    EXPECT_EQ(evals[i], (std::vector<std::string>{
                            "EVALSHA", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "1",
                            absl::StrCat("k", i + 1), absl::StrCat("a", i + 1)}));
  }
}

// Redis lost its scripts (SCRIPT FLUSH, a restart): the call that met
// NOSCRIPT is sent once more as EVAL of the source, and gets that reply.
TEST(RedisExecutorTest, NoscriptIsAnsweredBySendingTheCallAgainAsEval) {
  TcpListener listener;
  ASSERT_TRUE(listener.Open().ok());
  std::vector<std::string> eval;
  std::thread fake = ServeFake(listener, [&](FakeRedisPeer& peer,
                                             const std::vector<std::string>& cmd) {
    if (cmd[0] == "EVALSHA") {
      peer.Write("-NOSCRIPT No matching script. Please use EVAL.\r\n");
    } else if (cmd[0] == "EVAL") {
      eval = cmd;
      peer.Write(":7\r\n");
      return false;
    }
    return true;
  });

  RedisExecutor executor(FakeConfig(listener.port()), RealClock::Get());
  const ScriptExecutor::Script script = executor.Register("return 7");
  ASSERT_TRUE(StartAndConnect(executor));

  absl::Mutex mu;
  std::optional<int64_t> reply;
  bool answered = false;
  executor.Eval(script, "k", {"a"}, [&](absl::StatusOr<ReplyPtr> r) {
    MutexLock lock(&mu);
    answered = true;
    if (r.ok() && (*r)->type == REDIS_REPLY_INTEGER) reply = (*r)->integer;
  });
  {
    MutexLock lock(&mu);
    ASSERT_TRUE(lock.AwaitWithTimeout(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return answered; }, absl::Seconds(5)));
    EXPECT_EQ(reply, 7);
  }
  fake.join();
  EXPECT_EQ(eval, (std::vector<std::string>{"EVAL", "return 7", "1", "k", "a"}));
}

// Calls far larger than the socket buffers, while the peer reads nothing:
// Eval never blocks (the link's thread sends the rest when the socket
// drains), and once the peer reads, every call gets its own reply.
TEST(RedisExecutorTest, BytesRedisCannotTakeYetAreSentWhenItReadsAgain) {
  constexpr int kCalls = 64;
  const std::string big(256 << 10, 'x');  // 64 x 256 KiB = 16 MiB
  TcpListener listener;
  ASSERT_TRUE(listener.Open().ok());
  absl::Mutex go_mu;
  bool go = false;
  std::atomic<bool> read_before_go{false};
  int evals = 0;
  std::thread fake = ServeFake(listener, [&](FakeRedisPeer& peer,
                                             const std::vector<std::string>& cmd) {
    if (cmd[0] != "EVALSHA") return true;
    if (evals == 0) {
      // Stops reading until every Eval has returned (or 5 s, which would
      // mean an Eval blocked on the socket).
      MutexLock lock(&go_mu);
      if (!lock.AwaitWithTimeout([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return go; },
                                 absl::Seconds(5))) {
        read_before_go = true;
      }
    }
    peer.Write(absl::StrCat(":", evals++, "\r\n"));
    return evals < kCalls;
  });

  RedisStorageConfig config = FakeConfig(listener.port());
  config.timeout = absl::Seconds(20);
  RedisExecutor executor(config, RealClock::Get());
  const ScriptExecutor::Script script = executor.Register("return 1");
  ASSERT_TRUE(StartAndConnect(executor));

  absl::Mutex mu;
  std::vector<int64_t> replies(kCalls, -1);
  int answered = 0;
  for (int i = 0; i < kCalls; ++i) {
    executor.Eval(script, "k", {big}, [&, i](absl::StatusOr<ReplyPtr> r) {
      MutexLock lock(&mu);
      ++answered;
      if (r.ok() && (*r)->type == REDIS_REPLY_INTEGER) replies[i] = (*r)->integer;
    });
  }
  {
    MutexLock lock(&go_mu);
    go = true;
  }
  {
    MutexLock lock(&mu);
    ASSERT_TRUE(lock.AwaitWithTimeout(
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return answered == kCalls; },
        absl::Seconds(30)))
        << answered << " of " << kCalls << " answered";
  }
  fake.join();
  EXPECT_FALSE(read_before_go) << "an Eval blocked until the peer read";
  std::vector<int64_t> expected(kCalls);
  for (int i = 0; i < kCalls; ++i) expected[i] = i;
  EXPECT_EQ(replies, expected);
  EXPECT_EQ(executor.stats().sent_unanswered, 0u);
}

// A peer that accepts and then reads nothing (a hung Redis with full
// buffers): every call fails DEADLINE_EXCEEDED, those Redis never took
// counted as timed out in the queue, the rest as sent but unanswered.
TEST(RedisExecutorTest, ARedisThatStopsReadingFailsEveryCallByItsDeadline) {
  constexpr size_t kCalls = 64;
  const std::string big(256 << 10, 'x');
  TcpListener listener;
  ASSERT_TRUE(listener.Open().ok());
  absl::Mutex done_mu;
  bool done = false;
  std::thread fake = ServeFake(listener, [&](FakeRedisPeer&, const std::vector<std::string>&) {
    // The first call: read no more until the test is over.
    MutexLock lock(&done_mu);
    lock.AwaitWithTimeout([&]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return done; },
                          absl::Seconds(20));
    return false;
  });

  RedisStorageConfig config = FakeConfig(listener.port());
  // Long enough for all 64 Evals to be made before the first deadline
  // (a call made after the drop would fail UNAVAILABLE at once instead).
  config.timeout = absl::Seconds(1) * ::crossbridge::testing::kSlowdown;
  RedisExecutor executor(config, RealClock::Get());
  const ScriptExecutor::Script script = executor.Register("return 1");
  ASSERT_TRUE(StartAndConnect(executor));

  Outcomes outcomes(kCalls);
  for (size_t i = 0; i < kCalls; ++i) executor.Eval(script, "k", {big}, outcomes.For(i));
  EXPECT_TRUE(outcomes.AllAnswered(absl::Seconds(30)))
      << outcomes.calls() << " of " << kCalls << " answered";
  {
    MutexLock lock(&done_mu);
    done = true;
  }
  fake.join();
  for (size_t i = 0; i < kCalls; ++i) {
    EXPECT_THAT(outcomes.result(i), StatusIs(absl::StatusCode::kDeadlineExceeded))
        << "call " << i;
  }
  const RedisExecutor::Stats stats = executor.stats();
  EXPECT_GT(stats.timed_out_queued, 0u);
  EXPECT_GT(stats.sent_unanswered, 0u);
  EXPECT_EQ(stats.timed_out_queued + stats.sent_unanswered, kCalls);
}

}  // namespace
}  // namespace crossbridge
