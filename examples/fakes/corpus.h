// Test double for the semantic-search examples: a fixed, clock-free corpus of
// short documents and brute-force cosine-similarity ranking over their
// embeddings (normally a vector store's job). Deterministic. Not for
// production use.
#ifndef CROSSBRIDGE_EXAMPLES_FAKES_CORPUS_H_
#define CROSSBRIDGE_EXAMPLES_FAKES_CORPUS_H_

#include <string>
#include <vector>

namespace crossbridge::examples {

struct Document {
  std::string id;
  std::string text;
};

// Eight short documents about running services (ids doc-1..doc-8).
const std::vector<Document>& SampleCorpus();

// Cosine similarity; 0 when either vector is all zeros.
// REQUIRES: a.size() == b.size().
double CosineSimilarity(const std::vector<float>& a,
                        const std::vector<float>& b);

struct SearchHit {
  std::string id;
  double score = 0;
};

// The `k` documents most similar to `query`, best first (ties by index).
// REQUIRES: docs.size() == embeddings.size().
std::vector<SearchHit> RankBySimilarity(
    const std::vector<float>& query, const std::vector<Document>& docs,
    const std::vector<std::vector<float>>& embeddings, int k);

}  // namespace crossbridge::examples

#endif  // CROSSBRIDGE_EXAMPLES_FAKES_CORPUS_H_
