#include "tests/testing/redis_cluster.h"

#include <unistd.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/redis/cluster_slots.h"
#include "server/redis/redis_connection.h"
#include "tests/testing/subprocess.h"

namespace crossbridge::testing {
namespace {

constexpr char kHost[] = "127.0.0.1";

std::string FindRedisCli() {
  return access("/usr/bin/redis-cli", X_OK) == 0 ? "/usr/bin/redis-cli" : "redis-cli";
}

absl::StatusOr<ReplyPtr> Run(int port, const std::vector<absl::string_view>& args) {
  absl::StatusOr<std::unique_ptr<RedisConnection>> conn =
      RedisConnection::Connect({kHost, port, 0, "", absl::Seconds(2)});
  if (!conn.ok()) return conn.status();
  return (*conn)->Command(args);
}

// The cluster as the node on `port` sees it: who serves each slot (by
// port) and how many replicas it lists.
struct SlotView {
  std::vector<int> owners;
  size_t nodes = 0;  // masters and replicas listed
};
absl::StatusOr<SlotView> ViewFrom(int port) {
  absl::StatusOr<ReplyPtr> reply = Run(port, {"CLUSTER", "SLOTS"});
  if (!reply.ok()) return reply.status();
  absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(**reply, kHost);
  if (!map.ok()) return map.status();
  SlotView view;
  view.owners.resize(kClusterSlots);
  for (int slot = 0; slot < kClusterSlots; ++slot) {
    view.owners[slot] = map->masters()[map->MasterOf(slot)].port;
  }
  view.nodes = map->masters().size() + map->replicas().size();
  return view;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisCluster>> RedisCluster::Start(int masters) {
  std::unique_ptr<RedisCluster> cluster(new RedisCluster());
  RedisServerOptions options;
  options.cluster = true;
  for (int i = 0; i < masters * 2; ++i) {
    absl::StatusOr<std::unique_ptr<RedisServer>> node = RedisServer::Start(options);
    if (!node.ok()) return node.status();
    cluster->nodes_.push_back(*std::move(node));
  }
  std::vector<std::string> args = {"--cluster", "create"};
  for (const std::string& seed : cluster->seeds()) args.push_back(seed);
  args.insert(args.end(), {"--cluster-replicas", "1", "--cluster-yes"});
  absl::StatusOr<std::string> created = cluster->Cli(args);
  if (!created.ok()) return created.status();
  if (absl::Status s = cluster->WaitUntilStable(absl::Seconds(20)); !s.ok()) return s;
  return cluster;
}

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> out;
  for (const auto& node : nodes_) out.push_back(absl::StrCat(kHost, ":", node->port()));
  return out;
}

std::optional<size_t> RedisCluster::IndexOfPort(int port) const {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->port() == port) return i;
  }
  return std::nullopt;
}

absl::StatusOr<size_t> RedisCluster::MasterOf(int slot) {
  absl::Status last = absl::UnavailableError("no node is running");
  for (const auto& node : nodes_) {
    if (!node->running()) continue;
    absl::StatusOr<SlotView> view = ViewFrom(node->port());
    if (!view.ok()) {
      last = view.status();
      continue;
    }
    const int port = view->owners[slot];
    if (std::optional<size_t> i = IndexOfPort(port)) return *i;
    return absl::InternalError(
        absl::StrCat("slot ", slot, " is served by port ", port, ", not ours"));
  }
  return last;
}

absl::Status RedisCluster::WaitUntilStable(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string why;
  while (absl::Now() < deadline) {
    why.clear();
    std::optional<std::vector<int>> agreed;
    size_t live = 0;
    for (const auto& node : nodes_) live += node->running() ? 1 : 0;
    for (const auto& node : nodes_) {
      if (!node->running()) continue;
      absl::StatusOr<ReplyPtr> info = Run(node->port(), {"CLUSTER", "INFO"});
      if (!info.ok() || (*info)->type != REDIS_REPLY_STRING ||
          !absl::StrContains(absl::string_view((*info)->str, (*info)->len),
                             "cluster_state:ok")) {
        why = absl::StrCat("node ", node->port(), " is not cluster_state:ok");
        break;
      }
      absl::StatusOr<ReplyPtr> replication = Run(node->port(), {"INFO", "replication"});
      if (!replication.ok() || (*replication)->type != REDIS_REPLY_STRING) {
        why = absl::StrCat("node ", node->port(), " answers no INFO replication");
        break;
      }
      const absl::string_view repl((*replication)->str, (*replication)->len);
      if (absl::StrContains(repl, "role:slave") &&
          !absl::StrContains(repl, "master_link_status:up")) {
        why = absl::StrCat("replica ", node->port(), " is not in sync with its master");
        break;
      }
      absl::StatusOr<SlotView> view = ViewFrom(node->port());
      if (!view.ok()) {
        why = absl::StrCat("node ", node->port(), ": ", view.status().message());
        break;
      }
      if (view->nodes != live) {
        why = absl::StrCat("node ", node->port(), " lists ", view->nodes, " of the ", live,
                           " live nodes as masters or replicas");
        break;
      }
      std::vector<int>* owners = &view->owners;
      if (agreed && *agreed != *owners) {
        why = absl::StrCat("node ", node->port(), " sees other slot owners");
        break;
      }
      if (absl::StrContains(repl, "role:master") &&
          std::find(owners->begin(), owners->end(), node->port()) == owners->end()) {
        why = absl::StrCat("node ", node->port(), " is a master of no slots (not yet a replica)");
        break;
      }
      for (int port : *owners) {
        std::optional<size_t> owner = IndexOfPort(port);
        if (!owner || !nodes_[*owner]->running()) {
          why = absl::StrCat("a slot is still served by port ", port, ", which is down");
          break;
        }
      }
      if (!why.empty()) break;
      agreed = *std::move(owners);
    }
    if (why.empty()) return absl::OkStatus();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "redis cluster not stable within ", absl::FormatDuration(timeout), ": ", why));
}

absl::StatusOr<std::string> RedisCluster::Cli(const std::vector<std::string>& args,
                                              absl::Duration timeout) {
  std::vector<std::string> argv = {FindRedisCli()};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> result = RunCommand(argv, timeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0 || absl::StrContains(result->out, "[ERR]")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "redis-cli ", args.empty() ? "" : args[0], " ", args.size() > 1 ? args[1] : "",
        " failed (exit ", result->exit_code, "): ", result->out, result->err));
  }
  return result->out;
}

}  // namespace crossbridge::testing
