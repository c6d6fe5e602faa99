// Test doubles for the examples: fake AI, embedding and database providers
// that fail on purpose, deterministically. They stand in for OpenAI, an
// embeddings endpoint and Postgres so the examples (and your own unit tests)
// can show what CrossBridge's hardened wrappers do with 503s, 429s with
// Retry-After, dropped connections and deadlocks, without a network.
//
// Every fake fails its first `failures` calls with the configured error and
// then answers. Nothing is random and nothing reads a clock: the same calls
// give the same answers. Not for production use.
//
// Thread safety: calls may overlap (the call counter is atomic; the database
// table is guarded by a mutex).
#ifndef CROSSBRIDGE_EXAMPLES_FAKES_FLAKY_PROVIDERS_H_
#define CROSSBRIDGE_EXAMPLES_FAKES_FLAKY_PROVIDERS_H_

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/hardened.h"

namespace crossbridge::examples {

// What a fake does on each call: call n (1-based) fails with first_calls[n-1]
// while n <= first_calls.size(); later calls fail with `then` unless it is OK,
// in which case they answer.
struct FailureScript {
  std::vector<absl::Status> first_calls;
  absl::Status then = absl::OkStatus();
};

// `times` failures with HttpError(http_status, ..., retry_after), then answers.
FailureScript FailTimes(
    int times, int http_status,
    std::optional<absl::Duration> retry_after = std::nullopt);
// Every call fails with HttpError(http_status, ...).
FailureScript AlwaysFail(int http_status);

// Deterministic pseudo-embedding: every word of `text` (lower-cased letters
// and digits) is hashed (FNV-1a) into one of `dimension` buckets with a sign,
// and the vector is L2-normalised. Texts sharing words get a high cosine
// similarity, so semantic search over it behaves sensibly.
std::vector<float> PseudoEmbedding(absl::string_view text, int dimension);

// A chat model that answers "<model>: <the last user message, echoed>" once
// its planned failures are spent. Embed() uses PseudoEmbedding(…, 16).
class FlakyAiProvider : public AiProvider {
 public:
  FlakyAiProvider(std::string model, FailureScript script);

  std::string name() const override;
  absl::StatusOr<Completion> Complete(
      const std::vector<ChatMessage>& messages) override;
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;

  // Calls made so far (failed ones included).
  int calls() const { return calls_.load(); }

 private:
  const std::string model_;
  const FailureScript script_;
  std::atomic<int> calls_{0};
};

// An embeddings endpoint of a fixed dimension (PseudoEmbedding).
class FlakyEmbeddingProvider : public EmbeddingProvider {
 public:
  FlakyEmbeddingProvider(std::string model, int dimension,
                         FailureScript script);

  std::string model_name() const override;
  int dimension() const override;
  absl::StatusOr<std::vector<std::vector<float>>> Embed(
      const std::vector<std::string>& texts) override;

  int calls() const { return calls_.load(); }

 private:
  const std::string model_;
  const int dimension_;
  const FailureScript script_;
  std::atomic<int> calls_{0};
};

// How a FlakyDatabase fails its first calls.
enum class DbFailure {
  kConnectionLost,  // UNAVAILABLE "connection to server lost"
  kDeadlock,        // ABORTED "deadlock detected"
};

// A database with one table, `tests(id, name, status)`, holding t-1..t-3.
// Execute understands exactly:
//   SELECT * FROM tests
//   SELECT * FROM tests WHERE id = '<id>'
//   UPDATE tests SET status = '<status>' WHERE id = '<id>'   (returns no rows)
// Anything else is INVALID_ARGUMENT "syntax error" (never retryable).
class FlakyDatabase : public DatabaseConnection {
 public:
  FlakyDatabase(int failures, DbFailure kind);

  absl::StatusOr<std::vector<std::vector<std::string>>> Execute(
      const std::string& query) override;

  int calls() const { return calls_.load(); }

 private:
  const int failures_;
  const DbFailure kind_;
  std::atomic<int> calls_{0};
  absl::Mutex mu_;
  std::vector<std::vector<std::string>> rows_ ABSL_GUARDED_BY(mu_);
};

}  // namespace crossbridge::examples

#endif  // CROSSBRIDGE_EXAMPLES_FAKES_FLAKY_PROVIDERS_H_
