#include "server/envoy/envoy_rate_limiter.h"

#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "server/redis/keyspace.h"

namespace crossbridge {
namespace {

constexpr int64_t kMaxHits = 1'000'000'000;
constexpr char kOtherLabel[] = "_other";
constexpr char kUnknownDomainLabel[] = "_unknown";

absl::Duration UnitLength(int unit) {
  switch (unit) {
    case 1: return absl::Seconds(1);
    case 2: return absl::Minutes(1);
    case 3: return absl::Hours(1);
    case 4: return absl::Hours(24);
  }
  return absl::ZeroDuration();
}

struct DecisionCounters {
  prometheus::Counter* ok = nullptr;
  prometheus::Counter* over_limit = nullptr;
  prometheus::Counter* shadow_over_limit = nullptr;
};

void Increment(prometheus::Counter* c) {
  if (c != nullptr) c->Increment();
}

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

absl::Status Validate(const EnvoyRequest& r) {
  if (r.domain.empty()) return Invalid("domain", "must not be empty");
  if (r.domain.size() > kMaxEnvoyTextBytes) {
    return Invalid("domain", absl::StrCat("longer than ", kMaxEnvoyTextBytes, " bytes"));
  }
  if (r.descriptors.empty()) return Invalid("descriptors", "must not be empty");
  if (r.descriptors.size() > kMaxEnvoyDescriptors) {
    return Invalid("descriptors", absl::StrCat("more than ", kMaxEnvoyDescriptors));
  }
  if (r.hits_addend > kMaxHits) {
    return Invalid("hits_addend", absl::StrCat("too large (at most ", kMaxHits, ")"));
  }
  for (size_t i = 0; i < r.descriptors.size(); ++i) {
    const EnvoyDescriptorRequest& d = r.descriptors[i];
    const std::string at = absl::StrCat("descriptors[", i, "]");
    if (d.entries.empty()) return Invalid(absl::StrCat(at, ".entries"), "must not be empty");
    if (d.entries.size() > kMaxEnvoyEntries) {
      return Invalid(absl::StrCat(at, ".entries"), absl::StrCat("more than ", kMaxEnvoyEntries));
    }
    for (size_t j = 0; j < d.entries.size(); ++j) {
      const auto& [key, value] = d.entries[j];
      const std::string e = absl::StrCat(at, ".entries[", j, "]");
      if (key.empty()) return Invalid(absl::StrCat(e, ".key"), "must not be empty");
      if (key.size() > kMaxEnvoyTextBytes || value.size() > kMaxEnvoyTextBytes) {
        return Invalid(e, absl::StrCat("key or value longer than ", kMaxEnvoyTextBytes,
                                       " bytes"));
      }
    }
    if (d.hits_addend && *d.hits_addend > static_cast<uint64_t>(kMaxHits)) {
      return Invalid(absl::StrCat(at, ".hits_addend"),
                     absl::StrCat("too large (at most ", kMaxHits, ")"));
    }
    if (d.limit) {
      if (d.limit->unit < 1 || d.limit->unit > 4) {
        return Invalid(absl::StrCat(at, ".limit.unit"),
                       absl::StrCat("unknown unit ", d.limit->unit,
                                    " (SECOND, MINUTE, HOUR or DAY)"));
      }
      if (d.limit->requests_per_unit < 1 || d.limit->requests_per_unit > kMaxHits ||
          UnitLength(d.limit->unit) < d.limit->requests_per_unit * absl::Microseconds(1)) {
        return Invalid(absl::StrCat(at, ".limit.requests_per_unit"),
                       "must be >= 1 and at most one per microsecond of the unit");
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

struct EnvoyRateLimiter::Rules {
  std::unique_ptr<const DescriptorMatcher> matcher;
  StoreFailurePolicy on_store_failure = StoreFailurePolicy::kAllow;
  // By domain, then first entry key ("_other": any key not configured at
  // the top level). Unknown domains: unknown_domain.
  absl::flat_hash_map<std::string, absl::flat_hash_map<std::string, DecisionCounters>>
      counters;
  DecisionCounters unknown_domain;

  const DecisionCounters& For(absl::string_view domain, absl::string_view key) const {
    auto d = counters.find(domain);
    if (d == counters.end()) return unknown_domain;
    auto k = d->second.find(key);
    if (k != d->second.end()) return k->second;
    return d->second.find(kOtherLabel)->second;
  }
};

absl::StatusOr<std::shared_ptr<const EnvoyRateLimiter::Rules>> EnvoyRateLimiter::BuildRules(
    const EnvoyConfig& config) {
  auto rules = std::make_shared<Rules>();
  ASSIGN_OR_RETURN(rules->matcher, DescriptorMatcher::Create(config));
  rules->on_store_failure = config.on_store_failure;
  auto make = [this](const std::string& domain, const std::string& key) {
    DecisionCounters c;
    if (metrics_ == nullptr) return c;
    auto& family = metrics_->envoy_decisions();
    c.ok = &family.Add({{"domain", domain}, {"key", key}, {"code", "ok"}});
    c.over_limit = &family.Add({{"domain", domain}, {"key", key}, {"code", "over_limit"}});
    c.shadow_over_limit =
        &family.Add({{"domain", domain}, {"key", key}, {"code", "shadow_over_limit"}});
    return c;
  };
  for (const auto& [domain, keys] : rules->matcher->TopLevelKeys()) {
    auto& by_key = rules->counters[domain];
    for (const std::string& key : keys) by_key[key] = make(domain, key);
    by_key[kOtherLabel] = make(domain, kOtherLabel);
  }
  rules->unknown_domain = make(kUnknownDomainLabel, kOtherLabel);
  return std::shared_ptr<const Rules>(std::move(rules));
}

absl::StatusOr<std::unique_ptr<EnvoyRateLimiter>> EnvoyRateLimiter::Create(
    const EnvoyConfig& config, EnvoyBucketStore& store, EnvoyBucketStore* fallback,
    Metrics* metrics) {
  std::unique_ptr<EnvoyRateLimiter> limiter(
      new EnvoyRateLimiter(store, fallback, metrics, nullptr));
  ASSIGN_OR_RETURN(std::shared_ptr<const Rules> rules, limiter->BuildRules(config));
  limiter->Apply(std::move(rules));
  return limiter;
}

EnvoyRateLimiter::EnvoyRateLimiter(EnvoyBucketStore& store, EnvoyBucketStore* fallback,
                                   Metrics* metrics, std::shared_ptr<const Rules> rules)
    : store_(store), fallback_(fallback), metrics_(metrics), rules_(std::move(rules)) {}

void EnvoyRateLimiter::Apply(std::shared_ptr<const Rules> rules) {
  rules_.Publish(std::move(rules));
}

namespace {

// What the request's descriptors asked of the store, for composing the answer.
struct Plan {
  struct Descriptor {
    size_t first_take = 0, takes = 0;
    bool shadow = false;
    const DecisionCounters* counters = nullptr;
    std::vector<EnvoyDescriptorStatus::Limit> limits;  // one per take
  };
  std::vector<Descriptor> descriptors;
};

EnvoyResponse Compose(const Plan& plan, const std::vector<GcraResult>* results) {
  EnvoyResponse response;
  for (const Plan::Descriptor& d : plan.descriptors) {
    EnvoyDescriptorStatus status;
    bool over = false;
    if (d.takes > 0) {
      size_t decided = d.first_take;
      if (results == nullptr) {  // the store failed and `allow` answers
        status.current_limit = d.limits[0];
      } else {
        std::optional<size_t> refusing;
        for (size_t i = d.first_take; i < d.first_take + d.takes; ++i) {
          if (!(*results)[i].allowed && !refusing) refusing = i;
          if ((*results)[i].remaining < (*results)[decided].remaining) decided = i;
        }
        if (refusing) decided = *refusing;
        const GcraResult& r = (*results)[decided];
        over = refusing.has_value();
        status.current_limit = d.limits[decided - d.first_take];
        status.limit_remaining = r.remaining;
        status.duration_until_reset_ms = over ? r.retry_after_ms : r.reset_after_ms;
      }
    }
    if (over && d.shadow) {
      Increment(d.counters->shadow_over_limit);
    } else if (over) {
      Increment(d.counters->over_limit);
      status.code = EnvoyCode::kOverLimit;
      response.overall_code = EnvoyCode::kOverLimit;
    } else {
      Increment(d.counters->ok);
    }
    response.statuses.push_back(std::move(status));
  }
  return response;
}

}  // namespace

void EnvoyRateLimiter::ShouldRateLimit(const EnvoyRequest& request, Callback done) {
  if (absl::Status s = Validate(request); !s.ok()) return done(s);
  std::shared_ptr<const Rules> rules = rules_.Get();
  const DescriptorMatcher& matcher = *rules->matcher;
  const bool known_domain = matcher.HasDomain(request.domain);
  auto plan = std::make_shared<Plan>();
  std::vector<EnvoyBucketStore::Take> takes;
  for (const EnvoyDescriptorRequest& d : request.descriptors) {
    Plan::Descriptor& p = plan->descriptors.emplace_back();
    p.counters = &rules->For(request.domain, d.entries[0].first);
    p.first_take = takes.size();
    const int64_t cost = d.hits_addend ? static_cast<int64_t>(*d.hits_addend)
                         : request.hits_addend != 0 ? request.hits_addend
                                                    : 1;
    std::vector<EnvoyEntry> entries;
    std::vector<std::pair<absl::string_view, absl::string_view>> parts;
    for (const auto& [k, v] : d.entries) {
      entries.push_back({k, v});
      parts.emplace_back(k, v);
    }
    if (known_domain && d.limit) {
      absl::StatusOr<GcraRule> rule =
          GcraRule::Create(d.limit->requests_per_unit, UnitLength(d.limit->unit));
      if (!rule.ok()) {
        return done(Invalid("limit", rule.status().message()));
      }
      takes.push_back({EnvoyBucketKey(request.domain, parts,
                                      EnvoyLimitIdentity(true, d.limit->unit,
                                                         d.limit->requests_per_unit, 0)),
                       *rule, cost, true});
      p.limits.push_back({d.limit->requests_per_unit, d.limit->unit, ""});
    } else if (const DescriptorMatcher::Node* node = matcher.Match(request.domain, entries)) {
      p.shadow = node->shadow_mode;
      for (const DescriptorMatcher::Limit& l : node->limits) {
        takes.push_back({EnvoyBucketKey(request.domain, parts,
                                        EnvoyLimitIdentity(false, l.index,
                                                           l.requests_per_unit, l.window_us)),
                         l.rule, cost, !node->shadow_mode});
        p.limits.push_back({l.requests_per_unit, l.unit, l.name});
      }
    }
    p.takes = takes.size() - p.first_take;
  }
  if (takes.empty()) {
    std::vector<GcraResult> none;
    return done(Compose(*plan, &none));
  }
  const StoreFailurePolicy policy = rules->on_store_failure;
  EnvoyBucketStore* fallback = fallback_;
  // Kept for a local fallback: the takes move into the store.
  auto retry_takes = policy == StoreFailurePolicy::kLocal && fallback != nullptr
                         ? std::make_shared<std::vector<EnvoyBucketStore::Take>>(takes)
                         : nullptr;
  store_.AcquireAll(
      std::move(takes),
      [rules, plan, policy, fallback, retry_takes,
       done = std::move(done)](absl::StatusOr<EnvoyBucketStore::Outcome> outcome) mutable {
        if (outcome.ok()) return done(Compose(*plan, &outcome->results));
        switch (policy) {
          case StoreFailurePolicy::kAllow:
            return done(Compose(*plan, nullptr));
          case StoreFailurePolicy::kDeny:
            return done(absl::UnavailableError(absl::StrCat(
                "rate-limit store failed and envoy.on_store_failure is deny: ",
                outcome.status().message())));
          case StoreFailurePolicy::kLocal:
            if (retry_takes == nullptr) {
              return done(absl::UnavailableError(absl::StrCat(
                  "rate-limit store failed and has no other local store "
                  "(envoy.on_store_failure: local): ",
                  outcome.status().message())));
            }
            return fallback->AcquireAll(
                std::move(*retry_takes),
                [rules, plan, done = std::move(done)](
                    absl::StatusOr<EnvoyBucketStore::Outcome> local) mutable {
                  if (!local.ok()) return done(local.status());
                  done(Compose(*plan, &local->results));
                });
        }
        done(outcome.status());
      });
}

}  // namespace crossbridge
