// The metric families read at scrape time from state the server's
// components own: crossbridge_store_up, crossbridge_dependency_up,
// crossbridge_retry_budget_tokens, and the store internals
// (crossbridge_redis_*_total, crossbridge_memory_store_refused_buckets_total).
// Read at scrape time, they follow a reload by construction: a removed
// provider or policy simply stops appearing. A dependency whose state is
// UNKNOWN (not checked yet, health checks off) has no dependency_up sample:
// unknown is neither up nor down, and a 0 would page someone.
#ifndef CROSSBRIDGE_SERVER_STATE_METRICS_H_
#define CROSSBRIDGE_SERVER_STATE_METRICS_H_

#include <prometheus/metric_family.h>

#include <vector>

#include "server/health/health_registry.h"
#include "server/redis/redis_backend.h"
#include "server/retry/retry_advisor.h"
#include "server/store/memory_store.h"

namespace crossbridge {

struct StateSources {
  const RedisBackend* redis = nullptr;    // null on the memory backend
  const MemoryStore* memory = nullptr;    // the store, or Redis's fallback
  const HealthRegistry* health = nullptr;
  const RetryAdvisor* advisor = nullptr;
};

std::vector<prometheus::MetricFamily> CollectStateMetrics(const StateSources& from);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STATE_METRICS_H_
