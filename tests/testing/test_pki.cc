#include "tests/testing/test_pki.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/status.h"
#include "tests/testing/subprocess.h"

namespace crossbridge::testing {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";
constexpr char kCaDir[] = "ca";
constexpr char kOtherCaDir[] = "other-ca";
constexpr absl::Duration kOpensslTimeout = absl::Seconds(10);
constexpr size_t kMaxNameBytes = 64;

// The openssl config of one CA rooted at `dir`: the `ca` command's settings
// (a database that Issue empties before each run, so a serial or subject
// may be issued again), the `req` defaults, and the extension sections.
std::string CaConfig(const std::string& dir) {
  return absl::StrCat(
      "[ca]\n"
      "default_ca = ca_default\n"
      "[ca_default]\n"
      "dir = ", dir, "\n",
      "database = $dir/index.txt\n"
      "serial = $dir/serial\n"
      "new_certs_dir = $dir\n"
      "default_md = sha256\n"
      "policy = policy_any\n"
      "unique_subject = no\n"
      "email_in_dn = no\n"
      "copy_extensions = none\n"
      "[policy_any]\n"
      "commonName = supplied\n"
      "[req]\n"
      "distinguished_name = req_dn\n"
      "prompt = no\n"
      "[req_dn]\n"
      "CN = unused\n"
      "[ca_ext]\n"
      "basicConstraints = critical,CA:TRUE\n"
      "keyUsage = critical,keyCertSign,cRLSign\n"
      "subjectKeyIdentifier = hash\n"
      "[server_ext]\n"
      "basicConstraints = critical,CA:FALSE\n"
      "keyUsage = critical,digitalSignature\n"
      "extendedKeyUsage = serverAuth\n"
      "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
      "subjectKeyIdentifier = hash\n"
      "authorityKeyIdentifier = keyid,issuer\n"
      "[client_ext]\n"
      "basicConstraints = critical,CA:FALSE\n"
      "keyUsage = critical,digitalSignature\n"
      "extendedKeyUsage = clientAuth\n"
      "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
      "subjectKeyIdentifier = hash\n"
      "authorityKeyIdentifier = keyid,issuer\n");
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  if (!out) {
    return absl::InternalError(
        absl::StrCat("cannot write ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status Rename(const std::string& from, const std::string& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", from, " to ", to,
                                            ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// Runs openssl with `args`; an error names the command, its exit code and
// its stderr.
absl::Status RunOpenssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {kOpenssl};
  argv.insert(argv.end(), args.begin(), args.end());
  const std::string command = absl::StrJoin(argv, " ");
  absl::StatusOr<CommandResult> result = RunCommand(argv, kOpensslTimeout);
  if (!result.ok()) {
    return absl::InternalError(
        absl::StrCat(command, ": ", result.status().message()));
  }
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat(command, " failed (exit ",
                                            result->exit_code, "): ",
                                            result->err));
  }
  return absl::OkStatus();
}

// openssl ca's -startdate: now - 1 h, as UTCTime.
std::string StartDate() {
  return absl::FormatTime("%y%m%d%H%M%SZ", absl::Now() - absl::Hours(1),
                          absl::UTCTimeZone());
}

// The serial file openssl ca reads: hex, an even number of digits.
std::string SerialHex(uint64_t serial) {
  std::string hex = absl::StrFormat("%X", serial);
  if (hex.size() % 2 != 0) hex.insert(0, "0");
  return hex + "\n";
}

// Resets the CA's database so any serial and subject may be issued.
absl::Status ResetDatabase(const std::string& ca_dir, uint64_t serial) {
  RETURN_IF_ERROR(WriteFile(ca_dir + "/index.txt", ""));
  RETURN_IF_ERROR(WriteFile(ca_dir + "/index.txt.attr", "unique_subject = no\n"));
  return WriteFile(ca_dir + "/serial", SerialHex(serial));
}

absl::Status CheckName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= kMaxNameBytes && name[0] != '.';
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      ok = false;
    }
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate name \"", absl::CHexEscape(name.substr(0, kMaxNameBytes)),
        "\" must be 1..64 bytes of [A-Za-z0-9._-], not starting with '.'"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<TestPki>> TestPki::Create() {
  std::error_code error;
  std::filesystem::path base = std::filesystem::temp_directory_path(error);
  if (error) base = "/tmp";
  std::string dir_template = (base / "crossbridge-pki-XXXXXX").string();
  if (mkdtemp(dir_template.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", dir_template, ": ",
                                            std::strerror(errno)));
  }
  // From here the destructor removes the directory.
  std::unique_ptr<TestPki> pki(new TestPki(dir_template));
  RETURN_IF_ERROR(pki->MakeCa(kCaDir, "CrossBridge Test CA"));
  RETURN_IF_ERROR(pki->MakeCa(kOtherCaDir, "CrossBridge Other Test CA"));
  return pki;
}

TestPki::~TestPki() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

const std::string& TestPki::dir() const { return dir_; }

std::string TestPki::ca_cert() const {
  return absl::StrCat(dir_, "/", kCaDir, "/ca.crt");
}

std::string TestPki::other_ca_cert() const {
  return absl::StrCat(dir_, "/", kOtherCaDir, "/ca.crt");
}

absl::Status TestPki::MakeCa(const std::string& subdir, const std::string& cn) {
  const std::string ca_dir = absl::StrCat(dir_, "/", subdir);
  std::error_code error;
  if (!std::filesystem::create_directory(ca_dir, error)) {
    return absl::InternalError(
        absl::StrCat("cannot create ", ca_dir, ": ", error.message()));
  }
  const std::string config = ca_dir + "/ca.cnf";
  RETURN_IF_ERROR(WriteFile(config, CaConfig(ca_dir)));
  RETURN_IF_ERROR(ResetDatabase(ca_dir, 1));
  RETURN_IF_ERROR(RunOpenssl(
      {"req", "-config", config, "-new", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_dir + "/ca.key",
       "-out", ca_dir + "/ca.csr", "-subj", "/CN=" + cn}));
  // `openssl ca -selfsign` rather than `req -x509`: only `ca` can backdate
  // notBefore in OpenSSL 3.0.
  return RunOpenssl({"ca", "-batch", "-config", config, "-selfsign",
                     "-keyfile", ca_dir + "/ca.key", "-in", ca_dir + "/ca.csr",
                     "-out", ca_dir + "/ca.crt", "-notext", "-extensions",
                     "ca_ext", "-startdate", StartDate(), "-days", "2"});
}

absl::StatusOr<CertFiles> TestPki::Issue(const std::string& ca_subdir,
                                         const std::string& extensions,
                                         const std::string& name,
                                         uint64_t serial) {
  RETURN_IF_ERROR(CheckName(name));
  if (serial == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("certificate ", name, ": serial must be > 0"));
  }
  const std::string ca_dir = absl::StrCat(dir_, "/", ca_subdir);
  const std::string config = ca_dir + "/ca.cnf";
  CertFiles files{.cert = absl::StrCat(dir_, "/", name, ".crt"),
                  .key = absl::StrCat(dir_, "/", name, ".key")};
  // Hidden temporary names in the same directory (a rename within one file
  // system is atomic); CheckName keeps them apart from leaf names.
  const std::string tmp = absl::StrCat(dir_, "/.", name);
  const std::string tmp_key = tmp + ".key.tmp";
  const std::string tmp_cert = tmp + ".crt.tmp";
  const std::string csr = tmp + ".csr";
  RETURN_IF_ERROR(RunOpenssl(
      {"req", "-config", config, "-new", "-newkey", "ec", "-pkeyopt",
       "ec_paramgen_curve:P-256", "-nodes", "-keyout", tmp_key, "-out", csr,
       "-subj", "/CN=" + name}));
  RETURN_IF_ERROR(ResetDatabase(ca_dir, serial));
  RETURN_IF_ERROR(RunOpenssl(
      {"ca", "-batch", "-config", config, "-cert", ca_dir + "/ca.crt",
       "-keyfile", ca_dir + "/ca.key", "-in", csr, "-out", tmp_cert,
       "-notext", "-extensions", extensions, "-startdate", StartDate(),
       "-days", "1"}));
  std::remove(csr.c_str());
  RETURN_IF_ERROR(Rename(tmp_key, files.key));
  RETURN_IF_ERROR(Rename(tmp_cert, files.cert));
  return files;
}

absl::StatusOr<CertFiles> TestPki::IssueServer(const std::string& name,
                                               uint64_t serial) {
  return Issue(kCaDir, "server_ext", name, serial);
}

absl::StatusOr<CertFiles> TestPki::IssueClient(const std::string& name,
                                               uint64_t serial,
                                               bool other_ca) {
  return Issue(other_ca ? kOtherCaDir : kCaDir, "client_ext", name, serial);
}

std::string TestPki::ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::ostringstream contents;
  contents << in.rdbuf();
  return in.bad() ? "" : contents.str();
}

std::optional<uint64_t> TestPki::SerialOf(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (bio == nullptr) return std::nullopt;
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) {
    ERR_clear_error();  // Leave this thread's queue clean for gRPC's TLS.
    return std::nullopt;
  }
  std::optional<uint64_t> serial;
  uint64_t value = 0;
  if (ASN1_INTEGER_get_uint64(&value, X509_get_serialNumber(cert)) == 1) {
    serial = value;
  }
  X509_free(cert);
  return serial;
}

}  // namespace crossbridge::testing
