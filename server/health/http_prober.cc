// http and embed: one libcurl easy handle per probe (handles are not shared
// between threads). Both bound the whole transfer by `timeout`
// (CURLOPT_TIMEOUT_MS), never raise signals (CURLOPT_NOSIGNAL), ignore proxy
// environment variables (CURLOPT_NOPROXY "*"), follow no redirect (a 3xx is
// a failure) and speak only http/https.
#include <curl/curl.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/health/probers_internal.h"

namespace crossbridge {
namespace health_internal {

void EnsureCurlInitialized() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

namespace {

// Bodies beyond this are cut off (an embeddings reply is ~30 KB).
constexpr size_t kMaxBody = 4 << 20;

struct EasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using EasyPtr = std::unique_ptr<CURL, EasyDeleter>;
using SlistPtr = std::unique_ptr<curl_slist, SlistDeleter>;

struct Body {
  std::string text;
  bool keep = false;  // false: discard (http needs only the status)
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  Body* body = static_cast<Body*>(user);
  size_t n = size * nmemb;
  if (body->keep && body->text.size() < kMaxBody) {
    body->text.append(data, std::min(n, kMaxBody - body->text.size()));
  }
  return n;
}

// The common options; nullopt-free: a failing setopt is reported by perform.
EasyPtr NewEasy(const std::string& url, absl::Duration timeout, Body* body,
                char* error_buffer) {
  EnsureCurlInitialized();
  EasyPtr easy(curl_easy_init());
  if (easy == nullptr) return easy;
  CURL* c = easy.get();
  long ms = static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(timeout)));
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500  // 7.85.0
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
  curl_easy_setopt(c, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "crossbridge-health/1");
  return easy;
}

// Runs the transfer: the HTTP status, or why there is none.
absl::StatusOr<long> Perform(CURL* c, const char* method, const std::string& url,
                             absl::Duration timeout, const char* error_buffer) {
  CURLcode rc = curl_easy_perform(c);
  std::string where = absl::StrCat(method, " ", RedactUrl(url));
  if (rc == CURLE_OPERATION_TIMEDOUT) {
    return absl::DeadlineExceededError(absl::StrCat(where, ": ", TimedOut(timeout)));
  }
  if (rc != CURLE_OK) {
    const char* detail = error_buffer[0] != '\0' ? error_buffer : curl_easy_strerror(rc);
    return absl::UnavailableError(absl::StrCat(where, ": ", detail));
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  return status;
}

absl::Status HttpStatusError(long status) {
  return absl::UnavailableError(absl::StrCat("HTTP ", status));
}

}  // namespace

absl::Status HttpProber::Probe(const HealthProviderConfig& provider,
                               absl::Duration timeout) const {
  Body body;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  EasyPtr easy = NewEasy(provider.target, timeout, &body, error_buffer);
  if (easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");
  curl_easy_setopt(easy.get(), CURLOPT_HTTPGET, 1L);
  absl::StatusOr<long> status =
      Perform(easy.get(), "GET", provider.target, timeout, error_buffer);
  if (!status.ok()) return status.status();
  if (*status < 200 || *status > 299) return HttpStatusError(*status);
  return absl::OkStatus();
}

absl::Status EmbedProber::Probe(const HealthProviderConfig& provider,
                                absl::Duration timeout) const {
  static constexpr char kRequest[] =
      R"({"input":"ping","model":"text-embedding-3-small"})";
  Body body;
  body.keep = true;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  EasyPtr easy = NewEasy(provider.target, timeout, &body, error_buffer);
  if (easy == nullptr) return absl::ResourceExhaustedError("curl_easy_init failed");

  curl_slist* raw = curl_slist_append(nullptr, "Content-Type: application/json");
  raw = curl_slist_append(raw, "Accept: application/json");
  SlistPtr headers(raw);
  if (!provider.api_key_env.empty() && env_) {
    std::optional<std::string> key = env_(provider.api_key_env);
    if (key.has_value() && !key->empty()) {
      // The key lives only in this header list; it is never logged.
      std::string header = absl::StrCat("Authorization: Bearer ", *key);
      curl_slist* with_key = curl_slist_append(headers.get(), header.c_str());
      if (with_key != nullptr) {
        headers.release();
        headers.reset(with_key);
      }
    }
  }
  if (headers == nullptr) return absl::ResourceExhaustedError("curl_slist_append failed");
  curl_easy_setopt(easy.get(), CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDS, kRequest);
  curl_easy_setopt(easy.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(sizeof(kRequest) - 1));

  absl::StatusOr<long> status =
      Perform(easy.get(), "POST", provider.target, timeout, error_buffer);
  if (!status.ok()) return status.status();
  if (*status < 200 || *status > 299) return HttpStatusError(*status);
  if (!HasNonEmptyEmbedding(body.text)) {
    return absl::UnavailableError(absl::StrCat(
        "HTTP ", *status, " without a non-empty \"embedding\" array in the body"));
  }
  return absl::OkStatus();
}

}  // namespace health_internal
}  // namespace crossbridge
