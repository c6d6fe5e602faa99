#include "server/auth/tenant_tokens.h"

#include <openssl/crypto.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/names.h"
#include "common/quote.h"
#include "common/read_file.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace crossbridge {
namespace {

constexpr absl::string_view kTenantKey = "tenant";
constexpr absl::string_view kTokenKey = "token_sha256";
constexpr absl::string_view kOperationsKey = "operations";
constexpr absl::string_view kScopesKey = "scopes";
constexpr absl::string_view kEntryKeys[] = {kTenantKey, kTokenKey,
                                            kOperationsKey, kScopesKey};

// Messages say what a node is (YamlKindName), never what it holds: a tokens
// file may have a token pasted where a hash belongs.

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// 64 hex digits (either case) -> *digest.
bool ParseHexDigest(absl::string_view hex, Sha256Digest* digest) {
  if (hex.size() != 2 * digest->size()) return false;
  for (size_t i = 0; i < digest->size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*digest)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

// Reads the entries of a parsed tokens document. yaml-cpp may throw from any
// node access; Parse catches.
class TokensParser {
 public:
  explicit TokensParser(const std::string& filename)
      : reader_(filename, EnvLookup()) {}

  absl::StatusOr<std::vector<TenantGrant>> Read(const YAML::Node& doc) {
    std::vector<TenantGrant> grants;
    if (!doc.IsDefined() || doc.IsNull()) return grants;
    if (!doc.IsSequence()) {
      return reader_.Error(
          ValueOrigin{"", doc.Mark(), true}, "",
          absl::StrCat("expected a list of token entries at the top level "
                       "(\"- tenant: ...\"), got ",
                       YamlKindName(doc)));
    }
    for (size_t i = 0; i < doc.size(); ++i) {
      TenantGrant grant;
      RETURN_IF_ERROR(ReadEntry(doc[i], i, grants, &grant));
      grants.push_back(std::move(grant));
    }
    return grants;
  }

 private:
  // Where a token_sha256 was seen, for the duplicate error.
  struct Seen {
    size_t index;
    YAML::Mark mark;
  };

  absl::Status ReadEntry(const YAML::Node& node, size_t index,
                         const std::vector<TenantGrant>& earlier,
                         TenantGrant* grant) {
    const std::string path = absl::StrCat("[", index, "]");
    if (!node.IsMap()) {
      return reader_.Error(
          ValueOrigin{"", node.Mark(), true}, path,
          absl::StrCat("expected a map with tenant and token_sha256, got ",
                       YamlKindName(node)));
    }
    // YamlReader reaches maps by key: the entry, as the only value of a
    // one-key map {"[i]": entry}, becomes a YamlMap whose keys read
    // "[i].tenant" in errors (with the entry's own positions).
    YAML::Node holder(YAML::NodeType::Map);
    holder.force_insert(path, node);
    ASSIGN_OR_RETURN(const YamlMap root, reader_.Root(holder));
    ASSIGN_OR_RETURN(const YamlMap entry, reader_.Child(root, path));
    RETURN_IF_ERROR(reader_.CheckKeys(entry, kEntryKeys));

    RETURN_IF_ERROR(ReadTenant(entry, &grant->tenant));
    RETURN_IF_ERROR(ReadToken(entry, index, earlier, &grant->token_sha256));
    RETURN_IF_ERROR(ReadOperations(entry, &grant->operations));
    return ReadScopes(entry, &grant->scopes);
  }

  absl::Status Missing(const YamlMap& entry, absl::string_view key) const {
    return reader_.Error(YamlReader::OriginOf(entry), entry.PathOf(key),
                         "missing (every entry needs tenant and token_sha256)");
  }

  absl::Status ReadTenant(const YamlMap& entry, std::string* tenant) const {
    if (entry.Find(kTenantKey) == nullptr) return Missing(entry, kTenantKey);
    ValueOrigin origin;
    RETURN_IF_ERROR(reader_.ReadString(entry, kTenantKey, tenant, &origin));
    if (!IsValidEntryName(*tenant)) {
      return reader_.Error(
          origin, entry.PathOf(kTenantKey),
          absl::StrCat("invalid tenant name ", QuoteForMessage(*tenant), ": ",
                       kEntryNameRule));
    }
    return absl::OkStatus();
  }

  absl::Status ReadToken(const YamlMap& entry, size_t index,
                         const std::vector<TenantGrant>& earlier,
                         Sha256Digest* digest) {
    ASSIGN_OR_RETURN(
        std::optional<YamlReader::Leaf> leaf,
        reader_.Find(entry, kTokenKey, YamlReader::EnvSyntax::kVerbatim));
    if (!leaf) return Missing(entry, kTokenKey);
    constexpr absl::string_view kExpected =
        "must be 64 hex digits: the SHA-256 of the token, as "
        "crossbridge-server --hash-token prints it";
    if (!leaf->node.IsScalar()) {
      return reader_.Error(*leaf, absl::StrCat(kExpected, " (got ",
                                               YamlKindName(leaf->node), ")"));
    }
    const std::string& text = leaf->node.Scalar();
    if (!ParseHexDigest(text, digest)) {
      return reader_.Error(
          *leaf, absl::StrCat(kExpected, " (got ", text.size(), " characters",
                              text.size() == 64 ? ", not all hex" : "",
                              "; the value is not shown)"));
    }
    auto [it, inserted] =
        seen_.try_emplace(*digest, Seen{index, leaf->origin.mark});
    if (!inserted) {
      const Seen& first = it->second;
      return reader_.Error(
          *leaf, absl::StrCat("duplicate: the same token_sha256 as [",
                              first.index, "].token_sha256 at ",
                              YamlPosition(reader_.filename(), first.mark),
                              " (tenant \"", earlier[first.index].tenant,
                              "\"); each token may appear only once"));
    }
    return absl::OkStatus();
  }

  // A list leaf of `entry`: nullopt when the key is absent.
  absl::StatusOr<std::optional<YamlReader::Leaf>> ReadList(
      const YamlMap& entry, absl::string_view key,
      absl::string_view what) const {
    ASSIGN_OR_RETURN(
        std::optional<YamlReader::Leaf> leaf,
        reader_.Find(entry, key, YamlReader::EnvSyntax::kVerbatim));
    if (leaf && !leaf->node.IsSequence()) {
      return reader_.Error(*leaf,
                           absl::StrCat("expected a list of ", what,
                                        " (absent = all, [] = none), got ",
                                        YamlKindName(leaf->node)));
    }
    return leaf;
  }

  // The error for element `i` of a list leaf.
  absl::Status ElementError(const YamlReader::Leaf& list, size_t i,
                            absl::string_view what) const {
    ValueOrigin at = list.origin;
    const YAML::Node element = list.node[i];
    if (!element.Mark().is_null()) at.mark = element.Mark();
    return reader_.Error(at, absl::StrCat(list.path, "[", i, "]"), what);
  }

  absl::Status ReadOperations(
      const YamlMap& entry,
      std::optional<absl::flat_hash_set<std::string>>* operations) const {
    ASSIGN_OR_RETURN(std::optional<YamlReader::Leaf> list,
                     ReadList(entry, kOperationsKey, "operation names"));
    if (!list) return absl::OkStatus();
    absl::flat_hash_set<std::string> names;
    for (size_t i = 0; i < list->node.size(); ++i) {
      const YAML::Node element = list->node[i];
      if (!element.IsScalar()) {
        return ElementError(*list, i,
                            absl::StrCat("expected an operation name, got ",
                                         YamlKindName(element)));
      }
      if (!IsValidEntryName(element.Scalar())) {
        return ElementError(*list, i,
                            absl::StrCat("invalid operation name ",
                                         QuoteForMessage(element.Scalar()),
                                         ": ", kEntryNameRule));
      }
      names.insert(element.Scalar());
    }
    *operations = std::move(names);
    return absl::OkStatus();
  }

  absl::Status ReadScopes(const YamlMap& entry, uint8_t* scopes) const {
    ASSIGN_OR_RETURN(std::optional<YamlReader::Leaf> list,
                     ReadList(entry, kScopesKey, "scopes"));
    if (!list) return absl::OkStatus();
    uint8_t bits = 0;
    for (size_t i = 0; i < list->node.size(); ++i) {
      const YAML::Node element = list->node[i];
      std::optional<Scope> scope;
      if (element.IsScalar()) scope = ScopeFromName(element.Scalar());
      if (!scope) {
        std::vector<absl::string_view> valid;
        for (Scope s : kEveryScope) valid.push_back(ScopeName(s));
        return ElementError(
            *list, i,
            absl::StrCat(element.IsScalar()
                             ? absl::StrCat("unknown scope ",
                                            QuoteForMessage(element.Scalar()))
                             : absl::StrCat("expected a scope, got ",
                                            YamlKindName(element)),
                         " (expected one of: ", absl::StrJoin(valid, ", "),
                         ")"));
      }
      bits |= ScopeBit(*scope);
    }
    *scopes = bits;
    return absl::OkStatus();
  }

  YamlReader reader_;
  absl::flat_hash_map<Sha256Digest, Seen> seen_;
};

// A tokens file larger than this is not one.
constexpr size_t kMaxTokensFileBytes = 16 << 20;

}  // namespace

absl::string_view ScopeName(Scope scope) {
  switch (scope) {
    case Scope::kAcquire:
      return "acquire";
    case Scope::kRetry:
      return "retry";
    case Scope::kReport:
      return "report";
    case Scope::kRead:
      return "read";
  }
  return "unknown";
}

std::optional<Scope> ScopeFromName(absl::string_view name) {
  for (Scope scope : kEveryScope) {
    if (ScopeName(scope) == name) return scope;
  }
  return std::nullopt;
}

bool TenantTokens::ConstantTimeEq::operator()(const Sha256Digest& a,
                                              const Sha256Digest& b) const {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

TenantTokens::TenantTokens(std::vector<TenantGrant> grants)
    : grants_(std::move(grants)) {
  by_digest_.reserve(grants_.size());
  for (size_t i = 0; i < grants_.size(); ++i) {
    by_digest_.emplace(grants_[i].token_sha256, i);
    tenants_.push_back(grants_[i].tenant);
  }
  std::sort(tenants_.begin(), tenants_.end());
  tenants_.erase(std::unique(tenants_.begin(), tenants_.end()), tenants_.end());
}

absl::StatusOr<std::shared_ptr<const TenantTokens>> TenantTokens::Parse(
    absl::string_view yaml_text, absl::string_view filename) {
  const std::string file(filename);
  if (std::optional<int> line = SecondYamlDocumentLine(yaml_text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        file, ":", *line,
        ":1: expected a single YAML document, found a second one"));
  }
  std::vector<TenantGrant> grants;
  try {
    const YAML::Node doc = YAML::Load(std::string(yaml_text));
    ASSIGN_OR_RETURN(grants, TokensParser(file).Read(doc));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(FormatYamlException(file, e, "a tokens file needs 3"));
  }
  return std::shared_ptr<const TenantTokens>(
      new TenantTokens(std::move(grants)));
}

absl::StatusOr<std::shared_ptr<const TenantTokens>> TenantTokens::Load(
    const std::string& path) {
  ASSIGN_OR_RETURN(const std::string text,
                   ReadFileText("auth.tokens_file", path, kMaxTokensFileBytes));
  return Parse(text, path);
}

std::shared_ptr<const TenantTokens> TenantTokens::Empty() {
  static const std::shared_ptr<const TenantTokens>* const empty =
      new std::shared_ptr<const TenantTokens>(new TenantTokens({}));
  return *empty;
}

const TenantGrant* TenantTokens::Find(const Sha256Digest& digest) const {
  const auto it = by_digest_.find(digest);
  if (it == by_digest_.end()) return nullptr;
  return &grants_[it->second];
}

}  // namespace crossbridge
