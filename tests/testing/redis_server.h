// A real redis-server for tests: bound to 127.0.0.1 on a probed free port,
// no persistence (--save "" --appendonly no), its own temporary --dir.
//
//   absl::StatusOr<std::unique_ptr<RedisServer>> redis = RedisServer::Start();
//   ASSERT_THAT(redis, IsOk());
//   ... point the code under test at (*redis)->url() ...
//   EXPECT_EQ((*redis)->Command({"DBSIZE"}).value_or(""), "0");
//   (*redis)->Stop();     // simulate a crash (SIGKILL)
//   (*redis)->Restart();  // same port, empty database, no scripts
//
// Readiness is a PING polled with a 5 s deadline; nothing sleeps.
// Thread safety: Command() may be called from any thread while no other
// method runs (it opens its own connection); Start/Stop/Restart and the
// destructor belong to one thread.
#ifndef CROSSBRIDGE_TESTS_TESTING_REDIS_SERVER_H_
#define CROSSBRIDGE_TESTS_TESTING_REDIS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tests/testing/subprocess.h"

namespace crossbridge::testing {

struct RedisServerOptions {
  // requirepass; empty: no authentication. Command() authenticates itself.
  std::string password;
  // Appended to the redis-server command line, e.g. {"--maxmemory", "1mb"}.
  std::vector<std::string> extra_args;
  // A Redis Cluster node (--cluster-enabled yes, cluster-node-timeout
  // 1000 ms, nodes.conf in its own directory, so Restart() rejoins with the
  // same node ID). Its port and the cluster bus port (port + 10000) were
  // both free when it started. RedisCluster joins such nodes.
  bool cluster = false;
};

class RedisServer {
 public:
  // Finds redis-server (/usr/bin/redis-server, else on PATH), probes a free
  // port and starts it, retrying with another port if redis cannot bind.
  // Errors: FAILED_PRECONDITION if no redis-server is installed (run
  // scripts/install-deps.sh) or it exits at startup (bad extra_args; the
  // message has its output); DEADLINE_EXCEEDED if it does not answer PING
  // within 5 s; INTERNAL for a failing system call.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start(
      const RedisServerOptions& options = {});

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  // Kills the server and removes its temporary directory.
  ~RedisServer();

  int port() const { return port_; }
  // "redis://127.0.0.1:<port>/0", or "redis://:<password>@127.0.0.1:<port>/0".
  std::string url() const;
  // False after Stop() until Restart().
  bool running() const { return !process_.exited() && process_.pid() > 0; }

  // Sends `signal` to the server (SIGSTOP / SIGCONT: a hung Redis).
  void Signal(int signal) { process_.Signal(signal); }

  // Hard kill (SIGKILL, as in a crash) and wait for the exit. Connections
  // then fail. OK if already stopped; DEADLINE_EXCEEDED if it does not
  // exit within 5 s.
  absl::Status Stop();

  // Stops the server if running, then starts a new one on the same port
  // with the same options: empty database, no cached scripts. Returns once
  // it answers PING. Errors as Start(); UNAVAILABLE if the port stays taken
  // by another process.
  absl::Status Restart();

  // Runs one command on a new connection (AUTH first when a password is
  // set) and renders the reply: integer in decimal, bulk and status as
  // their text, nil as "(nil)", an array as its elements rendered and
  // joined by ' ' (an error element as "(error) <message>").
  // Errors: UNAVAILABLE if it cannot connect or the connection fails,
  // DEADLINE_EXCEEDED after 5 s without a reply, UNKNOWN with Redis's
  // message (e.g. "WRONGTYPE ...", "NOSCRIPT ...") for an error reply.
  absl::StatusOr<std::string> Command(const std::vector<std::string>& args);

  // Everything redis-server wrote so far (its log goes to stdout).
  std::string Logs();

 private:
  RedisServer(std::string binary, RedisServerOptions options, std::string dir)
      : binary_(std::move(binary)),
        options_(std::move(options)),
        dir_(std::move(dir)) {}

  // Spawns redis-server on `port` and polls PING. UNAVAILABLE (and the
  // process reaped) if it exited because the port was taken.
  absl::Status Launch(int port);
  // One PING on a fresh connection: true on PONG.
  bool Ping();

  std::string binary_;
  RedisServerOptions options_;
  std::string dir_;  // --dir; removed by the destructor
  int port_ = 0;
  ChildProcess process_;
  std::string previous_logs_;  // output of processes before Restart()
};

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_REDIS_SERVER_H_
