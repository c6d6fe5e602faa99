#include "client/hardened.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/mutex.h"

namespace crossbridge {
namespace {

using Vectors = std::vector<std::vector<float>>;
using Rows = std::vector<std::vector<std::string>>;

CallOptions ToCallOptions(const HardenOptions& options) {
  CallOptions call;
  call.retry_policy = options.retry_policy;
  call.dependency = options.dependency;
  call.deadline = options.deadline;
  call.fail_open = options.fail_open;
  return call;
}

}  // namespace

// ---- HardenedAiProvider ------------------------------------------------------

HardenedAiProvider::HardenedAiProvider(Client& client, AiProvider& inner,
                                       std::string rate_limit_key,
                                       HardenOptions options)
    : client_(client),
      inner_(inner),
      key_(std::move(rate_limit_key)),
      options_(std::move(options)) {}

std::string HardenedAiProvider::name() const { return inner_.name(); }

CallOptions HardenedAiProvider::MakeCallOptions() const {
  return ToCallOptions(options_);
}

void HardenedAiProvider::SetReport(CallReport report) {
  MutexLock lock(&mu_);
  last_report_ = std::move(report);
}

absl::StatusOr<Completion> HardenedAiProvider::Complete(
    const std::vector<ChatMessage>& messages) {
  CallReport report;
  absl::StatusOr<Completion> result = client_.Call<Completion>(
      options_.operation, key_,
      [&](const AttemptInfo&) { return inner_.Complete(messages); },
      MakeCallOptions(), &report);
  SetReport(std::move(report));
  return result;
}

absl::StatusOr<Vectors> HardenedAiProvider::Embed(
    const std::vector<std::string>& texts) {
  CallReport report;
  absl::StatusOr<Vectors> result = client_.Call<Vectors>(
      "embed", key_, [&](const AttemptInfo&) { return inner_.Embed(texts); },
      MakeCallOptions(), &report);
  SetReport(std::move(report));
  return result;
}

CallReport HardenedAiProvider::last_report() const {
  MutexLock lock(&mu_);
  return last_report_;
}

std::unique_ptr<HardenedAiProvider> HardenAiProvider(
    Client& client, AiProvider& inner, std::string rate_limit_key) {
  return std::make_unique<HardenedAiProvider>(client, inner,
                                              std::move(rate_limit_key));
}

// ---- HardenedEmbeddingProvider ------------------------------------------------

HardenedEmbeddingProvider::HardenedEmbeddingProvider(
    Client& client, EmbeddingProvider& inner, std::string rate_limit_key,
    HardenOptions options)
    : client_(client),
      inner_(inner),
      key_(std::move(rate_limit_key)),
      options_(std::move(options)) {}

std::string HardenedEmbeddingProvider::model_name() const {
  return inner_.model_name();
}

int HardenedEmbeddingProvider::dimension() const { return inner_.dimension(); }

absl::StatusOr<Vectors> HardenedEmbeddingProvider::Embed(
    const std::vector<std::string>& texts) {
  CallReport report;
  absl::StatusOr<Vectors> result = client_.Call<Vectors>(
      options_.operation, key_,
      [&](const AttemptInfo&) { return inner_.Embed(texts); },
      ToCallOptions(options_), &report);
  MutexLock lock(&mu_);
  last_report_ = std::move(report);
  return result;
}

CallReport HardenedEmbeddingProvider::last_report() const {
  MutexLock lock(&mu_);
  return last_report_;
}

std::unique_ptr<HardenedEmbeddingProvider> HardenEmbeddingProvider(
    Client& client, EmbeddingProvider& inner, std::string rate_limit_key) {
  return std::make_unique<HardenedEmbeddingProvider>(
      client, inner, std::move(rate_limit_key));
}

// ---- HardenedDatabaseConnection -----------------------------------------------

HardenedDatabaseConnection::HardenedDatabaseConnection(
    Client& client, DatabaseConnection& inner, HardenOptions options)
    : client_(client), inner_(inner), options_(std::move(options)) {}

absl::StatusOr<Rows> HardenedDatabaseConnection::Execute(
    const std::string& query) {
  CallReport report;
  absl::StatusOr<Rows> result = client_.Retry<Rows>(
      [&](const AttemptInfo&) { return inner_.Execute(query); },
      ToCallOptions(options_), &report);
  MutexLock lock(&mu_);
  last_report_ = std::move(report);
  return result;
}

CallReport HardenedDatabaseConnection::last_report() const {
  MutexLock lock(&mu_);
  return last_report_;
}

std::unique_ptr<HardenedDatabaseConnection> HardenDatabaseConnection(
    Client& client, DatabaseConnection& inner) {
  return std::make_unique<HardenedDatabaseConnection>(client, inner);
}

}  // namespace crossbridge
