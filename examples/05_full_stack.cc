// Example 5: the full stack — a small question-answering pipeline where every
// dependency is hardened and the whole thing is gated on health:
//   1. is the system healthy?          (GetHealth)
//   2. read test results               (HardenedDatabaseConnection, quick
//   policy)
//   3. embed them and the question     (HardenedEmbeddingProvider, "embed"
//   limit)
//   4. pick the most relevant rows      (cosine similarity)
//   5. ask the model                   (HardenedAiProvider, "ai_generate"
//   limit)
// Each fake fails once on purpose; the pipeline still answers, and the
// summary shows what each stage went through.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "client/hardened.h"
#include "examples/fakes/corpus.h"
#include "examples/fakes/example_support.h"
#include "examples/fakes/flaky_providers.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;

int main(int argc, char** argv) {
  ex::Example example(
      "Example 5: full stack (database + embeddings + AI + health)", argc,
      argv);
  cb::Client& client = example.client();
  const std::string key = example.UniqueKey("org");
  const std::string question = "Why does search fail to rank results?";
  std::vector<std::string> summary;

  const char* const kDependencies[] = {"database", "embedding_provider",
                                       "ai_provider"};
  for (const char* dependency : kDependencies) {
    example.StartFromHealthy(dependency);
  }

  example.Step("1. Health gate: are the three dependencies usable?");
  bool healthy = true;
  for (const char* dependency : kDependencies) {
    absl::StatusOr<cb::ServingStatus> s = client.CheckHealth(dependency);
    std::printf("  %-20s %s\n", dependency,
                s.ok() ? std::string(cb::ServingStatusName(*s)).c_str()
                       : ex::DescribeStatus(s.status()).c_str());
    healthy = healthy && s.ok() && *s != cb::ServingStatus::kNotServing;
  }
  if (!example.Expect(healthy, "every dependency is usable")) {
    return example.Finish();
  }

  example.Step("2. Read test results (the connection drops once)");
  ex::FlakyDatabase db(1, ex::DbFailure::kConnectionLost);
  std::unique_ptr<cb::HardenedDatabaseConnection> conn =
      cb::HardenDatabaseConnection(client, db);
  auto rows = conn->Execute("SELECT * FROM tests");
  summary.push_back(
      absl::StrCat("database   ", ex::DescribeReport(conn->last_report())));
  if (!example.Expect(rows.ok() && rows->size() == 3, "3 rows read")) {
    std::printf("error: %s\n", ex::DescribeStatus(rows.status()).c_str());
    return example.Finish();
  }
  std::vector<ex::Document> docs;
  for (const auto& row : *rows) {
    docs.push_back({row[0], absl::StrCat(row[1], " ", row[2])});
    std::printf("  %s: %s\n", docs.back().id.c_str(), docs.back().text.c_str());
  }

  example.Step("3. Embed the rows and the question (one 503 first)");
  ex::FlakyEmbeddingProvider embedder("fake-embed", 32, ex::FailTimes(1, 503));
  std::unique_ptr<cb::HardenedEmbeddingProvider> embeddings =
      cb::HardenEmbeddingProvider(client, embedder, key);
  std::vector<std::string> texts;
  for (const ex::Document& d : docs) texts.push_back(d.text);
  texts.push_back(question);
  auto vectors = embeddings->Embed(texts);
  summary.push_back(absl::StrCat(
      "embeddings ", ex::DescribeReport(embeddings->last_report())));
  if (!example.Expect(vectors.ok(), "embedded 4 texts"))
    return example.Finish();

  example.Step("4. Rank the rows against the question");
  std::vector<float> query = vectors->back();
  vectors->pop_back();
  std::vector<ex::SearchHit> hits =
      ex::RankBySimilarity(query, docs, *vectors, 2);
  for (const ex::SearchHit& h : hits)
    std::printf("  %s  score %.3f\n", h.id.c_str(), h.score);
  example.Expect(!hits.empty() && hits[0].id == "t-2",
                 "t-2 (search) ranks first");

  example.Step("5. Ask the model (one 429 with Retry-After 20ms first)");
  ex::FlakyAiProvider model("fake-gpt",
                            ex::FailTimes(1, 429, absl::Milliseconds(20)));
  std::unique_ptr<cb::HardenedAiProvider> ai =
      cb::HardenAiProvider(client, model, key);
  std::string context;
  for (const ex::SearchHit& h : hits) {
    for (const ex::Document& d : docs) {
      if (d.id == h.id) absl::StrAppend(&context, d.id, " ", d.text, "\n");
    }
  }
  auto answer =
      ai->Complete({{"system", "Answer from this context:\n" + context},
                    {"user", question}});
  summary.push_back(
      absl::StrCat("ai         ", ex::DescribeReport(ai->last_report())));
  std::printf("answer: %s\n",
              answer.ok() ? answer->text.c_str()
                          : ex::DescribeStatus(answer.status()).c_str());
  example.Expect(answer.ok() && absl::StrContains(answer->text, "search"),
                 "the model answered");

  example.Step("Summary: what each stage went through");
  for (const std::string& line : summary) std::printf("  %s\n", line.c_str());
  example.Expect(conn->last_report().attempts == 2 &&
                     embeddings->last_report().attempts == 2 &&
                     ai->last_report().attempts == 2,
                 "each stage needed exactly one retry");
  example.Expect(!ai->last_report().delays.empty() &&
                     ai->last_report().delays[0] >= absl::Milliseconds(20),
                 "the AI retry waited at least the 20ms Retry-After");

  absl::StatusOr<cb::v1::HealthReport> health = client.GetHealth();
  bool still_healthy = health.ok();
  if (health.ok()) {
    std::vector<std::string> states;
    for (const auto& d : health->dependencies()) {
      states.push_back(absl::StrCat(d.name(), "=",
                                    cb::v1::DependencyStatus_Name(d.status())));
      if (d.name() != "vector_store") {  // the one this pipeline does not use
        still_healthy =
            still_healthy && d.status() != cb::v1::STATUS_NOT_SERVING;
      }
    }
    std::printf("health after the run: %s\n",
                absl::StrJoin(states, ", ").c_str());
  }
  example.Expect(still_healthy, "its dependencies are still healthy");
  return example.Finish();
}
