#include "server/state_metrics.h"

#include <string>
#include <utility>

#include "server/metrics/metrics.h"

namespace crossbridge {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

void AddRedisCounters(const RedisBackend& redis, std::vector<MetricFamily>& out) {
  const RedisBackend::Stats s = redis.stats();
  const std::pair<const char*, uint64_t> counters[] = {
      {"calls", s.calls},
      {"failed_unconnected", s.failed_unconnected},
      {"failed_queue_full", s.failed_queue_full},
      {"timed_out_queued", s.timed_out_queued},
      {"sent_unanswered", s.sent_unanswered},
      {"error_replies", s.error_replies},
      {"connects", s.connects},
  };
  MetricFamily f = MakeFamily(
      "crossbridge_redis_calls_total",
      "Redis store calls by outcome: calls (all), failed_unconnected, "
      "failed_queue_full, timed_out_queued (never sent), sent_unanswered "
      "(sent, no reply by the deadline: may have run), error_replies; and "
      "connects (successful connections).",
      MetricType::Counter);
  for (const auto& [kind, n] : counters) {
    AddSample(f, {{"kind", kind}}, static_cast<double>(n));
  }
  out.push_back(std::move(f));
}

}  // namespace

std::vector<MetricFamily> CollectStateMetrics(const StateSources& from) {
  std::vector<MetricFamily> out;

  MetricFamily store_up = MakeFamily(
      "crossbridge_store_up",
      "1 if the store answers (Redis: a connection works), else 0.",
      MetricType::Gauge);
  if (from.redis != nullptr) {
    AddSample(store_up, {{"store", "redis"}}, from.redis->reachable() ? 1 : 0);
    AddRedisCounters(*from.redis, out);
  } else {
    AddSample(store_up, {{"store", "memory"}}, 1);
  }
  out.push_back(std::move(store_up));

  if (from.memory != nullptr) {
    MetricFamily refused = MakeFamily(
        "crossbridge_memory_store_refused_buckets_total",
        "New buckets the in-process store refused at storage.memory.max_buckets.",
        MetricType::Counter);
    AddSample(refused, {}, static_cast<double>(from.memory->refused_new_buckets()));
    out.push_back(std::move(refused));
  }

  if (from.health != nullptr) {
    MetricFamily up = MakeFamily(
        "crossbridge_dependency_up",
        "1 if the health-checked dependency is SERVING, 0 if NOT_SERVING; "
        "left out while its state is unknown (not checked yet, or health "
        "checks off) and when it is disabled.",
        MetricType::Gauge);
    for (const DependencySnapshot& d : from.health->Snapshot()) {
      if (d.state == DependencyState::kDisabled ||
          d.state == DependencyState::kUnknown) {
        continue;
      }
      AddSample(up, {{"provider", d.name}},
                d.state == DependencyState::kServing ? 1 : 0);
    }
    out.push_back(std::move(up));
  }

  if (from.advisor != nullptr) {
    MetricFamily tokens = MakeFamily(
        "crossbridge_retry_budget_tokens",
        "Tokens in the retry policy's budget, as this replica last saw it.",
        MetricType::Gauge);
    for (const auto& [policy, n] : from.advisor->BudgetTokens()) {
      AddSample(tokens, {{"policy", policy}}, n);
    }
    out.push_back(std::move(tokens));
  }
  return out;
}

}  // namespace crossbridge
