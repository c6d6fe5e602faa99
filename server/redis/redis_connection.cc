#include "server/redis/redis_connection.h"

#include <sys/time.h>

#include <cerrno>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

// At least 1 ms: hiredis treats a zero timeout as "block forever".
timeval AtLeastOneMs(absl::Duration d) {
  if (d < absl::Milliseconds(1)) d = absl::Milliseconds(1);
  return absl::ToTimeval(d);
}

}  // namespace

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
                               "the variable named by storage.redis.password_env)"
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
                                "or in storage.redis.url)"
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

absl::string_view RedisConnection::ErrorText(const redisReply& reply) {
  if (reply.str == nullptr) return "";
  return absl::string_view(reply.str, reply.len);
}

absl::Status RedisConnection::IoError() const {
  const redisContext* c = context_.get();
  if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    return absl::DeadlineExceededError("redis: timed out");
  }
  if (c->err == REDIS_ERR_EOF) {
    return absl::UnavailableError("redis: connection closed by the server");
  }
  return absl::UnavailableError(absl::StrCat("redis: ", c->errstr));
}

}  // namespace crossbridge
