// TestPki: what it issues is checked with /usr/bin/openssl itself (verify,
// x509, pkey), independently of the code that made it.
#include "tests/testing/test_pki.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace crossbridge::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Optional;

constexpr char kOpenssl[] = "/usr/bin/openssl";

// openssl's exit code for `args`, or -1 if it did not run.
int Openssl(const std::vector<std::string>& args, std::string* out = nullptr) {
  std::vector<std::string> argv = {kOpenssl};
  argv.insert(argv.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> result = RunCommand(argv, absl::Seconds(10));
  if (!result.ok()) return -1;
  if (out != nullptr) *out = result->out;
  return result->exit_code;
}

// `openssl verify` of `cert` against `ca`, for `purpose` ("" for any), at
// `at` (now when unset).
int Verify(const std::string& ca, const std::string& cert,
           const std::string& purpose = "",
           std::optional<absl::Time> at = std::nullopt) {
  std::vector<std::string> args = {"verify", "-CAfile", ca};
  if (!purpose.empty()) args.insert(args.end(), {"-purpose", purpose});
  if (at.has_value()) {
    args.insert(args.end(), {"-attime", absl::StrCat(absl::ToUnixSeconds(*at))});
  }
  args.push_back(cert);
  return Openssl(args);
}

std::string PublicKeyOfCert(const std::string& cert) {
  std::string out;
  Openssl({"x509", "-in", cert, "-noout", "-pubkey"}, &out);
  return out;
}

std::string PublicKeyOfKey(const std::string& key) {
  std::string out;
  Openssl({"pkey", "-in", key, "-pubout"}, &out);
  return out;
}

class TestPkiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const absl::Time start = absl::Now();
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    // Both CAs: a handful of short openssl runs.
    EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  }

  std::unique_ptr<TestPki> pki_;
};

TEST_F(TestPkiTest, ServerCertVerifiesAgainstTheCaOnly) {
  absl::StatusOr<CertFiles> server = pki_->IssueServer("server", 7);
  ASSERT_THAT(server, IsOk());
  EXPECT_EQ(server->cert, pki_->dir() + "/server.crt");
  EXPECT_EQ(server->key, pki_->dir() + "/server.key");
  EXPECT_EQ(Verify(pki_->ca_cert(), server->cert, "sslserver"), 0);
  EXPECT_NE(Verify(pki_->ca_cert(), server->cert, "sslclient"), 0);
  EXPECT_NE(Verify(pki_->other_ca_cert(), server->cert), 0);
  // The key is the certificate's.
  const std::string pubkey = PublicKeyOfCert(server->cert);
  EXPECT_THAT(pubkey, HasSubstr("BEGIN PUBLIC KEY"));
  EXPECT_EQ(PublicKeyOfKey(server->key), pubkey);
  EXPECT_THAT(TestPki::ReadFile(server->key), HasSubstr("PRIVATE KEY"));
}

TEST_F(TestPkiTest, CertificatesCarryNamesAndValidity) {
  absl::StatusOr<CertFiles> server = pki_->IssueServer("my-server", 1);
  ASSERT_THAT(server, IsOk());
  std::string text;
  ASSERT_EQ(Openssl({"x509", "-in", server->cert, "-noout", "-subject", "-ext",
                     "subjectAltName,extendedKeyUsage"},
                    &text),
            0);
  EXPECT_THAT(text, HasSubstr("CN = my-server"));
  EXPECT_THAT(text, HasSubstr("DNS:localhost"));
  EXPECT_THAT(text, HasSubstr("IP Address:127.0.0.1"));
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication"));
  // Valid from an hour ago (clock skew) for about a day.
  const absl::Time now = absl::Now();
  EXPECT_EQ(Verify(pki_->ca_cert(), server->cert, "", now - absl::Minutes(50)),
            0);
  EXPECT_EQ(Verify(pki_->ca_cert(), server->cert, "", now + absl::Hours(23)),
            0);
  EXPECT_NE(Verify(pki_->ca_cert(), server->cert, "", now - absl::Hours(2)), 0);
  EXPECT_NE(Verify(pki_->ca_cert(), server->cert, "", now + absl::Hours(25)),
            0);
}

TEST_F(TestPkiTest, ClientCertsFromEitherCa) {
  absl::StatusOr<CertFiles> client = pki_->IssueClient("client", 3);
  ASSERT_THAT(client, IsOk());
  EXPECT_EQ(Verify(pki_->ca_cert(), client->cert, "sslclient"), 0);
  EXPECT_NE(Verify(pki_->ca_cert(), client->cert, "sslserver"), 0);
  EXPECT_NE(Verify(pki_->other_ca_cert(), client->cert), 0);

  absl::StatusOr<CertFiles> stranger =
      pki_->IssueClient("stranger", 4, /*other_ca=*/true);
  ASSERT_THAT(stranger, IsOk());
  EXPECT_EQ(Verify(pki_->other_ca_cert(), stranger->cert, "sslclient"), 0);
  EXPECT_NE(Verify(pki_->ca_cert(), stranger->cert), 0);
  EXPECT_THAT(TestPki::SerialOf(TestPki::ReadFile(stranger->cert)),
              Optional(4u));
}

TEST_F(TestPkiTest, SerialOfReadsTheRequestedSerial) {
  for (uint64_t serial : {uint64_t{1}, uint64_t{255}, uint64_t{256},
                          uint64_t{0x123456789}, ~uint64_t{0}}) {
    absl::StatusOr<CertFiles> server = pki_->IssueServer("server", serial);
    ASSERT_THAT(server, IsOk()) << serial;
    EXPECT_THAT(TestPki::SerialOf(TestPki::ReadFile(server->cert)),
                Optional(serial));
  }
  EXPECT_EQ(TestPki::SerialOf(""), std::nullopt);
  EXPECT_EQ(TestPki::SerialOf("-----BEGIN CERTIFICATE-----\nAAAA\n"
                              "-----END CERTIFICATE-----\n"),
            std::nullopt);
  EXPECT_EQ(TestPki::SerialOf(TestPki::ReadFile(pki_->ca_cert())),
            std::optional<uint64_t>(1));
}

TEST_F(TestPkiTest, ReissuingReplacesBothFiles) {
  absl::StatusOr<CertFiles> first = pki_->IssueServer("server", 10);
  ASSERT_THAT(first, IsOk());
  const std::string first_cert = TestPki::ReadFile(first->cert);
  const std::string first_key = TestPki::ReadFile(first->key);
  absl::StatusOr<CertFiles> second = pki_->IssueServer("server", 11);
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->cert, first->cert);
  EXPECT_EQ(second->key, first->key);
  const std::string second_cert = TestPki::ReadFile(second->cert);
  EXPECT_NE(second_cert, first_cert);
  EXPECT_NE(TestPki::ReadFile(second->key), first_key);
  EXPECT_THAT(TestPki::SerialOf(second_cert), Optional(11u));
  EXPECT_EQ(PublicKeyOfKey(second->key), PublicKeyOfCert(second->cert));
  EXPECT_EQ(Verify(pki_->ca_cert(), second->cert, "sslserver"), 0);
  // No temporary files are left behind in the directory.
  std::vector<std::string> hidden;
  for (const auto& entry : std::filesystem::directory_iterator(pki_->dir())) {
    const std::string name = entry.path().filename().string();
    if (name[0] == '.') hidden.push_back(name);
  }
  EXPECT_THAT(hidden, IsEmpty());
  // The same serial again is fine too (the CA keeps no record).
  EXPECT_THAT(pki_->IssueServer("server", 11), IsOk());
}

TEST_F(TestPkiTest, BadNamesAndSerialsAreRejected) {
  for (const char* name : {"", "a/b", "../x", ".hidden", "sp ace", "q\"uote"}) {
    EXPECT_THAT(pki_->IssueServer(name, 1),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("certificate name")))
        << name;
  }
  EXPECT_THAT(pki_->IssueClient("client", 0),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("serial must be > 0")));
}

TEST(TestPkiLifetimeTest, DestructorRemovesTheDirectory) {
  std::string dir;
  {
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_THAT(pki, IsOk());
    dir = (*pki)->dir();
    ASSERT_THAT((*pki)->IssueServer("server", 1), IsOk());
    EXPECT_TRUE(std::filesystem::exists(dir + "/server.crt"));
    EXPECT_TRUE(std::filesystem::exists((*pki)->ca_cert()));
    EXPECT_NE((*pki)->ca_cert(), (*pki)->other_ca_cert());
    EXPECT_NE(TestPki::ReadFile((*pki)->ca_cert()),
              TestPki::ReadFile((*pki)->other_ca_cert()));
  }
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ(TestPki::ReadFile(dir + "/server.crt"), "");
}

}  // namespace
}  // namespace crossbridge::testing
