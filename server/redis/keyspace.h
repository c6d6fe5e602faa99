// The one owner of CrossBridge's Redis keyspace: every key the server reads
// or writes in Redis (and every bucket name in the memory store) is built
// here, and nowhere else.
//
// Layout (version v2):
//
//   cb:v2:bucket:{<operation>:<key>}   a rate-limit bucket (GCRA TAT, µs)
//                                      shared by every caller: auth off, or
//                                      an operation with scope: global
//   cb:v2:tbucket:{<tenant>:<operation>:<key>}
//                                      a tenant's own bucket (auth on,
//                                      scope: tenant)
//   cb:v2:budget:{<policy>}            a retry policy's retry budget
//   cb:v2:health:{<provider>}          a provider's consecutive failures
//   cb:v2:probe:{<provider>}           a provider's probe lease
//   cb:v2:envoy:{<domain>}:<key 1>:<value 1>:...:<limit identity>
//                                      an Envoy rate-limit bucket (GCRA TAT,
//                                      µs): one per domain, request entries
//                                      (keys and the values the request
//                                      sent) and limit (EnvoyLimitIdentity)
//
// Guarantees (tests/server/keyspace_test.cc checks them on random input):
//  - Kinds never meet: the text before the first '{' is fixed per kind, and
//    no part a request supplies ever lands before it. So no key a tenant
//    sends reaches a shared bucket or another tenant's: the tenant part
//    comes from the caller's token, never from the request.
//  - Injective within a kind: each part is escaped ('%' ':' '{' '}' become
//    %25 %3A %7B %7D), so the ':' between parts and the closing '}' are
//    never part of a value and distinct part lists give distinct keys.
//  - One hash tag per key, covering the whole identity: the braces enclose
//    every variable part and no escaped part contains a brace, so Redis
//    Cluster hashes exactly {<parts>} and all keys of one bucket (today one,
//    later its leases) share a slot.
//
//  - Exception, kEnvoyBucket: the hash tag covers only the domain, so every
//    bucket one ShouldRateLimit request touches shares a Redis Cluster slot
//    and one multi-key script takes from all or none of them atomically.
//    The tradeoff: all of a domain's buckets live on one cluster master (a
//    very hot domain does not spread over the cluster). The parts after the
//    '}' are escaped like the rest, so the key stays injective and no part
//    reaches another kind.
//
// The v1 layout ("cb:v1:{<operation>:<key>}", "cb:v1:{budget:<policy>}", ...)
// let an operation named "health" or "budget" write into another kind. v1
// keys are never read again; they expire by their own TTL (buckets within
// one window, budgets and health counts within a day), so an upgrade needs
// no migration.
//
// Thread safety: pure functions.
#ifndef CROSSBRIDGE_SERVER_REDIS_KEYSPACE_H_
#define CROSSBRIDGE_SERVER_REDIS_KEYSPACE_H_

#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace crossbridge {

// The kinds of key, one prefix each.
enum class KeyKind {
  kBucket,
  kTenantBucket,
  kRetryBudget,
  kHealthCount,
  kProbeLease,
  kEnvoyBucket
};

// "cb:v2:bucket:" and so on: the fixed text before the '{' of a kind.
absl::string_view KeyPrefix(KeyKind kind);

// The bucket of `key` under rate-limit `operation`, shared by every caller.
std::string BucketKey(absl::string_view operation, absl::string_view key);
// Tenant `tenant`'s own bucket of `key` under `operation`.
// REQUIRES: tenant is not empty.
std::string TenantBucketKey(absl::string_view tenant,
                            absl::string_view operation, absl::string_view key);
// The retry budget of retry policy `policy`.
std::string RetryBudgetKey(absl::string_view policy);
// The fleet-wide consecutive-failure count of health provider `provider`.
std::string HealthCountKey(absl::string_view provider);
// The probe lease of health provider `provider`.
std::string ProbeLeaseKey(absl::string_view provider);

// An Envoy bucket: `domain`, then the request descriptor's entries as
// (key, value) pairs, then `limit_identity` (EnvoyLimitIdentity()).
std::string EnvoyBucketKey(
    absl::string_view domain,
    absl::Span<const std::pair<absl::string_view, absl::string_view>> entries,
    absl::string_view limit_identity);
// The part of an Envoy bucket key that names one limit: configured limit
// `index` of its node ("L:<index>:<requests_per_unit>:<window µs>") or a
// request's override ("O:<requests_per_unit>:<envoy unit>:0"); always four
// ':'-separated fields, so keys stay injective.
std::string EnvoyLimitIdentity(bool is_override, int64_t index_or_unit,
                               int64_t requests_per_unit, int64_t window_us);

// `part` with '%', ':', '{' and '}' percent-escaped (exposed for tests).
std::string EscapeKeyPart(absl::string_view part);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_KEYSPACE_H_
