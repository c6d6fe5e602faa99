// storage.redis.url: parsing (host, port, db, password) and masking for
// messages. The syntax and the no-password-in-errors contract are in
// common/redis_url.h.
#include "common/redis_url.h"

#include <cstddef>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/config_names.h"
#include "common/host_port.h"

namespace crossbridge::config_internal {
namespace {

constexpr absl::string_view kRedisScheme = "redis://";
constexpr int kDefaultRedisPort = 6379;
constexpr int kMaxRedisDb = 15;

bool IsSpaceOrControl(char c) {
  const unsigned char u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f;
}

}  // namespace

std::string MaskRedisUrl(absl::string_view url) {
  const std::size_t scheme_end = url.find("://");
  const std::size_t start =
      scheme_end == absl::string_view::npos ? 0 : scheme_end + 3;
  const std::size_t at = url.rfind('@');
  if (at == absl::string_view::npos || at < start) return std::string(url);
  const absl::string_view userinfo = url.substr(start, at - start);
  const std::size_t colon = userinfo.find(':');
  const absl::string_view kept = colon == absl::string_view::npos
                                     ? absl::string_view()
                                     : userinfo.substr(0, colon + 1);
  return absl::StrCat(url.substr(0, start), kept, "***", url.substr(at));
}

bool ParseRedisUrl(absl::string_view url, RedisStorageConfig* out,
                   std::string* what) {
  if (url.size() < kRedisScheme.size() ||
      !absl::EqualsIgnoreCase(url.substr(0, kRedisScheme.size()),
                              kRedisScheme)) {
    *what = "the scheme must be redis:// (rediss:// and unix sockets are not "
            "supported)";
    return false;
  }
  absl::string_view rest = url.substr(kRedisScheme.size());

  // Userinfo: up to the last '@'.
  std::string password;
  const std::size_t at = rest.rfind('@');
  if (at != absl::string_view::npos) {
    const absl::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == absl::string_view::npos) {
      *what = "the part before '@' must be :password or user:password";
      return false;
    }
    for (char c : userinfo) {
      if (IsSpaceOrControl(c)) {
        *what = "the user and password must not contain spaces or control "
                "characters";
        return false;
      }
    }
    password = std::string(userinfo.substr(colon + 1));
  }
  for (char c : rest) {
    if (IsSpaceOrControl(c)) {
      *what = "must not contain spaces or control characters";
      return false;
    }
  }

  // host[:port] up to the first '/', then the optional /db.
  const std::size_t slash = rest.find('/');
  absl::string_view path = slash == absl::string_view::npos
                               ? absl::string_view()
                               : rest.substr(slash + 1);
  HostPortRules rules;
  rules.default_port = kDefaultRedisPort;
  absl::StatusOr<HostPort> hostport = ParseHostPort(rest.substr(0, slash), rules);
  if (!hostport.ok()) {
    *what = std::string(hostport.status().message());
    return false;
  }

  int db = 0;
  if (!path.empty()) {
    if (!AllDigits(path) || path.size() > 2 || !absl::SimpleAtoi(path, &db) ||
        db > kMaxRedisDb) {
      *what = absl::StrCat("the database (/db) must be an integer 0..",
                           kMaxRedisDb, ", got \"", absl::CEscape(path), "\"");
      return false;
    }
  }

  out->host = hostport->host;
  out->port = hostport->port;
  out->db = db;
  out->password = std::move(password);
  return true;
}

}  // namespace crossbridge::config_internal
