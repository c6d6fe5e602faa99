#include "server/redis/redis_connection.h"

#include <sys/time.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

redisReply* NewReply(const redisReadTask* task, int type) {
  auto* r = static_cast<redisReply*>(calloc(1, sizeof(redisReply)));
  if (r == nullptr) return nullptr;
  r->type = type;
  if (task->parent != nullptr) {
    auto* parent = static_cast<redisReply*>(task->parent->obj);
    parent->element[task->idx] = r;
  }
  return r;
}

void Refuse(const redisReadTask* task, std::string why) {
  // The reader's privdata is reachable from no task; the root task's is.
  const redisReadTask* root = task;
  while (root->parent != nullptr) root = root->parent;
  if (auto* reason = static_cast<std::string*>(root->privdata)) *reason = std::move(why);
}

void* CreateString(const redisReadTask* task, char* str, size_t len) {
  if (len > kMaxReplyStringBytes) {
    Refuse(task, absl::StrCat("a string of ", len, " bytes (limit ",
                              kMaxReplyStringBytes, ")"));
    return nullptr;
  }
  char* buf = static_cast<char*>(malloc(len + 1));
  if (buf == nullptr) return nullptr;
  redisReply* r = NewReply(task, task->type);
  if (r == nullptr) {
    free(buf);
    return nullptr;
  }
  memcpy(buf, str, len);
  buf[len] = '\0';
  r->str = buf;
  r->len = len;
  return r;
}

void* CreateArray(const redisReadTask* task, int elements) {
  if (elements > kMaxReplyElements) {
    Refuse(task, absl::StrCat("an array of ", elements, " elements (limit ",
                              kMaxReplyElements, ")"));
    return nullptr;
  }
  redisReply* r = NewReply(task, REDIS_REPLY_ARRAY);
  if (r == nullptr) return nullptr;
  if (elements > 0) {
    r->element = static_cast<redisReply**>(calloc(elements, sizeof(redisReply*)));
    if (r->element == nullptr) {
      if (task->parent != nullptr) {
        static_cast<redisReply*>(task->parent->obj)->element[task->idx] = nullptr;
      }
      free(r);
      return nullptr;
    }
  }
  r->elements = elements;
  return r;
}

void* CreateInteger(const redisReadTask* task, long long value) {
  redisReply* r = NewReply(task, REDIS_REPLY_INTEGER);
  if (r != nullptr) r->integer = value;
  return r;
}

void* CreateNil(const redisReadTask* task) { return NewReply(task, REDIS_REPLY_NIL); }

redisReplyObjectFunctions kBoundedReplies = {CreateString, CreateArray, CreateInteger,
                                             CreateNil, freeReplyObject};

// At least 1 ms: hiredis treats a zero timeout as "block forever".
timeval AtLeastOneMs(absl::Duration d) {
  if (d < absl::Milliseconds(1)) d = absl::Milliseconds(1);
  return absl::ToTimeval(d);
}

}  // namespace

const redisReplyObjectFunctions* BoundedReplyFunctions() { return &kBoundedReplies; }

RedisConnection::RedisConnection(ContextPtr context) : context_(std::move(context)) {
  context_->reader->fn = &kBoundedReplies;
  context_->reader->privdata = &refused_;
}

absl::StatusOr<std::unique_ptr<RedisConnection>> RedisConnection::Connect(
    const RedisEndpoint& endpoint) {
  ContextPtr context(redisConnectWithTimeout(
      endpoint.host.c_str(), endpoint.port, AtLeastOneMs(endpoint.connect_timeout)));
  const std::string where = absl::StrCat(endpoint.host, ":", endpoint.port);
  if (context == nullptr) {
    return absl::UnavailableError(absl::StrCat("redis ", where, ": out of memory"));
  }
  if (context->err != 0) {
    return absl::UnavailableError(
        absl::StrCat("redis ", where, ": cannot connect: ", context->errstr));
  }
  std::unique_ptr<RedisConnection> conn(new RedisConnection(std::move(context)));
  if (absl::Status s = conn->SetIoTimeout(endpoint.connect_timeout); !s.ok()) {
    return s;
  }
  if (!endpoint.password.empty()) {
    absl::StatusOr<ReplyPtr> auth = conn->Command({"AUTH", endpoint.password});
    if (!auth.ok()) {
      const bool wrong = absl::StartsWith(auth.status().message(), "WRONGPASS") ||
                         absl::StrContains(auth.status().message(), "invalid password");
      return absl::Status(
          auth.status().code(),
          absl::StrCat("redis ", where, ": AUTH failed: ", auth.status().message(),
                       wrong ? " (check the password in storage.redis.url or "
                               "the variable named by storage.redis.password_env; "
                               "on a cluster, storage.redis_cluster.password_env)"
                             : ""));
    }
  } else {
    // Without this, a Redis that requires a password would fail every
    // script call with NOAUTH instead of the connection saying why.
    absl::StatusOr<ReplyPtr> ping = conn->Command({"PING"});
    if (!ping.ok()) {
      const bool noauth = absl::StartsWith(ping.status().message(), "NOAUTH");
      return absl::Status(
          ping.status().code(),
          absl::StrCat("redis ", where, ": ", ping.status().message(),
                       noauth ? " (Redis requires a password: set it in the "
                                "variable named by storage.redis.password_env "
                                "or in storage.redis.url; on a cluster, in the one "
                                "named by storage.redis_cluster.password_env)"
                              : ""));
    }
  }
  if (endpoint.db != 0) {
    const std::string db = absl::StrCat(endpoint.db);
    absl::StatusOr<ReplyPtr> select = conn->Command({"SELECT", db});
    if (!select.ok()) {
      return absl::UnavailableError(absl::StrCat(
          "redis ", where, ": SELECT ", db, " failed: ", select.status().message()));
    }
  }
  return conn;
}

absl::Status RedisConnection::SetIoTimeout(absl::Duration timeout) {
  // Two setsockopt calls per change: skip changes under a millisecond, the
  // common case when every batch starts with a fresh full budget.
  if (absl::AbsDuration(timeout - io_timeout_) < absl::Milliseconds(1)) {
    return absl::OkStatus();
  }
  if (redisSetTimeout(context_.get(), AtLeastOneMs(timeout)) != REDIS_OK) {
    return IoError();
  }
  io_timeout_ = timeout;
  return absl::OkStatus();
}

void RedisConnection::Append(absl::Span<const absl::string_view> args) {
  absl::InlinedVector<const char*, 8> argv;
  absl::InlinedVector<size_t, 8> lens;
  for (absl::string_view a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(context_.get(), static_cast<int>(argv.size()),
                         argv.data(), lens.data());
}

void RedisConnection::AppendFormatted(absl::string_view resp) {
  redisAppendFormattedCommand(context_.get(), resp.data(), resp.size());
}

void AppendRespCommand(std::string& out, absl::Span<const absl::string_view> words) {
  absl::StrAppend(&out, "*", words.size(), "\r\n");
  for (absl::string_view w : words) absl::StrAppend(&out, "$", w.size(), "\r\n", w, "\r\n");
}

absl::StatusOr<ReplyPtr> RedisConnection::Read() {
  void* reply = nullptr;
  if (redisGetReply(context_.get(), &reply) != REDIS_OK || reply == nullptr) {
    return IoError();
  }
  return ReplyPtr(static_cast<redisReply*>(reply));
}

absl::StatusOr<ReplyPtr> RedisConnection::Command(
    absl::Span<const absl::string_view> args) {
  Append(args);
  absl::StatusOr<ReplyPtr> reply = Read();
  if (reply.ok() && (*reply)->type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(ErrorText(**reply));
  }
  return reply;
}

absl::Status RedisConnection::Feed(absl::string_view bytes) {
  if (redisReaderFeed(context_->reader, bytes.data(), bytes.size()) != REDIS_OK) {
    return ParseError();
  }
  return absl::OkStatus();
}

absl::StatusOr<ReplyPtr> RedisConnection::NextReply() {
  void* reply = nullptr;
  if (redisReaderGetReply(context_->reader, &reply) != REDIS_OK) return ParseError();
  return ReplyPtr(static_cast<redisReply*>(reply));
}

absl::Status RedisConnection::ParseError() const {
  if (!refused_.empty()) {
    return absl::DataLossError(absl::StrCat("redis: refused a reply: ", refused_));
  }
  return absl::DataLossError(
      absl::StrCat("redis: unreadable reply: ", context_->reader->errstr));
}

absl::string_view RedisConnection::ErrorText(const redisReply& reply) {
  if (reply.str == nullptr) return "";
  return absl::string_view(reply.str, reply.len);
}

absl::Status RedisConnection::IoError() const {
  const redisContext* c = context_.get();
  if (!refused_.empty()) return ParseError();
  if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return absl::DeadlineExceededError("redis: timed out");
  }
  if (c->err == REDIS_ERR_EOF) {
    return absl::UnavailableError("redis: connection closed by the server");
  }
  return absl::UnavailableError(absl::StrCat("redis: ", c->errstr));
}

}  // namespace crossbridge
