// Redis misbehaving under load from several clients, against the real
// crossbridge-server: hung (SIGSTOP, DEBUG SLEEP), its connections killed in
// a loop, a bucket overwritten with another type, a password it wants and
// does not get, memory full; and a CrossBridge replica killed under the
// SDK's round robin. Every call must answer within storage.redis.timeout +
// 50 ms, exactly as its operation's on_store_failure says, and service must
// come back by itself. Loopback only; each test stops within a few seconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "tests/testing/permit_load.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/sanitizers.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::PermitLoad;
using ::crossbridge::testing::WaitForHealth;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::RedisServerOptions;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

using ::crossbridge::testing::kSlowdown;

// The three store-failure policies the load spreads over.
const std::vector<std::string> kOps = {"op_allow", "op_deny", "op_local"};

const absl::Duration kTimeout = absl::Milliseconds(100 * kSlowdown);
// What a whole call may take beyond the store timeout.
const absl::Duration kBound = kTimeout + absl::Milliseconds(50 * kSlowdown);

std::string Config(const std::string& url, int connections = 2) {
  return absl::StrReplaceAll(R"(
server: {drain_grace_seconds: 0.1, shutdown_timeout_seconds: 1}
logging: {level: info}
storage:
  backend: redis
  redis: {url: "URL", connections: CONNS, timeout_seconds: TIMEOUT}
runtime:
  rate_limiting:
    defaults:
      op_allow: {capacity: 5, window_seconds: 60, on_store_failure: allow}
      op_deny: {capacity: 1000000, window_seconds: 60, on_store_failure: deny}
      op_local: {capacity: 5, window_seconds: 60, on_store_failure: local}
  health_checks: {providers: {}}
)",
                             {{"URL", url},
                              {"CONNS", absl::StrCat(connections)},
                              {"TIMEOUT", absl::StrCat(absl::ToDoubleSeconds(kTimeout))}});
}

std::unique_ptr<Client> MakeClient(const std::string& target,
                                   const std::string& lb = "pick_first") {
  ClientOptions options;
  options.target = target;
  options.default_deadline = absl::Seconds(2);
  options.load_balancing = lb;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  EXPECT_THAT(client, IsOk());
  return client.ok() ? std::move(*client) : nullptr;
}

// Every outcome is within the bound and what its policy allows; returns how
// many calls in [from, to) were answered by the failure policy (deny:
// UNAVAILABLE), to show the fault was really seen.
int CheckOutcomes(const std::vector<PermitLoad::Outcome>& outcomes, absl::Time from,
                  absl::Time to) {
  int late = 0, wrong = 0, denied_in_window = 0;
  absl::Duration worst;
  for (const PermitLoad::Outcome& o : outcomes) {
    worst = std::max(worst, o.took);
    if (o.took > kBound) ++late;
    const bool ok = o.code == absl::StatusCode::kOk ||
                    (o.op == "op_deny" && o.code == absl::StatusCode::kUnavailable);
    if (!ok) {
      ++wrong;
      ADD_FAILURE() << o.op << " got " << absl::StatusCodeToString(o.code);
    }
    if (o.at >= from && o.at < to && o.op == "op_deny" &&
        o.code == absl::StatusCode::kUnavailable) {
      ++denied_in_window;
    }
  }
  EXPECT_EQ(late, 0) << "worst call took " << absl::FormatDuration(worst)
                     << ", bound " << absl::FormatDuration(kBound);
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(outcomes.size(), 100u);
  return denied_in_window;
}

// The time from `from` until a deny call succeeds again.
absl::Duration TimeToResume(Client& client, absl::Time from) {
  EXPECT_TRUE(WaitFor([&] { return client.AcquirePermit("op_deny", "resume").ok(); },
                      absl::Seconds(5), absl::Milliseconds(2)));
  return absl::Now() - from;
}

class RedisFaultTest : public ::testing::Test {
 protected:
  void Start(RedisServerOptions options = {}, int connections = 2,
             bool server_knows_password = true) {
    options.extra_args.insert(options.extra_args.end(),
                              {"--enable-debug-command", "yes"});
    absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start(options);
    ASSERT_THAT(redis, IsOk());
    redis_ = std::move(*redis);
    const std::string url = server_knows_password
                                ? redis_->url()
                                : absl::StrCat("redis://127.0.0.1:", redis_->port(), "/0");
    absl::StatusOr<ServerProcess> server =
        ServerProcess::Start(Config(url, connections));
    ASSERT_THAT(server, IsOk());
    server_.emplace(std::move(*server));
    client_ = MakeClient(server_->address());
  }
  void TearDown() override {
    if (!server_) return;
    server_->Signal(SIGTERM);
    absl::StatusOr<int> code = server_->WaitForExit(absl::Seconds(10));
    ASSERT_THAT(code, IsOk());
    EXPECT_EQ(*code, 0) << server_->Logs();  // it never crashed
  }

  std::unique_ptr<RedisServer> redis_;
  std::optional<ServerProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(RedisFaultTest, RedisStoppedForThreeSecondsThenContinued) {
  Start();
  ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kServing));
  PermitLoad load({client_.get()}, 8, kOps);
  absl::SleepFor(absl::Milliseconds(300));
  redis_->Signal(SIGSTOP);
  const absl::Time stopped = absl::Now();
  absl::SleepFor(absl::Seconds(3));
  redis_->Signal(SIGCONT);
  const absl::Time continued = absl::Now();
  const absl::Duration resume = TimeToResume(*client_, continued);
  const std::vector<PermitLoad::Outcome>& outcomes = load.Stop();
  EXPECT_GT(CheckOutcomes(outcomes, stopped + absl::Milliseconds(200), continued), 10);
  EXPECT_LT(resume, absl::Seconds(1)) << "resumed after " << absl::FormatDuration(resume);
  // The calls that were on the wire when Redis stopped are counted.
  EXPECT_THAT(server_->Logs(), HasSubstr("calls were sent but got no reply in time"));
}

TEST_F(RedisFaultTest, RedisBusyInDebugSleep) {
  Start();
  ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kServing));
  PermitLoad load({client_.get()}, 8, kOps);
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time slept = absl::Now();
  std::thread sleeper([&] { (void)redis_->Command({"DEBUG", "SLEEP", "2"}); });
  sleeper.join();  // returns when Redis wakes
  const absl::Time woke = absl::Now();
  const absl::Duration resume = TimeToResume(*client_, woke);
  const std::vector<PermitLoad::Outcome>& outcomes = load.Stop();
  EXPECT_GT(CheckOutcomes(outcomes, slept + absl::Milliseconds(300), woke), 10);
  EXPECT_LT(resume, absl::Seconds(1));
}

TEST_F(RedisFaultTest, ConnectionsKilledInALoop) {
  Start();
  ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kServing));
  PermitLoad load({client_.get()}, 8, kOps);
  const absl::Time first_kill = absl::Now();
  for (int i = 0; i < 40; ++i) {
    ASSERT_THAT(redis_->Command({"CLIENT", "KILL", "TYPE", "normal"}), IsOk());
    absl::SleepFor(absl::Milliseconds(50));
  }
  const absl::Time last_kill = absl::Now();
  const absl::Duration resume = TimeToResume(*client_, last_kill);
  const std::vector<PermitLoad::Outcome>& outcomes = load.Stop();
  CheckOutcomes(outcomes, first_kill, last_kill);
  EXPECT_LT(resume, absl::Seconds(1));
  // Between the kills the connections came back and served: most calls
  // during the loop were answered by Redis, not by the policy.
  int deny_ok = 0;
  for (const PermitLoad::Outcome& o : outcomes) {
    deny_ok += o.op == "op_deny" && o.at > first_kill && o.at < last_kill &&
               o.code == absl::StatusCode::kOk;
  }
  EXPECT_GT(deny_ok, 50);
}

TEST_F(RedisFaultTest, BucketOverwrittenWithAnotherTypeUnderLoad) {
  Start();
  ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kServing));
  // Drain a deny bucket of capacity 5, then keep overwriting it.
  ASSERT_THAT(redis_->Command({"SET", "cb:v2:bucket:{op_local:victim}", "garbage"}), IsOk());
  PermitLoad load({client_.get()}, 4, kOps);
  std::atomic<bool> stop{false};
  std::atomic<int> local_allowed{0}, deny_unavailable{0}, other{0};
  std::thread victim([&] {
    while (!stop) {
      absl::StatusOr<Permit> p = client_->AcquirePermit("op_local", "victim");
      if (p.ok()) {
        local_allowed += p->allowed;
      } else {
        ++other;
      }
      absl::StatusOr<Permit> d = client_->AcquirePermit("op_deny", "victim");
      if (!d.ok() && absl::IsUnavailable(d.status())) ++deny_unavailable;
    }
  });
  // Overwrite both buckets with other types, each in one atomic step (a
  // DEL on its own would be an operator resetting the bucket to full).
  const std::string overwrite =
      "redis.call('DEL', KEYS[1]); redis.call('LPUSH', KEYS[1], 'x'); "
      "redis.call('SET', KEYS[2], '1e309')";
  for (int i = 0; i < 50; ++i) {
    (void)redis_->Command({"EVAL", overwrite, "2", "cb:v2:bucket:{op_local:victim}",
                           "cb:v2:bucket:{op_deny:victim}"});
    absl::SleepFor(absl::Milliseconds(10));
  }
  stop = true;
  victim.join();
  CheckOutcomes(load.Stop(), absl::Now(), absl::Now());
  EXPECT_EQ(other.load(), 0);         // local never errs: the fallback answers
  EXPECT_GT(deny_unavailable.load(), 0);  // deny fails closed on the corrupt key
  // The Redis bucket was only ever corrupt or reset to empty, so only the
  // local fallback (capacity 5) granted: never more, however often.
  EXPECT_LE(local_allowed.load(), 5);
  // Once overwriting stops the bucket is empty (reset), not full.
  (void)redis_->Command({"SET", "cb:v2:bucket:{op_local:victim}", "garbage"});
  EXPECT_TRUE(client_->AcquirePermit("op_local", "victim").ok());  // local decides
  absl::StatusOr<Permit> after = client_->AcquirePermit("op_local", "victim");
  ASSERT_THAT(after, IsOk());
  EXPECT_FALSE(after->allowed);
  EXPECT_EQ(after->remaining, 0u);
  EXPECT_THAT(server_->Logs(), HasSubstr("CROSSBRIDGE corrupt bucket"));
}

TEST_F(RedisFaultTest, MissingPasswordIsLoggedAndShownAsTheReason) {
  Start({.password = "s3cret"}, 2, /*server_knows_password=*/false);
  // The server's URL has no password: Redis answers NOAUTH.
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(server_->Logs(), "NOAUTH"); }));
  const std::string logs = server_->Logs();
  EXPECT_THAT(logs, HasSubstr("Redis requires a password"));
  EXPECT_THAT(logs, Not(HasSubstr("s3cret")));
  EXPECT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kNotServing));
  absl::StatusOr<v1::HealthReport> report = client_->GetHealth();
  ASSERT_THAT(report, IsOk());
  ASSERT_TRUE(report->has_store());
  EXPECT_EQ(report->store().name(), "redis");
  EXPECT_EQ(report->store().status(), v1::STATUS_NOT_SERVING);
  EXPECT_THAT(report->store().last_error(), HasSubstr("NOAUTH"));
  // Calls answer by policy, at once.
  EXPECT_THAT(client_->AcquirePermit("op_deny", "k"),
              testing::StatusIs(absl::StatusCode::kUnavailable, HasSubstr("NOAUTH")));
  absl::StatusOr<Permit> p = client_->AcquirePermit("op_local", "k");
  ASSERT_THAT(p, IsOk());
  EXPECT_TRUE(p->allowed);
}

TEST(RedisAuthTest, WrongPasswordIsLoggedAndShownAsTheReason) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis =
      RedisServer::Start({.password = "right"});
  ASSERT_THAT(redis, IsOk());
  std::string url = absl::StrReplaceAll((*redis)->url(), {{":right@", ":wrong@"}});
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(Config(url));
  ASSERT_THAT(server, IsOk());
  ASSERT_TRUE(WaitFor([&] { return absl::StrContains(server->Logs(), "AUTH failed"); }));
  EXPECT_THAT(server->Logs(), HasSubstr("check the password"));
  EXPECT_THAT(server->Logs(), Not(HasSubstr("wrong")));
  std::unique_ptr<Client> client = MakeClient(server->address());
  absl::StatusOr<v1::HealthReport> report = client->GetHealth();
  ASSERT_THAT(report, IsOk());
  EXPECT_THAT(report->store().last_error(), HasSubstr("AUTH failed"));
}

TEST_F(RedisFaultTest, MaxmemoryWithNoevictionAnswersByPolicyAndLogsOomOnce) {
  Start({.extra_args = {"--maxmemory-policy", "noeviction"}});
  ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kServing));
  // 4 MB of data, then a limit below it: every write is refused.
  for (int i = 0; i < 64; ++i) {
    ASSERT_THAT(redis_->Command({"SET", absl::StrCat("filler:", i),
                                 std::string(64 * 1024, 'x')}),
                IsOk());
  }
  ASSERT_THAT(redis_->Command({"CONFIG", "SET", "maxmemory", "1mb"}), IsOk());
  ASSERT_THAT(client_->AcquirePermit("op_deny", "k"),
              testing::StatusIs(absl::StatusCode::kUnavailable, HasSubstr("OOM")));
  PermitLoad load({client_.get()}, 4, kOps);
  absl::SleepFor(absl::Milliseconds(500));
  const std::vector<PermitLoad::Outcome>& outcomes = load.Stop();
  CheckOutcomes(outcomes, absl::InfinitePast(), absl::InfiniteFuture());
  int allow_allowed = 0;
  for (const PermitLoad::Outcome& o : outcomes) allow_allowed += o.op == "op_allow" && o.allowed;
  EXPECT_GT(allow_allowed, 5);  // beyond capacity: failing open
  const std::string logs = server_->Logs();
  size_t oom_lines = 0;
  for (size_t at = logs.find("answered an error: OOM"); at != std::string::npos;
       at = logs.find("answered an error: OOM", at + 1)) {
    ++oom_lines;
  }
  EXPECT_EQ(oom_lines, 1u) << logs;
}

// After Redis comes back, `redis` turned SERVING while another connection
// was still backing off, and calls routed to it failed for up to 422 ms.
TEST_F(RedisFaultTest, OnceRedisIsServingNoCallFailsOnABackingOffConnection) {
  Start({}, /*connections=*/4);
  ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kServing));
  for (int round = 0; round < 3; ++round) {
    ASSERT_THAT(redis_->Stop(), IsOk());
    ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kNotServing));
    absl::SleepFor(absl::Milliseconds(700));  // let every backoff grow
    ASSERT_THAT(redis_->Restart(), IsOk());
    ASSERT_TRUE(WaitForHealth(*client_, "redis", ServingStatus::kServing));
    int failed = 0;
    for (int i = 0; i < 200; ++i) {
      failed += !client_->AcquirePermit("op_deny", absl::StrCat("r", i)).ok();
    }
    EXPECT_EQ(failed, 0) << "round " << round;
  }
}

// One of three replicas SIGKILLed while the SDK spreads calls over them with
// round_robin: calls move to the survivors; none waits past its deadline.
TEST(ReplicaFailoverTest, RoundRobinMovesCallsToTheSurvivors) {
  absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
  ASSERT_THAT(redis, IsOk());
  std::vector<ServerProcess> replicas;
  std::string target = "ipv4:";
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<ServerProcess> s = ServerProcess::Start(Config((*redis)->url()));
    ASSERT_THAT(s, IsOk());
    target += absl::StrCat(i == 0 ? "" : ",", s->address());
    replicas.push_back(std::move(*s));
  }
  for (ServerProcess& replica : replicas) {
    ASSERT_TRUE(WaitForHealth(*MakeClient(replica.address()), "redis",
                              ServingStatus::kServing));
  }
  std::unique_ptr<Client> client = MakeClient(target, "round_robin");
  PermitLoad load({client.get()}, 8, kOps);
  absl::SleepFor(absl::Milliseconds(400));
  replicas[1].Signal(SIGKILL);
  const absl::Time killed = absl::Now();
  absl::SleepFor(absl::Milliseconds(1200));
  const std::vector<PermitLoad::Outcome>& outcomes = load.Stop();
  const absl::Duration deadline = absl::Seconds(2) + absl::Milliseconds(200 * kSlowdown);
  int errors_at_kill = 0, errors_later = 0, ok_later = 0;
  for (const PermitLoad::Outcome& o : outcomes) {
    EXPECT_LT(o.took, deadline);
    if (o.at + o.took < killed) {  // ended before the kill
      EXPECT_EQ(o.code, absl::StatusCode::kOk) << o.message;
      continue;
    }
    const bool later = o.at > killed + absl::Milliseconds(200 * kSlowdown);
    if (o.code != absl::StatusCode::kOk) {
      EXPECT_EQ(o.code, absl::StatusCode::kUnavailable);
      (later ? errors_later : errors_at_kill)++;
    } else if (later) {
      ++ok_later;
    }
  }
  EXPECT_LE(errors_at_kill, 8);  // at most the calls in flight at the kill
  EXPECT_EQ(errors_later, 0);
  EXPECT_GT(ok_later, 100);
}

}  // namespace
}  // namespace crossbridge
