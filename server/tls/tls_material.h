// The PEM material server.tls names, read from its files and checked with
// OpenSSL before gRPC ever sees it: gRPC 1.51 takes whatever bytes it is
// given and only fails later, in every handshake ("Update handshaker
// factory failed"), so a broken file must be caught here.
//
// Checks: the certificate file holds at least one PEM certificate (the leaf
// first, then its chain); the key file holds an unencrypted PEM private
// key that matches the leaf; the client CA file (when client_auth is not
// none) holds at least one PEM certificate. An expired or not yet valid
// leaf is accepted (clocks differ; the caller logs it).
//
// Errors are InvalidArgument (NotFound for a missing file) naming the key
// and the path, e.g.
//   server.tls.cert_file: cannot read "/etc/tls/tls.crt": No such file or directory
//   server.tls.key_file: the key in "/etc/tls/tls.key" does not match the
//       certificate in "/etc/tls/tls.crt"
// They never contain key material.
//
// Thread safety: pure functions.
#ifndef CROSSBRIDGE_SERVER_TLS_TLS_MATERIAL_H_
#define CROSSBRIDGE_SERVER_TLS_TLS_MATERIAL_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/config.h"

namespace crossbridge {

// The raw bytes of the files, as read (what a change is detected on).
struct TlsFiles {
  std::string cert;
  std::string key;
  std::string client_ca;  // "" when client_auth is none
  bool operator==(const TlsFiles& o) const {
    return cert == o.cert && key == o.key && client_ca == o.client_ca;
  }
};

// Checked material, re-encoded as canonical PEM.
struct TlsMaterial {
  // The private key (PKCS#8) followed by the certificate chain, leaf first:
  // one file holds a consistent pair (see server_tls.h).
  std::string identity_pem;
  std::string client_ca_pem;  // "" when client_auth is none
  // The leaf's serial number (hex) and validity, for logs and metrics.
  std::string serial;
  absl::Time not_before;
  absl::Time not_after;
};

// Reads the files `config` names. Errors: a file that cannot be read.
absl::StatusOr<TlsFiles> ReadTlsFiles(const TlsConfig& config);

// Checks `files` (as read from `config`'s paths, which errors name).
absl::StatusOr<TlsMaterial> CheckTlsFiles(const TlsConfig& config,
                                          const TlsFiles& files);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_TLS_TLS_MATERIAL_H_
