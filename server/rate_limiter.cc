#include "server/rate_limiter.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace crossbridge {

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

absl::StatusOr<std::unique_ptr<RateLimiter>> RateLimiter::Create(
    const RateLimitingConfig& config, BucketStore& store) {
  std::map<std::string, GcraRule, std::less<>> rules;
  for (const auto& [operation, rule] : config.operations) {
    absl::StatusOr<GcraRule> gcra = GcraRule::Create(rule.capacity, rule.window);
    if (!gcra.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("runtime.rate_limiting.defaults.", operation, ": ",
                       gcra.status().message()));
    }
    rules.emplace(operation, *gcra);
  }
  std::optional<GcraRule> default_rule;
  if (config.default_rule) {
    absl::StatusOr<GcraRule> gcra = GcraRule::Create(
        config.default_rule->capacity, config.default_rule->window);
    if (!gcra.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "runtime.rate_limiting.default_rule: ", gcra.status().message()));
    }
    default_rule = *gcra;
  }
  return std::unique_ptr<RateLimiter>(new RateLimiter(
      config.enabled, std::move(rules), default_rule, store));
}

RateLimiter::RateLimiter(bool enabled,
                         std::map<std::string, GcraRule, std::less<>> rules,
                         std::optional<GcraRule> default_rule,
                         BucketStore& store)
    : enabled_(enabled),
      rules_(std::move(rules)),
      default_rule_(default_rule),
      store_(store) {}

absl::StatusOr<GcraRule> RateLimiter::ResolveRule(
    absl::string_view operation) const {
  if (operation.empty()) {
    return absl::InvalidArgumentError("operation: must not be empty");
  }
  auto it = rules_.find(operation);
  if (it != rules_.end()) return it->second;
  if (default_rule_) return *default_rule_;
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
  absl::StatusOr<GcraRule> rule = ResolveRule(operation);
  if (!rule.ok()) return done(rule.status());
  if (absl::Status s = ValidateBucketKey(key); !s.ok()) return done(s);
  const int64_t n = cost.value_or(1);
  if (n > rule->capacity) {
    return done(absl::InvalidArgumentError(absl::StrFormat(
        "cost: %d exceeds the capacity %d of operation \"%s\"; it could "
        "never be admitted",
        n, rule->capacity, operation)));
  }
  if (!enabled_) {
    GcraResult open;
    open.allowed = true;
    open.limit = rule->capacity;
    open.remaining = rule->capacity;
    return done(open);
  }
  store_.Acquire(BucketKey(operation, key), *rule, n, std::move(done));
}

}  // namespace crossbridge
