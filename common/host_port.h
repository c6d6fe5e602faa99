// "host:port" as written in crossbridge.yml (server.listen_address, the
// host part of storage.redis.url, tcp and ping probe targets). One parser,
// so every place accepts and rejects the same text.
//
//   host  a name ([A-Za-z0-9._-]+) or an IPv4 literal, or [IPv6] in brackets
//   port  decimal digits only, no sign, within the caller's range
//
// Errors are InvalidArgument with a message that says what is wrong but does
// not repeat the whole text (callers add it, masked if it may hold secrets).
#ifndef CROSSBRIDGE_COMMON_HOST_PORT_H_
#define CROSSBRIDGE_COMMON_HOST_PORT_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crossbridge {

struct HostPort {
  std::string host;  // without the brackets of an IPv6 literal
  int port = 0;
  bool ipv6 = false;  // written in brackets
};

struct HostPortRules {
  // Used when the text has no ":port"; nullopt: the port is required.
  std::optional<int> default_port;
  // Port 0 ("pick a free port") is accepted only for listen addresses.
  bool allow_port_zero = false;
};

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text,
                                       const HostPortRules& rules = {});

// "host:port", or "[host]:port" for IPv6.
std::string FormatHostPort(const HostPort& hp);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_HOST_PORT_H_
