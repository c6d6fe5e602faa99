// The SDK's transport security (ClientOptions::tls, token, token_file) and the
// CLI's --tls-* / --token-file flags, against real in-process gRPC servers on
// 127.0.0.1:0 with certificates from TestPki. The servers are small fakes of
// the CrossBridge services that answer every RPC and record the
// `authorization` metadata (and the client certificate's CN) they received:
// they stand in for the server only to test the SDK's side of the
// connection.
#include <stdlib.h>

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <future>
#include <initializer_list>
#include <memory>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cli/cli.h"
#include "client/client.h"
#include "common/grpc_time.h"
#include "common/mutex.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_pki.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::CertFiles;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TestPki;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

constexpr char kNoToken[] = "<none>";
constexpr char kToken[] = "s3cr3t-T0ken.value_~+/=";

// What the fake services saw, for every RPC they answered.
class Recorder {
 public:
  void Record(const grpc::ServerContext& context) {
    std::string authorization = kNoToken;
    const auto range = context.client_metadata().equal_range("authorization");
    int count = 0;
    for (auto it = range.first; it != range.second; ++it, ++count) {
      authorization = std::string(it->second.data(), it->second.size());
    }
    if (count > 1) authorization = "<repeated>";
    std::string cn;
    if (context.auth_context() != nullptr) {
      for (const grpc::string_ref& value :
           context.auth_context()->FindPropertyValues("x509_common_name")) {
        cn = std::string(value.data(), value.size());
      }
    }
    MutexLock lock(&mu_);
    authorizations_.push_back(std::move(authorization));
    client_cn_ = std::move(cn);
  }

  // One entry per RPC: the authorization value, or kNoToken.
  std::vector<std::string> authorizations() const {
    MutexLock lock(&mu_);
    return authorizations_;
  }
  // The CN of the last RPC's client certificate ("" without one).
  std::string client_cn() const {
    MutexLock lock(&mu_);
    return client_cn_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<std::string> authorizations_ ABSL_GUARDED_BY(mu_);
  std::string client_cn_ ABSL_GUARDED_BY(mu_);
};

class FakeRateLimiter final : public v1::RateLimiter::Service {
 public:
  explicit FakeRateLimiter(Recorder& recorder) : recorder_(recorder) {}
  grpc::Status AcquirePermit(grpc::ServerContext* context,
                             const v1::AcquirePermitRequest* request,
                             v1::AcquirePermitResponse* response) override {
    recorder_.Record(*context);
    response->set_allowed(true);
    response->set_limit(10);
    response->set_remaining(9);
    return grpc::Status::OK;
  }

 private:
  Recorder& recorder_;
};

class FakeHealth final : public grpc::health::v1::Health::Service {
 public:
  explicit FakeHealth(Recorder& recorder) : recorder_(recorder) {}
  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override {
    recorder_.Record(*context);
    response->set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    return grpc::Status::OK;
  }
  grpc::Status Watch(
      grpc::ServerContext* context,
      const grpc::health::v1::HealthCheckRequest* request,
      grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer)
      override {
    recorder_.Record(*context);
    grpc::health::v1::HealthCheckResponse response;
    response.set_status(grpc::health::v1::HealthCheckResponse::SERVING);
    writer->Write(response);
    return grpc::Status::OK;
  }

 private:
  Recorder& recorder_;
};

class FakeRetryAdvisor final : public v1::RetryAdvisor::Service {
 public:
  explicit FakeRetryAdvisor(Recorder& recorder) : recorder_(recorder) {}
  grpc::Status DecideRetry(grpc::ServerContext* context,
                           const v1::DecideRetryRequest* request,
                           v1::DecideRetryResponse* response) override {
    recorder_.Record(*context);
    response->set_retry(false);
    response->set_reason(v1::NOT_RETRYABLE);
    return grpc::Status::OK;
  }
  grpc::Status GetRetryPolicy(grpc::ServerContext* context,
                              const v1::GetRetryPolicyRequest* request,
                              v1::RetryPolicy* response) override {
    recorder_.Record(*context);
    response->set_max_attempts(3);
    return grpc::Status::OK;
  }

 private:
  Recorder& recorder_;
};

class FakeHealthReporter final : public v1::HealthReporter::Service {
 public:
  explicit FakeHealthReporter(Recorder& recorder) : recorder_(recorder) {}
  grpc::Status GetHealth(grpc::ServerContext* context,
                         const v1::GetHealthRequest* request,
                         v1::HealthReport* response) override {
    recorder_.Record(*context);
    return grpc::Status::OK;
  }
  grpc::Status ReportOutcome(grpc::ServerContext* context,
                             const v1::ReportOutcomeRequest* request,
                             v1::ReportOutcomeResponse* response) override {
    recorder_.Record(*context);
    response->mutable_dependency()->set_name(request->provider());
    return grpc::Status::OK;
  }

 private:
  Recorder& recorder_;
};

enum class ClientCerts { kNone, kRequire };

// A gRPC server on 127.0.0.1:<free port> with the fake services.
class FakeServer {
 public:
  // A TLS server presenting `server`; with kRequire it demands a client
  // certificate signed by the CA in `client_ca`.
  static std::unique_ptr<FakeServer> Tls(const CertFiles& server,
                                         ClientCerts client_certs = ClientCerts::kNone,
                                         const std::string& client_ca = "") {
    grpc::SslServerCredentialsOptions options(
        client_certs == ClientCerts::kRequire
            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
            : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    if (client_certs == ClientCerts::kRequire) {
      options.pem_root_certs = TestPki::ReadFile(client_ca);
    }
    options.pem_key_cert_pairs.push_back(
        {TestPki::ReadFile(server.key), TestPki::ReadFile(server.cert)});
    return Start(grpc::SslServerCredentials(options));
  }

  static std::unique_ptr<FakeServer> Plaintext() {
    return Start(grpc::InsecureServerCredentials());
  }

  ~FakeServer() { server_->Shutdown(GrpcTimeout(absl::Seconds(5))); }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int port() const { return port_; }
  Recorder& recorder() { return recorder_; }

 private:
  FakeServer()
      : rate_limiter_(recorder_),
        health_(recorder_),
        retry_advisor_(recorder_),
        health_reporter_(recorder_) {}

  static std::unique_ptr<FakeServer> Start(
      std::shared_ptr<grpc::ServerCredentials> credentials) {
    std::unique_ptr<FakeServer> fake(new FakeServer);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", std::move(credentials),
                             &fake->port_);
    builder.RegisterService(&fake->rate_limiter_);
    builder.RegisterService(&fake->health_);
    builder.RegisterService(&fake->retry_advisor_);
    builder.RegisterService(&fake->health_reporter_);
    fake->server_ = builder.BuildAndStart();
    EXPECT_NE(fake->server_, nullptr);
    EXPECT_GT(fake->port_, 0);
    return fake;
  }

  Recorder recorder_;
  FakeRateLimiter rate_limiter_;
  FakeHealth health_;
  FakeRetryAdvisor retry_advisor_;
  FakeHealthReporter health_reporter_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  ASSERT_TRUE(out.good()) << path;
}

class ClientTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    absl::StatusOr<CertFiles> server = pki_->IssueServer("server", 100);
    ASSERT_THAT(server, IsOk());
    server_files_ = *server;
  }

  // A path in the PKI's directory (removed with it).
  std::string Path(const std::string& name) const {
    return absl::StrCat(pki_->dir(), "/", name);
  }

  static absl::StatusOr<std::unique_ptr<Client>> MakeClient(
      const std::string& target, ClientOptions options = {}) {
    options.target = target;
    options.default_deadline = absl::Seconds(5);
    return Client::Create(std::move(options));
  }

  static ClientOptions::Tls TrustCa(const std::string& ca_file) {
    ClientOptions::Tls tls;
    tls.ca_file = ca_file;
    return tls;
  }

  static absl::Status Acquire(Client& client) {
    return client.AcquirePermit("embed", "user:1").status();
  }

  std::unique_ptr<TestPki> pki_;
  CertFiles server_files_;
};

// ---- TLS ---------------------------------------------------------------------

TEST_F(ClientTlsTest, TlsWithCaFileSucceeds) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  // As in client/client.h's example.
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(
      {.target = server->address(),
       .default_deadline = absl::Seconds(5),
       .tls = ClientOptions::Tls{.ca_file = pki_->ca_cert()}});
  ASSERT_THAT(client, IsOk());
  absl::StatusOr<Permit> permit = (*client)->AcquirePermit("embed", "user:1");
  ASSERT_THAT(permit, IsOk());
  EXPECT_TRUE(permit->allowed);
  EXPECT_EQ(permit->limit, 10u);
  EXPECT_EQ(server->recorder().client_cn(), "");  // no client certificate
}

TEST_F(ClientTlsTest, ServerNameOverridesTheCheckedName) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  options.tls->server_name = "localhost";
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(Acquire(**client), IsOk());

  // The override is what gets checked: a name not in the certificate fails.
  options.tls->server_name = "not-in-the-cert.example";
  client = MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(Acquire(**client), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ClientTlsTest, PlaintextClientAgainstTlsServerIsUnavailable) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(server->address());
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(Acquire(**client), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(server->recorder().authorizations(), IsEmpty());
}

TEST_F(ClientTlsTest, ClientTrustingTheOtherCaIsUnavailable) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  ClientOptions options;
  options.tls = TrustCa(pki_->other_ca_cert());
  options.token = kToken;
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  const absl::Status status = Acquire(**client);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr(kToken)));
  EXPECT_THAT(server->recorder().authorizations(), IsEmpty());
}

TEST_F(ClientTlsTest, TlsClientAgainstPlaintextServerIsUnavailable) {
  std::unique_ptr<FakeServer> server = FakeServer::Plaintext();
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(Acquire(**client), StatusIs(absl::StatusCode::kUnavailable));
}

// ---- mTLS --------------------------------------------------------------------

class ClientMtlsTest : public ClientTlsTest {
 protected:
  void SetUp() override {
    ClientTlsTest::SetUp();
    if (HasFatalFailure()) return;
    server_ = FakeServer::Tls(server_files_, ClientCerts::kRequire,
                              pki_->ca_cert());
  }

  ClientOptions WithCert(const CertFiles& files) const {
    ClientOptions options;
    options.tls = TrustCa(pki_->ca_cert());
    options.tls->cert_file = files.cert;
    options.tls->key_file = files.key;
    return options;
  }

  std::unique_ptr<FakeServer> server_;
};

TEST_F(ClientMtlsTest, ClientCertFromTheCaSucceeds) {
  absl::StatusOr<CertFiles> cert = pki_->IssueClient("good-client", 200);
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server_->address(), WithCert(*cert));
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(Acquire(**client), IsOk());
  EXPECT_EQ(server_->recorder().client_cn(), "good-client");
}

TEST_F(ClientMtlsTest, WithoutClientCertFails) {
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server_->address(), options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(Acquire(**client), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(server_->recorder().authorizations(), IsEmpty());
}

TEST_F(ClientMtlsTest, ClientCertFromTheOtherCaFails) {
  absl::StatusOr<CertFiles> cert =
      pki_->IssueClient("stranger", 201, /*other_ca=*/true);
  ASSERT_THAT(cert, IsOk());
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server_->address(), WithCert(*cert));
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT(Acquire(**client), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(server_->recorder().authorizations(), IsEmpty());
}

// ---- Bearer token ------------------------------------------------------------

TEST_F(ClientTlsTest, TokenIsSentAsBearerOverTls) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  options.token = kToken;
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(Acquire(**client), IsOk());
  ASSERT_THAT(Acquire(**client), IsOk());
  EXPECT_THAT(server->recorder().authorizations(),
              ElementsAre(absl::StrCat("Bearer ", kToken),
                          absl::StrCat("Bearer ", kToken)));
}

TEST_F(ClientTlsTest, TokenIsSentOnPlaintextChannelsToo) {
  std::unique_ptr<FakeServer> server = FakeServer::Plaintext();
  ClientOptions options;
  options.token = kToken;
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(Acquire(**client), IsOk());
  EXPECT_THAT(server->recorder().authorizations(),
              ElementsAre(absl::StrCat("Bearer ", kToken)));
}

TEST_F(ClientTlsTest, TokenFileIsTrimmedAndReadOnceAtCreate) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  const std::string token_file = Path("token");
  WriteFile(token_file, "  \tfile-token-123\r\n\n");
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  options.token_file = token_file;
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(Acquire(**client), IsOk());
  // Neither a changed nor a removed file affects the running Client.
  WriteFile(token_file, "changed-token");
  ASSERT_THAT(Acquire(**client), IsOk());
  ASSERT_EQ(std::remove(token_file.c_str()), 0);
  ASSERT_THAT(Acquire(**client), IsOk());
  EXPECT_THAT(server->recorder().authorizations(),
              AllOf(SizeIs(3), Each("Bearer file-token-123")));
}

TEST_F(ClientTlsTest, NoTokenSendsNoAuthorization) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  absl::StatusOr<std::unique_ptr<Client>> client =
      MakeClient(server->address(), options);
  ASSERT_THAT(client, IsOk());
  ASSERT_THAT(Acquire(**client), IsOk());
  ASSERT_THAT((*client)->CheckHealth(), IsOk());
  EXPECT_THAT(server->recorder().authorizations(),
              ElementsAre(kNoToken, kNoToken));
}

TEST_F(ClientTlsTest, TokenGoesOnEveryRpcOfEveryService) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  options.token = kToken;
  {
    absl::StatusOr<std::unique_ptr<Client>> created =
        MakeClient(server->address(), options);
    ASSERT_THAT(created, IsOk());
    Client& client = **created;
    EXPECT_THAT(Acquire(client), IsOk());
    std::promise<absl::StatusOr<Permit>> async_permit;
    client.AcquirePermitAsync("embed", "user:1", {},
                              [&](absl::StatusOr<Permit> p) {
                                async_permit.set_value(std::move(p));
                              });
    EXPECT_THAT(async_permit.get_future().get(), IsOk());
    EXPECT_THAT(client.CheckHealth("database"), IsOk());
    EXPECT_THAT(client.WatchHealth("", absl::Seconds(5),
                                   [](ServingStatus) { return false; }),
                IsOk());
    RetryRequest retry;
    retry.attempt = 1;
    retry.failure.http_status = 503;
    EXPECT_THAT(client.DecideRetry("default", retry), IsOk());
    EXPECT_THAT(client.GetRetryPolicy("default"), IsOk());
    EXPECT_THAT(client.GetHealth(), IsOk());
    EXPECT_THAT(client.ReportOutcome("db", true, absl::Milliseconds(3)),
                IsOk());
    std::promise<absl::Status> async_report;
    client.ReportOutcomeAsync("db", false, absl::Milliseconds(3), "503",
                              [&](absl::Status s) { async_report.set_value(s); });
    EXPECT_THAT(async_report.get_future().get(), IsOk());
    // A hardened call: AcquirePermit, then the outcome reported to "db"
    // (asynchronously; the destructor below waits for it).
    EXPECT_THAT(client.Call<int>("embed", "user:1",
                                 [](const AttemptInfo&) -> absl::StatusOr<int> {
                                   return 7;
                                 },
                                 {.dependency = "db"}),
                IsOk());
  }
  // 9 direct RPCs + AcquirePermit and ReportOutcome of the hardened call.
  EXPECT_THAT(server->recorder().authorizations(),
              AllOf(SizeIs(11), Each(absl::StrCat("Bearer ", kToken))));
}

// ---- Create's validation -------------------------------------------------------

// Every error: the code, a substring naming the field, never the token.
MATCHER_P(InvalidNaming, field, "") {
  const absl::Status& s = arg.status();
  *result_listener << "status is " << s.ToString();
  return s.code() == absl::StatusCode::kInvalidArgument &&
         absl::StrContains(s.message(), field) &&
         !absl::StrContains(s.message(), kToken) &&
         !absl::StrContains(s.message(), "file-secret");
}

TEST_F(ClientTlsTest, TlsTogetherWithCredentialsIsRejected) {
  ClientOptions options;
  options.tls = TrustCa(pki_->ca_cert());
  options.credentials = grpc::InsecureChannelCredentials();
  EXPECT_THAT(MakeClient("127.0.0.1:1", options), InvalidNaming("credentials"));
}

TEST_F(ClientTlsTest, TokenTogetherWithTokenFileIsRejected) {
  const std::string token_file = Path("token");
  WriteFile(token_file, "file-secret");
  ClientOptions options;
  options.token = kToken;
  options.token_file = token_file;
  EXPECT_THAT(MakeClient("127.0.0.1:1", options), InvalidNaming("token_file"));
}

TEST_F(ClientTlsTest, CertWithoutKeyAndKeyWithoutCertAreRejected) {
  absl::StatusOr<CertFiles> cert = pki_->IssueClient("client", 5);
  ASSERT_THAT(cert, IsOk());
  ClientOptions cert_only;
  cert_only.tls = TrustCa(pki_->ca_cert());
  cert_only.tls->cert_file = cert->cert;
  EXPECT_THAT(MakeClient("127.0.0.1:1", cert_only),
              InvalidNaming("tls.key_file"));
  ClientOptions key_only;
  key_only.tls = TrustCa(pki_->ca_cert());
  key_only.tls->key_file = cert->key;
  EXPECT_THAT(MakeClient("127.0.0.1:1", key_only),
              InvalidNaming("tls.cert_file"));
}

TEST_F(ClientTlsTest, UnreadableFilesNameTheOptionAndPath) {
  const std::string missing = Path("missing.pem");
  ClientOptions ca;
  ca.tls = TrustCa(missing);
  EXPECT_THAT(MakeClient("127.0.0.1:1", ca),
              InvalidNaming(absl::StrCat("tls.ca_file: cannot read \"", missing,
                                         "\": No such file or directory")));
  ClientOptions ca_dir;
  ca_dir.tls = TrustCa(pki_->dir());
  EXPECT_THAT(MakeClient("127.0.0.1:1", ca_dir),
              InvalidNaming("tls.ca_file: cannot read"));

  absl::StatusOr<CertFiles> good = pki_->IssueClient("client", 6);
  ASSERT_THAT(good, IsOk());
  ClientOptions cert;
  cert.tls = TrustCa(pki_->ca_cert());
  cert.tls->cert_file = missing;
  cert.tls->key_file = good->key;
  EXPECT_THAT(MakeClient("127.0.0.1:1", cert),
              InvalidNaming(absl::StrCat("tls.cert_file: cannot read \"",
                                         missing, "\"")));
  ClientOptions key;
  key.tls = TrustCa(pki_->ca_cert());
  key.tls->cert_file = good->cert;
  key.tls->key_file = missing;
  EXPECT_THAT(MakeClient("127.0.0.1:1", key),
              InvalidNaming(absl::StrCat("tls.key_file: cannot read \"",
                                         missing, "\"")));
  ClientOptions token;
  token.token_file = missing;
  EXPECT_THAT(MakeClient("127.0.0.1:1", token),
              InvalidNaming(absl::StrCat("token_file: cannot read \"", missing,
                                         "\": No such file or directory")));
}

TEST_F(ClientTlsTest, FilesWithoutPemAreRejectedWithoutTheirContents) {
  const std::string not_pem = Path("not.pem");
  WriteFile(not_pem, "file-secret\n");
  ClientOptions ca;
  ca.tls = TrustCa(not_pem);
  EXPECT_THAT(MakeClient("127.0.0.1:1", ca),
              InvalidNaming("tls.ca_file: \"" + not_pem + "\" holds no PEM"));
  // An empty CA file must not silently mean "the system roots".
  const std::string empty = Path("empty.pem");
  WriteFile(empty, "");
  ca.tls = TrustCa(empty);
  EXPECT_THAT(MakeClient("127.0.0.1:1", ca), InvalidNaming("tls.ca_file"));
  absl::StatusOr<CertFiles> good = pki_->IssueClient("client", 7);
  ASSERT_THAT(good, IsOk());
  ClientOptions key;
  key.tls = TrustCa(pki_->ca_cert());
  key.tls->cert_file = good->cert;
  key.tls->key_file = not_pem;
  EXPECT_THAT(MakeClient("127.0.0.1:1", key), InvalidNaming("tls.key_file"));
}

TEST_F(ClientTlsTest, EmptyOrBadTokensAreRejectedWithoutTheirText) {
  const std::string token_file = Path("token");
  for (const char* contents : {"", " \n\t\r\n"}) {
    WriteFile(token_file, contents);
    ClientOptions options;
    options.token_file = token_file;
    EXPECT_THAT(MakeClient("127.0.0.1:1", options),
                InvalidNaming("token_file: \"" + token_file + "\" is empty"))
        << "contents '" << contents << "'";
  }
  WriteFile(token_file, "file-secret\nsecond-line\n");
  ClientOptions two_lines;
  two_lines.token_file = token_file;
  EXPECT_THAT(MakeClient("127.0.0.1:1", two_lines),
              InvalidNaming("token_file: the token must be printable ASCII"));
  for (const std::string& bad :
       {absl::StrCat(kToken, " x"), absl::StrCat(kToken, "\n"),
        absl::StrCat(kToken, "\x7f"), absl::StrCat(kToken, "\xc3\xa9")}) {
    ClientOptions options;
    options.token = bad;
    EXPECT_THAT(MakeClient("127.0.0.1:1", options),
                InvalidNaming("token: the token must be printable ASCII"));
  }
}

// ---- CLI ---------------------------------------------------------------------

struct CliResult {
  int exit_code;
  std::string out;
  std::string err;
};

CliResult RunCliWith(std::vector<std::string> args) {
  args.insert(args.begin(), "crossbridge-cli");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  const int code = RunCli(static_cast<int>(args.size()), argv.data(), out, err);
  return {code, out.str(), err.str()};
}

// Sets an environment variable for one scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    setenv(name, value.c_str(), /*overwrite=*/1);
  }
  ~ScopedEnv() { unsetenv(name_); }

 private:
  const char* name_;
};

TEST_F(ClientTlsTest, CliAcquireOverTlsWithTokenFile) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  const std::string token_file = Path("cli-token");
  WriteFile(token_file, "cli-token-1\n");
  const CliResult r = RunCliWith(
      {"--target", server->address(), "--tls-ca", pki_->ca_cert(),
       "--token-file", token_file, "acquire", "--operation", "embed", "--key",
       "user:1", "--timeout-ms", "5000"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("allowed"));
  EXPECT_THAT(server->recorder().authorizations(),
              ElementsAre("Bearer cli-token-1"));
}

TEST_F(ClientTlsTest, CliMtlsWithServerNameAndEnvToken) {
  std::unique_ptr<FakeServer> server =
      FakeServer::Tls(server_files_, ClientCerts::kRequire, pki_->ca_cert());
  absl::StatusOr<CertFiles> cert = pki_->IssueClient("cli-client", 300);
  ASSERT_THAT(cert, IsOk());
  ScopedEnv env("CROSSBRIDGE_TOKEN", "env-token-2");
  const CliResult r = RunCliWith(
      {"health", "--service", "database", "--target", server->address(),
       "--tls-ca", pki_->ca_cert(), "--tls-cert", cert->cert, "--tls-key",
       cert->key, "--tls-server-name", "localhost", "--timeout-ms", "5000"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_THAT(r.out, HasSubstr("SERVING"));
  EXPECT_THAT(server->recorder().authorizations(),
              ElementsAre("Bearer env-token-2"));
  EXPECT_EQ(server->recorder().client_cn(), "cli-client");
}

TEST_F(ClientTlsTest, CliTokenFileWinsOverEnvironment) {
  std::unique_ptr<FakeServer> server = FakeServer::Plaintext();
  const std::string token_file = Path("cli-token");
  WriteFile(token_file, "from-file");
  ScopedEnv env("CROSSBRIDGE_TOKEN", "from-env");
  CliResult r = RunCliWith({"acquire", "--operation", "embed", "--key", "k",
                            "--target", server->address(), "--token-file",
                            token_file, "--timeout-ms", "5000"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  r = RunCliWith({"acquire", "--operation", "embed", "--key", "k", "--target",
                  server->address(), "--timeout-ms", "5000"});
  EXPECT_EQ(r.exit_code, kExitOk) << r.err;
  EXPECT_THAT(server->recorder().authorizations(),
              ElementsAre("Bearer from-file", "Bearer from-env"));
}

TEST_F(ClientTlsTest, CliUntrustedServerIsRpcError) {
  std::unique_ptr<FakeServer> server = FakeServer::Tls(server_files_);
  const CliResult r = RunCliWith({"--target", server->address(), "--tls-ca",
                                  pki_->other_ca_cert(), "--timeout-ms",
                                  "5000", "health"});
  EXPECT_EQ(r.exit_code, kExitRpcError);
  EXPECT_THAT(r.err, HasSubstr("error: UNAVAILABLE: "));
}

}  // namespace
}  // namespace crossbridge
