// Example 2: a hardened embedding provider.
//
// HardenEmbeddingProvider(client, provider, key) wraps an EmbeddingProvider:
// each Embed() call takes "embed" permits for the key, retries transient
// failures with the "expensive" policy and reports outcomes to the
// "embedding_provider" dependency. model_name() and dimension() pass through.
// The fake endpoint answers 503 twice before it embeds.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "client/client.h"
#include "client/hardened.h"
#include "examples/fakes/example_support.h"
#include "examples/fakes/flaky_providers.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;

int main(int argc, char** argv) {
  ex::Example example("Example 2: hardened embedding provider", argc, argv);
  cb::Client& client = example.client();
  const std::string key = example.UniqueKey("user");
  example.StartFromHealthy("embedding_provider");

  example.Step("Wrap a flaky 8-dimensional embedding endpoint (two 503s)");
  ex::FlakyEmbeddingProvider provider("fake-embed-small", 8,
                                      ex::FailTimes(2, 503));
  std::unique_ptr<cb::HardenedEmbeddingProvider> hardened =
      cb::HardenEmbeddingProvider(client, provider, key);
  std::printf("model %s, dimension %d, rate-limit key embed/%s\n",
              hardened->model_name().c_str(), hardened->dimension(),
              key.c_str());
  example.Expect(hardened->model_name() == "fake-embed-small" &&
                     hardened->dimension() == 8,
                 "model_name() and dimension() pass through");

  example.Step("Embed three texts in one call");
  const std::vector<std::string> texts = {"rate limits protect the provider",
                                          "retries hide transient failures",
                                          "rate limits protect the provider"};
  absl::StatusOr<std::vector<std::vector<float>>> vectors =
      hardened->Embed(texts);
  const cb::CallReport report = hardened->last_report();
  for (size_t i = 0; i < report.failures.size(); ++i) {
    std::printf("attempt %zu failed: %s\n", i + 1,
                ex::DescribeStatus(report.failures[i]).c_str());
  }
  std::printf("report: %s\n", ex::DescribeReport(report).c_str());
  if (!example.Expect(vectors.ok(), "Embed succeeded after two 503s")) {
    std::printf("error: %s\n", ex::DescribeStatus(vectors.status()).c_str());
    return example.Finish();
  }
  for (size_t i = 0; i < vectors->size(); ++i) {
    const std::vector<float>& v = (*vectors)[i];
    std::printf("  \"%s\" -> [%+.2f %+.2f %+.2f ...] (%zu floats)\n",
                texts[i].c_str(), v[0], v[1], v[2], v.size());
  }
  example.Expect(report.attempts == 3 && provider.calls() == 3,
                 "3 attempts reached the provider");
  example.Expect(vectors->size() == 3 && (*vectors)[0].size() == 8,
                 "one 8-float vector per text");
  example.Expect(
      (*vectors)[0] == (*vectors)[2],
      "the same text embeds to the same vector (deterministic fake)");

  example.Step("A second call: the endpoint has recovered");
  absl::StatusOr<std::vector<std::vector<float>>> again =
      hardened->Embed({"one more"});
  std::printf("report: %s\n",
              ex::DescribeReport(hardened->last_report()).c_str());
  example.Expect(again.ok() && hardened->last_report().attempts == 1,
                 "one attempt, no retries");

  example.Step("What the embed bucket says now");
  absl::StatusOr<cb::Permit> peek =
      client.AcquirePermit("embed", key, {.cost = 0, .deadline = std::nullopt});
  if (example.Expect(peek.ok(), "peek at the embed bucket")) {
    std::printf("embed/%s: %u of %u permits left\n", key.c_str(),
                peek->remaining, peek->limit);
  }
  return example.Finish();
}
