// The tokens file: which tenant each bearer token belongs to and what it may
// do. The file (typically a mounted Kubernetes Secret) is a YAML list:
//
//   - tenant: team-a              # an entry name: [A-Za-z0-9_.-]{1,64}
//     token_sha256: 9f86d0...0a08 # SHA-256 of the token, 64 hex digits
//     operations: [embed, search] # optional; absent = every operation,
//                                 # [] = none; each an entry name
//     scopes: [acquire, read]     # optional; a subset of acquire, retry,
//                                 # report, read; absent = all, [] = none
//   - tenant: team-a              # a tenant may have several tokens
//     token_sha256: ...           # (rotation: old and new both valid)
//
// Only SHA-256 digests are in the file and in memory, never a token; error
// messages never show a token_sha256 value either.
//
// Errors (all absl::InvalidArgumentError unless noted), in the format of
// common/yaml_reader.h, "<file>:<line>:<col>: <path>: <what>", where <path>
// names the entry by its 0-based index in the list, e.g. "[1].token_sha256",
// "[0].scopes[2]":
//   - YAML syntax errors (the position yaml-cpp reports), YAML nested too
//     deep, a second YAML document in the file;
//   - a document that is not a list (an empty file, or one with only
//     comments, is a valid list of zero entries), an entry that is not a map;
//   - an unknown key (the allowed ones are listed), a duplicate key;
//   - a missing tenant or token_sha256;
//   - a tenant that is not an entry name (common/names.h);
//   - a token_sha256 that is not 64 hex digits (either case);
//   - the same token_sha256 in two entries (both positions are named);
//   - operations or scopes that are not a list, an operation that is not an
//     entry name, an unknown scope (the valid ones are listed).
#ifndef CROSSBRIDGE_SERVER_AUTH_TENANT_TOKENS_H_
#define CROSSBRIDGE_SERVER_AUTH_TENANT_TOKENS_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/auth/token_hash.h"

namespace crossbridge {

// What a request does, as a token's grant names it (scopes: [...]).
enum class Scope { kAcquire, kRetry, kReport, kRead };

// Every scope, in the order the file's error messages list them.
inline constexpr Scope kEveryScope[] = {Scope::kAcquire, Scope::kRetry,
                                        Scope::kReport, Scope::kRead};

// "acquire", "retry", "report", "read".
absl::string_view ScopeName(Scope scope);
// The scope named `name` (exactly as ScopeName spells it); nullopt otherwise.
std::optional<Scope> ScopeFromName(absl::string_view name);

// The bit of `scope` in TenantGrant::scopes.
constexpr uint8_t ScopeBit(Scope scope) {
  return static_cast<uint8_t>(1u << static_cast<unsigned>(scope));
}
inline constexpr uint8_t kAllScopes =
    ScopeBit(Scope::kAcquire) | ScopeBit(Scope::kRetry) |
    ScopeBit(Scope::kReport) | ScopeBit(Scope::kRead);

// One entry of the tokens file.
struct TenantGrant {
  std::string tenant;
  Sha256Digest token_sha256{};
  // The operations the token may name; nullopt = every operation.
  std::optional<absl::flat_hash_set<std::string>> operations;
  // Bitmask of ScopeBit(scope) for the granted scopes.
  uint8_t scopes = kAllScopes;

  bool Allows(Scope scope) const { return (scopes & ScopeBit(scope)) != 0; }
  // True when `operations` is nullopt or holds `operation` (exact match).
  bool AllowsOperation(absl::string_view operation) const {
    return !operations.has_value() || operations->contains(operation);
  }
};

// A parsed tokens file. Immutable: every method may be called concurrently.
class TenantTokens {
 public:
  // Parses the YAML text of a tokens file; `filename` only names the source
  // in errors. Errors: see the top of this file.
  static absl::StatusOr<std::shared_ptr<const TenantTokens>> Parse(
      absl::string_view yaml_text, absl::string_view filename);
  // Reads and parses the file at `path` (symlinks followed, as in a mounted
  // Secret). When it cannot be read:
  //   absl::NotFoundError    "auth.tokens_file: cannot read \"<path>\":
  //                           <strerror>"   (no such file or directory)
  //   absl::InvalidArgumentError, the same text, for every other reason
  //                          (permissions, a directory: "... not a regular
  //                          file", a read error).
  // Otherwise Parse's errors, with `path` as the file name.
  static absl::StatusOr<std::shared_ptr<const TenantTokens>> Load(
      const std::string& path);
  // A table without entries (every token unknown).
  static std::shared_ptr<const TenantTokens> Empty();

  TenantTokens(const TenantTokens&) = delete;
  TenantTokens& operator=(const TenantTokens&) = delete;

  // The grant whose token_sha256 is `digest`; nullptr when there is none.
  // Constant-time with respect to the secret: the presented token is only
  // ever seen as its SHA-256. The hash table's probe sequence depends only on
  // that digest, and each candidate is compared with CRYPTO_memcmp, whose
  // time does not depend on where two digests differ. Timing can thus reveal
  // at most something about SHA-256(presented token), which an attacker
  // cannot steer toward a stored digest byte by byte without inverting
  // SHA-256; nothing about a stored token leaks through it.
  const TenantGrant* Find(const Sha256Digest& digest) const;

  // The number of entries (tokens).
  size_t size() const { return grants_.size(); }
  // The distinct tenant names, sorted: for logs and metrics.
  const std::vector<std::string>& tenants() const { return tenants_; }
  // Every entry, in file order.
  const std::vector<TenantGrant>& grants() const { return grants_; }

 private:
  // Digest equality that takes the same time wherever the digests differ.
  struct ConstantTimeEq {
    bool operator()(const Sha256Digest& a, const Sha256Digest& b) const;
  };

  explicit TenantTokens(std::vector<TenantGrant> grants);

  std::vector<TenantGrant> grants_;
  // token_sha256 -> index in grants_.
  absl::flat_hash_map<Sha256Digest, size_t, absl::Hash<Sha256Digest>,
                      ConstantTimeEq>
      by_digest_;
  std::vector<std::string> tenants_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_AUTH_TENANT_TOKENS_H_
