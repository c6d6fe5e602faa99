#include "server/redis/redis_cluster_executor.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "server/redis/redis_connection.h"

namespace crossbridge {
namespace {

// How often the map is read again when nothing asks for it.
constexpr absl::Duration kHealthyRefresh = absl::Seconds(5);
constexpr absl::Duration kDegradedRefresh = absl::Milliseconds(500);
// A call parked on TRYAGAIN or CLUSTERDOWN is routed again this much later
// (or after the next map read, if sooner), until its deadline.
constexpr absl::Duration kParkedRetry = absl::Milliseconds(25);

}  // namespace

// A call as Eval got it, kept (key and arguments copied) so it can be sent
// again after a redirect.
class RedisClusterExecutor::Call {
 public:
  Call(Script script, absl::string_view key, Args args, absl::Time deadline,
       ReplyCallback done, Args more_keys = {})
      : script(script), key(key), args(args.begin(), args.end()),
        more_keys(more_keys.begin(), more_keys.end()),
        deadline(deadline), done(std::move(done)) {
    for (const std::string& a : this->args) views.push_back(a);
    for (const std::string& k : this->more_keys) more_key_views.push_back(k);
  }

  const Script script;
  const std::string key;  // routes the call: more_keys share its slot
  const std::vector<std::string> args;
  const std::vector<std::string> more_keys;
  std::vector<absl::string_view> views;           // into args
  std::vector<absl::string_view> more_key_views;  // into more_keys
  const absl::Time deadline;
  absl::Time retry_at;  // when parked: when to route it again
  int redirects = 0;
  ReplyCallback done;
};

RedisClusterExecutor::RedisClusterExecutor(const RedisStorageConfig& node_config,
                                           std::vector<ClusterNode> seeds,
                                           const Clock& clock,
                                           LatencyHistogram* round_trips)
    : node_config_(node_config),
      seeds_(std::move(seeds)),
      clock_(clock),
      round_trips_(round_trips) {}

RedisClusterExecutor::~RedisClusterExecutor() {
  std::map<std::string, std::unique_ptr<RedisExecutor>> executors;
  std::vector<std::unique_ptr<Call>> parked;
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (refresher_.joinable()) refresher_.join();
  {
    MutexLock lock(&mu_);
    routing_.Publish(std::make_shared<const Routing>());
    parked.swap(parked_);
    executors.swap(executors_);
  }
  for (auto& call : parked) call->done(absl::UnavailableError("redis executor shutting down"));
  // Their calls in flight fail now; Finished sees stopping_ and routes none.
  executors.clear();
}

RedisClusterExecutor::Script RedisClusterExecutor::Register(const char* lua_source) {
  scripts_.push_back(lua_source);
  return Script{scripts_.size() - 1};
}

void RedisClusterExecutor::Start(HealthListener listener) {
  listener_ = std::move(listener);
  refresher_ = std::thread([this] { RefreshLoop(); });
}

bool RedisClusterExecutor::AwaitFirstAttempt(absl::Duration timeout) {
  MutexLock lock(&mu_);
  lock.AwaitWithTimeout(
      [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return reported_ || map_read_failed_ || stopping_;
      },
      timeout);
  return reported_;
}

std::string RedisClusterExecutor::where() const {
  std::vector<std::string> seeds;
  for (const ClusterNode& n : seeds_) seeds.push_back(n.ToString());
  return absl::StrCat("cluster ", absl::StrJoin(seeds, ","));
}

RedisBackend::Stats RedisClusterExecutor::stats() const {
  MutexLock lock(&mu_);
  Stats sum;
  for (const auto& [name, executor] : executors_) sum += executor->stats();
  return sum;
}

std::string RedisClusterExecutor::last_error() const {
  MutexLock lock(&mu_);
  return last_error_;
}

void RedisClusterExecutor::Eval(Script script, absl::string_view key, Args args,
                                ReplyCallback done) {
  Route(std::make_unique<Call>(script, key, args,
                               clock_.MonotonicNow() + node_config_.timeout, std::move(done)),
        nullptr, /*asking=*/false);
}

void RedisClusterExecutor::EvalBatch(absl::Span<BatchCall> calls) {
  const absl::Time deadline = clock_.MonotonicNow() + node_config_.timeout;
  const std::shared_ptr<const Routing> routing = routing_.Get();
  if (routing->masters.empty()) {  // each call is refused as Route says why
    for (BatchCall& c : calls) {
      Route(std::make_unique<Call>(c.script, c.key, c.args, deadline, std::move(c.done),
                                   c.more_keys),
            nullptr, /*asking=*/false);
    }
    return;
  }
  // One pipeline per master, each call keeping what a redirect needs.
  std::vector<std::vector<BatchCall>> by_master(routing->masters.size());
  for (BatchCall& c : calls) {
    const int master = routing->map.MasterOf(KeySlot(c.key));
    RedisExecutor* target = routing->masters[master];
    auto call = std::make_unique<Call>(c.script, c.key, c.args, deadline, std::move(c.done),
                                       c.more_keys);
    Call* raw = call.get();
    by_master[master].push_back(
        {raw->script, raw->key, raw->views,
         [this, call = std::move(call), target](absl::StatusOr<ReplyPtr> reply) mutable {
           Finished(std::move(call), *target, std::move(reply));
         },
         raw->more_key_views});
  }
  for (size_t m = 0; m < by_master.size(); ++m) {
    if (!by_master[m].empty()) {
      routing->masters[m]->EvalBatchAt(absl::MakeSpan(by_master[m]), deadline);
    }
  }
}

RedisExecutor& RedisClusterExecutor::ExecutorFor(const ClusterNode& node) {
  std::unique_ptr<RedisExecutor>& slot = executors_[node.ToString()];
  if (slot == nullptr) {
    RedisStorageConfig config = node_config_;
    config.host = node.host;
    config.port = node.port;
    config.db = 0;  // a cluster has only database 0
    slot = std::make_unique<RedisExecutor>(config, clock_, round_trips_);
    for (const char* source : scripts_) slot->Register(source);
    slot->Start([this](bool reachable) {
      if (!reachable) RequestRefresh();  // perhaps a failover
      UpdateHealth();
    });
  }
  return *slot;
}

void RedisClusterExecutor::Route(std::unique_ptr<Call> call, const ClusterNode* node,
                                 bool asking) {
  RedisExecutor* target = nullptr;
  if (node == nullptr) {
    // The common case, without a lock: the slot's master in the map.
    const Routing& routing = routing_.Peek();
    if (!routing.masters.empty()) {
      target = routing.masters[routing.map.MasterOf(KeySlot(call->key))];
    }
  }
  absl::Status refused;
  if (target == nullptr) {
    MutexLock lock(&mu_);
    if (stopping_) {
      refused = absl::UnavailableError("redis executor shutting down");
    } else if (node != nullptr) {
      target = &ExecutorFor(*node);
    } else {
      refused = absl::UnavailableError(absl::StrCat(
          "redis cluster: no slot map yet",
          last_error_.empty() ? "" : absl::StrCat(" (", last_error_, ")")));
    }
  }
  if (target == nullptr) return call->done(refused);
  Call* raw = call.get();
  // Executors live as long as this one: the callback may name its own.
  const ScriptExecutor::Args more_keys = raw->more_key_views;
  target->EvalAt(raw->script, raw->key, raw->views, raw->deadline, asking,
                 [this, call = std::move(call), target](absl::StatusOr<ReplyPtr> reply) mutable {
                   Finished(std::move(call), *target, std::move(reply));
                 },
                 more_keys);
}

void RedisClusterExecutor::Finished(std::unique_ptr<Call> call, const RedisExecutor& from,
                                    absl::StatusOr<ReplyPtr> reply) {
  if (!reply.ok() && absl::IsUnavailable(reply.status())) {
    absl::string_view text = reply.status().message();
    if (absl::ConsumePrefix(&text, "redis: ")) {
      const bool in_time = clock_.MonotonicNow() < call->deadline &&
                           call->redirects < kMaxRedirects;
      if (std::optional<Redirect> redirect = ParseRedirect(text)) {
        if (in_time) {
          ++call->redirects;
          if (redirect->node.host.empty()) redirect->node.host = from.host();
          const bool ask = redirect->kind == Redirect::Kind::kAsk;
          if (!ask) RequestRefresh();
          return Route(std::move(call), &redirect->node, ask);
        }
      } else if (absl::StartsWith(text, "TRYAGAIN") || absl::StartsWith(text, "CLUSTERDOWN")) {
        if (in_time) {
          ++call->redirects;
          MutexLock lock(&mu_);
          if (!stopping_) {
            call->retry_at = clock_.MonotonicNow() + kParkedRetry;
            parked_.push_back(std::move(call));
            refresh_requested_ = true;
            wake_ = true;
            return;
          }
        }
      }
    } else {
      RequestRefresh();  // a node unreachable: perhaps a failover
    }
  }
  call->done(std::move(reply));
}

void RedisClusterExecutor::RequestRefresh() {
  MutexLock lock(&mu_);
  refresh_requested_ = true;
  wake_ = true;
}

absl::StatusOr<SlotMap> RedisClusterExecutor::ReadMap() {
  const std::shared_ptr<const Routing> routing = routing_.Get();
  std::vector<ClusterNode> candidates = routing->map.masters();
  const std::vector<ClusterNode>& replicas = routing->map.replicas();
  candidates.insert(candidates.end(), replicas.begin(), replicas.end());
  candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
  absl::Status last = absl::UnavailableError("redis cluster: no nodes to ask");
  for (const ClusterNode& node : candidates) {
    absl::StatusOr<std::unique_ptr<RedisConnection>> conn = RedisConnection::Connect(
        {node.host, node.port, 0, node_config_.password, node_config_.connect_timeout});
    if (!conn.ok()) {
      last = conn.status();
      continue;
    }
    absl::StatusOr<ReplyPtr> reply = (*conn)->Command({"CLUSTER", "SLOTS"});
    if (!reply.ok()) {
      last = absl::UnavailableError(
          absl::StrCat("redis ", node.ToString(), ": CLUSTER SLOTS: ", reply.status().message()));
      continue;
    }
    absl::StatusOr<SlotMap> map = SlotMap::FromClusterSlots(**reply, node.host);
    if (map.ok()) return map;
    last = map.status();
  }
  return last;
}

void RedisClusterExecutor::RefreshLoop() {
  absl::Time last_read = absl::InfinitePast();
  for (;;) {
    std::vector<std::unique_ptr<Call>> due;
    bool read = false;
    {
      MutexLock lock(&mu_);
      for (;;) {
        if (stopping_) return;
        wake_ = false;
        const absl::Time now = clock_.MonotonicNow();
        // At most one read per kRefreshInterval, however many ask.
        const absl::Time read_at =
            refresh_requested_
                ? last_read + kRefreshInterval
                : last_read + (reported_ ? kHealthyRefresh : kDegradedRefresh);
        read = now >= read_at;
        absl::Time wake = read_at;
        for (auto it = parked_.begin(); it != parked_.end();) {
          const absl::Time at = std::min((*it)->retry_at, (*it)->deadline);
          if (read || at <= now) {
            due.push_back(std::move(*it));
            it = parked_.erase(it);
          } else {
            wake = std::min(wake, at);
            ++it;
          }
        }
        if (read || !due.empty()) break;
        clock_.AwaitUntil(
            lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stopping_ || wake_; },
            wake);
      }
      if (read) {
        refresh_requested_ = false;
        last_read = clock_.MonotonicNow();
      }
    }
    if (read) {
      absl::StatusOr<SlotMap> map = ReadMap();
      MutexLock lock(&mu_);
      if (stopping_) return;
      if (map.ok()) {
        auto routing = std::make_shared<Routing>();
        routing->map = *std::move(map);
        for (const ClusterNode& m : routing->map.masters()) {
          routing->masters.push_back(&ExecutorFor(m));
        }
        for (const ClusterNode& r : routing->map.replicas()) ExecutorFor(r);
        routing_.Publish(std::move(routing));
      } else {
        last_error_ = std::string(map.status().message());
        map_read_failed_ = true;
      }
    }
    for (auto& call : due) {
      if (clock_.MonotonicNow() >= call->deadline) {
        call->done(absl::DeadlineExceededError(
            "redis cluster: the slot stayed unavailable (TRYAGAIN or CLUSTERDOWN) "
            "through the timeout"));
      } else {
        Route(std::move(call), nullptr, /*asking=*/false);
      }
    }
    if (read) UpdateHealth();
  }
}

void RedisClusterExecutor::UpdateHealth() {
  MutexLock lock(&mu_);
  const std::shared_ptr<const Routing> routing = routing_.Get();
  bool now = !routing->masters.empty();
  for (RedisExecutor* m : routing->masters) now = now && m->reachable();
  reachable_.store(now, std::memory_order_release);
  if (now == reported_ || stopping_) return;
  reported_ = now;
  if (now) {
    Logger("redis")->info("redis cluster reachable: {} masters", routing->masters.size());
  } else {
    Logger("redis")->warn(
        "redis cluster: a master is unreachable; operations on its slots apply "
        "on_store_failure until the cluster or a failover brings it back");
  }
  // Under the lock, so the listener hears changes in order.
  if (listener_) listener_(now);
}

}  // namespace crossbridge
