#include "server/tls/server_tls.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/status.h"

namespace crossbridge {
namespace {

constexpr char kIdentityFile[] = "identity.pem";
constexpr char kClientCaFile[] = "client-ca.pem";

absl::Status Internal(const std::string& what, int error) {
  return absl::InternalError(
      absl::StrCat("server.tls: ", what, ": ", std::strerror(error)));
}

std::string StagingParent() {
  const char* tmp = getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

grpc_ssl_client_certificate_request_type RequestType(ClientAuth mode) {
  switch (mode) {
    case ClientAuth::kNone:
      return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    case ClientAuth::kRequest:
      return GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    case ClientAuth::kRequire:
      return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
}

void LogValidity(const TlsMaterial& m, const Clock& clock) {
  const absl::Time now = clock.Now();
  if (now > m.not_after || now < m.not_before) {
    Logger("tls")->warn("the certificate (serial {}) is not valid now: valid "
                        "from {} to {}; clients will refuse it",
                        m.serial, absl::FormatTime(m.not_before),
                        absl::FormatTime(m.not_after));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServerTls>> ServerTls::Create(
    const TlsConfig& config, const Clock& clock, Metrics* metrics) {
  ASSIGN_OR_RETURN(TlsFiles files, ReadTlsFiles(config));
  ASSIGN_OR_RETURN(TlsMaterial material, CheckTlsFiles(config, files));

  std::string tmpl = StagingParent() + "/crossbridge-tls-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    return Internal(absl::StrCat("cannot create a staging directory in ",
                                 StagingParent()),
                    errno);
  }
  std::unique_ptr<ServerTls> tls(new ServerTls(config, clock, metrics, tmpl));
  {
    MutexLock lock(&tls->mu_);
    RETURN_IF_ERROR(tls->Stage(material));
    tls->seen_ = std::move(files);
    tls->serial_ = material.serial;
  }
  LogValidity(material, clock);
  if (metrics != nullptr) metrics->SetTlsCertificateExpiry(material.not_after);

  const unsigned refresh = static_cast<unsigned>(
      std::max<int64_t>(1, absl::ToInt64Seconds(config.refresh_interval)));
  const std::string identity = tls->dir_ + "/" + kIdentityFile;
  std::shared_ptr<grpc::experimental::FileWatcherCertificateProvider> provider;
  if (config.client_auth == ClientAuth::kNone) {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        identity, identity, refresh);
  } else {
    provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
        identity, identity, tls->dir_ + "/" + kClientCaFile, refresh);
  }
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (config.client_auth != ClientAuth::kNone) options.watch_root_certs();
  options.set_cert_request_type(RequestType(config.client_auth));
  tls->credentials_ = grpc::experimental::TlsServerCredentials(options);

  Logger("tls")->info("TLS on: certificate serial {} (expires {}), client "
                      "certificates: {}; watching the files every {}",
                      material.serial, absl::FormatTime(material.not_after),
                      std::string(ClientAuthName(config.client_auth)),
                      absl::FormatDuration(config.refresh_interval));
  tls->watcher_ = std::thread([raw = tls.get()] { raw->Watch(); });
  return tls;
}

ServerTls::ServerTls(const TlsConfig& config, const Clock& clock,
                     Metrics* metrics, std::string dir)
    : config_(config), clock_(clock), metrics_(metrics), dir_(std::move(dir)) {}

ServerTls::~ServerTls() {
  {
    MutexLock lock(&stop_mu_);
    stop_ = true;
  }
  if (watcher_.joinable()) watcher_.join();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string ServerTls::serial() const {
  MutexLock lock(&mu_);
  return serial_;
}

absl::Status ServerTls::Refresh() {
  MutexLock lock(&mu_);
  absl::StatusOr<TlsFiles> files = ReadTlsFiles(config_);
  absl::StatusOr<TlsMaterial> material = absl::UnknownError("");
  if (files.ok()) {
    if (*files == seen_) return absl::OkStatus();
    seen_ = *files;
    material = CheckTlsFiles(config_, *files);
  } else {
    // Unreadable: reported once, until the files read (differently) again.
    if (seen_ == TlsFiles()) return absl::OkStatus();
    seen_ = TlsFiles();
    material = files.status();
  }
  absl::Status staged = material.ok() ? Stage(*material) : material.status();
  if (metrics_ != nullptr) metrics_->RecordTlsReload(staged.ok());
  if (!staged.ok()) {
    Logger("tls")->error("TLS files changed but were rejected; still serving "
                         "the certificate with serial {}: {}",
                         serial_, std::string(staged.message()));
    return staged;
  }
  serial_ = material->serial;
  if (metrics_ != nullptr) metrics_->SetTlsCertificateExpiry(material->not_after);
  LogValidity(*material, clock_);
  Logger("tls")->info("TLS files changed: new connections get the certificate "
                      "with serial {} (expires {})",
                      material->serial, absl::FormatTime(material->not_after));
  return absl::OkStatus();
}

absl::Status ServerTls::Stage(const TlsMaterial& material) {
  // The CA first: a client certificate from a new CA should not be refused
  // after the server already presents a certificate that expects it.
  if (config_.client_auth != ClientAuth::kNone) {
    RETURN_IF_ERROR(WriteStaged(kClientCaFile, material.client_ca_pem));
  }
  return WriteStaged(kIdentityFile, material.identity_pem);
}

absl::Status ServerTls::WriteStaged(const std::string& name,
                                    const std::string& text) {
  const std::string path = dir_ + "/" + name;
  const std::string temp = path + ".new";
  const int fd = open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Internal(absl::StrCat("cannot write ", temp), errno);
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int error = errno;
      close(fd);
      return Internal(absl::StrCat("cannot write ", temp), error);
    }
    written += static_cast<size_t>(n);
  }
  // gRPC compares whole-second mtimes to notice a file replaced while it
  // read it: make each staged file's strictly later than the last one's.
  struct stat st;
  if (fstat(fd, &st) == 0) {
    int64_t mtime = st.st_mtim.tv_sec;
    if (mtime <= last_mtime_sec_) {
      mtime = last_mtime_sec_ + 1;
      const struct timespec times[2] = {{mtime, 0}, {mtime, 0}};
      futimens(fd, times);
    }
    last_mtime_sec_ = mtime;
  }
  if (close(fd) != 0) return Internal(absl::StrCat("cannot write ", temp), errno);
  if (rename(temp.c_str(), path.c_str()) != 0) {
    return Internal(absl::StrCat("cannot replace ", path), errno);
  }
  return absl::OkStatus();
}

void ServerTls::Watch() {
  for (;;) {
    {
      MutexLock lock(&stop_mu_);
      if (clock_.AwaitFor(
              lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return stop_; },
              config_.refresh_interval)) {
        return;
      }
    }
    Refresh().IgnoreError();  // logged and counted
  }
}

}  // namespace crossbridge
