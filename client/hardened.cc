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

// ---- HardenedCaller ----------------------------------------------------------

HardenedCaller::HardenedCaller(Client& client, HardenOptions options)
    : client_(client),
      options_(std::move(options)),
      call_options_(ToCallOptions(options_)) {}

void HardenedCaller::Keep(CallReport report) {
  MutexLock lock(&mu_);
  last_report_ = std::move(report);
}

CallReport HardenedCaller::last_report() const {
  MutexLock lock(&mu_);
  return last_report_;
}

// ---- HardenedAiProvider ------------------------------------------------------

HardenedAiProvider::HardenedAiProvider(Client& client, AiProvider& inner,
                                       std::string rate_limit_key,
                                       HardenOptions options)
    : inner_(inner),
      key_(std::move(rate_limit_key)),
      caller_(client, std::move(options)) {}

std::string HardenedAiProvider::name() const { return inner_.name(); }

absl::StatusOr<Completion> HardenedAiProvider::Complete(
    const std::vector<ChatMessage>& messages) {
  return caller_.Run<Completion>(
      caller_.options().operation, key_,
      [&](const AttemptInfo&) { return inner_.Complete(messages); });
}

absl::StatusOr<Vectors> HardenedAiProvider::Embed(
    const std::vector<std::string>& texts) {
  return caller_.Run<Vectors>(
      "embed", key_, [&](const AttemptInfo&) { return inner_.Embed(texts); });
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
    : inner_(inner),
      key_(std::move(rate_limit_key)),
      caller_(client, std::move(options)) {}

std::string HardenedEmbeddingProvider::model_name() const {
  return inner_.model_name();
}

int HardenedEmbeddingProvider::dimension() const { return inner_.dimension(); }

absl::StatusOr<Vectors> HardenedEmbeddingProvider::Embed(
    const std::vector<std::string>& texts) {
  return caller_.Run<Vectors>(
      caller_.options().operation, key_,
      [&](const AttemptInfo&) { return inner_.Embed(texts); });
}

std::unique_ptr<HardenedEmbeddingProvider> HardenEmbeddingProvider(
    Client& client, EmbeddingProvider& inner, std::string rate_limit_key) {
  return std::make_unique<HardenedEmbeddingProvider>(
      client, inner, std::move(rate_limit_key));
}

// ---- HardenedDatabaseConnection -----------------------------------------------

HardenedDatabaseConnection::HardenedDatabaseConnection(
    Client& client, DatabaseConnection& inner, HardenOptions options)
    : inner_(inner), caller_(client, std::move(options)) {}

absl::StatusOr<Rows> HardenedDatabaseConnection::Execute(
    const std::string& query) {
  // No operation: the database decorator retries without a permit.
  return caller_.Run<Rows>(
      "", "", [&](const AttemptInfo&) { return inner_.Execute(query); });
}

std::unique_ptr<HardenedDatabaseConnection> HardenDatabaseConnection(
    Client& client, DatabaseConnection& inner) {
  return std::make_unique<HardenedDatabaseConnection>(client, inner);
}

}  // namespace crossbridge
