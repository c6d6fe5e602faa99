// Hardened calls: the types of Client::Call / Client::Retry / Client::CallAsync
// (client/client.h) and the helpers that carry an HTTP failure inside an
// absl::Status, so the retry decision can see the HTTP status and the
// server's Retry-After hint.
//
//   absl::StatusOr<Reply> r = client->Call<Reply>(
//       "ai_generate", "user:123",
//       [&](const AttemptInfo& a) -> absl::StatusOr<Reply> {
//         HttpResponse resp = http.Post(url, body, /*timeout=*/a.remaining);
//         if (resp.status != 200) {
//           return HttpError(resp.status, resp.body, resp.retry_after);
//         }
//         return Parse(resp.body);
//       },
//       {.retry_policy = "expensive", .dependency = "ai_provider"});
//
// A Call, in order, within options.deadline (which covers everything: permit
// waits, attempts, RPCs and backoff sleeps):
//  1. AcquirePermit(operation, key, cost). Refused: with wait_for_permit it
//     sleeps the server's retry_after and asks again, or fails at once with
//     RESOURCE_EXHAUSTED when that wait does not fit in the deadline (or
//     wait_for_permit is false). Server unreachable (UNAVAILABLE or
//     DEADLINE_EXCEEDED from the RPC): fail_open uses a local in-process GCRA
//     bucket per (operation, key) — capacity = the limit the server last
//     reported for that operation over a 60 s window, or
//     ClientOptions::local_fallback when this Client never saw one — and sets
//     CallReport::used_local_limiter; the server is then not asked again for
//     1 s. fail_open == false returns UNAVAILABLE. Other RPC errors
//     (NOT_FOUND for an unknown operation, ...) are returned as they are.
//  2. fn(attempt) with the remaining deadline.
//  3. Success: the outcome is reported to `dependency` (fire and forget) and
//     the value returned.
//  4. Failure: reported to `dependency`, then crossbridge::DecideRetry
//     (common/retry.h) decides locally with the named policy fetched from the
//     server (GetRetryPolicy, cached for ClientOptions::policy_cache_ttl; when
//     the fetch fails: the last fetched copy, else the built-in policy of
//     that name from DefaultConfig(), else the built-in "default"). The
//     failure is the HTTP status of an HttpError, else the status code. When
//     a retry is due and `dependency` is NOT_SERVING (grpc.health.v1 Check),
//     the call stops (DEPENDENCY_UNHEALTHY). Otherwise it sleeps the delay and
//     goes back to 1.
// The result of a failed call is the last failure (code and payloads kept)
// with " (after N attempts: REASON)" appended to its message, REASON being
// NOT_RETRYABLE, ATTEMPTS_EXHAUSTED, DEADLINE_TOO_SHORT or
// DEPENDENCY_UNHEALTHY. The fleet-wide retry budget is not consulted (it is
// the server's DecideRetry RPC that applies it).
#ifndef CROSSBRIDGE_CLIENT_HARDENED_CALL_H_
#define CROSSBRIDGE_CLIENT_HARDENED_CALL_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace crossbridge {

// An HTTP failure as an absl::Status: the code maps from the HTTP status
// (429 RESOURCE_EXHAUSTED; 502, 503, 504 UNAVAILABLE; 500 INTERNAL; 501
// UNIMPLEMENTED; other 5xx INTERNAL; 400 INVALID_ARGUMENT; 401
// UNAUTHENTICATED; 403 PERMISSION_DENIED; 404 NOT_FOUND; 408
// DEADLINE_EXCEEDED; 409 ABORTED; 412 FAILED_PRECONDITION; 499 CANCELLED;
// other 4xx INVALID_ARGUMENT; anything else UNKNOWN), the message is
// "HTTP <status>: <message>", and payloads carry the HTTP status and the
// Retry-After hint (whole milliseconds, rounded up; negative means none).
absl::Status HttpError(int http_status, absl::string_view message,
                       std::optional<absl::Duration> retry_after = std::nullopt);

// The HTTP status of an HttpError; nullopt for any other status.
std::optional<int> HttpStatusOf(const absl::Status& status);

// The Retry-After hint of an HttpError; nullopt when it has none.
std::optional<absl::Duration> RetryAfterOf(const absl::Status& status);

// Options of one Client::Call / Retry / CallAsync.
struct CallOptions {
  // A policy of runtime.retry: default, expensive, quick, conservative, ...
  std::string retry_policy = "default";
  // A provider of runtime.health_checks (e.g. "ai_provider", "database"):
  // every outcome is reported there, and a retry is not attempted while it
  // is NOT_SERVING. Empty: none.
  std::string dependency;
  // Permits taken from the bucket before each attempt (Call only).
  uint32_t cost = 1;
  // The whole call: permits, attempts, RPCs and sleeps. Must be positive.
  absl::Duration deadline = absl::Seconds(30);
  // A refused permit: wait the server's retry_after (true) or fail with
  // RESOURCE_EXHAUSTED at once (false).
  bool wait_for_permit = true;
  // Rate limiter unreachable: local limiter (true) or UNAVAILABLE (false).
  bool fail_open = true;
};

// What fn is told about its attempt.
struct AttemptInfo {
  int attempt;               // 1 for the first call
  absl::Duration remaining;  // of the call's deadline; use it as a timeout
};

// What happened during one call (filled in even when the call fails).
struct CallReport {
  int attempts = 0;                     // times fn ran
  std::vector<absl::Duration> delays;   // backoff sleeps between attempts
  absl::Duration permit_wait;           // total time waiting for permits
  bool used_local_limiter = false;      // fail_open fallback happened
  std::vector<absl::Status> failures;   // fn's failures, in order
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_HARDENED_CALL_H_
