// The per-request bearer-token check: who is calling (the tenant of the
// token) and whether that tenant may do what the request asks.
//
// A request carries its token in the `authorization` metadata as
// "Bearer <token>": the scheme in any case, one or more spaces, then the
// token, taken verbatim (nothing trimmed). The token is hashed once
// (Sha256) and looked up in the current TenantTokens; it is never stored,
// logged or put in a message, nor is any part of the metadata value.
//
// Thread safety: every method may be called concurrently. Authorize reads
// the current state with Published<T>::Peek (common/published.h): no lock
// (except once per thread after each Apply) and no shared reference count. Apply replaces the state for calls
// that start afterwards; calls in flight finish on the snapshot they took.
// Authorize copies nothing of the request and allocates only the returned
// Caller's tenant when it is longer than the short-string buffer (or an
// error's message); Sha256 reuses one digest context per thread.
#ifndef CROSSBRIDGE_SERVER_AUTH_AUTHENTICATOR_H_
#define CROSSBRIDGE_SERVER_AUTH_AUTHENTICATOR_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/published.h"
#include "server/auth/tenant_tokens.h"

namespace crossbridge {

// Who made a request. An empty tenant means auth is off: nobody was asked.
struct Caller {
  std::string tenant;
};

class Authenticator {
 public:
  // `enabled` false: every request is let through (Caller{""}). `tokens` may
  // be null: the same as TenantTokens::Empty() (every token unknown).
  Authenticator(bool enabled, std::shared_ptr<const TenantTokens> tokens);
  Authenticator(const Authenticator&) = delete;
  Authenticator& operator=(const Authenticator&) = delete;

  // A reload: calls that start afterwards see `enabled` and `tokens` (null:
  // as in the constructor); calls in flight keep their snapshot.
  void Apply(bool enabled, std::shared_ptr<const TenantTokens> tokens);

  // Checks one request. `authorization` is the value of the request's
  // `authorization` metadata (nullopt when it has none); `scope` what the RPC
  // does; `operation` the rate-limit operation the request names ("" for an
  // RPC without one: then only the scope is checked); `rpc` names the RPC in
  // messages ("AcquirePermit").
  //
  // Auth disabled: OK, Caller{""}, whatever was sent. Enabled:
  //   UNAUTHENTICATED "missing bearer token: send the metadata
  //       'authorization: Bearer <token>'"         (no metadata)
  //   UNAUTHENTICATED "malformed authorization metadata: expected
  //       'Bearer <token>' (the scheme Bearer, one or more spaces, then the
  //       token)"                                  (any other form, an empty
  //                                                 token included)
  //   UNAUTHENTICATED "unknown bearer token"       (not in the tokens file)
  //   PERMISSION_DENIED "tenant \"team-a\" is not granted scope \"report\"
  //       (needed by ReportOutcome)"
  //   PERMISSION_DENIED "tenant \"team-a\" is not granted operation
  //       \"embed\""                               (the operation quoted and
  //                                                 bounded: QuoteForMessage)
  // The scope is checked before the operation. OK: Caller{tenant of the
  // token}.
  absl::StatusOr<Caller> Authorize(
      std::optional<absl::string_view> authorization, Scope scope,
      absl::string_view operation, absl::string_view rpc) const;

  // Whether auth is on (the latest Apply, or the constructor's value).
  bool enabled() const;
  // The current table (never null).
  std::shared_ptr<const TenantTokens> tokens() const;

 private:
  struct State {
    bool enabled = false;
    std::shared_ptr<const TenantTokens> tokens;
  };
  static std::shared_ptr<const State> MakeState(
      bool enabled, std::shared_ptr<const TenantTokens> tokens);

  Published<State> state_;
};

// The token of an authorization metadata value of the form
// "Bearer <token>" (scheme case-insensitive, one or more spaces, a non-empty
// token taken verbatim); nullopt for any other form. A view into `value`.
std::optional<absl::string_view> ParseBearerToken(absl::string_view value);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_AUTH_AUTHENTICATOR_H_
