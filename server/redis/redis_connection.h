// One hiredis connection. Two ways to use it:
//  - blocking, from one thread: commands are appended to the output buffer
//    and sent together by the first Read(), so a caller pipelines by
//    appending many then reading their replies in order (the handshake,
//    SCRIPT LOAD, the CLI's and the tests' own commands);
//  - as a live pipe (RedisLink): other threads write RESP straight to fd()
//    while the one thread that owns the connection receives bytes, Feed()s
//    them and takes complete replies with NextReply().
//
// Errors: UNAVAILABLE for connect/I/O failures, a closed connection and a
// refused handshake (the message says why: "NOAUTH ..." with a hint to set
// the password, "WRONGPASS ..."), DEADLINE_EXCEEDED when a read or write
// times out. After any I/O error the
// connection is broken (replies would be out of step): discard it.
// Thread safety: none beyond fd() being readable by any thread; everything
// else belongs to one thread.
#ifndef CROSSBRIDGE_SERVER_REDIS_REDIS_CONNECTION_H_
#define CROSSBRIDGE_SERVER_REDIS_REDIS_CONNECTION_H_

#include <hiredis/hiredis.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace crossbridge {

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using ContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;

struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using ReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

// Replies larger than any CrossBridge script sends are refused while they
// are read, before anything is allocated for them: hiredis 0.14 would
// calloc() an array of whatever length a broken or hostile Redis announces
// ("*2000000000") and abort the process when that fails.
inline constexpr int kMaxReplyElements = 1024;
inline constexpr size_t kMaxReplyStringBytes = 1 << 20;
// hiredis reader callbacks that build ordinary redisReply trees (freed by
// freeReplyObject) within the bounds above. When the reader's privdata is a
// std::string*, the reason a reply was refused is written there.
const redisReplyObjectFunctions* BoundedReplyFunctions();

// Appends `words` to `out` as one RESP command (an array of bulk strings,
// what Redis reads), so a command can be formatted once, on the caller's
// thread, and written later as it is.
void AppendRespCommand(std::string& out, absl::Span<const absl::string_view> words);

struct RedisEndpoint {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;  // empty: no AUTH. Never logged.
  absl::Duration connect_timeout = absl::Milliseconds(200);
};

class RedisConnection {
 public:
  // Connects, authenticates (or, without a password, checks with PING that
  // Redis needs none) and selects the database, each within connect_timeout.
  static absl::StatusOr<std::unique_ptr<RedisConnection>> Connect(
      const RedisEndpoint& endpoint);

  // Bounds every following read and write (to within a millisecond).
  absl::Status SetIoTimeout(absl::Duration timeout);
  // The bound last set.
  absl::Duration io_timeout() const { return io_timeout_; }

  // Queues one command (sent by the next Read).
  void Append(absl::Span<const absl::string_view> args);
  // Queues commands already in RESP (AppendRespCommand), sent by the next Read.
  void AppendFormatted(absl::string_view resp);

  // Sends what is queued and reads the next reply. A Redis error reply is a
  // successful read (reply->type == REDIS_REPLY_ERROR).
  absl::StatusOr<ReplyPtr> Read();

  // Append + Read, turning an error reply into UNAVAILABLE with its text.
  absl::StatusOr<ReplyPtr> Command(absl::Span<const absl::string_view> args);

  // The socket. Writing to it from another thread is safe while nothing
  // is Append()ed: hiredis's own output buffer is then empty.
  int fd() const { return context_->fd; }

  // Hands bytes received on fd() to the reply parser.
  absl::Status Feed(absl::string_view bytes);
  // The next complete reply among the bytes fed so far; nullptr if none is
  // complete yet. A malformed or refused reply is DATA_LOSS and breaks the
  // connection.
  absl::StatusOr<ReplyPtr> NextReply();

  // The text of an error reply (REQUIRES: reply.type == REDIS_REPLY_ERROR).
  static absl::string_view ErrorText(const redisReply& reply);

 private:
  explicit RedisConnection(ContextPtr context);

  absl::Status IoError() const;
  absl::Status ParseError() const;

  ContextPtr context_;
  absl::Duration io_timeout_ = absl::ZeroDuration();  // last one set
  std::string refused_;  // why the reader refused a reply (BoundedReplyFunctions)
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_REDIS_CONNECTION_H_
