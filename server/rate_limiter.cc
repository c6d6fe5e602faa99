#include "server/rate_limiter.h"

#include <utility>

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

void RateLimiter::Acquire(absl::string_view tenant, absl::string_view operation,
                          absl::string_view key, std::optional<uint32_t> cost,
                          Callback done) {
  RuleSetPtr set = rules_.Get();
  const int64_t n = cost.value_or(1);
  absl::StatusOr<const Rule*> found = ResolveRule(*set, operation);
  if (!found.ok()) {
    Count(set->invalid_metrics, found.status(), n);
    return done(found.status());
  }
  const Rule& rule = **found;
  absl::Status invalid = ValidateBucketKey(key);
  if (invalid.ok() && n > rule.gcra.capacity) {
    invalid = absl::InvalidArgumentError(absl::StrFormat(
        "cost: %d exceeds the capacity %d of %s; it could never be admitted",
        n, rule.gcra.capacity, rule.name));
  }
  if (!invalid.ok()) {
    Count(rule.metrics, invalid, n);
    return done(invalid);
  }
  if (!set->enabled) {
    GcraResult open = FullBucket(rule.gcra);
    Count(rule.metrics, open, n);
    return done(open);
  }
  std::string bucket_key = tenant.empty() || rule.scope == BucketScope::kGlobal
                               ? BucketKey(operation, key)
                               : TenantBucketKey(tenant, operation, key);
  // Only the `local` fallback needs the key again, after the store failed.
  std::string fallback_key = fallback_ != nullptr ? bucket_key : std::string();
  // `rule` lives as long as `set`, which the callback holds.
  store_.Acquire(
      bucket_key, rule.gcra, n,
      [this, set = std::move(set), fallback_key = std::move(fallback_key),
       &rule, n, done = std::move(done)](absl::StatusOr<GcraResult> r) mutable {
        if (r.ok()) {
          Count(rule.metrics, r, n);
          return done(std::move(r));
        }
        OnStoreFailure(r.status(), fallback_key, std::move(set), rule, n,
                       std::move(done));
      });
}

void RateLimiter::OnStoreFailure(const absl::Status& error,
                                 const std::string& bucket_key, RuleSetPtr set,
                                 const Rule& rule, int64_t cost, Callback done) {
  if (rule.metrics != nullptr) rule.metrics->RecordFallback(rule.on_store_failure);
  absl::StatusOr<GcraResult> answer;
  switch (rule.on_store_failure) {
    case StoreFailurePolicy::kAllow:
      answer = FullBucket(rule.gcra);
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
      return fallback_->Acquire(
          bucket_key, rule.gcra, cost,
          [set = std::move(set), &rule, cost,
           done = std::move(done)](absl::StatusOr<GcraResult> r) {
            Count(rule.metrics, r, cost);
            done(std::move(r));
          });
  }
  Count(rule.metrics, answer, cost);
  done(std::move(answer));
}

}  // namespace crossbridge
