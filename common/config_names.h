// Internal to the config loader (common/config_*.cc); not for other callers.
//
// The spellings crossbridge.yml uses for enum values, and the fixed word
// lists the loader checks against: one table per enum, read both ways
// (value -> name for messages and the public *Name() functions of
// common/config.h, name -> value when parsing). A name not in a table is
// "unknown". The tables are constexpr so the schema (config_schema*.cc) can
// list them in errors without a copy drifting from the parser.
#ifndef CROSSBRIDGE_COMMON_CONFIG_NAMES_H_
#define CROSSBRIDGE_COMMON_CONFIG_NAMES_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "common/config.h"

namespace crossbridge::config_internal {

template <typename E>
struct Named {
  absl::string_view name;
  E value;
};

inline constexpr Named<StorageBackend> kStorageBackends[] = {
    {"memory", StorageBackend::kMemory},
    {"redis", StorageBackend::kRedis},
    {"redis-cluster", StorageBackend::kRedisCluster}};
inline constexpr Named<LogFormat> kLogFormats[] = {{"text", LogFormat::kText},
                                                   {"json", LogFormat::kJson}};
inline constexpr Named<JitterMode> kJitterModes[] = {
    {"none", JitterMode::kNone},
    {"full", JitterMode::kFull},
    {"equal", JitterMode::kEqual},
    {"decorrelated", JitterMode::kDecorrelated}};
inline constexpr Named<CheckType> kCheckTypes[] = {{"ping", CheckType::kPing},
                                                   {"tcp", CheckType::kTcp},
                                                   {"http", CheckType::kHttp},
                                                   {"grpc", CheckType::kGrpc},
                                                   {"embed", CheckType::kEmbed}};
inline constexpr Named<StoreFailurePolicy> kStoreFailurePolicies[] = {
    {"local", StoreFailurePolicy::kLocal},
    {"allow", StoreFailurePolicy::kAllow},
    {"deny", StoreFailurePolicy::kDeny}};
inline constexpr Named<ClientAuth> kClientAuthModes[] = {
    {"none", ClientAuth::kNone},
    {"request", ClientAuth::kRequest},
    {"require", ClientAuth::kRequire}};
inline constexpr Named<BucketScope> kBucketScopes[] = {
    {"tenant", BucketScope::kTenant}, {"global", BucketScope::kGlobal}};
// logging.level, in increasing severity.
inline constexpr absl::string_view kLogLevels[] = {
    "trace", "debug", "info", "warn", "error", "critical", "off"};

// HTTP statuses in retryable_codes.
inline constexpr int64_t kMinHttpStatus = 100;
inline constexpr int64_t kMaxHttpStatus = 599;
// Listed in the error for an unknown name in retryable_codes.
inline constexpr char kGrpcCodeNames[] =
    "OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND, "
    "ALREADY_EXISTS, PERMISSION_DENIED, RESOURCE_EXHAUSTED, "
    "FAILED_PRECONDITION, ABORTED, OUT_OF_RANGE, UNIMPLEMENTED, INTERNAL, "
    "UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED";

// True for a non-empty run of ASCII digits: text that reads as a number
// (a Redis /db, or an HTTP status among gRPC code names), never as a name.
inline bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

// The name of `value` in `table`, "unknown" if absent.
template <typename E, std::size_t N>
absl::string_view NameOf(const Named<E> (&table)[N], E value) {
  for (const Named<E>& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unknown";
}

// Every name of `table`, in table order (for "expected one of ...").
template <typename E, std::size_t N>
std::vector<absl::string_view> NamesOf(const Named<E> (&table)[N]) {
  std::vector<absl::string_view> names;
  for (const Named<E>& entry : table) names.push_back(entry.name);
  return names;
}

}  // namespace crossbridge::config_internal

#endif  // CROSSBRIDGE_COMMON_CONFIG_NAMES_H_
