#include "server/store/memory_store.h"

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/logging.h"

namespace crossbridge {

MemoryStore::MemoryStore(const Clock& clock, const MemoryStorageConfig& config,
                         int64_t cleanup_threshold)
    : clock_(clock),
      table_(BucketTable::Limits{.max_buckets = config.max_buckets,
                                 .shards = config.shards,
                                 .cleanup_threshold = cleanup_threshold}) {}

int64_t MemoryStore::NowMicros() const {
  return absl::ToUnixMicros(clock_.MonotonicNow());
}

void MemoryStore::Return(absl::string_view bucket_key, const GcraRule& rule,
                         int64_t count, AcquireCallback done) {
  done(table_.Return(bucket_key, rule, NowMicros(), count));
}

void MemoryStore::Acquire(absl::string_view bucket_key, const GcraRule& rule,
                          int64_t cost, bool up_to, AcquireCallback done) {
  absl::StatusOr<GcraResult> result =
      table_.Acquire(bucket_key, rule, NowMicros(), cost, up_to);
  if (absl::IsResourceExhausted(result.status())) {
    if (std::optional<uint64_t> suppressed = refused_log_.Admit("full")) {
      Logger("ratelimit")->warn(
          "memory store full: {} buckets hold state "
          "(storage.memory.max_buckets); new keys get on_store_failure until "
          "some refill ({} refused so far)",
          table_.max_buckets(), table_.refused_new_buckets());
    }
    return done(absl::UnavailableError(absl::StrCat(
        "memory store full: storage.memory.max_buckets (",
        table_.max_buckets(),
        ") buckets still hold state; new keys are refused until some refill")));
  }
  done(std::move(result));
}

}  // namespace crossbridge
