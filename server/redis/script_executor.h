// What a fleet-wide store needs from Redis: run one of its Lua scripts on one
// key (or, through EvalBatch's BatchCall::more_keys, on several keys of one
// hash slot), asynchronously, alone or as a batch sent together. RedisExecutor is the real one; tests use
// testing::FakeScriptExecutor to answer with any reply, error or timeout.
//
// Completion contract (every implementation):
//  - `done` runs exactly once, on an executor thread or inline in Eval when
//    the call cannot even be queued (no connection); it must not block.
//  - `key` and `args` are read before Eval returns (the command is formatted
//    then): they need to live only for the call to Eval.
//  - A reply that is not an error reply is passed on as it came; its shape
//    is the script's business (check it: a hostile or broken Redis may send
//    anything).
//  - A Redis error reply (WRONGTYPE, OOM, a script's own error_reply, ...)
//    arrives as UNAVAILABLE "redis: <Redis's message>".
//  - No connection, connection lost: UNAVAILABLE.
//  - No reply within the executor's per-call timeout: DEADLINE_EXCEEDED, at
//    the timeout. A call whose command was already sent may still run in
//    Redis afterwards (its effect lands, its answer does not).
#ifndef CROSSBRIDGE_SERVER_REDIS_SCRIPT_EXECUTOR_H_
#define CROSSBRIDGE_SERVER_REDIS_SCRIPT_EXECUTOR_H_

#include <cstddef>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "server/redis/redis_connection.h"

namespace crossbridge {

class ScriptExecutor {
 public:
  using ReplyCallback = absl::AnyInvocable<void(absl::StatusOr<ReplyPtr>)>;
  using Args = absl::Span<const absl::string_view>;

  // A script known to the executor; the handle Register returns.
  struct Script {
    size_t index = 0;
  };

  virtual ~ScriptExecutor() = default;

  // Adds a Lua script. REQUIRES: before the first Eval (for RedisExecutor:
  // before Start).
  virtual Script Register(const char* lua_source) = 0;

  // Runs `script` with KEYS[1] = key and ARGV = args.
  virtual void Eval(Script script, absl::string_view key, Args args,
                    ReplyCallback done) = 0;

  // One call of a batch: KEYS = {key, more_keys...}, ARGV = args.
  struct BatchCall {
    Script script;
    absl::string_view key;
    Args args;
    ReplyCallback done;
    // KEYS[2..] of a multi-key script (read before EvalBatch returns, like
    // key). REQUIRES: every one hashes to key's Redis Cluster slot (one hash
    // tag): a cluster executor sends the call to the master of key's slot.
    Args more_keys = {};
  };
  // Runs every call as Eval would, written together (one pipeline on one
  // connection, in order, so Redis runs them back to back). Each `done` is
  // moved out and runs exactly once, as in Eval.
  virtual void EvalBatch(absl::Span<BatchCall> calls) = 0;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_SCRIPT_EXECUTOR_H_
