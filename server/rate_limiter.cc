#include "server/rate_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

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
  for (size_t i = 0; i < key.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "key: control character 0x%02x at byte %d is not allowed", c, i));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RateLimiter::Rule> RateLimiter::MakeRule(
    const RateLimitRule& rule, absl::string_view path) {
  absl::StatusOr<GcraRule> gcra = GcraRule::Create(rule.capacity, rule.window);
  if (!gcra.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", gcra.status().message()));
  }
  return Rule{*gcra, rule.on_store_failure};
}

absl::StatusOr<std::unique_ptr<RateLimiter>> RateLimiter::Create(
    const RateLimitingConfig& config, BucketStore& store,
    BucketStore* fallback) {
  Rules rules;
  for (const auto& [operation, rule] : config.operations) {
    ASSIGN_OR_RETURN(
        Rule made,
        MakeRule(rule, absl::StrCat("runtime.rate_limiting.defaults.", operation)));
    rules.emplace(operation, made);
  }
  std::optional<Rule> default_rule;
  if (config.default_rule) {
    ASSIGN_OR_RETURN(default_rule, MakeRule(*config.default_rule,
                                            "runtime.rate_limiting.default_rule"));
  }
  return std::unique_ptr<RateLimiter>(new RateLimiter(
      config.enabled, std::move(rules), default_rule, store, fallback));
}

RateLimiter::RateLimiter(bool enabled, Rules rules,
                         std::optional<Rule> default_rule, BucketStore& store,
                         BucketStore* fallback)
    : enabled_(enabled),
      rules_(std::move(rules)),
      default_rule_(default_rule),
      store_(store),
      fallback_(fallback) {}

absl::StatusOr<const RateLimiter::Rule*> RateLimiter::ResolveRule(
    absl::string_view operation) const {
  if (operation.empty()) {
    return absl::InvalidArgumentError("operation: must not be empty");
  }
  auto it = rules_.find(operation);
  if (it != rules_.end()) return &it->second;
  if (default_rule_) return &*default_rule_;
  // Echo only a bounded, printable prefix of what the caller sent.
  std::string shown(operation.substr(0, 64));
  for (char& c : shown) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return absl::NotFoundError(absl::StrCat(
      "operation: \"", shown,
      "\" is not configured in runtime.rate_limiting.defaults"));
}

void RateLimiter::Acquire(absl::string_view operation, absl::string_view key,
                          std::optional<uint32_t> cost, Callback done) {
  absl::StatusOr<const Rule*> found = ResolveRule(operation);
  if (!found.ok()) return done(found.status());
  const Rule& rule = **found;
  if (absl::Status s = ValidateBucketKey(key); !s.ok()) return done(s);
  const int64_t n = cost.value_or(1);
  if (n > rule.gcra.capacity) {
    return done(absl::InvalidArgumentError(absl::StrFormat(
        "cost: %d exceeds the capacity %d of operation \"%s\"; it could "
        "never be admitted",
        n, rule.gcra.capacity, operation)));
  }
  if (!enabled_) return done(FullBucket(rule.gcra));
  std::string bucket_key = BucketKey(operation, key);
  if (fallback_ == nullptr) {
    store_.Acquire(bucket_key, rule.gcra, n, std::move(done));
    return;
  }
  // `rule` lives as long as the limiter; the callback keeps its own copy of
  // the key for the fallback store.
  auto on_reply = [this, bucket_key, &rule, n,
                   done = std::move(done)](absl::StatusOr<GcraResult> r) mutable {
    if (r.ok()) return done(std::move(r));
    OnStoreFailure(r.status(), bucket_key, rule, n, std::move(done));
  };
  store_.Acquire(bucket_key, rule.gcra, n, std::move(on_reply));
}

void RateLimiter::OnStoreFailure(const absl::Status& error,
                                 const std::string& bucket_key,
                                 const Rule& rule, int64_t cost,
                                 Callback done) {
  switch (rule.on_store_failure) {
    case StoreFailurePolicy::kAllow:
      return done(FullBucket(rule.gcra));
    case StoreFailurePolicy::kDeny:
      return done(absl::UnavailableError(absl::StrCat(
          "store unavailable (", error.message(), "); bucket ", bucket_key,
          " fails closed (on_store_failure: deny)")));
    case StoreFailurePolicy::kLocal:
      return fallback_->Acquire(bucket_key, rule.gcra, cost, std::move(done));
  }
}

}  // namespace crossbridge
