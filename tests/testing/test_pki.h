// A throwaway PKI for TLS tests, made with Debian's /usr/bin/openssl: two
// independent CAs and leaf certificates issued on demand.
//
//   absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
//   absl::StatusOr<CertFiles> server = (*pki)->IssueServer("server", 1);
//   // server->cert, server->key: PEM files; (*pki)->ca_cert() verifies them.
//
// Contract:
// - Everything lives in a fresh temporary directory (dir()), removed with
//   everything in it by the destructor.
// - "The CA" signs what IssueServer and IssueClient issue; "the other CA" is
//   unrelated to it (same shape, different key), for "a client from the
//   wrong CA" tests. Their files live in <dir>/ca/ and <dir>/other-ca/.
// - Every certificate (CAs too) is valid from now - 1 h (tolerating a little
//   clock skew) until now + 1 day (leaves) or now + 2 days (CAs). Leaves
//   have EC P-256 keys, CN = the name given, SAN DNS:localhost and
//   IP:127.0.0.1, basicConstraints CA:FALSE, keyUsage digitalSignature, and
//   extendedKeyUsage serverAuth (IssueServer) or clientAuth (IssueClient).
// - Leaf files are <dir>/<name>.crt and <dir>/<name>.key. Issuing a name
//   again (e.g. with a new serial, to test certificate reloading) replaces
//   both files atomically, each by a rename of a fully written temporary
//   file in the same directory, the key first, then the certificate: a
//   watcher never reads half a file, and once it sees the new certificate
//   the new key is already in place.
// - Errors name the openssl command that failed, its exit code and its
//   stderr. Each openssl run is bounded by a 10 s timeout.
// - Thread safety: none; one TestPki belongs to one test thread.
#ifndef CROSSBRIDGE_TESTS_TESTING_TEST_PKI_H_
#define CROSSBRIDGE_TESTS_TESTING_TEST_PKI_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/statusor.h"

namespace crossbridge::testing {

// A leaf certificate and its key, as PEM files.
struct CertFiles {
  std::string cert;  // path of the PEM certificate
  std::string key;   // path of the PEM private key (unencrypted)
};

// Makes certificates with /usr/bin/openssl in a fresh temporary directory,
// removed (with everything in it) by the destructor. Two independent CAs:
// "the CA" and "the other CA" (for "a client from the wrong CA" tests).
// Leaves: EC P-256 keys, valid from now-1h for 1 day, SAN DNS:localhost and
// IP:127.0.0.1, CN = name.
class TestPki {
 public:
  // Creates the directory and both CAs. Errors name the openssl command
  // that failed and its stderr (INTERNAL when the directory or a file
  // cannot be made).
  static absl::StatusOr<std::unique_ptr<TestPki>> Create();

  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;
  ~TestPki();

  const std::string& dir() const;
  std::string ca_cert() const;        // path of the CA certificate (PEM)
  std::string other_ca_cert() const;  // path of the other CA's certificate

  // A server certificate (extendedKeyUsage serverAuth) signed by the CA with
  // serial number `serial` (> 0), written to <dir>/<name>.crt and
  // <dir>/<name>.key (overwriting them atomically: write to a temp name,
  // then rename, so a watcher never reads half a file).
  // INVALID_ARGUMENT for serial 0 or a name that is empty, longer than 64
  // bytes or has a byte other than [A-Za-z0-9._-] (or starts with '.').
  absl::StatusOr<CertFiles> IssueServer(const std::string& name,
                                        uint64_t serial);
  // A client certificate (extendedKeyUsage clientAuth), signed by the CA or,
  // with other_ca, by the other CA. Same file naming and errors.
  absl::StatusOr<CertFiles> IssueClient(const std::string& name,
                                        uint64_t serial, bool other_ca = false);

  // Reads a whole file (test convenience); "" if unreadable.
  static std::string ReadFile(const std::string& path);

  // The serial number of the PEM certificate text `pem` (the first
  // certificate in it), via OpenSSL's libcrypto; nullopt if it does not
  // parse or the serial is negative or does not fit 64 bits. Used to see
  // which certificate a server presented.
  static std::optional<uint64_t> SerialOf(const std::string& pem);

 private:
  explicit TestPki(std::string dir) : dir_(std::move(dir)) {}

  // Makes the CA in <dir_>/<subdir>/ (config, key, self-signed cert).
  absl::Status MakeCa(const std::string& subdir, const std::string& cn);
  // Issues a leaf with the given extension section of the CA's config.
  absl::StatusOr<CertFiles> Issue(const std::string& ca_subdir,
                                  const std::string& extensions,
                                  const std::string& name, uint64_t serial);

  std::string dir_;
};

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_TEST_PKI_H_
