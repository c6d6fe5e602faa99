// MakeProbers and the helpers shared by the real probers.
#include "server/health/probers.h"

#include <cctype>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "server/health/probers_internal.h"

namespace crossbridge {
namespace health_internal {

absl::StatusOr<HostPort> ParseHostPort(absl::string_view target) {
  absl::string_view rest = target;
  if (absl::ConsumePrefix(&rest, "redis://") ||
      absl::ConsumePrefix(&rest, "tcp://")) {
    size_t slash = rest.find('/');
    if (slash != absl::string_view::npos) rest = rest.substr(0, slash);
    size_t at = rest.rfind('@');
    if (at != absl::string_view::npos) rest = rest.substr(at + 1);
  }
  absl::StatusOr<HostPort> hp = crossbridge::ParseHostPort(rest);
  if (!hp.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "target \"", RedactUrl(target), "\": ", hp.status().message()));
  }
  return hp;
}

std::string TimedOut(absl::Duration timeout) {
  return absl::StrCat("timed out after ", absl::FormatDuration(timeout));
}

std::string RedactUrl(absl::string_view url) {
  size_t scheme = url.find("://");
  size_t start = scheme == absl::string_view::npos ? 0 : scheme + 3;
  size_t end = url.find_first_of("/?#", start);
  if (end == absl::string_view::npos) end = url.size();
  size_t at = url.substr(start, end - start).rfind('@');
  if (at == absl::string_view::npos) return std::string(url);
  return absl::StrCat(url.substr(0, start), url.substr(start + at + 1));
}

namespace {
size_t SkipSpace(absl::string_view s, size_t i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  return i;
}
}  // namespace

bool HasNonEmptyEmbedding(absl::string_view body) {
  constexpr absl::string_view kKey = "\"embedding\"";
  // "embedding" also appears as a value ("object":"embedding"): look at every
  // occurrence for one followed by ':' '[' and a number.
  for (size_t pos = body.find(kKey); pos != absl::string_view::npos;
       pos = body.find(kKey, pos + 1)) {
    size_t i = SkipSpace(body, pos + kKey.size());
    if (i >= body.size() || body[i] != ':') continue;
    i = SkipSpace(body, i + 1);
    if (i >= body.size() || body[i] != '[') continue;
    i = SkipSpace(body, i + 1);
    if (i < body.size() &&
        (body[i] == '-' || std::isdigit(static_cast<unsigned char>(body[i])))) {
      return true;
    }
  }
  return false;
}

}  // namespace health_internal

namespace {

class RealProbers final : public Probers {
 public:
  explicit RealProbers(EnvLookup env) : embed_(std::move(env)) {}

  const Prober& For(CheckType type) const override {
    switch (type) {
      case CheckType::kPing:
        return ping_;
      case CheckType::kTcp:
        return tcp_;
      case CheckType::kHttp:
        return http_;
      case CheckType::kGrpc:
        return grpc_;
      case CheckType::kEmbed:
        return embed_;
    }
    return tcp_;  // unreachable: every CheckType is handled above
  }

 private:
  health_internal::PingProber ping_;
  health_internal::TcpProber tcp_;
  health_internal::HttpProber http_;
  health_internal::GrpcProber grpc_;
  health_internal::EmbedProber embed_;
};

}  // namespace

std::unique_ptr<Probers> MakeProbers(EnvLookup env) {
  health_internal::EnsureCurlInitialized();
  return std::make_unique<RealProbers>(std::move(env));
}

}  // namespace crossbridge
