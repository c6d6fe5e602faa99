#include "examples/fakes/corpus.h"

#include <algorithm>
#include <cmath>

namespace crossbridge::examples {

const std::vector<Document>& SampleCorpus() {
  static const auto* const kDocs = new std::vector<Document>{
      {"doc-1",
       "Retry a failed database query with exponential backoff and jitter"},
      {"doc-2",
       "Rate limit embedding requests per user to stay under the provider "
       "quota"},
      {"doc-3",
       "Health checks mark a provider not serving after repeated failures"},
      {"doc-4",
       "A 429 response carries a Retry-After header: wait at least that long"},
      {"doc-5", "Graceful shutdown drains connections before the server exits"},
      {"doc-6",
       "Cosine similarity ranks documents by the angle between embeddings"},
      {"doc-7", "Deadlocks abort a transaction; the client may run it again"},
      {"doc-8",
       "Configuration lives in a YAML file with environment overrides"},
  };
  return *kDocs;
}

double CosineSimilarity(const std::vector<float>& a,
                        const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    dot += double{a[i]} * b[i];
    na += double{a[i]} * a[i];
    nb += double{b[i]} * b[i];
  }
  if (na == 0 || nb == 0) return 0;
  return dot / (std::sqrt(na) * std::sqrt(nb));
}

std::vector<SearchHit> RankBySimilarity(
    const std::vector<float>& query, const std::vector<Document>& docs,
    const std::vector<std::vector<float>>& embeddings, int k) {
  std::vector<SearchHit> hits;
  for (size_t i = 0; i < docs.size() && i < embeddings.size(); ++i) {
    hits.push_back({docs[i].id, CosineSimilarity(query, embeddings[i])});
  }
  std::stable_sort(
      hits.begin(), hits.end(),
      [](const SearchHit& a, const SearchHit& b) { return a.score > b.score; });
  if (k >= 0 && hits.size() > static_cast<size_t>(k)) hits.resize(k);
  return hits;
}

}  // namespace crossbridge::examples
