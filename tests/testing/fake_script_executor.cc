#include "tests/testing/fake_script_executor.h"

#include <hiredis/hiredis.h>

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/mutex.h"

namespace crossbridge::testing {
namespace {

struct ReaderDeleter {
  void operator()(redisReader* r) const { redisReaderFree(r); }
};

}  // namespace

absl::StatusOr<ReplyPtr> ParseResp(absl::string_view resp) {
  // The reader the server's connections use: bounded like theirs.
  std::unique_ptr<redisReader, ReaderDeleter> reader(redisReaderCreateWithFunctions(
      const_cast<redisReplyObjectFunctions*>(BoundedReplyFunctions())));
  if (redisReaderFeed(reader.get(), resp.data(), resp.size()) != REDIS_OK) {
    return absl::InvalidArgumentError("RESP: the reader refused the bytes");
  }
  void* raw = nullptr;
  if (redisReaderGetReply(reader.get(), &raw) != REDIS_OK) {
    return absl::InvalidArgumentError(absl::StrCat("RESP: ", reader->errstr));
  }
  if (raw == nullptr) return absl::InvalidArgumentError("RESP: incomplete reply");
  ReplyPtr reply(static_cast<redisReply*>(raw));
  void* extra = nullptr;
  if (redisReaderGetReply(reader.get(), &extra) != REDIS_OK || extra != nullptr) {
    if (extra != nullptr) freeReplyObject(extra);
    return absl::InvalidArgumentError("RESP: more than one reply");
  }
  return reply;
}

ScriptExecutor::Script FakeScriptExecutor::Register(const char* lua_source) {
  MutexLock lock(&mu_);
  scripts_.emplace_back(lua_source);
  return Script{scripts_.size() - 1};
}

void FakeScriptExecutor::EvalBatch(absl::Span<BatchCall> calls) {
  for (BatchCall& c : calls) EvalKeys(c.script, c.key, c.more_keys, c.args, std::move(c.done));
}

void FakeScriptExecutor::Eval(Script script, absl::string_view key, Args args,
                              ReplyCallback done) {
  EvalKeys(script, key, {}, args, std::move(done));
}

void FakeScriptExecutor::EvalKeys(Script script, absl::string_view key, Args more_keys,
                                  Args args, ReplyCallback done) {
  Call call{script.index, std::string(key), {args.begin(), args.end()},
            {more_keys.begin(), more_keys.end()}};
  Answer answer = absl::UnavailableError("fake: no answer programmed");
  {
    MutexLock lock(&mu_);
    calls_.push_back(call);
    if (!next_.empty()) {
      answer = std::move(next_.front());
      next_.pop_front();
    } else if (always_) {
      answer = always_(call);
    }
  }
  if (!answer.ok()) return done(answer.status());
  absl::StatusOr<ReplyPtr> reply = ParseResp(*answer);
  if (!reply.ok()) return done(reply.status());
  if ((*reply)->type == REDIS_REPLY_ERROR) {
    return done(absl::UnavailableError(
        absl::StrCat("redis: ", RedisConnection::ErrorText(**reply))));
  }
  done(std::move(reply));
}

void FakeScriptExecutor::AnswerNext(Answer answer) {
  MutexLock lock(&mu_);
  next_.push_back(std::move(answer));
}

void FakeScriptExecutor::AnswerAlways(std::function<Answer(const Call&)> answer) {
  MutexLock lock(&mu_);
  always_ = std::move(answer);
}

std::vector<FakeScriptExecutor::Call> FakeScriptExecutor::calls() const {
  MutexLock lock(&mu_);
  return calls_;
}

void FakeScriptExecutor::ClearCalls() {
  MutexLock lock(&mu_);
  calls_.clear();
}

std::vector<std::string> FakeScriptExecutor::scripts() const {
  MutexLock lock(&mu_);
  return scripts_;
}

}  // namespace crossbridge::testing
