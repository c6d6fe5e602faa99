// The built-in defaults: DefaultConfig() and the built-in rate-limit
// operations, retry policies and health providers. The same values are
// written out in the shipped crossbridge.yml (a test keeps the two equal);
// the schema (config_schema*.cc) starts from them and falls back to the
// built-in entries when a file does not list its own.
#include <map>
#include <set>
#include <string>

#include "absl/time/time.h"
#include "common/config.h"
#include "common/config_internal.h"

namespace crossbridge {
namespace config_internal {
namespace {

struct BuiltinRule {
  const char* operation;
  int64_t capacity;
  int window_seconds;
};
constexpr BuiltinRule kBuiltinRules[] = {{"search", 30, 60},
                                         {"transform", 10, 60},
                                         {"embed", 60, 60},
                                         {"ai_generate", 20, 60},
                                         {"health_check", 100, 60}};

// Policies besides "default": they set only these fields and inherit the rest
// from default_policy.
struct BuiltinPolicy {
  const char* name;
  int max_attempts;
  int base_delay_ms;
  int max_delay_ms;
};
constexpr BuiltinPolicy kBuiltinPolicies[] = {{"expensive", 5, 1000, 10000},
                                              {"quick", 2, 100, 1000},
                                              {"conservative", 3, 2000, 30000}};

// Providers: they set these fields and inherit timeout and failure_threshold
// from the health_checks section.
struct BuiltinProvider {
  const char* name;
  CheckType check_type;
  int interval_seconds;
  const char* target;
  const char* api_key_env;
  const char* retry_policy;
};
constexpr BuiltinProvider kBuiltinProviders[] = {
    {"ai_provider", CheckType::kEmbed, 60,
     "http://127.0.0.1:8080/v1/embeddings", "CROSSBRIDGE_AI_API_KEY",
     "expensive"},
    {"embedding_provider", CheckType::kEmbed, 60,
     "http://127.0.0.1:8080/v1/embeddings", "CROSSBRIDGE_EMBEDDING_API_KEY",
     "expensive"},
    {"vector_store", CheckType::kPing, 30, "127.0.0.1:6379", "", "default"},
    {"database", CheckType::kPing, 20, "127.0.0.1:6379", "", "quick"}};

}  // namespace

std::map<std::string, RetryPolicyConfig> BuiltinPolicies(
    const RetryPolicyConfig& default_policy) {
  std::map<std::string, RetryPolicyConfig> policies;
  policies["default"] = default_policy;
  for (const BuiltinPolicy& builtin : kBuiltinPolicies) {
    RetryPolicyConfig policy = default_policy;
    policy.max_attempts = builtin.max_attempts;
    policy.base_delay = absl::Milliseconds(builtin.base_delay_ms);
    policy.max_delay = absl::Milliseconds(builtin.max_delay_ms);
    policies[builtin.name] = policy;
  }
  return policies;
}

void FillRetryableCodes(const std::set<std::string>& own_lists,
                        RetryConfig* retry) {
  for (auto& [name, policy] : retry->policies) {
    if (own_lists.count(name) != 0) continue;
    policy.retryable_codes = retry->retryable_codes;
    policy.retryable_grpc_codes = retry->retryable_grpc_codes;
  }
}

HealthProviderConfig ProviderBase(const HealthChecksConfig& section) {
  HealthProviderConfig provider;
  provider.interval = section.interval;
  provider.timeout = section.timeout;
  provider.failure_threshold = section.failure_threshold;
  return provider;
}

std::map<std::string, HealthProviderConfig> BuiltinProviders(
    const HealthChecksConfig& section) {
  std::map<std::string, HealthProviderConfig> providers;
  for (const BuiltinProvider& builtin : kBuiltinProviders) {
    HealthProviderConfig provider = ProviderBase(section);
    provider.check_type = builtin.check_type;
    provider.interval = absl::Seconds(builtin.interval_seconds);
    provider.target = builtin.target;
    provider.api_key_env = builtin.api_key_env;
    provider.retry_policy = builtin.retry_policy;
    providers[builtin.name] = provider;
  }
  return providers;
}

}  // namespace config_internal

Config DefaultConfig() {
  using config_internal::BuiltinRule;
  Config config;
  for (const BuiltinRule& rule : config_internal::kBuiltinRules) {
    config.runtime.rate_limiting.operations[rule.operation] = {
        rule.capacity, absl::Seconds(rule.window_seconds)};
  }
  config.runtime.retry.policies =
      config_internal::BuiltinPolicies(RetryPolicyConfig());
  config_internal::FillRetryableCodes({}, &config.runtime.retry);
  config.runtime.health_checks.providers =
      config_internal::BuiltinProviders(config.runtime.health_checks);
  return config;
}

}  // namespace crossbridge
