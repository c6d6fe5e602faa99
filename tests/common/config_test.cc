#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "tests/testing/fake_env.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeEnv;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::StartsWith;

constexpr char kFile[] = "crossbridge.yml";

absl::StatusOr<Config> Parse(absl::string_view yaml,
                             std::map<std::string, std::string> env = {}) {
  return ParseConfig(yaml, kFile, FakeEnv(std::move(env)));
}

// The message of a parse that must fail.
std::string ParseError(absl::string_view yaml,
                       std::map<std::string, std::string> env = {}) {
  absl::StatusOr<Config> config = Parse(yaml, std::move(env));
  EXPECT_THAT(config,
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  return std::string(config.status().message());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ShippedConfigPath() {
  return std::string(CROSSBRIDGE_SOURCE_DIR) + "/crossbridge.yml";
}

void ExpectRuleEq(const RateLimitRule& a, const RateLimitRule& b) {
  EXPECT_EQ(a.capacity, b.capacity);
  EXPECT_EQ(a.window, b.window);
  EXPECT_EQ(a.on_store_failure, b.on_store_failure);
}

void ExpectRedisEq(const RedisStorageConfig& a, const RedisStorageConfig& b) {
  EXPECT_EQ(a.url, b.url);
  EXPECT_EQ(a.host, b.host);
  EXPECT_EQ(a.port, b.port);
  EXPECT_EQ(a.db, b.db);
  EXPECT_EQ(a.password, b.password);
  EXPECT_EQ(a.password_env, b.password_env);
  EXPECT_EQ(a.connections, b.connections);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.connect_timeout, b.connect_timeout);
  EXPECT_EQ(a.reconnect_max_backoff, b.reconnect_max_backoff);
}

void ExpectPolicyEq(const RetryPolicyConfig& a, const RetryPolicyConfig& b) {
  EXPECT_EQ(a.max_attempts, b.max_attempts);
  EXPECT_EQ(a.base_delay, b.base_delay);
  EXPECT_EQ(a.max_delay, b.max_delay);
  EXPECT_EQ(a.exponential_base, b.exponential_base);
  EXPECT_EQ(a.jitter, b.jitter);
  EXPECT_EQ(a.retryable_codes, b.retryable_codes);
  EXPECT_EQ(a.retryable_grpc_codes, b.retryable_grpc_codes);
  EXPECT_EQ(a.min_attempt_time, b.min_attempt_time);
  EXPECT_EQ(a.budget.max_tokens, b.budget.max_tokens);
  EXPECT_EQ(a.budget.token_ratio, b.budget.token_ratio);
}

void ExpectProviderEq(const HealthProviderConfig& a,
                      const HealthProviderConfig& b) {
  EXPECT_EQ(a.enabled, b.enabled);
  EXPECT_EQ(a.check_type, b.check_type);
  EXPECT_EQ(a.target, b.target);
  EXPECT_EQ(a.interval, b.interval);
  EXPECT_EQ(a.timeout, b.timeout);
  EXPECT_EQ(a.failure_threshold, b.failure_threshold);
  EXPECT_EQ(a.api_key_env, b.api_key_env);
  EXPECT_EQ(a.retry_policy, b.retry_policy);
}

template <typename V>
std::vector<std::string> Keys(const std::map<std::string, V>& m) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : m) keys.push_back(key);
  return keys;
}

// Every field but `source`.
void ExpectConfigEq(const Config& a, const Config& b) {
  EXPECT_EQ(a.server.listen_address, b.server.listen_address);
  EXPECT_EQ(a.server.metrics_listen_address, b.server.metrics_listen_address);
  EXPECT_EQ(a.server.drain_grace, b.server.drain_grace);
  EXPECT_EQ(a.server.shutdown_timeout, b.server.shutdown_timeout);
  EXPECT_EQ(a.storage.backend, b.storage.backend);
  EXPECT_EQ(a.storage.memory.shards, b.storage.memory.shards);
  EXPECT_EQ(a.storage.memory.max_buckets, b.storage.memory.max_buckets);
  ExpectRedisEq(a.storage.redis, b.storage.redis);
  EXPECT_EQ(a.logging.level, b.logging.level);
  EXPECT_EQ(a.logging.format, b.logging.format);
  EXPECT_EQ(a.logging.console, b.logging.console);
  EXPECT_EQ(a.logging.file, b.logging.file);
  EXPECT_EQ(a.logging.max_file_mb, b.logging.max_file_mb);
  EXPECT_EQ(a.logging.max_files, b.logging.max_files);

  const RateLimitingConfig& ra = a.runtime.rate_limiting;
  const RateLimitingConfig& rb = b.runtime.rate_limiting;
  EXPECT_EQ(ra.enabled, rb.enabled);
  EXPECT_EQ(ra.cleanup_threshold, rb.cleanup_threshold);
  ASSERT_EQ(Keys(ra.operations), Keys(rb.operations));
  for (const auto& [name, rule] : ra.operations) {
    SCOPED_TRACE("operation " + name);
    ExpectRuleEq(rule, rb.operations.at(name));
  }
  ASSERT_EQ(ra.default_rule.has_value(), rb.default_rule.has_value());
  if (ra.default_rule) ExpectRuleEq(*ra.default_rule, *rb.default_rule);

  const RetryConfig& ta = a.runtime.retry;
  const RetryConfig& tb = b.runtime.retry;
  EXPECT_EQ(ta.enabled, tb.enabled);
  EXPECT_EQ(ta.retryable_codes, tb.retryable_codes);
  EXPECT_EQ(ta.retryable_grpc_codes, tb.retryable_grpc_codes);
  ASSERT_EQ(Keys(ta.policies), Keys(tb.policies));
  for (const auto& [name, policy] : ta.policies) {
    SCOPED_TRACE("policy " + name);
    ExpectPolicyEq(policy, tb.policies.at(name));
  }

  const HealthChecksConfig& ha = a.runtime.health_checks;
  const HealthChecksConfig& hb = b.runtime.health_checks;
  EXPECT_EQ(ha.enabled, hb.enabled);
  EXPECT_EQ(ha.interval, hb.interval);
  EXPECT_EQ(ha.timeout, hb.timeout);
  EXPECT_EQ(ha.failure_threshold, hb.failure_threshold);
  ASSERT_EQ(Keys(ha.providers), Keys(hb.providers));
  for (const auto& [name, provider] : ha.providers) {
    SCOPED_TRACE("provider " + name);
    ExpectProviderEq(provider, hb.providers.at(name));
  }
}

// ---- defaults and the shipped file -----------------------------------------

TEST(DefaultConfigTest, HasTheProductionHardeningValues) {
  const Config c = DefaultConfig();
  EXPECT_EQ(c.source, "<embedded default>");
  EXPECT_EQ(c.server.listen_address, "127.0.0.1:50051");
  EXPECT_EQ(c.server.drain_grace, absl::Seconds(2));
  EXPECT_EQ(c.server.shutdown_timeout, absl::Seconds(10));
  EXPECT_EQ(c.storage.backend, StorageBackend::kMemory);
  EXPECT_EQ(c.storage.memory.shards, 16);
  EXPECT_EQ(c.storage.memory.max_buckets, 1'000'000);
  const RedisStorageConfig& redis = c.storage.redis;
  EXPECT_EQ(redis.url, "redis://127.0.0.1:6379/0");
  EXPECT_EQ(redis.host, "127.0.0.1");
  EXPECT_EQ(redis.port, 6379);
  EXPECT_EQ(redis.db, 0);
  EXPECT_EQ(redis.password, "");
  EXPECT_EQ(redis.password_env, "CROSSBRIDGE_REDIS_PASSWORD");
  EXPECT_EQ(redis.connections, 2);
  EXPECT_EQ(redis.timeout, absl::Milliseconds(100));
  EXPECT_EQ(redis.connect_timeout, absl::Milliseconds(200));
  EXPECT_EQ(redis.reconnect_max_backoff, absl::Seconds(1));
  EXPECT_EQ(c.logging.level, "info");
  EXPECT_EQ(c.logging.format, LogFormat::kText);

  const RateLimitingConfig& rl = c.runtime.rate_limiting;
  EXPECT_TRUE(rl.enabled);
  EXPECT_EQ(rl.cleanup_threshold, 1000);
  EXPECT_FALSE(rl.default_rule.has_value());
  const std::map<std::string, int64_t> capacities = {{"ai_generate", 20},
                                                     {"embed", 60},
                                                     {"health_check", 100},
                                                     {"search", 30},
                                                     {"transform", 10}};
  ASSERT_EQ(Keys(rl.operations), Keys(capacities));
  for (const auto& [name, capacity] : capacities) {
    EXPECT_EQ(rl.operations.at(name).capacity, capacity) << name;
    EXPECT_EQ(rl.operations.at(name).window, absl::Seconds(60)) << name;
    EXPECT_EQ(rl.operations.at(name).on_store_failure,
              StoreFailurePolicy::kLocal)
        << name;
  }

  const RetryConfig& retry = c.runtime.retry;
  EXPECT_TRUE(retry.enabled);
  EXPECT_THAT(retry.retryable_codes, ElementsAre(429, 500, 502, 503, 504));
  EXPECT_THAT(retry.retryable_grpc_codes,
              ElementsAre(absl::StatusCode::kUnavailable,
                          absl::StatusCode::kResourceExhausted));
  ASSERT_THAT(Keys(retry.policies),
              ElementsAre("conservative", "default", "expensive", "quick"));
  const RetryPolicyConfig& def = retry.policies.at("default");
  EXPECT_EQ(def.max_attempts, 3);
  EXPECT_EQ(def.base_delay, absl::Milliseconds(500));
  EXPECT_EQ(def.max_delay, absl::Seconds(5));
  EXPECT_EQ(def.exponential_base, 2.0);
  EXPECT_EQ(def.jitter, JitterMode::kFull);
  EXPECT_EQ(def.min_attempt_time, absl::Milliseconds(50));
  EXPECT_EQ(def.budget.max_tokens, 100);
  EXPECT_EQ(def.budget.token_ratio, 0.1);
  // Every policy carries the section's lists.
  for (const auto& [name, policy] : retry.policies) {
    SCOPED_TRACE(name);
    EXPECT_EQ(policy.retryable_codes, retry.retryable_codes);
    EXPECT_EQ(policy.retryable_grpc_codes, retry.retryable_grpc_codes);
    EXPECT_EQ(policy.min_attempt_time, absl::Milliseconds(50));
    EXPECT_EQ(policy.budget.max_tokens, 100);
    EXPECT_EQ(policy.budget.token_ratio, 0.1);
  }
  const RetryPolicyConfig& expensive = retry.policies.at("expensive");
  EXPECT_EQ(expensive.max_attempts, 5);
  EXPECT_EQ(expensive.base_delay, absl::Seconds(1));
  EXPECT_EQ(expensive.max_delay, absl::Seconds(10));
  EXPECT_EQ(expensive.exponential_base, 2.0);
  EXPECT_EQ(expensive.jitter, JitterMode::kFull);
  const RetryPolicyConfig& quick = retry.policies.at("quick");
  EXPECT_EQ(quick.max_attempts, 2);
  EXPECT_EQ(quick.base_delay, absl::Milliseconds(100));
  EXPECT_EQ(quick.max_delay, absl::Seconds(1));
  const RetryPolicyConfig& conservative = retry.policies.at("conservative");
  EXPECT_EQ(conservative.max_attempts, 3);
  EXPECT_EQ(conservative.base_delay, absl::Seconds(2));
  EXPECT_EQ(conservative.max_delay, absl::Seconds(30));

  const HealthChecksConfig& hc = c.runtime.health_checks;
  EXPECT_TRUE(hc.enabled);
  EXPECT_EQ(hc.interval, absl::Seconds(30));
  EXPECT_EQ(hc.timeout, absl::Seconds(10));
  EXPECT_EQ(hc.failure_threshold, 3);
  ASSERT_THAT(Keys(hc.providers),
              ElementsAre("ai_provider", "database", "embedding_provider",
                          "vector_store"));
  const HealthProviderConfig& ai = hc.providers.at("ai_provider");
  EXPECT_EQ(ai.check_type, CheckType::kEmbed);
  EXPECT_EQ(ai.interval, absl::Seconds(60));
  EXPECT_EQ(ai.timeout, absl::Seconds(10));
  EXPECT_EQ(ai.target, "http://127.0.0.1:8080/v1/embeddings");
  EXPECT_EQ(ai.api_key_env, "CROSSBRIDGE_AI_API_KEY");
  EXPECT_EQ(ai.retry_policy, "expensive");
  const HealthProviderConfig& embedding = hc.providers.at("embedding_provider");
  EXPECT_EQ(embedding.api_key_env, "CROSSBRIDGE_EMBEDDING_API_KEY");
  EXPECT_EQ(embedding.retry_policy, "expensive");
  const HealthProviderConfig& vector_store = hc.providers.at("vector_store");
  EXPECT_EQ(vector_store.check_type, CheckType::kPing);
  EXPECT_EQ(vector_store.interval, absl::Seconds(30));
  EXPECT_EQ(vector_store.target, "127.0.0.1:6379");
  EXPECT_EQ(vector_store.retry_policy, "default");
  const HealthProviderConfig& database = hc.providers.at("database");
  EXPECT_EQ(database.check_type, CheckType::kPing);
  EXPECT_EQ(database.interval, absl::Seconds(20));
  EXPECT_EQ(database.timeout, absl::Seconds(10));
  EXPECT_EQ(database.failure_threshold, 3);
  EXPECT_EQ(database.retry_policy, "quick");
}

TEST(ShippedConfigTest, ParsesToDefaultConfig) {
  absl::StatusOr<Config> config =
      LoadConfigFile(ShippedConfigPath(), FakeEnv({}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->source, ShippedConfigPath());
  ExpectConfigEq(*config, DefaultConfig());
}

TEST(ShippedConfigTest, NegativeCapacityPointsAtTheValue) {
  std::string text = ReadFile(ShippedConfigPath());
  const std::string original = "search: {capacity: 30,";
  const std::size_t at = text.find(original);
  ASSERT_NE(at, std::string::npos);
  text.replace(at, original.size(), "search: {capacity: -1,");
  const std::size_t value = at + std::string("search: {capacity: ").size();
  const std::size_t line =
      std::count(text.begin(), text.begin() + value, '\n') + 1;
  const std::size_t column = value - text.rfind('\n', value);

  EXPECT_THAT(ParseError(text),
              Eq(absl::StrCat("crossbridge.yml:", line, ":", column,
                              ": runtime.rate_limiting.defaults.search."
                              "capacity: must be >= 1, got -1")));
}

TEST(ParseConfigTest, EmptyTextGivesDefaults) {
  for (absl::string_view text : {"", "\n\n", "# nothing here\n", "---\n"}) {
    SCOPED_TRACE(text);
    absl::StatusOr<Config> config = Parse(text);
    ASSERT_THAT(config, IsOk());
    EXPECT_EQ(config->source, "crossbridge.yml");
    ExpectConfigEq(*config, DefaultConfig());
  }
}

TEST(ParseConfigTest, MissingKeysKeepTheirDefaults) {
  absl::StatusOr<Config> config = Parse(
      "server:\n"
      "  listen_address: 0.0.0.0:7000\n"
      "storage:\n"
      "  backend: redis\n"
      "logging: {format: json}\n");
  ASSERT_THAT(config, IsOk());
  Config expected = DefaultConfig();
  expected.server.listen_address = "0.0.0.0:7000";
  expected.storage.backend = StorageBackend::kRedis;
  expected.logging.format = LogFormat::kJson;
  ExpectConfigEq(*config, expected);
}

// ---- positioned errors ------------------------------------------------------

TEST(ParseConfigTest, OutOfRangeIntegerNamesLineColumnAndPath) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  rate_limiting:\n"
                       "    defaults:\n"
                       "      search:\n"
                       "        capacity: -1\n"
                       "        window_seconds: 60\n"),
            "crossbridge.yml:5:19: runtime.rate_limiting.defaults.search."
            "capacity: must be >= 1, got -1");
  EXPECT_THAT(ParseError("runtime:\n"
                         "  rate_limiting:\n"
                         "    defaults:\n"
                         "      search: {capacity: 2000000000, "
                         "window_seconds: 60}\n"),
              HasSubstr("search.capacity: must be <= 1000000000"));
}

TEST(ParseConfigTest, UnknownKeyListsTheValidKeys) {
  EXPECT_EQ(ParseError("server:\n"
                       "  listen_adress: 127.0.0.1:1\n"),
            "crossbridge.yml:2:3: server.listen_adress: unknown key (expected "
            "one of: listen_address, metrics_listen_address, "
            "health_listen_address, tls, drain_grace_seconds, "
            "shutdown_timeout_seconds)");
  EXPECT_THAT(ParseError("sever: {}\n"),
              StartsWith("crossbridge.yml:1:1: sever: unknown key (expected "
                         "one of: server, storage, logging, auth, runtime, envoy)"));
}

TEST(ParseConfigTest, WrongTypesAreErrors) {
  EXPECT_EQ(ParseError("storage:\n"
                       "  memory:\n"
                       "    shards: abc\n"),
            "crossbridge.yml:3:13: storage.memory.shards: expected an "
            "integer, got \"abc\"");
  EXPECT_THAT(ParseError("storage: {memory: {shards: \"16\"}}\n"),
              HasSubstr("storage.memory.shards: expected an integer, got "
                        "\"16\""));
  EXPECT_THAT(ParseError("runtime: {retry: {enabled: yes}}\n"),
              HasSubstr("runtime.retry.enabled: expected true or false, got "
                        "\"yes\""));
  EXPECT_THAT(ParseError("server: {drain_grace_seconds: soon}\n"),
              HasSubstr("server.drain_grace_seconds: expected a number of "
                        "seconds, got \"soon\""));
  EXPECT_THAT(ParseError("storage: {backend: postgres}\n"),
              HasSubstr("storage.backend: expected one of memory, redis, redis-cluster; got "
                        "\"postgres\""));
  EXPECT_THAT(ParseError("logging: {level: verbose}\n"),
              HasSubstr("logging.level: expected one of trace, debug, info, "
                        "warn, error, critical, off; got \"verbose\""));
  EXPECT_THAT(
      ParseError("runtime: {rate_limiting: {defaults: {search: 30}}}\n"),
      HasSubstr("runtime.rate_limiting.defaults.search: expected a "
                "map, got \"30\""));
}

TEST(ParseConfigTest, EmptySectionOrNonMapDocumentIsAnError) {
  EXPECT_EQ(ParseError("server:\nstorage: {}\n"),
            "crossbridge.yml:1:1: server: expected a map, got an empty value");
  EXPECT_EQ(ParseError("- server\n- storage\n"),
            "crossbridge.yml:1:1: expected a map at the top level, got a list");
  EXPECT_EQ(ParseError("just text\n"),
            "crossbridge.yml:1:1: expected a map at the top level, got "
            "\"just text\"");
}

TEST(ParseConfigTest, ZeroAndNegativeWindowsAreErrors) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  rate_limiting:\n"
                       "    defaults:\n"
                       "      search: {capacity: 5, window_seconds: 0}\n"),
            "crossbridge.yml:4:45: runtime.rate_limiting.defaults.search."
            "window_seconds: must be > 0 seconds, got 0");
  EXPECT_THAT(ParseError("runtime:\n"
                         "  rate_limiting:\n"
                         "    defaults:\n"
                         "      search: {capacity: 5, window_seconds: -60}\n"),
              HasSubstr("search.window_seconds: must be > 0 seconds, got -60"));
  EXPECT_THAT(
      ParseError("runtime:\n"
                 "  rate_limiting:\n"
                 "    defaults:\n"
                 "      search: {capacity: 5, window_seconds: 31536001}\n"),
      HasSubstr("search.window_seconds: must be <= 31536000 seconds"));
}

TEST(ParseConfigTest, WindowMustAllowOneMicrosecondPerPermit) {
  EXPECT_THAT(ParseError("runtime:\n"
                         "  rate_limiting:\n"
                         "    defaults:\n"
                         "      bulk: {capacity: 1000000000, window_seconds: "
                         "60}\n"),
              HasSubstr("runtime.rate_limiting.defaults.bulk.window_seconds: "
                        "must be >= capacity microseconds (1000)"));
  EXPECT_THAT(Parse("runtime:\n"
                    "  rate_limiting:\n"
                    "    defaults:\n"
                    "      bulk: {capacity: 1000000000, window_seconds: "
                    "1000}\n"),
              IsOk());
}

TEST(ParseConfigTest, OperationEntriesNeedBothKeys) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  rate_limiting:\n"
                       "    defaults:\n"
                       "      search:\n"
                       "        window_seconds: 60\n"),
            "crossbridge.yml:5:9: runtime.rate_limiting.defaults.search: "
            "missing required key \"capacity\"");
}

TEST(ParseConfigTest, OperationNamesMustNotContainColons) {
  EXPECT_EQ(
      ParseError("runtime:\n"
                 "  rate_limiting:\n"
                 "    defaults:\n"
                 "      \"search:v2\": {capacity: 1, window_seconds: 1}\n"),
      "crossbridge.yml:4:7: runtime.rate_limiting.defaults: invalid "
      "operation name \"search:v2\": must match [A-Za-z0-9_.-]{1,64} and must "
      "not be \"_default\" or \"_invalid\" (the metrics' labels for "
      "default_rule and invalid operations)");
  EXPECT_THAT(Parse("runtime:\n"
                    "  rate_limiting:\n"
                    "    defaults:\n"
                    "      v2.search-x_1: {capacity: 1, window_seconds: 1}\n"),
              IsOk());
}

// The labels of requests served by default_rule and of invalid ones: an
// operation with either name would merge its counts into theirs.
TEST(ParseConfigTest, OperationNamesMustNotBeTheMetricsReservedLabels) {
  for (const char* name : {"_default", "_invalid"}) {
    EXPECT_THAT(ParseError(absl::StrCat("runtime:\n"
                                        "  rate_limiting:\n"
                                        "    defaults:\n"
                                        "      ", name, ": {capacity: 1, window_seconds: 1}\n")),
                HasSubstr(absl::StrCat("invalid operation name \"", name, "\"")));
  }
}

TEST(ParseConfigTest, DuplicateKeysAreErrors) {
  EXPECT_EQ(ParseError("server:\n"
                       "  listen_address: 127.0.0.1:1\n"
                       "  listen_address: 127.0.0.1:2\n"),
            "crossbridge.yml:3:3: server.listen_address: duplicate key (first "
            "defined at line 2)");
  EXPECT_THAT(ParseError("runtime:\n"
                         "  rate_limiting:\n"
                         "    defaults:\n"
                         "      search: {capacity: 1, capacity: 2, "
                         "window_seconds: 1}\n"),
              HasSubstr("crossbridge.yml:4:29: runtime.rate_limiting."
                        "defaults.search.capacity: duplicate key (first "
                        "defined at line 4)"));
  EXPECT_THAT(ParseError("server: {}\nserver: {}\n"),
              HasSubstr("crossbridge.yml:2:1: server: duplicate key"));
}

TEST(ParseConfigTest, TruncatedOrGarbageYamlGivesAPositionedError) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  retry:\n"
                       "    retryable_codes: [429, 503\n"),
            "crossbridge.yml:4:1: end of sequence flow not found");
  EXPECT_THAT(ParseError("server: {listen_address: a: b: c\n"),
              StartsWith("crossbridge.yml:1:"));
  EXPECT_THAT(ParseError("\x01\x02\xff{{[[\"\n"),
              StartsWith("crossbridge.yml:"));
  EXPECT_THAT(ParseError("server: *nowhere\n"),
              StartsWith("crossbridge.yml:1:9: "));
  EXPECT_THAT(ParseError("server: {}\n---\nserver: {}\n"),
              HasSubstr("expected a single YAML document"));
}

// ---- retry ------------------------------------------------------------------

TEST(RetryConfigTest, MaxDelayBelowBaseDelayIsAnError) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  retry:\n"
                       "    quick_policy:\n"
                       "      base_delay: 0.5\n"
                       "      max_delay: 0.2\n"),
            "crossbridge.yml:5:18: runtime.retry.quick_policy.max_delay: "
            "must be >= base_delay (0.5)");
  // max_delay is inherited (5), so the base_delay that broke it is blamed.
  EXPECT_EQ(ParseError("runtime:\n"
                       "  retry:\n"
                       "    custom_policy:\n"
                       "      base_delay: 8\n"),
            "crossbridge.yml:4:19: runtime.retry.custom_policy.base_delay: "
            "must be <= max_delay (5)");
}

TEST(RetryConfigTest, JitterAcceptsBooleansAndModeNames) {
  const std::vector<std::pair<std::string, JitterMode>> cases = {
      {"true", JitterMode::kFull},
      {"false", JitterMode::kNone},
      {"full", JitterMode::kFull},
      {"equal", JitterMode::kEqual},
      {"decorrelated", JitterMode::kDecorrelated},
      {"none", JitterMode::kNone}};
  for (const auto& [text, mode] : cases) {
    SCOPED_TRACE(text);
    absl::StatusOr<Config> config = Parse(absl::StrCat(
        "runtime: {retry: {default_policy: {jitter: ", text, "}}}\n"));
    ASSERT_THAT(config, IsOk());
    EXPECT_EQ(config->runtime.retry.policies.at("default").jitter, mode);
  }
  EXPECT_THAT(
      ParseError("runtime: {retry: {default_policy: {jitter: sometimes}}}\n"),
      HasSubstr("runtime.retry.default_policy.jitter: expected one of true, "
                "false, none, full, equal, decorrelated; got \"sometimes\""));
}

TEST(RetryConfigTest, PoliciesInheritOmittedFieldsFromDefaultPolicy) {
  absl::StatusOr<Config> config = Parse(
      "runtime:\n"
      "  retry:\n"
      "    default_policy:\n"
      "      max_delay: 8\n"
      "      exponential_base: 3\n"
      "      jitter: equal\n"
      "      retryable_codes: [503]\n"
      "    custom_policy:\n"
      "      max_attempts: 7\n"
      "    expensive_policy:\n"
      "      max_attempts: 9\n");
  ASSERT_THAT(config, IsOk());
  const auto& policies = config->runtime.retry.policies;
  ASSERT_THAT(Keys(policies), ElementsAre("conservative", "custom", "default",
                                          "expensive", "quick"));

  RetryPolicyConfig custom;
  custom.max_attempts = 7;
  custom.base_delay = absl::Milliseconds(500);
  custom.max_delay = absl::Seconds(8);
  custom.exponential_base = 3;
  custom.jitter = JitterMode::kEqual;
  custom.retryable_codes = {503};
  custom.retryable_grpc_codes = {};  // default_policy's list has no names
  ExpectPolicyEq(policies.at("custom"), custom);

  // A policy defined in the file replaces the built-in one entirely.
  RetryPolicyConfig expensive = custom;
  expensive.max_attempts = 9;
  ExpectPolicyEq(policies.at("expensive"), expensive);

  // A built-in policy keeps its own delays, inherits the rest.
  RetryPolicyConfig quick = custom;
  quick.max_attempts = 2;
  quick.base_delay = absl::Milliseconds(100);
  quick.max_delay = absl::Seconds(1);
  ExpectPolicyEq(policies.at("quick"), quick);
}

TEST(RetryConfigTest, RetryableCodesAreCheckedPerElement) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  retry:\n"
                       "    retryable_codes: [429, 700]\n"),
            "crossbridge.yml:3:28: runtime.retry.retryable_codes[1]: must be "
            "<= 599, got 700");
  EXPECT_THAT(ParseError("runtime: {retry: {retryable_codes: 429}}\n"),
              HasSubstr("runtime.retry.retryable_codes: expected a list of "
                        "HTTP statuses (integers 100..599) and gRPC code "
                        "names, got \"429\""));
}

TEST(RetryConfigTest, RetryableCodesMixHttpStatusesAndGrpcNames) {
  absl::StatusOr<Config> config = Parse(
      "runtime:\n"
      "  retry:\n"
      "    retryable_codes: [429, 503, UNAVAILABLE, resource_exhausted]\n"
      "    quick_policy:\n"
      "      retryable_codes: [Aborted, 502]\n"
      "    http_only_policy:\n"
      "      retryable_codes: [503]\n"
      "    none_policy:\n"
      "      retryable_codes: []\n"
      "    custom_policy:\n"
      "      max_attempts: 4\n");
  ASSERT_THAT(config, IsOk());
  const RetryConfig& retry = config->runtime.retry;
  EXPECT_THAT(retry.retryable_codes, ElementsAre(429, 503));
  EXPECT_THAT(retry.retryable_grpc_codes,
              ElementsAre(absl::StatusCode::kUnavailable,
                          absl::StatusCode::kResourceExhausted));
  // Without a list of its own a policy gets the section's two lists.
  for (const char* name : {"default", "custom", "expensive", "conservative"}) {
    SCOPED_TRACE(name);
    EXPECT_THAT(retry.policies.at(name).retryable_codes, ElementsAre(429, 503));
    EXPECT_THAT(retry.policies.at(name).retryable_grpc_codes,
                ElementsAre(absl::StatusCode::kUnavailable,
                            absl::StatusCode::kResourceExhausted));
  }
  // A list of its own is exactly that list, for both kinds.
  EXPECT_THAT(retry.policies.at("quick").retryable_codes, ElementsAre(502));
  EXPECT_THAT(retry.policies.at("quick").retryable_grpc_codes,
              ElementsAre(absl::StatusCode::kAborted));
  EXPECT_THAT(retry.policies.at("http_only").retryable_codes, ElementsAre(503));
  EXPECT_THAT(retry.policies.at("http_only").retryable_grpc_codes, IsEmpty());
  EXPECT_THAT(retry.policies.at("none").retryable_codes, IsEmpty());
  EXPECT_THAT(retry.policies.at("none").retryable_grpc_codes, IsEmpty());
}

TEST(RetryConfigTest, SectionListWithoutNamesRetriesNoGrpcCode) {
  absl::StatusOr<Config> config =
      Parse("runtime: {retry: {retryable_codes: [503]}}\n");
  ASSERT_THAT(config, IsOk());
  EXPECT_THAT(config->runtime.retry.retryable_grpc_codes, IsEmpty());
  EXPECT_THAT(config->runtime.retry.policies.at("quick").retryable_codes,
              ElementsAre(503));
  EXPECT_THAT(config->runtime.retry.policies.at("quick").retryable_grpc_codes,
              IsEmpty());
}

TEST(RetryConfigTest, UnknownGrpcCodeNameIsAPositionedError) {
  EXPECT_THAT(ParseError("runtime:\n"
                         "  retry:\n"
                         "    retryable_codes: [429, UNAVAILABEL]\n"),
              StartsWith("crossbridge.yml:3:28: runtime.retry.retryable_codes"
                         "[1]: unknown gRPC code name \"UNAVAILABEL\" "
                         "(expected an HTTP status 100..599 or one of: OK, "));
  EXPECT_THAT(ParseError("runtime:\n"
                         "  retry:\n"
                         "    quick_policy:\n"
                         "      retryable_codes: [503, 14]\n"),
              StartsWith("crossbridge.yml:4:30: runtime.retry.quick_policy."
                         "retryable_codes[1]: must be >= 100, got 14"));
  EXPECT_THAT(ParseError("runtime:\n"
                         "  retry:\n"
                         "    expensive_policy:\n"
                         "      retryable_codes: [UNAVAILABLE, \"14\"]\n"),
              StartsWith("crossbridge.yml:4:38: runtime.retry.expensive_policy."
                         "retryable_codes[1]: unknown gRPC code name "
                         "\"14\""));
  EXPECT_THAT(ParseError("runtime: {retry: {retryable_codes: [[503]]}}\n"),
              HasSubstr("runtime.retry.retryable_codes[0]: expected an HTTP "
                        "status (100..599) or a gRPC code name, got a list"));
  EXPECT_THAT(
      ParseError("", {{"CROSSBRIDGE_RUNTIME_RETRY_QUICK_POLICY_RETRYABLE_CODES",
                       "[503, NOPE]"}}),
      StartsWith("environment "
                 "CROSSBRIDGE_RUNTIME_RETRY_QUICK_POLICY_RETRYABLE_CODES: "
                 "unknown gRPC code name \"NOPE\""));
}

TEST(RetryConfigTest, EnvironmentSetsAPolicyList) {
  absl::StatusOr<Config> config =
      Parse("", {{"CROSSBRIDGE_RUNTIME_RETRY_QUICK_POLICY_RETRYABLE_CODES",
                  "[UNAVAILABLE, 429]"}});
  ASSERT_THAT(config, IsOk());
  const RetryPolicyConfig& quick = config->runtime.retry.policies.at("quick");
  EXPECT_THAT(quick.retryable_codes, ElementsAre(429));
  EXPECT_THAT(quick.retryable_grpc_codes,
              ElementsAre(absl::StatusCode::kUnavailable));
  EXPECT_THAT(config->runtime.retry.policies.at("default").retryable_codes,
              ElementsAre(429, 500, 502, 503, 504));
}

TEST(RetryConfigTest, MinAttemptTimeAndBudgetAreInherited) {
  absl::StatusOr<Config> config = Parse(
      "runtime:\n"
      "  retry:\n"
      "    default_policy:\n"
      "      min_attempt_time: 0.2\n"
      "      budget: {max_tokens: 50, token_ratio: 0.5}\n"
      "    custom_policy:\n"
      "      budget: {token_ratio: 2}\n"
      "    expensive_policy:\n"
      "      min_attempt_time: 0\n"
      "      budget: {max_tokens: 0}\n",
      {{"CROSSBRIDGE_RUNTIME_RETRY_CONSERVATIVE_POLICY_BUDGET_MAX_TOKENS",
        "1000"}});
  ASSERT_THAT(config, IsOk());
  const auto& policies = config->runtime.retry.policies;
  const RetryPolicyConfig& def = policies.at("default");
  EXPECT_EQ(def.min_attempt_time, absl::Milliseconds(200));
  EXPECT_EQ(def.budget.max_tokens, 50);
  EXPECT_EQ(def.budget.token_ratio, 0.5);
  const RetryPolicyConfig& custom = policies.at("custom");
  EXPECT_EQ(custom.min_attempt_time, absl::Milliseconds(200));
  EXPECT_EQ(custom.budget.max_tokens, 50);
  EXPECT_EQ(custom.budget.token_ratio, 2);
  const RetryPolicyConfig& quick = policies.at("quick");  // built-in
  EXPECT_EQ(quick.min_attempt_time, absl::Milliseconds(200));
  EXPECT_EQ(quick.budget.max_tokens, 50);
  EXPECT_EQ(quick.budget.token_ratio, 0.5);
  const RetryPolicyConfig& expensive = policies.at("expensive");
  EXPECT_EQ(expensive.min_attempt_time, absl::ZeroDuration());
  EXPECT_EQ(expensive.budget.max_tokens, 0);  // no budget
  EXPECT_EQ(expensive.budget.token_ratio, 0.5);
  const RetryPolicyConfig& conservative = policies.at("conservative");
  EXPECT_EQ(conservative.budget.max_tokens, 1000);
  EXPECT_EQ(conservative.budget.token_ratio, 0.5);
}

TEST(RetryConfigTest, MinAttemptTimeAndBudgetAreValidated) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  retry:\n"
                       "    default_policy:\n"
                       "      min_attempt_time: -1\n"),
            "crossbridge.yml:4:25: runtime.retry.default_policy."
            "min_attempt_time: must be >= 0 seconds, got -1");
  EXPECT_THAT(
      ParseError("runtime: {retry: {quick_policy: {min_attempt_time: "
                 "31536001}}}\n"),
      HasSubstr("runtime.retry.quick_policy.min_attempt_time: must be <= "
                "31536000 seconds, got 31536001"));
  EXPECT_EQ(ParseError("runtime:\n"
                       "  retry:\n"
                       "    default_policy:\n"
                       "      budget: {max_tokens: 0.5}\n"),
            "crossbridge.yml:4:28: runtime.retry.default_policy.budget."
            "max_tokens: must be 0 (no budget) or >= 1, got 0.5");
  EXPECT_THAT(ParseError("runtime: {retry: {default_policy: {budget: "
                         "{max_tokens: 1000001}}}}\n"),
              HasSubstr("runtime.retry.default_policy.budget.max_tokens: "
                        "must be <= "));
  EXPECT_THAT(ParseError("runtime: {retry: {default_policy: {budget: "
                         "{token_ratio: 0}}}}\n"),
              HasSubstr("runtime.retry.default_policy.budget.token_ratio: "
                        "must be > 0, got 0"));
  EXPECT_THAT(ParseError("runtime: {retry: {default_policy: {budget: "
                         "{max_tokens: 10, token_ratio: 20}}}}\n"),
              HasSubstr("runtime.retry.default_policy.budget.token_ratio: "
                        "must be <= max_tokens (10)"));
  // The ratio is inherited; the max_tokens that broke the rule is blamed.
  EXPECT_EQ(ParseError("runtime:\n"
                       "  retry:\n"
                       "    default_policy:\n"
                       "      budget: {token_ratio: 5}\n"
                       "    custom_policy:\n"
                       "      budget: {max_tokens: 2}\n"),
            "crossbridge.yml:6:28: runtime.retry.custom_policy.budget."
            "max_tokens: must be >= token_ratio (5)");
  EXPECT_THAT(ParseError("runtime: {retry: {quick_policy: {budget: 3}}}\n"),
              HasSubstr("runtime.retry.quick_policy.budget: expected a map"));
  EXPECT_THAT(ParseError("runtime: {retry: {quick_policy: {budget: "
                         "{tokens: 3}}}}\n"),
              HasSubstr("runtime.retry.quick_policy.budget.tokens: unknown "
                        "key (expected one of: max_tokens, token_ratio)"));
  EXPECT_EQ(
      ParseError("", {{"CROSSBRIDGE_RUNTIME_RETRY_QUICK_POLICY_BUDGET_TOKEN_"
                       "RATIO",
                       "-1"}}),
      "environment CROSSBRIDGE_RUNTIME_RETRY_QUICK_POLICY_BUDGET_TOKEN_RATIO: "
      "must be > 0, got -1");
}

TEST(RetryConfigTest, PolicyKeysMustBeWellFormed) {
  EXPECT_THAT(ParseError("runtime: {retry: {bad-name_policy: {}}}\n"),
              HasSubstr("runtime.retry.bad-name_policy: invalid policy name "
                        "\"bad-name\": must match [A-Za-z0-9_]+"));
  EXPECT_THAT(ParseError("runtime: {retry: {quick: {}}}\n"),
              HasSubstr("runtime.retry.quick: unknown key (expected one of: "
                        "enabled, retryable_codes, <name>_policy)"));
  EXPECT_THAT(ParseError("runtime: {retry: {quick_policy: {attempts: 2}}}\n"),
              HasSubstr("runtime.retry.quick_policy.attempts: unknown key"));
}

// ---- health checks ----------------------------------------------------------

TEST(HealthChecksConfigTest, UnknownRetryPolicyIsAnError) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  health_checks:\n"
                       "    providers:\n"
                       "      database:\n"
                       "        target: 127.0.0.1:6379\n"
                       "        retry_policy: nope\n"),
            "crossbridge.yml:6:23: runtime.health_checks.providers.database."
            "retry_policy: unknown retry policy \"nope\" (known: "
            "conservative, default, expensive, quick)");
}

TEST(HealthChecksConfigTest, EnabledProviderNeedsATarget) {
  EXPECT_THAT(ParseError("runtime:\n"
                         "  health_checks:\n"
                         "    providers:\n"
                         "      cache: {check_type: tcp}\n"),
              HasSubstr("crossbridge.yml:4:14: runtime.health_checks."
                        "providers.cache.target: must be set when the "
                        "provider is enabled"));
  absl::StatusOr<Config> config = Parse(
      "runtime:\n"
      "  health_checks:\n"
      "    providers:\n"
      "      cache: {enabled: false, check_type: tcp}\n");
  ASSERT_THAT(config, IsOk());
  EXPECT_FALSE(config->runtime.health_checks.providers.at("cache").enabled);
}

TEST(HealthChecksConfigTest, ProvidersInheritSectionValues) {
  absl::StatusOr<Config> builtin =
      Parse("runtime: {health_checks: {timeout: 5, failure_threshold: 4}}\n");
  ASSERT_THAT(builtin, IsOk());
  const HealthProviderConfig& database =
      builtin->runtime.health_checks.providers.at("database");
  EXPECT_EQ(database.interval, absl::Seconds(20));
  EXPECT_EQ(database.timeout, absl::Seconds(5));
  EXPECT_EQ(database.failure_threshold, 4);

  absl::StatusOr<Config> custom = Parse(
      "runtime:\n"
      "  health_checks:\n"
      "    interval: 45\n"
      "    providers:\n"
      "      cache: {target: \"redis:6379\", timeout: 2.5}\n");
  ASSERT_THAT(custom, IsOk());
  // `providers:` in the file replaces the built-in list.
  ASSERT_THAT(Keys(custom->runtime.health_checks.providers),
              ElementsAre("cache"));
  HealthProviderConfig expected;
  expected.enabled = true;
  expected.check_type = CheckType::kTcp;
  expected.target = "redis:6379";
  expected.interval = absl::Seconds(45);
  expected.timeout = absl::Milliseconds(2500);
  expected.failure_threshold = 3;
  expected.retry_policy = "default";
  ExpectProviderEq(custom->runtime.health_checks.providers.at("cache"),
                   expected);
}

TEST(HealthChecksConfigTest, TimeoutMustNotExceedInterval) {
  EXPECT_THAT(ParseError("runtime: {health_checks: {interval: 5}}\n"),
              HasSubstr("runtime.health_checks.interval: must be >= timeout "
                        "(10)"));
  EXPECT_THAT(ParseError("runtime: {health_checks: {providers: {p: {target: "
                         "x, interval: 5, timeout: 6}}}}\n"),
              HasSubstr("runtime.health_checks.providers.p.timeout: must be "
                        "<= interval (5)"));
  EXPECT_THAT(ParseError("runtime: {health_checks: {timeout: 0}}\n"),
              HasSubstr("runtime.health_checks.timeout: must be > 0 seconds"));
  EXPECT_THAT(ParseError("runtime: {health_checks: {providers: {p: {target: "
                         "x, check_type: smoke}}}}\n"),
              HasSubstr("providers.p.check_type: expected one of ping, tcp, "
                        "http, grpc, embed; got \"smoke\""));
}

// ---- rate limiting ----------------------------------------------------------

TEST(RateLimitingConfigTest, DefaultsInTheFileReplaceTheBuiltInOperations) {
  absl::StatusOr<Config> config = Parse(
      "runtime:\n"
      "  rate_limiting:\n"
      "    defaults:\n"
      "      upload: {capacity: 3, window_seconds: 0.5}\n"
      "    default_rule: {capacity: 7, window_seconds: 10}\n"
      "    cleanup_threshold: 5\n");
  ASSERT_THAT(config, IsOk());
  const RateLimitingConfig& rl = config->runtime.rate_limiting;
  ASSERT_THAT(Keys(rl.operations), ElementsAre("upload"));
  EXPECT_EQ(rl.operations.at("upload").capacity, 3);
  EXPECT_EQ(rl.operations.at("upload").window, absl::Milliseconds(500));
  ASSERT_TRUE(rl.default_rule.has_value());
  EXPECT_EQ(rl.default_rule->capacity, 7);
  EXPECT_EQ(rl.default_rule->window, absl::Seconds(10));
  EXPECT_EQ(rl.cleanup_threshold, 5);
  EXPECT_THAT(ParseError("runtime: {rate_limiting: {cleanup_threshold: 0}}\n"),
              HasSubstr("cleanup_threshold: must be >= 1, got 0"));
}

TEST(RateLimitingConfigTest, OnStoreFailureIsParsedPerRule) {
  absl::StatusOr<Config> config = Parse(
      "runtime:\n"
      "  rate_limiting:\n"
      "    defaults:\n"
      "      search: {capacity: 3, window_seconds: 1, on_store_failure: deny}\n"
      "      upload: {capacity: 3, window_seconds: 1, on_store_failure: allow}\n"
      "      embed: {capacity: 3, window_seconds: 1, on_store_failure: local}\n"
      "      plain: {capacity: 3, window_seconds: 1}\n"
      "    default_rule:\n"
      "      capacity: 7\n"
      "      window_seconds: 10\n"
      "      on_store_failure: allow\n");
  ASSERT_THAT(config, IsOk());
  const RateLimitingConfig& rl = config->runtime.rate_limiting;
  EXPECT_EQ(rl.operations.at("search").on_store_failure,
            StoreFailurePolicy::kDeny);
  EXPECT_EQ(rl.operations.at("upload").on_store_failure,
            StoreFailurePolicy::kAllow);
  EXPECT_EQ(rl.operations.at("embed").on_store_failure,
            StoreFailurePolicy::kLocal);
  EXPECT_EQ(rl.operations.at("plain").on_store_failure,
            StoreFailurePolicy::kLocal);
  ASSERT_TRUE(rl.default_rule.has_value());
  EXPECT_EQ(rl.default_rule->on_store_failure, StoreFailurePolicy::kAllow);

  // The environment overrides it on a built-in operation.
  absl::StatusOr<Config> from_env = Parse(
      "", {{"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_SEARCH_ON_STORE_"
            "FAILURE",
            "deny"}});
  ASSERT_THAT(from_env, IsOk());
  EXPECT_EQ(
      from_env->runtime.rate_limiting.operations.at("search").on_store_failure,
      StoreFailurePolicy::kDeny);
  EXPECT_EQ(from_env->runtime.rate_limiting.operations.at("search").capacity,
            30);
}

TEST(RateLimitingConfigTest, BadOnStoreFailureNamesLineColumnAndPath) {
  EXPECT_EQ(ParseError("runtime:\n"
                       "  rate_limiting:\n"
                       "    defaults:\n"
                       "      search:\n"
                       "        capacity: 5\n"
                       "        window_seconds: 60\n"
                       "        on_store_failure: open\n"),
            "crossbridge.yml:7:27: runtime.rate_limiting.defaults.search."
            "on_store_failure: expected one of local, allow, deny; got "
            "\"open\"");
  EXPECT_EQ(ParseError("runtime: {rate_limiting: {default_rule: {capacity: 1, "
                       "window_seconds: 1, on_store_failure: true}}}\n"),
            "crossbridge.yml:1:92: runtime.rate_limiting.default_rule."
            "on_store_failure: expected one of local, allow, deny; got "
            "\"true\"");
  EXPECT_EQ(
      ParseError("", {{"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_EMBED_ON_"
                       "STORE_FAILURE",
                       "Deny"}}),
      "environment CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_EMBED_ON_STORE_"
      "FAILURE: expected one of local, allow, deny; got \"Deny\"");
  // on_store_failure alone does not make a default_rule.
  EXPECT_EQ(ParseError("runtime:\n"
                       "  rate_limiting:\n"
                       "    default_rule: {on_store_failure: deny}\n"),
            "crossbridge.yml:3:19: runtime.rate_limiting.default_rule: "
            "missing required key \"capacity\"");
  EXPECT_THAT(
      DefaultConfigWithEnv(FakeEnv(
          {{"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULT_RULE_ON_STORE_FAILURE",
            "deny"}})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("default_rule: missing required key \"capacity\"")));
}

// ---- storage.redis ----------------------------------------------------------

// The storage.redis section of a parse that must succeed.
RedisStorageConfig ParseRedis(absl::string_view redis_yaml,
                              std::map<std::string, std::string> env = {}) {
  absl::StatusOr<Config> config =
      Parse(absl::StrCat("storage:\n  redis:\n", redis_yaml), std::move(env));
  EXPECT_THAT(config, IsOk());
  return config.ok() ? config->storage.redis : RedisStorageConfig();
}

// The error of a storage.redis.url that must be rejected.
std::string UrlError(absl::string_view url) {
  return ParseError(absl::StrCat("storage:\n  redis:\n    url: \"", url,
                                 "\"\n"));
}

TEST(RedisConfigTest, ParsesAllKeys) {
  const RedisStorageConfig redis =
      ParseRedis("    url: redis://cache.internal:6380/3\n"
                 "    password_env: \"\"\n"
                 "    connections: 8\n"
                 "    timeout_seconds: 0.05\n"
                 "    connect_timeout_seconds: 1.5\n"
                 "    reconnect_max_backoff_seconds: 30\n");
  EXPECT_EQ(redis.url, "redis://cache.internal:6380/3");
  EXPECT_EQ(redis.host, "cache.internal");
  EXPECT_EQ(redis.port, 6380);
  EXPECT_EQ(redis.db, 3);
  EXPECT_EQ(redis.password, "");
  EXPECT_EQ(redis.password_env, "");
  EXPECT_EQ(redis.connections, 8);
  EXPECT_EQ(redis.timeout, absl::Milliseconds(50));
  EXPECT_EQ(redis.connect_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(redis.reconnect_max_backoff, absl::Seconds(30));
}

TEST(RedisConfigTest, UrlForms) {
  struct Case {
    std::string url, host;
    int port, db;
    std::string password;
  };
  const std::vector<Case> cases = {
      {"redis://cache", "cache", 6379, 0, ""},
      {"redis://cache/", "cache", 6379, 0, ""},
      {"redis://10.0.0.7:7000", "10.0.0.7", 7000, 0, ""},
      {"redis://cache/15", "cache", 6379, 15, ""},
      {"redis://:s3cret@cache:6380/2", "cache", 6380, 2, "s3cret"},
      {"redis://default:s3cret@cache", "cache", 6379, 0, "s3cret"},
      {"redis://:p@ss/w:rd@cache:1/1", "cache", 1, 1, "p@ss/w:rd"},
      {"redis://:@cache", "cache", 6379, 0, ""},
      {"REDIS://cache:65535", "cache", 65535, 0, ""},
      {"redis://[::1]:6390/4", "::1", 6390, 4, ""},
      {"redis://[::1]", "::1", 6379, 0, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.url);
    const RedisStorageConfig redis =
        ParseRedis(absl::StrCat("    url: \"", c.url, "\"\n"));
    EXPECT_EQ(redis.url, c.url);
    EXPECT_EQ(redis.host, c.host);
    EXPECT_EQ(redis.port, c.port);
    EXPECT_EQ(redis.db, c.db);
    EXPECT_EQ(redis.password, c.password);
  }
}

TEST(RedisConfigTest, BadUrlsArePositionedErrors) {
  EXPECT_EQ(UrlError("http://cache:6379"),
            "crossbridge.yml:3:10: storage.redis.url: invalid Redis URL "
            "\"http://cache:6379\": the scheme must be redis:// (rediss:// "
            "and unix sockets are not supported)");
  EXPECT_THAT(UrlError("rediss://cache"), HasSubstr("the scheme must be"));
  EXPECT_THAT(UrlError("cache:6379"), HasSubstr("the scheme must be"));
  EXPECT_EQ(UrlError("redis://cache:0/1"),
            "crossbridge.yml:3:10: storage.redis.url: invalid Redis URL "
            "\"redis://cache:0/1\": the port must be an integer 1..65535, "
            "got \"0\"");
  EXPECT_THAT(UrlError("redis://cache:65536"),
              HasSubstr("the port must be an integer 1..65535, got "
                        "\"65536\""));
  EXPECT_THAT(UrlError("redis://cache:http"),
              HasSubstr("the port must be an integer 1..65535, got "
                        "\"http\""));
  EXPECT_THAT(UrlError("redis://cache:/0"),
              HasSubstr("the port must be an integer 1..65535, got \"\""));
  EXPECT_THAT(UrlError("redis://cache:+80"), HasSubstr("the port must be"));
  EXPECT_THAT(UrlError("redis://cache/16"),
              HasSubstr("the database (/db) must be an integer 0..15, got "
                        "\"16\""));
  EXPECT_THAT(UrlError("redis://cache/0?timeout=1"),
              HasSubstr("the database (/db) must be"));
  EXPECT_THAT(UrlError("redis://cache/a"), HasSubstr("the database (/db)"));
  EXPECT_THAT(UrlError("redis://"), HasSubstr(": the host is required"));
  EXPECT_THAT(UrlError("redis://:6379/0"), HasSubstr(": the host is required"));
  EXPECT_THAT(UrlError("redis://ca che:6379"),
              HasSubstr("must not contain spaces or control characters"));
  EXPECT_THAT(UrlError("redis://cache\\t:6379"),
              HasSubstr("must not contain spaces or control characters"));
  EXPECT_THAT(UrlError("redis://cache,x:1"), HasSubstr("invalid host"));
  EXPECT_THAT(UrlError("redis://[::1:6379"), HasSubstr("missing ']'"));
}

TEST(RedisConfigTest, ErrorsNeverShowThePassword) {
  const std::vector<std::string> urls = {
      "redis://:hunter2@:6379/0",           // no host
      "redis://user:hunter2@cache:99999",   // bad port
      "redis://:hunter2@cache/42",          // bad db
      "http://:hunter2@cache",              // bad scheme
      "redis:/:hunter2@cache",              // bad scheme, no "//"
      "redis://:hunter2 x@cache",           // space in the password
      "redis://:hunt\\ter2@cache",          // control character
      "redis://hunter2@cache",              // userinfo without ':'
      "redis://:hunter2@ca che",            // space in the host
  };
  for (const std::string& url : urls) {
    SCOPED_TRACE(url);
    const std::string error = UrlError(url);
    EXPECT_THAT(error, StartsWith("crossbridge.yml:3:10: storage.redis.url: "
                                  "invalid Redis URL \""));
    EXPECT_THAT(error, Not(HasSubstr("hunter")));
    EXPECT_THAT(error, Not(HasSubstr("hunt")));
    EXPECT_THAT(error, HasSubstr("***@"));
  }
  EXPECT_THAT(UrlError("redis://user:hunter2@cache:99999"),
              HasSubstr("\"redis://user:***@cache:99999\""));
  EXPECT_THAT(UrlError("redis://hunter2@cache"),
              HasSubstr("\"redis://***@cache\": the part before '@' must be "
                        ":password or user:password"));
  // From the environment too.
  const std::string from_env = ParseError(
      "", {{"CROSSBRIDGE_STORAGE_REDIS_URL", "redis://:hunter2@cache:0"}});
  EXPECT_THAT(from_env,
              StartsWith("environment CROSSBRIDGE_STORAGE_REDIS_URL: invalid "
                         "Redis URL \"redis://:***@cache:0\""));
  EXPECT_THAT(from_env, Not(HasSubstr("hunter2")));
}

TEST(RedisConfigTest, PasswordEnvWinsOverTheUrl) {
  const std::string url = "    url: redis://:from-url@cache\n";
  // Set and non-empty: wins.
  EXPECT_EQ(ParseRedis(url + "    password_env: MY_REDIS_PW\n",
                       {{"MY_REDIS_PW", "from-env"}})
                .password,
            "from-env");
  // Unset or empty: the URL's password stays.
  EXPECT_EQ(ParseRedis(url + "    password_env: MY_REDIS_PW\n").password,
            "from-url");
  EXPECT_EQ(ParseRedis(url + "    password_env: MY_REDIS_PW\n",
                       {{"MY_REDIS_PW", ""}})
                .password,
            "from-url");
  // Off: the variable is not read.
  EXPECT_EQ(ParseRedis(url + "    password_env: \"\"\n",
                       {{"CROSSBRIDGE_REDIS_PASSWORD", "from-env"}})
                .password,
            "from-url");
  // The default variable, with and without a file.
  EXPECT_EQ(ParseRedis(url, {{"CROSSBRIDGE_REDIS_PASSWORD", "dflt"}}).password,
            "dflt");
  absl::StatusOr<Config> defaults = DefaultConfigWithEnv(
      FakeEnv({{"CROSSBRIDGE_REDIS_PASSWORD", "dflt"}}));
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->storage.redis.password, "dflt");
  // password_env itself can be overridden.
  EXPECT_EQ(ParseRedis(url, {{"CROSSBRIDGE_STORAGE_REDIS_PASSWORD_ENV", "PW2"},
                             {"PW2", "second"}})
                .password,
            "second");
  EXPECT_EQ(ParseError("storage: {redis: {password_env: \"MY-PW\"}}\n"),
            "crossbridge.yml:1:33: storage.redis.password_env: \"MY-PW\" is "
            "not an environment variable name");
}

TEST(RedisConfigTest, EnvOverridesTheUrlAndOtherLeaves) {
  const RedisStorageConfig redis = ParseRedis(
      "    url: redis://file-host:1/1\n"
      "    connections: 3\n",
      {{"CROSSBRIDGE_STORAGE_REDIS_URL", "redis://:pw@env-host:6390/5"},
       {"CROSSBRIDGE_STORAGE_REDIS_CONNECTIONS", "4"},
       {"CROSSBRIDGE_STORAGE_REDIS_TIMEOUT_SECONDS", "0.25"}});
  EXPECT_EQ(redis.url, "redis://:pw@env-host:6390/5");
  EXPECT_EQ(redis.host, "env-host");
  EXPECT_EQ(redis.port, 6390);
  EXPECT_EQ(redis.db, 5);
  EXPECT_EQ(redis.password, "pw");
  EXPECT_EQ(redis.connections, 4);
  EXPECT_EQ(redis.timeout, absl::Milliseconds(250));

  absl::StatusOr<Config> defaults = DefaultConfigWithEnv(
      FakeEnv({{"CROSSBRIDGE_STORAGE_REDIS_URL", "redis://other"}}));
  ASSERT_THAT(defaults, IsOk());
  EXPECT_EQ(defaults->storage.redis.host, "other");
  EXPECT_EQ(defaults->storage.redis.port, 6379);
}

TEST(RedisConfigTest, RangesAndUnknownKeys) {
  EXPECT_EQ(ParseError("storage:\n"
                       "  redis:\n"
                       "    connections: 0\n"),
            "crossbridge.yml:3:18: storage.redis.connections: must be >= 1, "
            "got 0");
  EXPECT_THAT(ParseError("storage: {redis: {connections: 65}}\n"),
              HasSubstr("storage.redis.connections: must be <= 64, got 65"));
  EXPECT_THAT(ParseError("storage: {redis: {timeout_seconds: 0}}\n"),
              HasSubstr("storage.redis.timeout_seconds: must be > 0 seconds"));
  EXPECT_THAT(ParseError("storage: {redis: {timeout_seconds: 61}}\n"),
              HasSubstr("storage.redis.timeout_seconds: must be <= 60 "
                        "seconds, got 61"));
  EXPECT_THAT(
      ParseError("storage: {redis: {connect_timeout_seconds: 60.5}}\n"),
      HasSubstr("storage.redis.connect_timeout_seconds: must be <= 60"));
  EXPECT_THAT(
      ParseError("storage: {redis: {connect_timeout_seconds: -1}}\n"),
      HasSubstr("storage.redis.connect_timeout_seconds: must be > 0"));
  EXPECT_THAT(
      ParseError("storage: {redis: {reconnect_max_backoff_seconds: 301}}\n"),
      HasSubstr("storage.redis.reconnect_max_backoff_seconds: must be <= 300 "
                "seconds"));
  EXPECT_THAT(Parse("storage: {redis: {reconnect_max_backoff_seconds: 300, "
                    "timeout_seconds: 60, connect_timeout_seconds: 60, "
                    "connections: 64}}\n"),
              IsOk());
  EXPECT_THAT(ParseError("storage: {redis: {password: x}}\n"),
              HasSubstr("storage.redis.password: unknown key (expected one "
                        "of: url, password_env, connections, timeout_seconds, "
                        "connect_timeout_seconds, "
                        "reconnect_max_backoff_seconds)"));
  EXPECT_THAT(ParseError("storage: {redis: {url: [a]}}\n"),
              HasSubstr("storage.redis.url: expected a string, got a list"));
}

// ---- storage.redis_cluster ---------------------------------------------------

TEST(RedisClusterConfigTest, ParsesNodesAndTheConnectionKeys) {
  absl::StatusOr<Config> config = Parse(
      "storage:\n"
      "  backend: redis-cluster\n"
      "  redis_cluster:\n"
      "    nodes: [\"10.0.0.1:7000\", redis-0.redis:6379, \"[::1]:7001\"]\n"
      "    password_env: CLUSTER_PW\n"
      "    connections: 3\n"
      "    timeout_seconds: 0.05\n"
      "    connect_timeout_seconds: 1.5\n"
      "    reconnect_max_backoff_seconds: 30\n",
      {{"CLUSTER_PW", "s3cret"}});
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->storage.backend, StorageBackend::kRedisCluster);
  const RedisClusterStorageConfig& c = config->storage.redis_cluster;
  ASSERT_EQ(c.nodes.size(), 3u);
  EXPECT_EQ(FormatHostPort(c.nodes[0]), "10.0.0.1:7000");
  EXPECT_EQ(FormatHostPort(c.nodes[1]), "redis-0.redis:6379");
  EXPECT_EQ(FormatHostPort(c.nodes[2]), "[::1]:7001");
  EXPECT_EQ(c.connection.password, "s3cret");
  EXPECT_EQ(c.connection.connections, 3);
  EXPECT_EQ(c.connection.timeout, absl::Milliseconds(50));
  EXPECT_EQ(c.connection.connect_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(c.connection.reconnect_max_backoff, absl::Seconds(30));
  // storage.redis keeps its own values.
  EXPECT_EQ(config->storage.redis.connections, 2);
  EXPECT_EQ(config->storage.redis.password, "");
}

TEST(RedisClusterConfigTest, TheDefaultPasswordVariableAndEnvOverrides) {
  absl::StatusOr<Config> config = Parse(
      "storage: {backend: redis-cluster}\n",
      {{"CROSSBRIDGE_REDIS_PASSWORD", "dflt"},
       {"CROSSBRIDGE_STORAGE_REDIS_CLUSTER_NODES", "[a:1, b:2]"}});
  ASSERT_THAT(config, IsOk());
  ASSERT_EQ(config->storage.redis_cluster.nodes.size(), 2u);
  EXPECT_EQ(FormatHostPort(config->storage.redis_cluster.nodes[1]), "b:2");
  EXPECT_EQ(config->storage.redis_cluster.connection.password, "dflt");
}

TEST(RedisClusterConfigTest, BadNodesArePositionedErrors) {
  EXPECT_EQ(ParseError("storage:\n"
                       "  backend: redis-cluster\n"),
            "crossbridge.yml:2:12: storage.backend: redis-cluster needs "
            "storage.redis_cluster.nodes (one or more host:port of the "
            "cluster's nodes)");
  EXPECT_EQ(ParseError("storage:\n"
                       "  backend: redis-cluster\n"
                       "  redis_cluster:\n"
                       "    nodes: []\n"),
            "crossbridge.yml:2:12: storage.backend: redis-cluster needs "
            "storage.redis_cluster.nodes (one or more host:port of the "
            "cluster's nodes)");
  EXPECT_THAT(ParseError("storage:\n"
                         "  redis_cluster:\n"
                         "    nodes: [\"a:1\", \"b\"]\n"),
              StartsWith("crossbridge.yml:3:20: storage.redis_cluster.nodes[1]: "
                         "\"b\": "));
  EXPECT_THAT(ParseError("storage: {redis_cluster: {nodes: [\"a:99999\"]}}\n"),
              HasSubstr("storage.redis_cluster.nodes[0]: \"a:99999\": "));
  EXPECT_EQ(ParseError("storage:\n"
                       "  redis_cluster:\n"
                       "    nodes: [[a]]\n"),
            "crossbridge.yml:3:13: storage.redis_cluster.nodes[0]: expected a "
            "string, got a list");
  EXPECT_THAT(ParseError("storage: {redis_cluster: {nodes: a:1}}\n"),
              HasSubstr("storage.redis_cluster.nodes: expected a list of "
                        "strings, got \"a:1\""));
  EXPECT_THAT(ParseError("storage: {redis_cluster: {url: x}}\n"),
              HasSubstr("storage.redis_cluster.url: unknown key (expected one "
                        "of: nodes, password_env, connections, "
                        "timeout_seconds, connect_timeout_seconds, "
                        "reconnect_max_backoff_seconds)"));
  EXPECT_THAT(ParseError("storage: {redis_cluster: {connections: 0}}\n"),
              HasSubstr("storage.redis_cluster.connections: must be >= 1"));
  EXPECT_THAT(
      ParseError("storage: {redis_cluster: {password_env: \"A-B\"}}\n"),
      HasSubstr("storage.redis_cluster.password_env: \"A-B\" is not an "
                "environment variable name"));
}

// ---- environment ------------------------------------------------------------

TEST(EnvOverrideTest, OverridesLeavesOfTheFileAndTheDefaults) {
  absl::StatusOr<Config> config = Parse(
      "server: {listen_address: 127.0.0.1:1}\n"
      "runtime: {rate_limiting: {defaults: {search: {capacity: 5, "
      "window_seconds: 60}}}}\n",
      {{"CROSSBRIDGE_STORAGE_BACKEND", "redis"},
       {"CROSSBRIDGE_SERVER_LISTEN_ADDRESS", "0.0.0.0:9000"},
       {"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_SEARCH_CAPACITY", "45"},
       {"CROSSBRIDGE_RUNTIME_HEALTH_CHECKS_TIMEOUT", "2"},
       {"CROSSBRIDGE_RUNTIME_RETRY_DEFAULT_POLICY_JITTER", "decorrelated"},
       {"CROSSBRIDGE_RUNTIME_RETRY_RETRYABLE_CODES", "[429, 503]"},
       {"CROSSBRIDGE_RUNTIME_HEALTH_CHECKS_PROVIDERS_DATABASE_TARGET",
        "db:5432"},
       // Not a leaf of any existing entry: ignored.
       {"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_NEWOP_CAPACITY", "1"},
       {"CROSSBRIDGE_CONFIG", "/nonexistent.yml"}});
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->storage.backend, StorageBackend::kRedis);
  EXPECT_EQ(config->server.listen_address, "0.0.0.0:9000");
  EXPECT_THAT(Keys(config->runtime.rate_limiting.operations),
              ElementsAre("search"));
  EXPECT_EQ(config->runtime.rate_limiting.operations.at("search").capacity, 45);
  EXPECT_EQ(config->runtime.health_checks.timeout, absl::Seconds(2));
  const HealthProviderConfig& database =
      config->runtime.health_checks.providers.at("database");
  EXPECT_EQ(database.timeout, absl::Seconds(2));  // inherited
  EXPECT_EQ(database.target, "db:5432");
  EXPECT_EQ(config->runtime.retry.policies.at("quick").jitter,
            JitterMode::kDecorrelated);  // inherited from default_policy
  EXPECT_THAT(config->runtime.retry.retryable_codes, ElementsAre(429, 503));
}

TEST(EnvOverrideTest, BadValueNamesTheVariable) {
  EXPECT_EQ(
      ParseError("", {{"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_SEARCH_"
                       "CAPACITY",
                       "abc"}}),
      "environment CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULTS_SEARCH_"
      "CAPACITY: expected an integer, got \"abc\"");
  EXPECT_EQ(ParseError("", {{"CROSSBRIDGE_STORAGE_MEMORY_SHARDS", "0"}}),
            "environment CROSSBRIDGE_STORAGE_MEMORY_SHARDS: must be >= 1, "
            "got 0");
  EXPECT_EQ(ParseError("", {{"CROSSBRIDGE_STORAGE_BACKEND", "disk"}}),
            "environment CROSSBRIDGE_STORAGE_BACKEND: expected one of memory, "
            "redis, redis-cluster; got \"disk\"");
  EXPECT_THAT(
      ParseError("",
                 {{"CROSSBRIDGE_RUNTIME_RETRY_QUICK_POLICY_BASE_DELAY", "3"}}),
      Eq("environment CROSSBRIDGE_RUNTIME_RETRY_QUICK_POLICY_BASE_DELAY: "
         "must be <= max_delay (1)"));
  EXPECT_THAT(
      ParseError("", {{"CROSSBRIDGE_RUNTIME_RETRY_RETRYABLE_CODES", "[429,"}}),
      StartsWith("environment CROSSBRIDGE_RUNTIME_RETRY_RETRYABLE_CODES: "
                 "invalid YAML value: "));
}

TEST(EnvOverrideTest, WinsOverTheFile) {
  absl::StatusOr<Config> config = Parse(
      "logging: {level: warn}\n", {{"CROSSBRIDGE_LOGGING_LEVEL", "debug"}});
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->logging.level, "debug");
}

TEST(EnvOverrideTest, AppliesWithoutAFile) {
  absl::StatusOr<Config> config = DefaultConfigWithEnv(
      FakeEnv({{"CROSSBRIDGE_LOGGING_LEVEL", "debug"},
               {"CROSSBRIDGE_SERVER_DRAIN_GRACE_SECONDS", "0.25"},
               {"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULT_RULE_CAPACITY", "9"},
               {"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULT_RULE_WINDOW_SECONDS",
                "3"}}));
  ASSERT_THAT(config, IsOk());
  EXPECT_EQ(config->source, "<embedded default>");
  EXPECT_EQ(config->logging.level, "debug");
  EXPECT_EQ(config->server.drain_grace, absl::Milliseconds(250));
  ASSERT_TRUE(config->runtime.rate_limiting.default_rule.has_value());
  EXPECT_EQ(config->runtime.rate_limiting.default_rule->capacity, 9);
  EXPECT_EQ(config->runtime.rate_limiting.default_rule->window,
            absl::Seconds(3));

  absl::StatusOr<Config> defaults = DefaultConfigWithEnv(FakeEnv({}));
  ASSERT_THAT(defaults, IsOk());
  ExpectConfigEq(*defaults, DefaultConfig());

  EXPECT_THAT(
      DefaultConfigWithEnv(FakeEnv(
          {{"CROSSBRIDGE_RUNTIME_RATE_LIMITING_DEFAULT_RULE_CAPACITY", "9"}})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               Eq("<embedded default>: runtime.rate_limiting.default_rule: "
                  "missing required key \"window_seconds\"")));
}

// ---- discovery and files ----------------------------------------------------

class DiscoverConfigPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/config_test_XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    std::filesystem::create_directories(root_ / "a/b/c/d/e");
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  std::string Touch(const std::filesystem::path& path) {
    std::ofstream(root_ / path) << "server: {}\n";
    return (root_ / path).string();
  }
  std::string Dir(const std::string& relative) {
    return (root_ / relative).string();
  }

  // The discovered path, "<none>", or "<error: ...>".
  static std::string Discover(const std::string& flag, const EnvLookup& env,
                              const std::string& working_dir) {
    absl::StatusOr<std::optional<std::string>> path =
        DiscoverConfigPath(flag, env, working_dir);
    if (!path.ok()) return "<error: " + path.status().ToString() + ">";
    return path->value_or("<none>");
  }

  std::filesystem::path root_;
};

TEST_F(DiscoverConfigPathTest, SearchesTheWorkingDirAndUpToThreeParents) {
  const std::string in_a = Touch("a/crossbridge.yml");
  // d, c, b, a: a is the third parent of d.
  EXPECT_EQ(Discover("", FakeEnv({}), Dir("a/b/c/d")), in_a);
  // From e, a is the fourth parent: not searched.
  EXPECT_EQ(Discover("", FakeEnv({}), Dir("a/b/c/d/e")), "<none>");
  // The nearest one wins.
  const std::string in_c = Touch("a/b/c/crossbridge.yml");
  EXPECT_EQ(Discover("", FakeEnv({}), Dir("a/b/c/d")), in_c);
}

TEST_F(DiscoverConfigPathTest, FlagBeatsEnvironmentBeatsSearch) {
  Touch("a/crossbridge.yml");
  const std::string from_env = Touch("env.yml");
  const std::string from_flag = Touch("flag.yml");
  const EnvLookup env = FakeEnv({{"CROSSBRIDGE_CONFIG", from_env}});
  EXPECT_EQ(Discover(from_flag, env, Dir("a")), from_flag);
  EXPECT_EQ(Discover("", env, Dir("a")), from_env);
  // A relative path is relative to the working directory.
  EXPECT_EQ(Discover("../flag.yml", env, Dir("a")), Dir("a") + "/../flag.yml");
}

TEST_F(DiscoverConfigPathTest, ExplicitlyNamedFileMustExist) {
  Touch("a/crossbridge.yml");
  EXPECT_THAT(DiscoverConfigPath(Dir("missing.yml"), FakeEnv({}), Dir("a")),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("missing.yml (from --config) does not "
                                 "exist")));
  EXPECT_THAT(
      DiscoverConfigPath(
          "", FakeEnv({{"CROSSBRIDGE_CONFIG", Dir("missing.yml")}}), Dir("a")),
      StatusIs(absl::StatusCode::kNotFound,
               HasSubstr("(from CROSSBRIDGE_CONFIG) does not exist")));
}

TEST_F(DiscoverConfigPathTest, LoadConfigFileReportsMissingFilesAndPaths) {
  EXPECT_THAT(LoadConfigFile(Dir("missing.yml"), FakeEnv({})),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("missing.yml")));
  std::ofstream(root_ / "bad.yml") << "server:\n  port: 1\n";
  EXPECT_THAT(LoadConfigFile(Dir("bad.yml"), FakeEnv({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       StartsWith(Dir("bad.yml") + ":2:3: server.port: "
                                                   "unknown key")));
}

TEST(NameTest, NamesMatchTheYamlSpelling) {
  EXPECT_EQ(StorageBackendName(StorageBackend::kMemory), "memory");
  EXPECT_EQ(StorageBackendName(StorageBackend::kRedis), "redis");
  EXPECT_EQ(LogFormatName(LogFormat::kText), "text");
  EXPECT_EQ(LogFormatName(LogFormat::kJson), "json");
  EXPECT_EQ(JitterModeName(JitterMode::kNone), "none");
  EXPECT_EQ(JitterModeName(JitterMode::kFull), "full");
  EXPECT_EQ(JitterModeName(JitterMode::kEqual), "equal");
  EXPECT_EQ(JitterModeName(JitterMode::kDecorrelated), "decorrelated");
  EXPECT_EQ(CheckTypeName(CheckType::kPing), "ping");
  EXPECT_EQ(CheckTypeName(CheckType::kTcp), "tcp");
  EXPECT_EQ(CheckTypeName(CheckType::kHttp), "http");
  EXPECT_EQ(CheckTypeName(CheckType::kGrpc), "grpc");
  EXPECT_EQ(CheckTypeName(CheckType::kEmbed), "embed");
  EXPECT_EQ(StoreFailurePolicyName(StoreFailurePolicy::kLocal), "local");
  EXPECT_EQ(StoreFailurePolicyName(StoreFailurePolicy::kAllow), "allow");
  EXPECT_EQ(StoreFailurePolicyName(StoreFailurePolicy::kDeny), "deny");
}

}  // namespace
}  // namespace crossbridge
