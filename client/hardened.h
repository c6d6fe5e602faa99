// Hardened wrappers: interfaces for an AI provider, an embedding provider
// and a database connection, and decorators that run every call through Client::Call (rate limit + retry + health reporting) or
// Client::Retry (retry + health reporting, no rate limit).
//
//   MyOpenAi openai(...);                       // implements AiProvider
//   auto ai = HardenAiProvider(*client, openai, "user:123");
//   absl::StatusOr<Completion> c = ai->Complete({{"user", "Hello"}});
//
// Failures of the inner implementation decide retries as they are: return
// HttpError(status, body, retry_after) (client/hardened_call.h) for an HTTP
// failure so the policy's retryable HTTP statuses and Retry-After apply;
// any other absl::Status is judged by its code against the policy's
// retryable gRPC codes (by default UNAVAILABLE and RESOURCE_EXHAUSTED).
//
// Database: a deadlock (ABORTED) or a timeout (DEADLINE_EXCEEDED) is retried
// only if the policy lists that code, e.g. in crossbridge.yml
//   quick_policy: {retryable_codes: [429, 500, 502, 503, 504, UNAVAILABLE,
//                                    ABORTED, DEADLINE_EXCEEDED]}
// By default only UNAVAILABLE and RESOURCE_EXHAUSTED are.
//
// Thread safety: the decorators are as thread-safe as the inner object
// (they add no shared state except last_report(), which is synchronized).
// The Client and the inner object must outlive the decorator.
#ifndef CROSSBRIDGE_CLIENT_HARDENED_H_
#define CROSSBRIDGE_CLIENT_HARDENED_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "client/hardened_call.h"

namespace crossbridge {

struct ChatMessage {
  std::string role;
  std::string content;
};

struct Completion {
  std::string text;
  std::string model;
};

class AiProvider {
 public:
  virtual ~AiProvider() = default;
  virtual std::string name() const = 0;
  virtual absl::StatusOr<Completion> Complete(
      const std::vector<ChatMessage>& messages) = 0;
  virtual absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) = 0;
};

class EmbeddingProvider {
 public:
  virtual ~EmbeddingProvider() = default;
  virtual std::string model_name() const = 0;
  virtual int dimension() const = 0;
  virtual absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) = 0;
};

class DatabaseConnection {
 public:
  virtual ~DatabaseConnection() = default;
  // Rows of columns.
  virtual absl::StatusOr<std::vector<std::vector<std::string>>> Execute(
      const std::string& query) = 0;
};

// How a decorator calls through the Client. `operation` is the rate-limit
// rule (unused by the database decorator), `retry_policy` a runtime.retry
// policy, `dependency` a runtime.health_checks provider ("" for none).
struct HardenOptions {
  std::string operation;
  std::string retry_policy;
  std::string dependency;
  absl::Duration deadline = absl::Seconds(30);
  bool fail_open = true;
};

// What the three decorators share: the client, their options and the report
// of their last call. Thread-safe.
class HardenedCaller {
 public:
  HardenedCaller(Client& client, HardenOptions options);

  // Client::Call under `operation` and bucket `key` when `operation` is not
  // empty, else Client::Retry (no permit); keeps the call's report.
  template <typename T>
  absl::StatusOr<T> Run(absl::string_view operation, absl::string_view key,
                        std::function<absl::StatusOr<T>(const AttemptInfo&)> fn) {
    CallReport report;
    absl::StatusOr<T> result =
        operation.empty()
            ? client_.Retry<T>(std::move(fn), call_options_, &report)
            : client_.Call<T>(operation, key, std::move(fn), call_options_,
                              &report);
    Keep(std::move(report));
    return result;
  }

  const HardenOptions& options() const { return options_; }
  // The report of the last call that finished (any thread).
  CallReport last_report() const;

 private:
  void Keep(CallReport report);

  Client& client_;
  const HardenOptions options_;
  const CallOptions call_options_;
  mutable absl::Mutex mu_;
  CallReport last_report_ ABSL_GUARDED_BY(mu_);
};

// Complete: operation options.operation (default "ai_generate"); Embed:
// operation "embed". Both with the options' policy and dependency (default
// "expensive", "ai_provider") and one permit per call from bucket
// rate_limit_key.
class HardenedAiProvider final : public AiProvider {
 public:
  HardenedAiProvider(Client& client, AiProvider& inner,
                     std::string rate_limit_key,
                     HardenOptions options = {"ai_generate", "expensive",
                                              "ai_provider"});
  std::string name() const override;
  absl::StatusOr<Completion> Complete(
      const std::vector<ChatMessage>& messages) override;
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;
  // The report of the last call that finished (any thread).
  CallReport last_report() const { return caller_.last_report(); }

 private:
  AiProvider& inner_;
  const std::string key_;
  HardenedCaller caller_;
};

std::unique_ptr<HardenedAiProvider> HardenAiProvider(
    Client& client, AiProvider& inner, std::string rate_limit_key);

// Embed: operation "embed", policy "expensive", dependency
// "embedding_provider" by default.
class HardenedEmbeddingProvider final : public EmbeddingProvider {
 public:
  HardenedEmbeddingProvider(Client& client, EmbeddingProvider& inner,
                            std::string rate_limit_key,
                            HardenOptions options = {"embed", "expensive",
                                                     "embedding_provider"});
  std::string model_name() const override;
  int dimension() const override;
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;
  CallReport last_report() const { return caller_.last_report(); }

 private:
  EmbeddingProvider& inner_;
  const std::string key_;
  HardenedCaller caller_;
};

std::unique_ptr<HardenedEmbeddingProvider> HardenEmbeddingProvider(
    Client& client, EmbeddingProvider& inner, std::string rate_limit_key);

// Retry decorator only (no rate limit): policy "quick", dependency
// "database" by default; options.operation and fail_open are not used.
class HardenedDatabaseConnection final : public DatabaseConnection {
 public:
  HardenedDatabaseConnection(Client& client, DatabaseConnection& inner,
                             HardenOptions options = {"", "quick",
                                                      "database"});
  absl::StatusOr<std::vector<std::vector<std::string>>> Execute(
      const std::string& query) override;
  CallReport last_report() const { return caller_.last_report(); }

 private:
  DatabaseConnection& inner_;
  HardenedCaller caller_;
};

std::unique_ptr<HardenedDatabaseConnection> HardenDatabaseConnection(
    Client& client, DatabaseConnection& inner);

// A retry decorator for database calls: fn retried under `retry_policy`,
// outcomes reported to the "database" provider, 30 s deadline.
// T cannot be deduced from a lambda: WithDatabaseRetry<int>(client, ...).
template <typename T>
absl::StatusOr<T> WithDatabaseRetry(Client& client,
                                    std::function<absl::StatusOr<T>()> fn,
                                    std::string retry_policy = "quick") {
  CallOptions options;
  options.retry_policy = std::move(retry_policy);
  options.dependency = "database";
  return client.Retry<T>(
      [&fn](const AttemptInfo&) -> absl::StatusOr<T> { return fn(); },
      options);
}

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_HARDENED_H_
