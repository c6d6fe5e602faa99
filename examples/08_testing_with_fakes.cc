// Example 8: testing code that uses the SDK, with fakes.
//
// Code that talks to an AI provider or a database should take the SDK's
// interfaces (AiProvider, DatabaseConnection), so a test can hand it a
// FlakyAiProvider / FlakyDatabase from examples/fakes wrapped in the real
// hardened decorators, against a real (local) CrossBridge server. Two knobs
// make such tests fast and exact:
//   - ClientOptions::clock: a SimulatedClock (common/simulated_clock.h) with
//     advance_on_wait, so backoffs are recorded and take no real time;
//   - ClientOptions::rng_seed: the same jitter on every run.
// Each "test" below prints its assertions as PASS/FAIL lines; the program
// exits non-zero if any failed (in a real suite these would be gtest TESTs).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/hardened.h"
#include "common/simulated_clock.h"
#include "examples/fakes/example_support.h"
#include "examples/fakes/flaky_providers.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;
using Rows = std::vector<std::vector<std::string>>;

// ---- The code under test --------------------------------------------------
// Production passes HardenAiProvider(client, real_openai, user); tests pass a
// hardened fake. It knows nothing about retries.
absl::StatusOr<std::string> SummarizeTicket(cb::AiProvider& ai,
                                            const std::string& ticket) {
  absl::StatusOr<cb::Completion> c =
      ai.Complete({{"system", "Summarise in five words."}, {"user", ticket}});
  if (!c.ok()) return c.status();
  return absl::StrCat("[", c->model, "] ", c->text);
}

// ---- A minimal test harness -------------------------------------------------
class TestCase {
 public:
  explicit TestCase(std::string name) : name_(std::move(name)) {
    std::printf("\n[ RUN  ] %s\n", name_.c_str());
  }
  bool Check(bool ok, const std::string& what) {
    std::printf("  %s: %s\n", ok ? "PASS" : "FAIL", what.c_str());
    passed_ = passed_ && ok;
    return ok;
  }
  bool passed() const { return passed_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  bool passed_ = true;
};

// Hardened like production, minus health reporting: a unit test's planned
// failures should not mark the shared "ai_provider" dependency unhealthy.
const cb::HardenOptions kNoHealth = {"ai_generate", "expensive", ""};

// A Client on simulated time (its waits are recorded, not slept), with
// seeded jitter. The clock is declared first: it outlives the Client.
struct TestClient {
  std::unique_ptr<cb::SimulatedClock> clock;
  std::unique_ptr<cb::Client> client;
  std::vector<absl::Duration> sleeps() const { return clock->waits(); }
};
TestClient MakeTestClient(const ex::Example& example, uint64_t seed) {
  TestClient t;
  t.clock = std::make_unique<cb::SimulatedClock>(
      cb::SimulatedClock::Options{.advance_on_wait = true});
  cb::ClientOptions options = example.client_options();
  options.clock = t.clock.get();
  options.rng_seed = seed;
  absl::StatusOr<std::unique_ptr<cb::Client>> c = cb::Client::Create(options);
  if (c.ok()) t.client = std::move(*c);
  return t;
}

int main(int argc, char** argv) {
  ex::Example example("Example 8: testing with fakes", argc, argv);
  example.StartFromHealthy("database");  // test 5 reports to it
  std::vector<TestCase> results;

  {
    TestCase t("SummarizeTicket survives two 503s");
    TestClient tc = MakeTestClient(example, 42);
    ex::FlakyAiProvider fake("fake-gpt", ex::FailTimes(2, 503));
    cb::HardenedAiProvider ai(*tc.client, fake, example.UniqueKey("test1"),
                              kNoHealth);
    absl::StatusOr<std::string> s = SummarizeTicket(ai, "printer on fire");
    t.Check(s.ok(),
            "returns a summary: " + (s.ok() ? *s : s.status().ToString()));
    t.Check(fake.calls() == 3,
            absl::StrCat("the fake was called 3 times (", fake.calls(), ")"));
    t.Check(tc.sleeps().size() == 2 && tc.sleeps() == ai.last_report().delays,
            absl::StrCat("the 2 backoff delays went to the simulated clock (",
                         tc.sleeps().size(), " recorded, nothing slept)"));
    results.push_back(t);
  }
  {
    TestCase t("SummarizeTicket does not retry a 400");
    TestClient tc = MakeTestClient(example, 42);
    ex::FlakyAiProvider fake("fake-gpt", ex::AlwaysFail(400));
    cb::HardenedAiProvider ai(*tc.client, fake, example.UniqueKey("test2"),
                              kNoHealth);
    absl::StatusOr<std::string> s = SummarizeTicket(ai, "bad request");
    t.Check(!s.ok() && cb::HttpStatusOf(s.status()) == 400,
            "the caller sees HTTP 400: " + ex::DescribeStatus(s.status()));
    t.Check(fake.calls() == 1 && tc.sleeps().empty(), "one call, no sleeps");
    results.push_back(t);
  }
  {
    TestCase t("A provider that never recovers: attempts are bounded");
    TestClient tc = MakeTestClient(example, 42);
    ex::FlakyAiProvider fake("fake-gpt", ex::AlwaysFail(503));
    cb::HardenedAiProvider ai(*tc.client, fake, example.UniqueKey("test3"),
                              {"ai_generate", "quick", ""});
    absl::StatusOr<std::string> s = SummarizeTicket(ai, "down");
    absl::StatusOr<cb::RetryPolicyConfig> quick =
        tc.client->GetRetryPolicy("quick");
    t.Check(quick.ok() && fake.calls() == quick->max_attempts,
            absl::StrCat("the fake was called max_attempts = ",
                         quick.ok() ? quick->max_attempts : -1, " times"));
    t.Check(
        s.status().code() == absl::StatusCode::kUnavailable &&
            absl::StrContains(s.status().message(), "ATTEMPTS_EXHAUSTED"),
        "UNAVAILABLE, ATTEMPTS_EXHAUSTED: " + ex::DescribeStatus(s.status()));
    results.push_back(t);
  }
  {
    TestCase t("The same seed gives the same backoff");
    std::vector<absl::Duration> runs[2];
    for (auto& run : runs) {
      TestClient tc = MakeTestClient(example, 7);
      ex::FlakyAiProvider fake("fake-gpt", ex::FailTimes(2, 503));
      cb::HardenedAiProvider ai(*tc.client, fake, example.UniqueKey("test4"),
                                kNoHealth);
      (void)ai.Complete({{"user", "hi"}});
      run = tc.sleeps();
    }
    std::string delays;
    for (absl::Duration d : runs[0]) absl::StrAppend(&delays, " ", ex::Ms(d));
    t.Check(runs[0].size() == 2 && runs[0] == runs[1],
            "seed 7 gives the same two delays twice:" + delays);
    results.push_back(t);
  }
  {
    TestCase t("Database code retries a lost connection");
    TestClient tc = MakeTestClient(example, 42);
    ex::FlakyDatabase db(1, ex::DbFailure::kConnectionLost);
    absl::StatusOr<Rows> rows = cb::WithDatabaseRetry<Rows>(
        *tc.client, [&] { return db.Execute("SELECT * FROM tests"); });
    t.Check(rows.ok() && rows->size() == 3, "all 3 rows came back");
    t.Check(db.calls() == 2 && tc.sleeps().size() == 1,
            "2 calls, 1 recorded sleep");
    results.push_back(t);
  }

  example.Step("Summary");
  for (const TestCase& t : results) example.Expect(t.passed(), t.name());
  return example.Finish();
}
