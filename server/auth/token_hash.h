// SHA-256 of bearer tokens. The server never keeps or logs a token: the
// tokens file holds each token's SHA-256 (token_sha256), a request's token is
// hashed once and looked up by its digest (TenantTokens::Find).
//
// Thread safety: every function here may be called concurrently.
#ifndef CROSSBRIDGE_SERVER_AUTH_TOKEN_HASH_H_
#define CROSSBRIDGE_SERVER_AUTH_TOKEN_HASH_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace crossbridge {

inline constexpr size_t kSha256Bytes = 32;
// A SHA-256 digest: std::array<uint8_t, 32>.
using Sha256Digest = std::array<uint8_t, kSha256Bytes>;

// The SHA-256 of `data` (libcrypto EVP). Never fails in a working process:
// if libcrypto cannot compute a SHA-256 at all (no provider offers it, out of
// memory) the process aborts with a message on stderr, since a server that
// authenticates callers cannot go on without it.
Sha256Digest Sha256(absl::string_view data);

// Sha256(data) as 64 lowercase hex digits: the token_sha256 form.
//   Sha256Hex("abc") ==
//   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
std::string Sha256Hex(absl::string_view data);

// The token in `text` as crossbridge-server --hash-token reads it from stdin:
// `text` without its leading and trailing ASCII whitespace (space, \t, \n,
// \v, \f, \r), so `echo "$TOKEN" | crossbridge-server --hash-token` and a
// file saved with a final newline (or CRLF) hash the token itself. Nothing
// inside the token is touched. Returns a view into `text` (no copy of the
// secret is made).
//
// The server does NOT apply this to a request's token: the token of an
// `authorization: Bearer <token>` header is taken verbatim (Authenticator),
// so a token with surrounding whitespace can never be issued.
absl::string_view TrimToken(absl::string_view text);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_AUTH_TOKEN_HASH_H_
