#include "server/auth/authenticator.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/quote.h"
#include "server/auth/token_hash.h"

namespace crossbridge {
namespace {

constexpr absl::string_view kBearer = "Bearer";

constexpr char kMissingToken[] =
    "missing bearer token: send the metadata 'authorization: Bearer <token>'";
constexpr char kMalformed[] =
    "malformed authorization metadata: expected 'Bearer <token>' (the scheme "
    "Bearer, one or more spaces, then the token)";
constexpr char kUnknownToken[] = "unknown bearer token";

}  // namespace

std::optional<absl::string_view> ParseBearerToken(absl::string_view value) {
  if (value.size() <= kBearer.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer) ||
      value[kBearer.size()] != ' ') {
    return std::nullopt;
  }
  value.remove_prefix(kBearer.size());
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (value.empty()) return std::nullopt;
  return value;
}

Authenticator::Authenticator(bool enabled,
                             std::shared_ptr<const TenantTokens> tokens)
    : state_(MakeState(enabled, std::move(tokens))) {}

std::shared_ptr<const Authenticator::State> Authenticator::MakeState(
    bool enabled, std::shared_ptr<const TenantTokens> tokens) {
  auto state = std::make_shared<State>();
  state->enabled = enabled;
  state->tokens = tokens != nullptr ? std::move(tokens) : TenantTokens::Empty();
  return state;
}

void Authenticator::Apply(bool enabled,
                          std::shared_ptr<const TenantTokens> tokens) {
  state_.Publish(MakeState(enabled, std::move(tokens)));
}

bool Authenticator::enabled() const { return state_.Get()->enabled; }

std::shared_ptr<const TenantTokens> Authenticator::tokens() const {
  return state_.Get()->tokens;
}

absl::StatusOr<Caller> Authenticator::Authorize(
    std::optional<absl::string_view> authorization, Scope scope,
    absl::string_view operation, absl::string_view rpc) const {
  // Synchronous: the snapshot is not needed past this call.
  const State& state = state_.Peek();
  if (!state.enabled) return Caller{};
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(kMissingToken);
  }
  const std::optional<absl::string_view> token =
      ParseBearerToken(*authorization);
  if (!token.has_value()) return absl::UnauthenticatedError(kMalformed);
  const TenantGrant* grant = state.tokens->Find(Sha256(*token));
  if (grant == nullptr) return absl::UnauthenticatedError(kUnknownToken);
  if (!grant->Allows(scope)) {
    return absl::PermissionDeniedError(
        absl::StrCat("tenant \"", grant->tenant, "\" is not granted scope \"",
                     ScopeName(scope), "\" (needed by ", rpc, ")"));
  }
  if (!operation.empty() && !grant->AllowsOperation(operation)) {
    return absl::PermissionDeniedError(
        absl::StrCat("tenant \"", grant->tenant, "\" is not granted operation ",
                     QuoteForMessage(operation)));
  }
  return Caller{grant->tenant};
}

}  // namespace crossbridge
