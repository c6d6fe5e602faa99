// Fuzz target: the handling of Redis replies. Arbitrary bytes are read as
// RESP by hiredis's own reader (what a broken or hostile Redis could send),
// and every reply tree that comes out is handed to each Redis-backed store's
// callback (bucket, retry budget, health count, probe lease) through a
// FakeScriptExecutor, and through the RateLimiter's store-failure policies.
//
// Invariants: nothing crashes or leaks; a bucket result is either an error
// or within its rule (remaining <= capacity, waits within one window); a
// budget within [0, max_tokens]; a count >= 0.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "server/health/redis_outcome_store.h"
#include "server/rate_limiter.h"
#include "server/retry/budget_store.h"
#include "server/store/memory_store.h"
#include "server/store/redis_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/fake_script_executor.h"

namespace {

using namespace crossbridge;

void Check(bool ok) {
  if (!ok) std::abort();
}

struct Harness {
  testing::FakeClock clock;
  testing::FakeScriptExecutor redis;
  RedisStore buckets{redis};
  RedisBudgetStore budgets{redis};
  RedisOutcomeStore outcomes{redis};
  MemoryStore local{clock, MemoryStorageConfig{}, 1000};
  std::unique_ptr<RateLimiter> limiter;
  GcraRule rule = *GcraRule::Create(60, absl::Seconds(60));

  Harness() {
    RateLimitingConfig config;
    config.operations["allow"] = {60, absl::Seconds(60), StoreFailurePolicy::kAllow};
    config.operations["deny"] = {60, absl::Seconds(60), StoreFailurePolicy::kDeny};
    config.operations["local"] = {60, absl::Seconds(60), StoreFailurePolicy::kLocal};
    limiter = *RateLimiter::Create(config, buckets, &local);
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Harness* const h = new Harness();
  const std::string resp(reinterpret_cast<const char*>(data), size);
  h->redis.ClearCalls();
  h->redis.AnswerAlways([&resp](const auto&) { return resp; });

  h->buckets.Acquire("cb:v2:bucket:{f:k}", h->rule, 1, /*up_to=*/false, [&](absl::StatusOr<GcraResult> r) {
    if (!r.ok()) return;
    Check(r->remaining >= 0 && r->remaining <= 60);
    Check(r->retry_after_ms >= 0 && r->retry_after_ms <= 60'000);
    Check(r->reset_after_ms >= 0 && r->reset_after_ms <= 60'000);
  });
  h->budgets.Withdraw("p", {100, 0.5}, [&](absl::StatusOr<BudgetUpdate> u) {
    if (u.ok()) Check(u->tokens >= 0 && u->tokens <= 100);
  });
  h->outcomes.RecordOutcome("db", false, [&](absl::StatusOr<int64_t> n) {
    if (n.ok()) Check(*n >= 0);
  });
  h->outcomes.ClaimProbe("db", absl::Seconds(1), [](absl::StatusOr<bool>) {});
  for (const char* op : {"allow", "deny", "local"}) {
    h->limiter->Acquire("", op, "k", 1, [&](absl::StatusOr<GcraResult> r) {
      if (r.ok()) Check(r->remaining >= 0 && r->remaining <= 60);
    });
  }
  return 0;
}
