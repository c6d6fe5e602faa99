#include "server/rate_limiter.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/names.h"
#include "common/quote.h"
#include "common/status.h"
#include "server/redis/keyspace.h"

namespace crossbridge {
namespace {

// The answer when no bucket is consulted (rate limiting disabled, or the
// store failed under on_store_failure: allow).
GcraResult FullBucket(const GcraRule& rule) {
  GcraResult open;
  open.allowed = true;
  open.limit = rule.capacity;
  open.remaining = rule.capacity;
  return open;
}

}  // namespace

absl::Status ValidateBucketKey(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("key: must not be empty");
  if (key.size() > kMaxKeyBytes) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "key: %d bytes, longer than the limit of %d", key.size(), kMaxKeyBytes));
  }
  if (const size_t bad = FindUnprintable(key); bad != absl::string_view::npos) {
    const unsigned char c = static_cast<unsigned char>(key[bad]);
    const unsigned char next =
        bad + 1 < key.size() ? static_cast<unsigned char>(key[bad + 1]) : 0;
    const bool c1 = c == 0xC2 && next >= 0x80 && next <= 0x9F;
    if (c < 0x20 || c == 0x7f || c1) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "key: control character %s at byte %d is not allowed",
          c1 ? absl::StrFormat("U+%04X", next)
             : absl::StrFormat("0x%02x", c),
          bad));
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "key: byte 0x%02x at byte %d is not valid UTF-8", c, bad));
  }
  return absl::OkStatus();
}

namespace {

absl::StatusOr<RateLimiter::Rule> MakeRule(const RateLimitRule& rule,
                                           absl::string_view name,
                                           absl::string_view path,
                                           const PermitMetrics* metrics) {
  absl::StatusOr<GcraRule> gcra = GcraRule::Create(rule.capacity, rule.window);
  if (!gcra.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", gcra.status().message()));
  }
  return RateLimiter::Rule{*gcra, rule.on_store_failure, rule.scope,
                           std::string(name), metrics};
}

// The bucket a tenant's request under `rule` takes from (see the header).
std::string BucketOf(absl::string_view tenant, const RateLimiter::Rule& rule,
                     absl::string_view operation, absl::string_view key) {
  return tenant.empty() || rule.scope == BucketScope::kGlobal
             ? BucketKey(operation, key)
             : TenantBucketKey(tenant, operation, key);
}

void Count(const PermitMetrics* metrics,
           const absl::StatusOr<GcraResult>& result, int64_t cost) {
  if (metrics != nullptr) metrics->Record(result, cost);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RateLimiter>> RateLimiter::Create(
    const RateLimitingConfig& config, BucketStore& store, BucketStore* fallback,
    Metrics* metrics) {
  std::unique_ptr<RateLimiter> limiter(new RateLimiter(store, fallback, metrics));
  ASSIGN_OR_RETURN(RuleSetPtr rules, limiter->BuildRules(config));
  limiter->Apply(std::move(rules));
  return limiter;
}

RateLimiter::RateLimiter(BucketStore& store, BucketStore* fallback,
                         Metrics* metrics)
    : store_(store),
      fallback_(fallback),
      metrics_(metrics),
      rules_(std::make_shared<const RuleSet>()) {}

absl::StatusOr<RateLimiter::RuleSetPtr> RateLimiter::BuildRules(
    const RateLimitingConfig& config) const {
  auto metrics_of = [this](const std::string& label) -> const PermitMetrics* {
    return metrics_ != nullptr ? &metrics_->Permit(label) : nullptr;
  };
  auto set = std::make_shared<RuleSet>();
  set->enabled = config.enabled;
  for (const auto& [operation, rule] : config.operations) {
    ASSIGN_OR_RETURN(
        Rule made,
        MakeRule(rule, absl::StrCat("operation \"", operation, "\""),
                 absl::StrCat("runtime.rate_limiting.defaults.", operation),
                 metrics_of(operation)));
    set->rules.emplace(operation, std::move(made));
  }
  if (config.default_rule) {
    ASSIGN_OR_RETURN(set->default_rule,
                     MakeRule(*config.default_rule, "default_rule",
                              "runtime.rate_limiting.default_rule",
                              metrics_of(kDefaultOperationLabel)));
  }
  set->invalid_metrics = metrics_of(kInvalidOperationLabel);
  return set;
}

void RateLimiter::Apply(RuleSetPtr rules) { rules_.Publish(std::move(rules)); }

absl::StatusOr<const RateLimiter::Rule*> RateLimiter::ResolveRule(
    const RuleSet& set, absl::string_view operation) {
  auto it = set.rules.find(operation);
  if (it != set.rules.end()) return &it->second;
  // Not configured: the name must still be one the config could hold, also
  // for default_rule, so no request can name an operation (and so a bucket)
  // the config could not.
  if (operation.empty()) {
    return absl::InvalidArgumentError("operation: must not be empty");
  }
  if (!IsValidEntryName(operation)) {
    return absl::InvalidArgumentError(
        absl::StrCat("operation: ", QuoteForMessage(operation), " ",
                     kEntryNameRule, " (the rule for names in "
                     "runtime.rate_limiting.defaults)"));
  }
  if (set.default_rule) return &*set.default_rule;
  return absl::NotFoundError(absl::StrCat(
      "operation: \"", operation,
      "\" is not configured in runtime.rate_limiting.defaults"));
}

std::optional<absl::StatusOr<GcraResult>> RateLimiter::Prepare(
    const RuleSetPtr& set, absl::string_view tenant, const PermitRequest& request,
    Pending& out) const {
  const int64_t n = request.cost.value_or(1);
  absl::StatusOr<const Rule*> found = ResolveRule(*set, request.operation);
  if (!found.ok()) {
    Count(set->invalid_metrics, found.status(), n);
    return found.status();
  }
  const Rule& rule = **found;
  absl::Status invalid = ValidateBucketKey(request.key);
  if (invalid.ok() && n > rule.gcra.capacity) {
    invalid = absl::InvalidArgumentError(absl::StrFormat(
        "cost: %d exceeds the capacity %d of %s; it could never be admitted",
        n, rule.gcra.capacity, rule.name));
  }
  if (!invalid.ok()) {
    Count(rule.metrics, invalid, n);
    return invalid;
  }
  if (!set->enabled) {
    GcraResult open = FullBucket(rule.gcra);
    open.granted = n;
    Count(rule.metrics, open, n);
    return open;
  }
  out.set = set;
  out.rule = &rule;
  out.cost = n;
  out.up_to = request.up_to_cost;
  out.bucket_key = BucketOf(tenant, rule, request.operation, request.key);
  return std::nullopt;
}

void RateLimiter::Acquire(absl::string_view tenant, const PermitRequest& request,
                          Callback done) {
  auto pending = std::make_unique<Pending>();
  if (std::optional<absl::StatusOr<GcraResult>> answer =
          Prepare(rules_.Get(), tenant, request, *pending)) {
    return done(*std::move(answer));
  }
  pending->done = std::move(done);
  Pending* p = pending.release();  // owned by the callback from here on
  store_.Acquire(p->bucket_key, p->rule->gcra, p->cost, p->up_to,
                 [this, p](absl::StatusOr<GcraResult> r) {
                   Complete(std::unique_ptr<Pending>(p), std::move(r));
                 });
}

void RateLimiter::AcquireBatch(absl::string_view tenant,
                               absl::Span<const PermitRequest> requests,
                               BatchResults& results) {
  const RuleSetPtr set = rules_.Get();
  std::vector<BucketStore::Take> takes;
  takes.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    auto pending = std::make_unique<Pending>();
    if (std::optional<absl::StatusOr<GcraResult>> answer =
            Prepare(set, tenant, requests[i], *pending)) {
      results.Set(i, *std::move(answer));
      continue;
    }
    pending->done = [&results, i](absl::StatusOr<GcraResult> r) {
      results.Set(i, std::move(r));
    };
    Pending* p = pending.release();  // owned by the callback from here on
    takes.push_back(BucketStore::Take{
        p->bucket_key, &p->rule->gcra, p->cost, p->up_to,
        [this, p](absl::StatusOr<GcraResult> r) {
          Complete(std::unique_ptr<Pending>(p), std::move(r));
        }});
  }
  if (!takes.empty()) store_.AcquireBatch(absl::MakeSpan(takes));
}

void RateLimiter::Complete(std::unique_ptr<Pending> pending,
                           absl::StatusOr<GcraResult> r) {
  if (!r.ok()) return OnStoreFailure(r.status(), std::move(pending));
  Count(pending->rule->metrics, r, pending->cost);
  pending->done(std::move(r));
}

void RateLimiter::Return(absl::string_view tenant, absl::string_view operation,
                         absl::string_view key, uint32_t count, Callback done) {
  RuleSetPtr set = rules_.Get();
  absl::StatusOr<const Rule*> found = ResolveRule(*set, operation);
  if (!found.ok()) return done(found.status());
  const Rule& rule = **found;
  if (absl::Status invalid = ValidateBucketKey(key); !invalid.ok()) {
    return done(invalid);
  }
  if (count < 1 || count > rule.gcra.capacity) {
    return done(absl::InvalidArgumentError(absl::StrFormat(
        "count: %d is outside 1..%d, the capacity of %s", count,
        rule.gcra.capacity, rule.name)));
  }
  if (!set->enabled) return done(FullBucket(rule.gcra));
  const std::string bucket_key = BucketOf(tenant, rule, operation, key);
  // `rule` lives as long as `set`, which the callback holds.
  store_.Return(bucket_key, rule.gcra, count,
                [set = std::move(set), &rule, count,
                 done = std::move(done)](absl::StatusOr<GcraResult> r) mutable {
                  if (r.ok()) return done(std::move(r));
                  done(absl::UnavailableError(absl::StrCat(
                      "store unavailable (", r.status().message(), "); the ", count,
                      " permits of ", rule.name, " were not returned")));
                });
}

void RateLimiter::OnStoreFailure(const absl::Status& error,
                                 std::unique_ptr<Pending> pending) {
  const Rule& rule = *pending->rule;
  if (rule.metrics != nullptr) rule.metrics->RecordFallback(rule.on_store_failure);
  absl::StatusOr<GcraResult> answer;
  switch (rule.on_store_failure) {
    case StoreFailurePolicy::kAllow:
      answer = FullBucket(rule.gcra);
      answer->granted = pending->cost;
      break;
    case StoreFailurePolicy::kDeny:
      answer = absl::UnavailableError(absl::StrCat(
          "store unavailable (", error.message(), "); ", rule.name,
          " fails closed (on_store_failure: deny)"));
      break;
    case StoreFailurePolicy::kLocal:
      if (fallback_ == nullptr) {  // the memory store is the local one
        answer = absl::UnavailableError(absl::StrCat(
            "store unavailable (", error.message(), "); ", rule.name,
            " has no other local store (on_store_failure: local)"));
        break;
      }
      {
        Pending* p = pending.release();  // owned by the callback from here on
        return fallback_->Acquire(
            p->bucket_key, rule.gcra, p->cost, p->up_to,
            [p](absl::StatusOr<GcraResult> r) {
              std::unique_ptr<Pending> owned(p);
              Count(owned->rule->metrics, r, owned->cost);
              owned->done(std::move(r));
            });
      }
  }
  Count(rule.metrics, answer, pending->cost);
  pending->done(std::move(answer));
}

}  // namespace crossbridge
