#include "server/tls/tls_material.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/read_file.h"
#include "common/status.h"

namespace crossbridge {
namespace {

// PEM files larger than this are not certificates or keys.
constexpr size_t kMaxPemBytes = 1 << 20;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

BioPtr ReadBio(const std::string& text) {
  return BioPtr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// A callback that refuses every passphrase prompt: an encrypted key fails
// to load instead of reading the terminal.
int NoPassphrase(char*, int, int, void*) { return -1; }

// Every PEM certificate of `text`, in order (other PEM blocks are skipped).
std::vector<X509Ptr> ParseCertificates(const std::string& text) {
  std::vector<X509Ptr> certs;
  BioPtr bio = ReadBio(text);
  while (bio != nullptr) {
    X509* cert = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr);
    if (cert == nullptr) break;
    certs.emplace_back(cert);
  }
  ERR_clear_error();  // the end of the input reads as an error
  return certs;
}

std::string CertToPem(X509* cert) {
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(out.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string KeyToPem(EVP_PKEY* key) {
  BioPtr out(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr,
                           nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::Time ToTime(const ASN1_TIME* t) {
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTM(tm, absl::UTCTimeZone());
}

std::string SerialHex(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn == nullptr) return "?";
  char* hex = BN_bn2hex(bn);
  std::string out = hex != nullptr ? hex : "?";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

absl::Status Invalid(absl::string_view key, const std::string& path,
                     absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("server.tls.", key, ": \"", path, "\" ", what));
}

absl::StatusOr<std::string> Read(absl::string_view key,
                                 const std::string& path) {
  return ReadFileText(absl::StrCat("server.tls.", key), path, kMaxPemBytes);
}

}  // namespace

absl::StatusOr<TlsFiles> ReadTlsFiles(const TlsConfig& config) {
  TlsFiles files;
  ASSIGN_OR_RETURN(files.cert, Read("cert_file", config.cert_file));
  ASSIGN_OR_RETURN(files.key, Read("key_file", config.key_file));
  if (config.client_auth != ClientAuth::kNone) {
    ASSIGN_OR_RETURN(files.client_ca,
                     Read("client_ca_file", config.client_ca_file));
  }
  return files;
}

absl::StatusOr<TlsMaterial> CheckTlsFiles(const TlsConfig& config,
                                          const TlsFiles& files) {
  std::vector<X509Ptr> chain = ParseCertificates(files.cert);
  if (chain.empty()) {
    return Invalid("cert_file", config.cert_file,
                   "holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")");
  }
  BioPtr key_bio = ReadBio(files.key);
  PkeyPtr key(key_bio != nullptr ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr,
                                                           NoPassphrase, nullptr)
                                 : nullptr);
  ERR_clear_error();
  if (key == nullptr) {
    return Invalid("key_file", config.key_file,
                   "holds no unencrypted PEM private key (encrypted keys are "
                   "not supported)");
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "server.tls.key_file: the key in \"", config.key_file,
        "\" does not match the certificate in \"", config.cert_file,
        "\" (the first certificate there must be the server's own)"));
  }
  TlsMaterial material;
  material.identity_pem = KeyToPem(key.get());
  for (const X509Ptr& cert : chain) {
    material.identity_pem += CertToPem(cert.get());
  }
  material.serial = SerialHex(chain.front().get());
  material.not_before = ToTime(X509_get0_notBefore(chain.front().get()));
  material.not_after = ToTime(X509_get0_notAfter(chain.front().get()));
  if (config.client_auth != ClientAuth::kNone) {
    std::vector<X509Ptr> cas = ParseCertificates(files.client_ca);
    if (cas.empty()) {
      return Invalid("client_ca_file", config.client_ca_file,
                     "holds no PEM certificate (\"-----BEGIN CERTIFICATE-----\")");
    }
    for (const X509Ptr& ca : cas) {
      material.client_ca_pem += CertToPem(ca.get());
    }
  }
  return material;
}

}  // namespace crossbridge
