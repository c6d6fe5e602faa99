// ScriptExecutor on a Redis Cluster, built on hiredis through one
// RedisExecutor per node (its links, reconnects and deadlines).
//
// Routing: a call goes to the master of its key's slot (KeySlot; every
// CrossBridge key is hash-tagged by bucket) in the slot map read with
// CLUSTER SLOTS. Connections are kept to replicas as well, so a promoted
// replica is ready the moment the map names it.
//
// Redirects, within the call's first deadline (storage timeout from Eval)
// and at most kMaxRedirects times:
//  - MOVED: the call is sent to the node named, and the map is read again
//    (at most every kRefreshInterval);
//  - ASK: the call is sent to the node named after an ASKING, on the same
//    connection; the map stays;
//  - TRYAGAIN, CLUSTERDOWN: the call is routed again 25 ms later (sooner if
//    the map is read again meanwhile), and fails DEADLINE_EXCEEDED at its
//    deadline if the slot is still unavailable then.
// Any other outcome is the call's (the script's reply, UNAVAILABLE for a
// node that is down, DEADLINE_EXCEEDED), as the ScriptExecutor contract says.
// A node found unreachable also triggers a refresh, so a failover is picked
// up within about kRefreshInterval of the cluster electing the replica.
//
// Health: reachable() while the map is known and every master's connections
// work; the listener hears each change.
#ifndef CROSSBRIDGE_SERVER_REDIS_REDIS_CLUSTER_EXECUTOR_H_
#define CROSSBRIDGE_SERVER_REDIS_REDIS_CLUSTER_EXECUTOR_H_

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/published.h"
#include "server/redis/cluster_slots.h"
#include "server/redis/redis_backend.h"
#include "server/redis/redis_executor.h"
#include "server/redis/script_executor.h"

namespace crossbridge {

class RedisClusterExecutor final : public RedisBackend {
 public:
  static constexpr int kMaxRedirects = 5;
  static constexpr absl::Duration kRefreshInterval = absl::Milliseconds(100);

  // `node_config` holds what every node shares (password, db 0, timeouts,
  // connections per node); its host and port are ignored. `seeds` are where
  // the map is first read. `clock` (the real one: RedisExecutor's rule)
  // outlives the executor.
  RedisClusterExecutor(const RedisStorageConfig& node_config,
                       std::vector<ClusterNode> seeds, const Clock& clock,
                       LatencyHistogram* round_trips = nullptr);
  ~RedisClusterExecutor() override;

  RedisClusterExecutor(const RedisClusterExecutor&) = delete;
  RedisClusterExecutor& operator=(const RedisClusterExecutor&) = delete;

  Script Register(const char* lua_source) override;
  // Starts reading the map (and keeps it fresh).
  void Start(HealthListener listener) override;
  // Ends when the map is known and every master reachable, or when the
  // first read of the map has failed.
  bool AwaitFirstAttempt(absl::Duration timeout) override;

  void Eval(Script script, absl::string_view key, Args args,
            ReplyCallback done) override;
  // One pipeline per master the batch's keys map to (redirects as Eval).
  void EvalBatch(absl::Span<BatchCall> calls) override;

  bool reachable() const override { return reachable_.load(std::memory_order_acquire); }
  std::string last_error() const override;
  // "cluster <seed>,<seed>...".
  std::string where() const override;
  // The sum over the nodes' executors (nodes dropped from the map included
  // while the executor keeps their connections).
  Stats stats() const override;

 private:
  class Call;
  struct Routing {
    SlotMap map;
    std::vector<RedisExecutor*> masters;  // by SlotMap master index
  };

  // Sends `call` to the slot's master, or to `node` (a redirect).
  void Route(std::unique_ptr<Call> call, const ClusterNode* node, bool asking);
  // What to do with a call's outcome from `from` (whose host an empty
  // redirect host means); runs on a node's link thread.
  void Finished(std::unique_ptr<Call> call, const RedisExecutor& from,
                absl::StatusOr<ReplyPtr> reply);
  // The executor of `node`, made and started if new.
  RedisExecutor& ExecutorFor(const ClusterNode& node);
  void RequestRefresh();
  void RefreshLoop();
  // Reads CLUSTER SLOTS from the known nodes, then the seeds.
  absl::StatusOr<SlotMap> ReadMap();
  void UpdateHealth();

  const RedisStorageConfig node_config_;
  const std::vector<ClusterNode> seeds_;
  const Clock& clock_;
  LatencyHistogram* const round_trips_;
  std::vector<const char*> scripts_;
  HealthListener listener_;
  std::atomic<bool> reachable_{false};

  mutable absl::Mutex mu_;
  std::map<std::string, std::unique_ptr<RedisExecutor>> executors_ ABSL_GUARDED_BY(mu_);
  // Read on every call without mu_; no map yet (or stopping): no masters.
  // Published under mu_ (its executors are made under it).
  Published<Routing> routing_{std::make_shared<const Routing>()};
  std::vector<std::unique_ptr<Call>> parked_ ABSL_GUARDED_BY(mu_);  // TRYAGAIN...
  bool refresh_requested_ ABSL_GUARDED_BY(mu_) = true;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;  // the refresher has news
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  bool reported_ ABSL_GUARDED_BY(mu_) = false;  // reachable_ as last reported
  bool map_read_failed_ ABSL_GUARDED_BY(mu_) = false;  // ever
  std::thread refresher_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_REDIS_CLUSTER_EXECUTOR_H_
