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

absl::StatusOr<RateLimiter::Rule> RateLimiter::MakeRule(
    const RateLimitRule& rule, absl::string_view name, absl::string_view path) {
  absl::StatusOr<GcraRule> gcra = GcraRule::Create(rule.capacity, rule.window);
  if (!gcra.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", gcra.status().message()));
  }
  return Rule{*gcra, rule.on_store_failure, std::string(name)};
}

absl::StatusOr<std::unique_ptr<RateLimiter>> RateLimiter::Create(
    const RateLimitingConfig& config, BucketStore& store,
    BucketStore* fallback) {
  Rules rules;
  for (const auto& [operation, rule] : config.operations) {
    ASSIGN_OR_RETURN(
        Rule made,
        MakeRule(rule, absl::StrCat("operation \"", operation, "\""),
                 absl::StrCat("runtime.rate_limiting.defaults.", operation)));
    rules.emplace(operation, made);
  }
  std::optional<Rule> default_rule;
  if (config.default_rule) {
    ASSIGN_OR_RETURN(default_rule, MakeRule(*config.default_rule, "default_rule",
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
  auto it = rules_.find(operation);
  if (it != rules_.end()) return &it->second;
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
  if (default_rule_) return &*default_rule_;
  return absl::NotFoundError(absl::StrCat(
      "operation: \"", operation,
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
        "cost: %d exceeds the capacity %d of %s; it could never be admitted",
        n, rule.gcra.capacity, rule.name)));
  }
  if (!enabled_) return done(FullBucket(rule.gcra));
  std::string bucket_key = BucketKey(operation, key);
  // Only the `local` fallback needs the key again, after the store failed.
  std::string fallback_key = fallback_ != nullptr ? bucket_key : std::string();
  // `rule` lives as long as the limiter.
  store_.Acquire(
      bucket_key, rule.gcra, n,
      [this, fallback_key = std::move(fallback_key), &rule, n,
       done = std::move(done)](absl::StatusOr<GcraResult> r) mutable {
        if (r.ok()) return done(std::move(r));
        OnStoreFailure(r.status(), fallback_key, rule, n, std::move(done));
      });
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
          "store unavailable (", error.message(), "); ", rule.name,
          " fails closed (on_store_failure: deny)")));
    case StoreFailurePolicy::kLocal:
      if (fallback_ == nullptr) {  // the memory store is the local one
        return done(absl::UnavailableError(absl::StrCat(
            "store unavailable (", error.message(), "); ", rule.name,
            " has no other local store (on_store_failure: local)")));
      }
      return fallback_->Acquire(bucket_key, rule.gcra, cost, std::move(done));
  }
}

}  // namespace crossbridge
