// The YAML schema of the security settings, mapped onto Config:
// server.tls (TLS and mTLS on the gRPC port) and auth (tenant tokens).
// Only the settings themselves are checked here; the files they name are
// read and checked by the server when it starts (server/tls, server/auth),
// so --check-config can validate a config written for another machine.
#include <string>

#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/config_internal.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace crossbridge::config_internal {

absl::Status ReadTlsSection(const YamlReader& r, const YamlMap& m,
                            TlsConfig* out) {
  RETURN_IF_ERROR(r.CheckKeys(m, {"cert_file", "key_file", "client_ca_file",
                                  "client_auth", "refresh_interval_seconds"}));
  ValueOrigin cert, key, ca, client_auth, refresh;
  RETURN_IF_ERROR(r.ReadString(m, "cert_file", &out->cert_file, &cert));
  RETURN_IF_ERROR(r.ReadString(m, "key_file", &out->key_file, &key));
  RETURN_IF_ERROR(
      r.ReadString(m, "client_ca_file", &out->client_ca_file, &ca));
  RETURN_IF_ERROR(ReadEnum(r, m, "client_auth", kClientAuthModes,
                           &out->client_auth, &client_auth));
  RETURN_IF_ERROR(r.ReadDuration(m, "refresh_interval_seconds", false,
                                 absl::Seconds(60), &out->refresh_interval,
                                 &refresh));
  if (out->refresh_interval < absl::Seconds(1)) {
    return r.Error(refresh, m.PathOf("refresh_interval_seconds"),
                   "must be >= 1 (gRPC re-reads certificate files in whole "
                   "seconds)");
  }
  if (out->cert_file.empty()) {
    // Plaintext: nothing else of the section may be set.
    if (!out->key_file.empty()) {
      return r.Error(key, m.PathOf("key_file"),
                     "set without server.tls.cert_file (both or neither)");
    }
    if (!out->client_ca_file.empty()) {
      return r.Error(ca, m.PathOf("client_ca_file"),
                     "set without server.tls.cert_file (client certificates "
                     "need TLS)");
    }
    if (out->client_auth != ClientAuth::kNone) {
      return r.Error(client_auth, m.PathOf("client_auth"),
                     absl::StrCat("\"", ClientAuthName(out->client_auth),
                                  "\" without server.tls.cert_file (client "
                                  "certificates need TLS)"));
    }
    return absl::OkStatus();
  }
  if (out->key_file.empty()) {
    return r.Error(cert, m.PathOf("cert_file"),
                   "set without server.tls.key_file (both or neither)");
  }
  if (out->client_auth == ClientAuth::kNone && !out->client_ca_file.empty()) {
    return r.Error(ca, m.PathOf("client_ca_file"),
                   "is only used with client_auth request or require (it is "
                   "none)");
  }
  if (out->client_auth != ClientAuth::kNone && out->client_ca_file.empty()) {
    return r.Error(client_auth, m.PathOf("client_auth"),
                   absl::StrCat("\"", ClientAuthName(out->client_auth),
                                "\" needs server.tls.client_ca_file (the CA "
                                "that client certificates must chain to)"));
  }
  return absl::OkStatus();
}

absl::Status ReadAuthSection(const YamlReader& r, const YamlMap& m,
                             AuthConfig* out) {
  RETURN_IF_ERROR(r.CheckKeys(m, {"enabled", "tokens_file"}));
  ValueOrigin enabled;
  RETURN_IF_ERROR(r.ReadBool(m, "enabled", &out->enabled, &enabled));
  RETURN_IF_ERROR(r.ReadString(m, "tokens_file", &out->tokens_file));
  if (out->enabled && out->tokens_file.empty()) {
    return r.Error(enabled, m.PathOf("enabled"),
                   "true needs auth.tokens_file (the tenants' token hashes)");
  }
  return absl::OkStatus();
}

}  // namespace crossbridge::config_internal
