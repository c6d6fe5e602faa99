// ServerTls: TLS credentials for the gRPC listener that follow the files of
// server.tls as they change (cert-manager, a mounted Secret), with no
// restart and without ever handing gRPC a broken file.
//
// How: the files are read and checked (server/tls/tls_material.h), then
// staged, re-encoded, into a private directory (mode 0700, under $TMPDIR
// or /tmp, removed by the destructor): identity.pem holds the private key
// followed by the certificate chain, client-ca.pem the client CA. gRPC's
// FileWatcherCertificateProvider watches only those staged files. Each is
// replaced by an atomic rename and gets an mtime later than the one it
// replaces, so the provider (which reads key and chain separately and
// retries when a file's mtime changed in between) always reads a key and a
// certificate that belong together.
//
// Every config.refresh_interval the watch thread reads the configured files
// again. Unchanged since the last look: nothing happens. Changed and
// checked: staged, logged (serial, notAfter) and counted
// (crossbridge_tls_reloads_total{result="success"}); new connections get
// the new certificate within about one more refresh_interval (the
// provider's own). Changed but broken (unreadable, no certificate, a key
// that does not match, e.g. halfway through a non-atomic update): logged
// once and counted (result="failure"); the staged material, and so the
// served certificate, stays as it was until the files change again.
//
// Thread safety: Refresh may be called from any thread (the watch thread
// calls it); credentials() is immutable.
#ifndef CROSSBRIDGE_SERVER_TLS_SERVER_TLS_H_
#define CROSSBRIDGE_SERVER_TLS_SERVER_TLS_H_

#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/config.h"
#include "server/metrics/metrics.h"
#include "server/tls/tls_material.h"

namespace crossbridge {

class ServerTls {
 public:
  // Reads and checks the files (REQUIRES: config.enabled()), stages them
  // and builds the credentials; starts the watch. Errors: those of
  // ReadTlsFiles and CheckTlsFiles (the key and the path), or Internal when
  // the staging directory cannot be written. `metrics` (may be null) and
  // `clock` must outlive the object.
  static absl::StatusOr<std::unique_ptr<ServerTls>> Create(
      const TlsConfig& config, const Clock& clock, Metrics* metrics);
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  std::shared_ptr<grpc::ServerCredentials> credentials() const {
    return credentials_;
  }

  // One look at the files, as described above. OK when unchanged or staged;
  // the error when a change was rejected (reported once per distinct
  // content).
  absl::Status Refresh();

  // The serial number (hex) of the certificate staged last.
  std::string serial() const;

 private:
  ServerTls(const TlsConfig& config, const Clock& clock, Metrics* metrics,
            std::string dir);

  // Writes `material` into the staging directory.
  absl::Status Stage(const TlsMaterial& material)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Replaces dir_/name with `text` by an atomic rename, with an mtime later
  // than the previous file's.
  absl::Status WriteStaged(const std::string& name, const std::string& text)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Watch();

  const TlsConfig config_;
  const Clock& clock_;
  Metrics* const metrics_;
  const std::string dir_;  // the staging directory
  std::shared_ptr<grpc::ServerCredentials> credentials_;

  mutable absl::Mutex mu_;
  TlsFiles seen_ ABSL_GUARDED_BY(mu_);  // what the last look read
  std::string serial_ ABSL_GUARDED_BY(mu_);
  int64_t last_mtime_sec_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex stop_mu_;
  bool stop_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread watcher_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_TLS_SERVER_TLS_H_
