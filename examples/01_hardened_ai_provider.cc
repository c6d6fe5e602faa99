// Example 1: a hardened AI provider.
//
// Wrap any AiProvider with HardenAiProvider(client, provider, key): every
// completion first takes an "ai_generate" permit for the key, then runs, and
// transient failures (503, 429 + Retry-After) are retried with the server's
// "expensive" policy; outcomes are reported to the "ai_provider" dependency.
// The fake model here fails twice on purpose (503, then 429 with a 40 ms
// Retry-After) and answers on the third attempt; then a 400 shows that a
// request error is not retried.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "client/client.h"
#include "client/hardened.h"
#include "examples/fakes/example_support.h"
#include "examples/fakes/flaky_providers.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;

int main(int argc, char** argv) {
  ex::Example example("Example 1: hardened AI provider", argc, argv);
  cb::Client& client = example.client();
  const std::string key = example.UniqueKey("user");
  example.StartFromHealthy("ai_provider");

  example.Step("The bucket before we start (a cost-0 permit only peeks)");
  auto before = client.AcquirePermit("ai_generate", key,
                                     {.cost = 0, .deadline = std::nullopt});
  if (!example.Expect(before.ok(), "peek at ai_generate/" + key)) {
    std::printf("   error: %s\n", ex::DescribeStatus(before.status()).c_str());
    return example.Finish();
  }
  std::printf("ai_generate/%s: %u of %u permits left\n", key.c_str(),
              before->remaining, before->limit);

  example.Step("A model that fails twice (503, then 429 + Retry-After 40ms)");
  ex::FlakyAiProvider provider(
      "fake-gpt", {.first_calls = {cb::HttpError(503, "model overloaded"),
                                   cb::HttpError(429, "slow down",
                                                 absl::Milliseconds(40))}});
  std::unique_ptr<cb::HardenedAiProvider> hardened =
      cb::HardenAiProvider(client, provider, key);
  absl::StatusOr<cb::Completion> reply =
      hardened->Complete({{"system", "You are terse."},
                          {"user", "Summarise the incident in one line"}});
  const cb::CallReport report = hardened->last_report();
  for (size_t i = 0; i < report.failures.size(); ++i) {
    std::printf("attempt %zu failed: %s\n", i + 1,
                ex::DescribeStatus(report.failures[i]).c_str());
    if (i < report.delays.size()) {
      std::printf("  backoff %s before attempt %zu\n",
                  ex::Ms(report.delays[i]).c_str(), i + 2);
    }
  }
  std::printf("result: %s\n", reply.ok()
                                  ? reply->text.c_str()
                                  : ex::DescribeStatus(reply.status()).c_str());
  std::printf("report: %s\n", ex::DescribeReport(report).c_str());
  example.Expect(reply.ok(), "the completion succeeded after the failures");
  example.Expect(reply.ok() && absl::StrContains(reply->text, "incident"),
                 "the answer echoes the question");
  example.Expect(report.attempts == 3, "it took exactly 3 attempts");
  example.Expect(
      report.delays.size() == 2 && report.delays[1] >= absl::Milliseconds(40),
      "the delay after the 429 honoured Retry-After (>= 40ms)");

  example.Step("A bad request (HTTP 400) is not retried");
  ex::FlakyAiProvider broken("fake-gpt", ex::AlwaysFail(400));
  std::unique_ptr<cb::HardenedAiProvider> hardened_broken =
      cb::HardenAiProvider(client, broken, key);
  absl::StatusOr<cb::Completion> bad =
      hardened_broken->Complete({{"user", "?"}});
  std::printf("result: %s\n", ex::DescribeStatus(bad.status()).c_str());
  std::printf("report: %s\n",
              ex::DescribeReport(hardened_broken->last_report()).c_str());
  example.Expect(!bad.ok() && cb::HttpStatusOf(bad.status()) == 400,
                 "the caller sees the provider's HTTP 400");
  example.Expect(broken.calls() == 1, "the provider was called once");

  example.Step("The bucket afterwards: one permit per attempt");
  auto after = client.AcquirePermit("ai_generate", key,
                                    {.cost = 0, .deadline = std::nullopt});
  if (after.ok()) {
    std::printf("ai_generate/%s: %u of %u permits left\n", key.c_str(),
                after->remaining, after->limit);
    example.Expect(after->remaining < before->remaining,
                   "the attempts took permits from the key's bucket");
  }
  return example.Finish();
}
