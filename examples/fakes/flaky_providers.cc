#include "examples/fakes/flaky_providers.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/mutex.h"

namespace crossbridge::examples {
namespace {

uint64_t Fnv1a(absl::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// What call n (1-based) gets under `script`: OK means "answer".
absl::Status Scripted(const FailureScript& script, int n) {
  if (n <= static_cast<int>(script.first_calls.size())) {
    return script.first_calls[n - 1];
  }
  return script.then;
}

}  // namespace

FailureScript FailTimes(int times, int http_status,
                        std::optional<absl::Duration> retry_after) {
  FailureScript script;
  for (int i = 1; i <= times; ++i) {
    script.first_calls.push_back(HttpError(
        http_status, absl::StrCat("planned failure ", i), retry_after));
  }
  return script;
}

FailureScript AlwaysFail(int http_status) {
  return {{}, HttpError(http_status, "planned failure (always)")};
}

std::vector<float> PseudoEmbedding(absl::string_view text, int dimension) {
  std::vector<float> v(dimension > 0 ? dimension : 1, 0.0f);
  std::string word;
  auto flush = [&] {
    if (word.empty()) return;
    uint64_t h = Fnv1a(word);
    v[h % v.size()] += (h >> 63) ? -1.0f : 1.0f;
    word.clear();
  };
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
    } else {
      flush();
    }
  }
  flush();
  double norm = 0;
  for (float x : v) norm += double{x} * x;
  if (norm > 0) {
    for (float& x : v) x = static_cast<float>(x / std::sqrt(norm));
  }
  return v;
}

// ---- FlakyAiProvider ------------------------------------------------------

FlakyAiProvider::FlakyAiProvider(std::string model, FailureScript script)
    : model_(std::move(model)), script_(std::move(script)) {}

std::string FlakyAiProvider::name() const { return model_; }

absl::StatusOr<Completion> FlakyAiProvider::Complete(
    const std::vector<ChatMessage>& messages) {
  if (absl::Status s = Scripted(script_, ++calls_); !s.ok()) return s;
  std::string last = "(nothing)";
  for (const ChatMessage& m : messages) {
    if (m.role == "user") last = m.content;
  }
  Completion c;
  c.text = absl::StrCat(model_, ": ", last);
  c.model = model_;
  return c;
}

absl::StatusOr<std::vector<std::vector<float>>> FlakyAiProvider::Embed(
    const std::vector<std::string>& texts) {
  if (absl::Status s = Scripted(script_, ++calls_); !s.ok()) return s;
  std::vector<std::vector<float>> out;
  for (const std::string& t : texts) out.push_back(PseudoEmbedding(t, 16));
  return out;
}

// ---- FlakyEmbeddingProvider -----------------------------------------------

FlakyEmbeddingProvider::FlakyEmbeddingProvider(std::string model, int dimension,
                                               FailureScript script)
    : model_(std::move(model)),
      dimension_(dimension),
      script_(std::move(script)) {}

std::string FlakyEmbeddingProvider::model_name() const { return model_; }
int FlakyEmbeddingProvider::dimension() const { return dimension_; }

absl::StatusOr<std::vector<std::vector<float>>> FlakyEmbeddingProvider::Embed(
    const std::vector<std::string>& texts) {
  if (absl::Status s = Scripted(script_, ++calls_); !s.ok()) return s;
  std::vector<std::vector<float>> out;
  for (const std::string& t : texts)
    out.push_back(PseudoEmbedding(t, dimension_));
  return out;
}

// ---- FlakyDatabase --------------------------------------------------------

FlakyDatabase::FlakyDatabase(int failures, DbFailure kind)
    : failures_(failures), kind_(kind) {
  rows_ = {{"t-1", "login works", "passed"},
           {"t-2", "search ranks results", "failed"},
           {"t-3", "checkout survives retries", "passed"}};
}

absl::StatusOr<std::vector<std::vector<std::string>>> FlakyDatabase::Execute(
    const std::string& query) {
  int n = ++calls_;
  if (failures_ < 0 || n <= failures_) {
    if (kind_ == DbFailure::kDeadlock) {
      return absl::AbortedError(
          absl::StrCat("fake db: deadlock detected (planned failure ", n, ")"));
    }
    return absl::UnavailableError(absl::StrCat(
        "fake db: connection to server lost (planned failure ", n, ")"));
  }
  // A deliberately tiny "SQL" dialect: three statement shapes.
  absl::string_view q = absl::StripAsciiWhitespace(query);
  MutexLock lock(&mu_);
  if (q == "SELECT * FROM tests") return rows_;
  // The value between the quotes after `prefix`, if q starts with it.
  auto quoted = [](absl::string_view& rest, absl::string_view prefix,
                   std::string& value) {
    if (!absl::ConsumePrefix(&rest, prefix)) return false;
    size_t end = rest.find('\'');
    if (end == absl::string_view::npos) return false;
    value = std::string(rest.substr(0, end));
    rest.remove_prefix(end + 1);
    return true;
  };
  absl::string_view rest = q;
  std::string id, status;
  if (quoted(rest, "SELECT * FROM tests WHERE id = '", id) && rest.empty()) {
    std::vector<std::vector<std::string>> out;
    for (const auto& row : rows_) {
      if (row[0] == id) out.push_back(row);
    }
    return out;
  }
  rest = q;
  if (quoted(rest, "UPDATE tests SET status = '", status) &&
      quoted(rest, " WHERE id = '", id) && rest.empty()) {
    for (auto& row : rows_) {
      if (row[0] == id) row[2] = status;
    }
    return std::vector<std::vector<std::string>>{};
  }
  return absl::InvalidArgumentError(
      absl::StrCat("fake db: syntax error in \"", q, "\""));
}

}  // namespace crossbridge::examples
