// Internal to the config loader: the storage.redis.url syntax.
//
//   redis://[[user]:password@]host[:port][/db]
//
// port 1..65535 (default 6379), db 0..15 (default 0). The scheme is
// case-insensitive; rediss:// and unix sockets are not supported. There is
// no percent-decoding: a password may contain '@' and '/' (the userinfo ends
// at the last '@'), but no spaces or control characters. Only the password
// of the userinfo is used.
//
// The password must never reach a log or an error: ParseRedisUrl's failure
// text never contains it, and MaskRedisUrl is how a URL is shown.
#ifndef CROSSBRIDGE_COMMON_REDIS_URL_H_
#define CROSSBRIDGE_COMMON_REDIS_URL_H_

#include <string>

#include "absl/strings/string_view.h"
#include "common/config.h"

namespace crossbridge::config_internal {

// Fills out->host, port, db and password from `url` and returns true. On
// failure returns false, sets *what (which never contains the password) and
// leaves *out as it was.
bool ParseRedisUrl(absl::string_view url, RedisStorageConfig* out,
                   std::string* what);

// The URL with its password (or a userinfo without ':', which may be one)
// replaced by "***", for error messages. Works on any text, well-formed or
// not: "redis://:s3cret@h:1/2" -> "redis://:***@h:1/2".
std::string MaskRedisUrl(absl::string_view url);

}  // namespace crossbridge::config_internal

#endif  // CROSSBRIDGE_COMMON_REDIS_URL_H_
