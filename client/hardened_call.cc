// The HTTP-in-Status helpers of client/hardened_call.h.
#include "client/hardened_call.h"

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

constexpr char kHttpStatusUrl[] = "type.crossbridge.dev/http_status";
constexpr char kRetryAfterUrl[] = "type.crossbridge.dev/retry_after_ms";

absl::StatusCode CodeForHttp(int http_status) {
  switch (http_status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
      return absl::StatusCode::kDeadlineExceeded;
    case 409:
      return absl::StatusCode::kAborted;
    case 412:
      return absl::StatusCode::kFailedPrecondition;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    case 499:
      return absl::StatusCode::kCancelled;
    case 500:
      return absl::StatusCode::kInternal;
    case 501:
      return absl::StatusCode::kUnimplemented;
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      break;
  }
  if (http_status >= 400 && http_status < 500) {
    return absl::StatusCode::kInvalidArgument;
  }
  if (http_status >= 500 && http_status < 600) {
    return absl::StatusCode::kInternal;
  }
  return absl::StatusCode::kUnknown;
}

std::optional<int64_t> IntPayload(const absl::Status& status,
                                  absl::string_view url) {
  auto payload = status.GetPayload(url);
  if (!payload.has_value()) return std::nullopt;
  int64_t value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value)) return std::nullopt;
  return value;
}

}  // namespace

absl::Status HttpError(int http_status, absl::string_view message,
                       std::optional<absl::Duration> retry_after) {
  absl::Status status(CodeForHttp(http_status),
                      absl::StrCat("HTTP ", http_status, ": ", message));
  status.SetPayload(kHttpStatusUrl, absl::Cord(std::to_string(http_status)));
  if (retry_after.has_value() && *retry_after >= absl::ZeroDuration()) {
    const int64_t ms = absl::ToInt64Milliseconds(
        absl::Ceil(*retry_after, absl::Milliseconds(1)));
    status.SetPayload(kRetryAfterUrl, absl::Cord(std::to_string(ms)));
  }
  return status;
}

std::optional<int> HttpStatusOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  std::optional<int64_t> value = IntPayload(status, kHttpStatusUrl);
  if (!value.has_value() || *value < 0 || *value > 999) return std::nullopt;
  return static_cast<int>(*value);
}

std::optional<absl::Duration> RetryAfterOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  std::optional<int64_t> ms = IntPayload(status, kRetryAfterUrl);
  if (!ms.has_value() || *ms < 0) return std::nullopt;
  return absl::Milliseconds(*ms);
}

}  // namespace crossbridge
