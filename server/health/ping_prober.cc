// ping: Redis PING over a fresh hiredis connection. Connect and reply share
// one budget (`timeout`). PONG is healthy; so is an error reply starting with
// NOAUTH (a live Redis that wants a password the probe does not send).
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <chrono>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "server/health/probers_internal.h"

namespace crossbridge {
namespace health_internal {
namespace {

struct ContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

timeval ToTimeval(std::chrono::milliseconds ms) {
  if (ms.count() < 1) ms = std::chrono::milliseconds(1);
  timeval tv;
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

// hiredis 0.14 reports a timeout as REDIS_ERR_IO with strerror(ETIMEDOUT)
// (connect) or strerror(EAGAIN) (read); errno itself may be stale by now.
bool IsTimeout(const redisContext& c) {
  return absl::StrContains(c.errstr, "timed out") ||
         absl::StrContains(c.errstr, "temporarily unavailable");
}

}  // namespace

absl::Status PingProber::Probe(const HealthProviderConfig& provider,
                               absl::Duration timeout) const {
  const absl::Time start = RealClock::Get().MonotonicNow();
  auto budget = absl::ToChronoMilliseconds(timeout);
  absl::StatusOr<HostPort> hp = ParseHostPort(provider.target);
  if (!hp.ok()) return hp.status();
  std::string where = absl::StrCat(hp->host, ":", hp->port);

  std::unique_ptr<redisContext, ContextDeleter> c(
      redisConnectWithTimeout(hp->host.c_str(), hp->port, ToTimeval(budget)));
  if (c == nullptr) {
    return absl::ResourceExhaustedError("redis: cannot allocate a context");
  }
  if (c->err != 0) {
    if (IsTimeout(*c)) {
      return absl::DeadlineExceededError(
          absl::StrCat("connect ", where, ": ", TimedOut(timeout)));
    }
    return absl::UnavailableError(absl::StrCat("connect ", where, ": ", c->errstr));
  }
  auto left = budget - absl::ToChronoMilliseconds(
                           RealClock::Get().MonotonicNow() - start);
  if (left.count() <= 0 || redisSetTimeout(c.get(), ToTimeval(left)) != REDIS_OK) {
    return absl::DeadlineExceededError(
        absl::StrCat("PING ", where, ": ", TimedOut(timeout)));
  }
  std::unique_ptr<redisReply, ReplyDeleter> reply(
      static_cast<redisReply*>(redisCommand(c.get(), "PING")));
  if (reply == nullptr) {
    if (IsTimeout(*c)) {
      return absl::DeadlineExceededError(
          absl::StrCat("PING ", where, ": ", TimedOut(timeout)));
    }
    return absl::UnavailableError(absl::StrCat("PING ", where, ": ", c->errstr));
  }
  std::string text(reply->str != nullptr ? reply->str : "",
                   reply->str != nullptr ? reply->len : 0);
  if ((reply->type == REDIS_REPLY_STATUS && text == "PONG") ||
      (reply->type == REDIS_REPLY_ERROR && absl::StartsWith(text, "NOAUTH"))) {
    return absl::OkStatus();
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::UnavailableError(absl::StrCat("PING ", where, ": ", text));
  }
  return absl::UnavailableError(
      absl::StrCat("PING ", where, ": unexpected reply \"", text, "\""));
}

}  // namespace health_internal
}  // namespace crossbridge
