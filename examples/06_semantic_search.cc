// Example 6: semantic search under the "embed" rate limit.
//
// Indexing a corpus means one embedding call per document, and the provider
// only allows so many per key. CrossBridge's "embed" bucket is shared by every
// process using the key, so this example first lets "another process" spend
// most of it, then
//   A. indexes without waiting (CallOptions.wait_for_permit = false): the
//      calls beyond the bucket are refused at once with RESOURCE_EXHAUSTED;
//   B. indexes the refused documents and the query with the hardened
//      provider, which waits the server's retry_after for each permit;
//   C. ranks the documents by cosine similarity to the query.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "client/hardened.h"
#include "examples/fakes/corpus.h"
#include "examples/fakes/example_support.h"
#include "examples/fakes/flaky_providers.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;
using Vectors = std::vector<std::vector<float>>;

int main(int argc, char** argv) {
  ex::Example example("Example 6: semantic search with rate limiting", argc,
                      argv);
  cb::Client& client = example.client();
  const std::string key = example.UniqueKey("user");
  const std::vector<ex::Document>& docs = ex::SampleCorpus();
  const std::string query =
      "How should I limit embedding requests for each user?";
  ex::FlakyEmbeddingProvider provider("fake-embed", 64, {});

  example.Step("The embed bucket, and another process spending most of it");
  absl::StatusOr<cb::Permit> peek =
      client.AcquirePermit("embed", key, {.cost = 0, .deadline = std::nullopt});
  if (!example.Expect(peek.ok(), "peek at embed/" + key))
    return example.Finish();
  std::printf("embed/%s: %u of %u permits\n", key.c_str(), peek->remaining,
              peek->limit);
  const uint32_t keep = 3;
  if (peek->remaining > keep) {
    auto spent = client.AcquirePermit(
        "embed", key,
        {.cost = peek->remaining - keep, .deadline = std::nullopt});
    std::printf("the other process took %u permits: %s, %u left\n",
                peek->remaining - keep,
                spent.ok() && spent->allowed ? "allowed" : "refused",
                spent.ok() ? spent->remaining : 0);
  }

  example.Step("A. Index the corpus without waiting for permits");
  Vectors vectors(docs.size());
  std::vector<size_t> refused;
  for (size_t i = 0; i < docs.size(); ++i) {
    cb::CallReport report;
    absl::StatusOr<Vectors> v = client.Call<Vectors>(
        "embed", key,
        [&](const cb::AttemptInfo&) { return provider.Embed({docs[i].text}); },
        {.retry_policy = "expensive",
         .dependency = "embedding_provider",
         .wait_for_permit = false},
        &report);
    if (v.ok()) {
      vectors[i] = (*v)[0];
      std::printf("  %s embedded\n", docs[i].id.c_str());
    } else {
      refused.push_back(i);
      std::printf("  %s refused: %s\n", docs[i].id.c_str(),
                  ex::DescribeStatus(v.status()).c_str());
    }
  }
  example.Expect(!refused.empty(), "the calls beyond the bucket were refused");
  example.Expect(refused.size() < docs.size(), "the first calls went through");

  example.Step(
      "B. Index the rest, waiting for each permit (hardened provider)");
  std::unique_ptr<cb::HardenedEmbeddingProvider> hardened =
      cb::HardenEmbeddingProvider(client, provider, key);
  absl::Duration total_wait;
  bool all_ok = true;
  for (size_t i : refused) {
    absl::StatusOr<Vectors> v = hardened->Embed({docs[i].text});
    total_wait += hardened->last_report().permit_wait;
    std::printf("  %s embedded after waiting %s for a permit\n",
                docs[i].id.c_str(),
                ex::Ms(hardened->last_report().permit_wait).c_str());
    if (!v.ok()) {
      all_ok = false;
      std::printf("    error: %s\n", ex::DescribeStatus(v.status()).c_str());
    } else {
      vectors[i] = (*v)[0];
    }
  }
  absl::StatusOr<Vectors> q = hardened->Embed({query});
  total_wait += hardened->last_report().permit_wait;
  std::printf("  query embedded after waiting %s\n",
              ex::Ms(hardened->last_report().permit_wait).c_str());
  example.Expect(all_ok && q.ok(), "every document and the query got embedded");
  example.Expect(total_wait > absl::ZeroDuration(),
                 absl::StrCat("the rate limit made us wait (",
                              ex::Ms(total_wait), " in total)"));
  if (!q.ok()) return example.Finish();

  example.Step("C. Search: \"" + query + "\"");
  std::vector<ex::SearchHit> hits =
      ex::RankBySimilarity((*q)[0], docs, vectors, 3);
  for (const ex::SearchHit& h : hits) {
    for (const ex::Document& d : docs) {
      if (d.id == h.id)
        std::printf("  %.3f  %s  %s\n", h.score, d.id.c_str(), d.text.c_str());
    }
  }
  example.Expect(!hits.empty() && hits[0].id == "doc-2",
                 "the best match is doc-2 (rate-limiting embeddings)");
  return example.Finish();
}
