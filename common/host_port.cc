#include "common/host_port.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(c)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(absl::string_view text,
                                       const HostPortRules& rules) {
  HostPort out;
  absl::string_view host;
  absl::string_view port_text;
  bool has_port = false;
  if (absl::StartsWith(text, "[")) {
    const size_t close = text.find(']');
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("missing ']' after the IPv6 host");
    }
    host = text.substr(1, close - 1);
    const absl::string_view after = text.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return absl::InvalidArgumentError("expected ':port' after the IPv6 host");
      }
      has_port = true;
      port_text = after.substr(1);
    }
    for (char c : host) {
      if (!absl::ascii_isxdigit(c) && c != ':' && c != '.') {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid IPv6 host \"", absl::CHexEscape(host), "\""));
      }
    }
    out.ipv6 = true;
  } else {
    const size_t colon = text.rfind(':');
    if (colon != absl::string_view::npos && text.find(':') != colon) {
      return absl::InvalidArgumentError(
          "an IPv6 host must be in brackets: [host]:port");
    }
    host = text.substr(0, colon);
    if (colon != absl::string_view::npos) {
      has_port = true;
      port_text = text.substr(colon + 1);
    }
    for (char c : host) {
      if (!absl::ascii_isalnum(c) && c != '.' && c != '-' && c != '_') {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid host \"", absl::CHexEscape(host),
                         "\" (expected a host name or an IP address)"));
      }
    }
  }
  if (host.empty()) return absl::InvalidArgumentError("the host is required");

  const int min_port = rules.allow_port_zero ? 0 : 1;
  if (!has_port) {
    if (!rules.default_port.has_value()) {
      return absl::InvalidArgumentError("the port is required (host:port)");
    }
    out.port = *rules.default_port;
  } else if (!AllDigits(port_text) || port_text.size() > 5 ||
             !absl::SimpleAtoi(port_text, &out.port) || out.port < min_port ||
             out.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("the port must be an integer ", min_port, "..65535, got \"",
                     absl::CHexEscape(port_text), "\""));
  }
  out.host = std::string(host);
  return out;
}

std::string FormatHostPort(const HostPort& hp) {
  return hp.ipv6 ? absl::StrCat("[", hp.host, "]:", hp.port)
                 : absl::StrCat(hp.host, ":", hp.port);
}

}  // namespace crossbridge
