#include "server/redis/keyspace.h"

#include <initializer_list>

#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

// The escape of a byte that may not appear inside a part, or null.
const char* EscapeOf(char c) {
  switch (c) {
    case '%': return "%25";
    case ':': return "%3A";
    case '{': return "%7B";
    case '}': return "%7D";
    default: return nullptr;
  }
}

void AppendEscaped(absl::string_view part, std::string& out) {
  for (char c : part) {
    if (const char* escaped = EscapeOf(c)) {
      out.append(escaped, 3);
    } else {
      out.push_back(c);
    }
  }
}

// <prefix>{<escaped part 1>[:<escaped part 2>...]}
std::string Build(KeyKind kind,
                  std::initializer_list<absl::string_view> parts) {
  const absl::string_view prefix = KeyPrefix(kind);
  size_t size = prefix.size() + parts.size() + 1;
  for (absl::string_view part : parts) size += part.size();
  std::string key;
  key.reserve(size);
  key.append(prefix.data(), prefix.size());
  key.push_back('{');
  bool first = true;
  for (absl::string_view part : parts) {
    if (!first) key.push_back(':');
    first = false;
    AppendEscaped(part, key);
  }
  key.push_back('}');
  return key;
}

}  // namespace

absl::string_view KeyPrefix(KeyKind kind) {
  switch (kind) {
    case KeyKind::kBucket: return "cb:v2:bucket:";
    case KeyKind::kTenantBucket: return "cb:v2:tbucket:";
    case KeyKind::kRetryBudget: return "cb:v2:budget:";
    case KeyKind::kHealthCount: return "cb:v2:health:";
    case KeyKind::kProbeLease: return "cb:v2:probe:";
    case KeyKind::kEnvoyBucket: return "cb:v2:envoy:";
  }
  return "cb:v2:unknown:";
}

std::string BucketKey(absl::string_view operation, absl::string_view key) {
  return Build(KeyKind::kBucket, {operation, key});
}

std::string TenantBucketKey(absl::string_view tenant,
                            absl::string_view operation, absl::string_view key) {
  return Build(KeyKind::kTenantBucket, {tenant, operation, key});
}

std::string RetryBudgetKey(absl::string_view policy) {
  return Build(KeyKind::kRetryBudget, {policy});
}

std::string HealthCountKey(absl::string_view provider) {
  return Build(KeyKind::kHealthCount, {provider});
}

std::string ProbeLeaseKey(absl::string_view provider) {
  return Build(KeyKind::kProbeLease, {provider});
}

std::string EnvoyBucketKey(
    absl::string_view domain,
    absl::Span<const std::pair<absl::string_view, absl::string_view>> entries,
    absl::string_view limit_identity) {
  std::string key = Build(KeyKind::kEnvoyBucket, {domain});
  for (const auto& [k, v] : entries) {
    key.push_back(':');
    AppendEscaped(k, key);
    key.push_back(':');
    AppendEscaped(v, key);
  }
  // The identity's own ':' separate its fixed four fields; it has no other.
  key.push_back(':');
  key.append(limit_identity.data(), limit_identity.size());
  return key;
}

std::string EnvoyLimitIdentity(bool is_override, int64_t index_or_unit,
                               int64_t requests_per_unit, int64_t window_us) {
  return absl::StrCat(is_override ? "O:" : "L:", index_or_unit, ":",
                      requests_per_unit, ":", window_us);
}

std::string EscapeKeyPart(absl::string_view part) {
  std::string out;
  out.reserve(part.size());
  AppendEscaped(part, out);
  return out;
}

}  // namespace crossbridge
