#include "server/redis/redis_link.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "server/redis/redis_executor.h"

namespace crossbridge {
namespace {

constexpr absl::Duration kInitialBackoff = absl::Milliseconds(50);
// A connection without calls for this long is checked with a PING.
constexpr absl::Duration kIdlePing = absl::Seconds(1);
constexpr absl::string_view kPing = "*1\r\n$4\r\nPING\r\n";

bool IsNoScript(const redisReply& reply) {
  return reply.type == REDIS_REPLY_ERROR &&
         absl::StartsWith(RedisConnection::ErrorText(reply), "NOSCRIPT");
}

// `evalsha` ("*N\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n<key and args>", as
// RedisExecutor formats it) as the same call by EVAL of `source`.
std::string AsEval(absl::string_view evalsha, absl::string_view source) {
  constexpr size_t kShaWords = sizeof("$7\r\nEVALSHA\r\n$40\r\n") - 1 + 40 + 2;
  const size_t header = evalsha.find("\r\n") + 2;
  return absl::StrCat(evalsha.substr(0, header), "$4\r\nEVAL\r\n$", source.size(),
                      "\r\n", source, "\r\n", evalsha.substr(header + kShaWords));
}

std::string ErrnoText(int error) { return std::error_code(error, std::generic_category()).message(); }

}  // namespace

RedisLink::RedisLink(RedisExecutor& executor, uint32_t seed)
    : executor_(executor),
      wake_fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      backoff_(kInitialBackoff),
      rng_(seed) {
  if (wake_fd_ < 0) {
    std::fprintf(stderr, "crossbridge: fatal: eventfd: %s\n", ErrnoText(errno).c_str());
    std::abort();
  }
}

RedisLink::~RedisLink() {
  Stop();
  close(wake_fd_);
}

void RedisLink::Start() { thread_ = std::thread([this] { Run(); }); }

void RedisLink::Stop() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  if (thread_.joinable()) thread_.join();
}

void RedisLink::Wake() {
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));
}

RedisLink::Enqueued RedisLink::TryEnqueue(std::vector<RedisCall>& calls) {
  MutexLock lock(&mu_);
  if (!connected_ || stopping_) return Enqueued::kNotConnected;
  if (in_flight_.size() + calls.size() > RedisExecutor::kMaxInFlightPerLink) {
    return Enqueued::kFull;
  }
  Send(lock, calls);
  return Enqueued::kYes;
}

void RedisLink::ReconnectNow() {
  MutexLock lock(&mu_);
  if (!connected_) reconnect_now_ = true;
}

void RedisLink::Send(MutexLock& lock, std::vector<RedisCall>& calls) {
  for (RedisCall& call : calls) {
    out_.append(call.command);
    in_flight_.push_back(std::move(call));
  }
  unsent_calls_ += calls.size();
  // While the link's thread is busy (completing replies), it sends what
  // is left here before it waits again: under load, many calls share one
  // write and Redis reads them in one go.
  if (!busy_.load(std::memory_order_relaxed)) FlushLocked(lock);
}

void RedisLink::FlushLocked(MutexLock& lock) {
  if (sender_ != Sender::kNone || out_.empty()) return;
  sender_ = Sender::kCaller;
  SendLocked(lock, Sender::kCaller);
}

void RedisLink::SendLocked(MutexLock& lock, Sender who) {
  while (connected_ && !out_.empty()) {
    sending_.swap(out_);
    unsent_calls_ = 0;
    const int fd = fd_;
    size_t sent = 0;
    int error = 0;
    lock.WhileUnlocked([&] {
      while (sent < sending_.size()) {
        const ssize_t n = send(fd, sending_.data() + sent, sending_.size() - sent,
                               MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
          sent += static_cast<size_t>(n);
        } else if (errno != EINTR) {
          error = errno;
          break;
        }
      }
    });
    if (sent < sending_.size()) {
      if (error == EAGAIN || error == EWOULDBLOCK) {
        // Redis takes no more for now: the rest goes first, when the
        // link's thread sees the socket writable.
        sending_.erase(0, sent);
        sending_.append(out_);
        out_.swap(sending_);
        sending_.clear();
        if (who == Sender::kCaller) {
          sender_ = Sender::kLink;
          Wake();
        }
        return;
      }
      send_error_ = absl::UnavailableError(
          absl::StrCat("redis ", executor_.where_, ": cannot send: ", ErrnoText(error)));
      sender_ = Sender::kBroken;
      sending_.clear();
      Wake();
      return;
    }
    sending_.clear();
  }
  sender_ = Sender::kNone;
}

void RedisLink::Run() {
  for (;;) {
    if (conn_ == nullptr) {
      if (WaitForReconnect()) return;
      Connect();
      continue;
    }
    if (!Serve()) return;
  }
}

bool RedisLink::WaitForReconnect() {
  MutexLock lock(&mu_);
  executor_.clock_.AwaitUntil(
      lock,
      [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_ || reconnect_now_; },
      next_connect_at_);
  reconnect_now_ = false;
  return stopping_;
}

absl::Status RedisLink::LoadScripts() {
  for (const char* source : executor_.scripts_) {
    absl::StatusOr<ReplyPtr> sha = conn_->Command({"SCRIPT", "LOAD", source});
    if (!sha.ok()) return sha.status();
    if ((*sha)->type != REDIS_REPLY_STRING) {
      return absl::UnavailableError("redis: SCRIPT LOAD answered no SHA");
    }
  }
  return absl::OkStatus();
}

void RedisLink::Connect() {
  const RedisStorageConfig& c = executor_.config_;
  absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
      RedisConnection::Connect({c.host, c.port, c.db, c.password, c.connect_timeout});
  if (conn.ok()) {
    conn_ = std::move(*conn);
    if (absl::Status s = LoadScripts(); !s.ok()) conn = s;
  }
  if (!conn.ok()) {
    conn_.reset();
    ScheduleReconnect(conn.status());
    executor_.OnLinkDisconnected(conn.status());
    return;
  }
  backoff_ = kInitialBackoff;
  noscript_logged_ = false;
  {
    MutexLock lock(&mu_);
    fd_ = conn_->fd();
    connected_ = true;
  }
  executor_.counters_.connects.fetch_add(1, std::memory_order_relaxed);
  executor_.OnLinkConnected(*this);
}

void RedisLink::ScheduleReconnect(const absl::Status& why) {
  // A refused or rejected connection backs off exponentially (jittered,
  // capped); one that timed out (a hung Redis) tries again after the
  // initial backoff, as it already waited.
  if (absl::IsDeadlineExceeded(why)) backoff_ = kInitialBackoff;
  std::uniform_int_distribution<int64_t> jitter(absl::ToInt64Microseconds(backoff_) / 2,
                                                absl::ToInt64Microseconds(backoff_));
  next_connect_at_ = executor_.clock_.MonotonicNow() + absl::Microseconds(jitter(rng_));
  backoff_ = std::min(backoff_ * 2, executor_.config_.reconnect_max_backoff);
}

bool RedisLink::Serve() {
  const Clock& clock = executor_.clock_;
  last_reply_at_ = clock.MonotonicNow();
  for (;;) {
    const absl::Time now = clock.MonotonicNow();
    absl::Time wake_at = now + executor_.config_.timeout;
    absl::Status broken;
    bool stopping = false;
    bool ping = false;
    bool want_out = false;
    {
      MutexLock lock(&mu_);
      // What callers left while this thread was busy goes out now, together.
      FlushLocked(lock);
      stopping = stopping_;
      if (!send_error_.ok()) {
        broken = send_error_;
      } else if (!in_flight_.empty()) {
        // The oldest call is the first reply due: replies come in order.
        wake_at = in_flight_.front().deadline;
        if (wake_at <= now) {
          broken = absl::DeadlineExceededError(absl::StrCat(
              "redis ", executor_.where_, ": no reply within the timeout"));
        }
      } else if (now - last_reply_at_ >= kIdlePing) {
        ping = true;
      } else {
        // Also bounded by the timeout, so a call that arrives during this
        // wait is looked at before its deadline.
        wake_at = std::min(wake_at, last_reply_at_ + kIdlePing);
      }
      want_out = sender_ == Sender::kLink;
      busy_.store(false, std::memory_order_relaxed);  // callers send their own now
    }
    if (stopping) {
      Drop(absl::UnavailableError("redis executor shutting down"), /*stopping=*/true);
      return false;
    }
    if (!broken.ok()) {
      Drop(broken, /*stopping=*/false);
      return true;
    }
    if (ping) {
      // An idle connection says nothing when Redis dies or hangs: its
      // deadline, like any call's, drops the connection.
      std::vector<RedisCall> calls;
      calls.push_back(RedisCall::Internal(kPing, now + executor_.config_.timeout));
      MutexLock lock(&mu_);
      Send(lock, calls);
      continue;
    }

    pollfd fds[2] = {
        {conn_->fd(), static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), 0},
        {wake_fd_, POLLIN, 0}};
    const timespec wait = absl::ToTimespec(std::max(wake_at - now, absl::ZeroDuration()));
    if (ppoll(fds, 2, &wait, nullptr) < 0 && errno != EINTR) {
      Drop(absl::UnavailableError(absl::StrCat("redis: poll: ", ErrnoText(errno))),
           /*stopping=*/false);
      return true;
    }
    busy_.store(true, std::memory_order_relaxed);
    if (fds[1].revents & POLLIN) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
    if (fds[0].revents & POLLOUT) {
      MutexLock lock(&mu_);
      if (sender_ == Sender::kLink) SendLocked(lock, Sender::kLink);
    }
    if (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (absl::Status s = Receive(); !s.ok()) {
        Drop(s, /*stopping=*/false);
        return true;
      }
    }
  }
}

absl::Status RedisLink::Receive() {
  char buf[16384];
  for (;;) {
    const ssize_t n = recv(conn_->fd(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n == 0) return absl::UnavailableError("redis: connection closed by the server");
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return absl::UnavailableError(absl::StrCat("redis: ", ErrnoText(errno)));
    }
    if (absl::Status s = conn_->Feed(absl::string_view(buf, n)); !s.ok()) return s;
    if (static_cast<size_t>(n) < sizeof(buf)) break;
  }
  replies_.clear();
  for (;;) {
    absl::StatusOr<ReplyPtr> reply = conn_->NextReply();
    if (!reply.ok()) return reply.status();
    if (*reply == nullptr) break;
    replies_.push_back(*std::move(reply));
  }
  if (replies_.empty()) return absl::OkStatus();
  answered_.clear();
  {
    MutexLock lock(&mu_);
    if (replies_.size() > in_flight_.size()) {
      return absl::DataLossError("redis: a reply to no call");
    }
    for (size_t i = 0; i < replies_.size(); ++i) {
      answered_.push_back(std::move(in_flight_.front()));
      in_flight_.pop_front();
    }
    // Completing takes a while (each is a reactor's Finish): what callers
    // left meanwhile goes out first, and callers send their own until this
    // thread waits again.
    FlushLocked(lock);
    busy_.store(false, std::memory_order_relaxed);
  }
  last_reply_at_ = executor_.clock_.MonotonicNow();
  for (size_t i = 0; i < answered_.size(); ++i) {
    Complete(answered_[i], std::move(replies_[i]));
  }
  answered_.clear();
  replies_.clear();
  return absl::OkStatus();
}

void RedisLink::Complete(RedisCall& call, ReplyPtr reply) {
  if (call.script < 0) return call.done(std::move(reply));
  if (!call.resent && IsNoScript(*reply)) {
    // Redis lost its scripts (restart, SCRIPT FLUSH): EVAL runs the call
    // and caches the script for the EVALSHAs after it.
    if (!noscript_logged_) {
      Logger("redis")->info("script cache was flushed; sending scripts again");
      noscript_logged_ = true;
    }
    std::vector<RedisCall> again(1);
    again[0] = std::move(call);
    again[0].command = AsEval(again[0].command, executor_.scripts_[again[0].script]);
    again[0].resent = true;
    MutexLock lock(&mu_);
    Send(lock, again);
    return;
  }
  if (executor_.round_trips_ != nullptr) {
    executor_.round_trips_->Observe(last_reply_at_ - call.deadline +
                                    executor_.config_.timeout);
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    const absl::string_view text = RedisConnection::ErrorText(*reply);
    executor_.NoteErrorReply(text);
    call.done(absl::UnavailableError(absl::StrCat("redis: ", text)));
    return;
  }
  call.done(std::move(reply));
}

void RedisLink::Drop(const absl::Status& why, bool stopping) {
  std::deque<RedisCall> calls;
  size_t unsent = 0;
  {
    MutexLock lock(&mu_);
    connected_ = false;
    // A caller's thread may be in send() on the socket: let it finish.
    lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return sender_ != Sender::kCaller;
    });
    calls.swap(in_flight_);
    unsent = unsent_calls_;
    unsent_calls_ = 0;
    out_.clear();
    sending_.clear();
    sender_ = Sender::kNone;
    send_error_ = absl::OkStatus();
    fd_ = -1;
  }
  executor_.connected_links_.fetch_sub(1, std::memory_order_acq_rel);
  conn_.reset();
  if (!stopping) {
    // Calls wholly unsent are the last `unsent`; internal PINGs are not counted.
    size_t never_sent = 0, unanswered = 0;
    for (size_t i = 0; i < calls.size(); ++i) {
      if (calls[i].script < 0) continue;
      (i + unsent >= calls.size() ? never_sent : unanswered) += 1;
    }
    if (absl::IsDeadlineExceeded(why) && never_sent > 0) {
      executor_.counters_.timed_out_queued.fetch_add(never_sent,
                                                     std::memory_order_relaxed);
    }
    if (unanswered > 0) executor_.NoteSentUnanswered(unanswered);
  }
  for (RedisCall& call : calls) call.done(why);
  if (stopping) return;
  ScheduleReconnect(why);
  executor_.OnLinkDisconnected(why);
}

}  // namespace crossbridge
