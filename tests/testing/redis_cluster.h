// A real Redis Cluster on loopback for tests: `masters` masters with one
// replica each (6 redis-server processes for 3), joined by `redis-cli
// --cluster create ... --cluster-replicas 1 --cluster-yes`, every node with
// cluster-node-timeout 1000 ms. Start returns once the cluster is stable
// (WaitUntilStable), so a master killed from then on fails over.
//
//   auto cluster = RedisCluster::Start();
//   Client config: storage.redis_cluster.nodes = (*cluster)->seeds()
//   (*cluster)->KillMasterOf(KeySlot("cb:v2:bucket:{op:k}"));  // failover
//
// The destructor kills every node and removes their directories.
#ifndef CROSSBRIDGE_TESTS_TESTING_REDIS_CLUSTER_H_
#define CROSSBRIDGE_TESTS_TESTING_REDIS_CLUSTER_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/redis_server.h"

namespace crossbridge::testing {

class RedisCluster {
 public:
  // Errors: those of RedisServer::Start; FAILED_PRECONDITION if redis-cli is
  // missing or refuses to create the cluster (its output in the message);
  // DEADLINE_EXCEEDED if the cluster is not ok within 20 s.
  static absl::StatusOr<std::unique_ptr<RedisCluster>> Start(int masters = 3);

  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  // "127.0.0.1:<port>" of every node, masters and replicas.
  std::vector<std::string> seeds() const;
  size_t size() const { return nodes_.size(); }
  RedisServer& node(size_t i) { return *nodes_[i]; }

  // Index (into node()) of the node serving `slot` now, as the first live
  // node that answers CLUSTER SLOTS says.
  absl::StatusOr<size_t> MasterOf(int slot);

  // Waits until every live node says cluster_state:ok, they agree on every
  // slot's master, every such master is running, every other live node is a
  // replica in sync with its master (after the start, a failover or a
  // reshard).
  absl::Status WaitUntilStable(absl::Duration timeout);

  // Runs redis-cli with `args` (e.g. {"--cluster", "reshard", ...}), up to
  // `timeout`; its output on success, FAILED_PRECONDITION with it otherwise.
  absl::StatusOr<std::string> Cli(const std::vector<std::string>& args,
                                  absl::Duration timeout = absl::Seconds(60));

 private:
  RedisCluster() = default;
  // Node index of the server listening on `port`, if one of ours.
  std::optional<size_t> IndexOfPort(int port) const;

  std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_REDIS_CLUSTER_H_
