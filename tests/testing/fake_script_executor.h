// A ScriptExecutor that answers on command, for fast, exact tests of every
// path a Redis-backed store takes: any reply (written as RESP, the bytes
// Redis sends, and parsed by hiredis's own reader into a real redisReply
// tree), an error reply, a timeout, a lost connection.
//
//   FakeScriptExecutor redis;
//   RedisStore store(redis);
//   redis.AnswerNext(":1\r\n");                          // not an array
//   redis.AnswerNext(absl::DeadlineExceededError("t"));  // a timeout
//   redis.AnswerAlways([](const FakeScriptExecutor::Call& c) { ... });
//
// It keeps the ScriptExecutor contract: `done` runs inline in Eval (and
// EvalBatch), exactly once; an error reply ("-OOM ...") arrives as UNAVAILABLE "redis: OOM ...".
// Thread safety: Eval may be called from any thread.
#ifndef CROSSBRIDGE_TESTS_TESTING_FAKE_SCRIPT_EXECUTOR_H_
#define CROSSBRIDGE_TESTS_TESTING_FAKE_SCRIPT_EXECUTOR_H_

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/redis/script_executor.h"

namespace crossbridge::testing {

// RESP bytes as one redisReply tree, read with the server's bounded reader
// (BoundedReplyFunctions). INVALID_ARGUMENT if the bytes are not exactly
// one complete reply, or one beyond those bounds.
absl::StatusOr<ReplyPtr> ParseResp(absl::string_view resp);

class FakeScriptExecutor final : public ScriptExecutor {
 public:
  struct Call {
    size_t script = 0;
    std::string key;
    std::vector<std::string> args;
    std::vector<std::string> more_keys;  // BatchCall::more_keys (KEYS[2..])
  };
  // RESP bytes of the reply, or the status the call completes with.
  using Answer = absl::StatusOr<std::string>;

  Script Register(const char* lua_source) override;
  void Eval(Script script, absl::string_view key, Args args,
            ReplyCallback done) override;
  // Each call in order, as Eval (recorded one by one).
  void EvalBatch(absl::Span<BatchCall> calls) override;

  // Queued answers are used first, in order; then the AnswerAlways function;
  // without one, UNAVAILABLE "fake: no answer programmed".
  void AnswerNext(Answer answer);
  void AnswerAlways(std::function<Answer(const Call&)> answer);

  std::vector<Call> calls() const;
  // Forgets the calls recorded so far (long runs: the fuzzer).
  void ClearCalls();
  // The sources given to Register, by script index.
  std::vector<std::string> scripts() const;

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> scripts_ ABSL_GUARDED_BY(mu_);
  std::deque<Answer> next_ ABSL_GUARDED_BY(mu_);
  std::function<Answer(const Call&)> always_ ABSL_GUARDED_BY(mu_);
  std::vector<Call> calls_ ABSL_GUARDED_BY(mu_);

  void EvalKeys(Script script, absl::string_view key, Args more_keys, Args args,
                ReplyCallback done);
};

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_FAKE_SCRIPT_EXECUTOR_H_
