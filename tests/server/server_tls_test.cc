// ServerTls and the TLS file checks on certificates made by openssl
// (TestPki): every startup error names the key and the path; a rotation
// that checks out is staged, a broken one is rejected once, counted, and
// leaves the old certificate serving.
#include "server/tls/server_tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <string>

#include "common/clock.h"
#include "server/metrics/metrics.h"
#include "server/tls/tls_material.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_pki.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::CertFiles;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TestPki;
using ::testing::HasSubstr;
using ::testing::Not;

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

class ServerTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    absl::StatusOr<CertFiles> server = pki_->IssueServer("server", 1);
    ASSERT_THAT(server, IsOk());
    files_ = *server;
    config_.cert_file = files_.cert;
    config_.key_file = files_.key;
    // Long enough that only the test's own Refresh calls look at the files.
    config_.refresh_interval = absl::Seconds(60);
  }

  std::unique_ptr<TestPki> pki_;
  CertFiles files_;
  TlsConfig config_;
};

TEST_F(ServerTlsTest, StartupErrorsNameTheKeyAndThePath) {
  TlsConfig missing = config_;
  missing.cert_file = pki_->dir() + "/nope.crt";
  EXPECT_THAT(ServerTls::Create(missing, RealClock::Get(), nullptr),
              StatusIs(absl::StatusCode::kNotFound,
                       "server.tls.cert_file: cannot read \"" + missing.cert_file +
                           "\": No such file or directory"));

  TlsConfig garbage = config_;
  garbage.cert_file = pki_->dir() + "/garbage.crt";
  Write(garbage.cert_file, "not a certificate\n");
  EXPECT_THAT(ServerTls::Create(garbage, RealClock::Get(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.tls.cert_file: \"" + garbage.cert_file +
                                 "\" holds no PEM certificate")));

  // The key of another certificate.
  absl::StatusOr<CertFiles> other = pki_->IssueServer("other", 7);
  ASSERT_THAT(other, IsOk());
  TlsConfig mismatch = config_;
  mismatch.key_file = other->key;
  EXPECT_THAT(ServerTls::Create(mismatch, RealClock::Get(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.tls.key_file: the key in \"" + other->key +
                                 "\" does not match the certificate in \"" +
                                 files_.cert + "\"")));

  TlsConfig not_a_key = config_;
  not_a_key.key_file = files_.cert;
  EXPECT_THAT(ServerTls::Create(not_a_key, RealClock::Get(), nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.tls.key_file: \"" + files_.cert +
                                 "\" holds no unencrypted PEM private key")));

  TlsConfig no_ca = config_;
  no_ca.client_auth = ClientAuth::kRequire;
  no_ca.client_ca_file = pki_->dir() + "/no-ca.crt";
  EXPECT_THAT(ServerTls::Create(no_ca, RealClock::Get(), nullptr),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("server.tls.client_ca_file: cannot read")));
}

TEST_F(ServerTlsTest, NoMessageHoldsKeyMaterial) {
  const std::string key = TestPki::ReadFile(files_.key);
  ASSERT_FALSE(key.empty());
  TlsConfig swapped = config_;
  swapped.cert_file = files_.key;
  swapped.key_file = files_.cert;
  absl::StatusOr<std::unique_ptr<ServerTls>> tls =
      ServerTls::Create(swapped, RealClock::Get(), nullptr);
  ASSERT_THAT(tls, Not(IsOk()));
  EXPECT_THAT(std::string(tls.status().message()), Not(HasSubstr("PRIVATE KEY")));
  EXPECT_THAT(std::string(tls.status().message()), Not(HasSubstr(key.substr(40, 20))));
}

TEST_F(ServerTlsTest, RotationStagesGoodFilesAndRejectsBrokenOnesOnce) {
  Metrics metrics(RealClock::Get());
  absl::StatusOr<std::unique_ptr<ServerTls>> tls =
      ServerTls::Create(config_, RealClock::Get(), &metrics);
  ASSERT_THAT(tls, IsOk());
  EXPECT_EQ((*tls)->serial(), "01");
  EXPECT_THAT((*tls)->Refresh(), IsOk());  // unchanged: nothing happens
  EXPECT_THAT(metrics.Text(),
              HasSubstr("crossbridge_tls_reloads_total{result=\"success\"} 0"));

  ASSERT_THAT(pki_->IssueServer("server", 2), IsOk());
  EXPECT_THAT((*tls)->Refresh(), IsOk());
  EXPECT_EQ((*tls)->serial(), "02");
  EXPECT_THAT(metrics.Text(),
              HasSubstr("crossbridge_tls_reloads_total{result=\"success\"} 1"));

  // Broken: rejected, the staged (served) certificate stays serial 2, and
  // the same broken content is not reported again.
  Write(files_.cert, "-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n");
  EXPECT_THAT((*tls)->Refresh(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("server.tls.cert_file")));
  EXPECT_THAT((*tls)->Refresh(), IsOk());
  EXPECT_EQ((*tls)->serial(), "02");
  EXPECT_THAT(metrics.Text(),
              HasSubstr("crossbridge_tls_reloads_total{result=\"failure\"} 1"));

  // A deleted file is one more failure, reported once.
  std::remove(files_.cert.c_str());
  EXPECT_THAT((*tls)->Refresh(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*tls)->Refresh(), IsOk());
  EXPECT_THAT(metrics.Text(),
              HasSubstr("crossbridge_tls_reloads_total{result=\"failure\"} 2"));

  ASSERT_THAT(pki_->IssueServer("server", 3), IsOk());
  EXPECT_THAT((*tls)->Refresh(), IsOk());
  EXPECT_EQ((*tls)->serial(), "03");
  EXPECT_THAT(metrics.Text(),
              HasSubstr("crossbridge_tls_certificate_expiry_timestamp_seconds "));
}

}  // namespace
}  // namespace crossbridge
