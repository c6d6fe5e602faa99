// TLS, mTLS, certificate rotation, the plaintext health listener and tenant
// tokens, end to end: the real crossbridge-server binary with certificates
// made by openssl (TestPki), driven by the client SDK, the CLI and plain
// gRPC stubs (what grpcurl does).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/client.h"
#include "crossbridge/v1/health_reporter.grpc.pb.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "server/auth/token_hash.h"
#include "tests/testing/http_get.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/wait.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::CertFiles;
using ::crossbridge::testing::CliBinary;
using ::crossbridge::testing::CommandResult;
using ::crossbridge::testing::HttpGet;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::IsOkAndHolds;
using ::crossbridge::testing::RunCommand;
using ::crossbridge::testing::SampleValue;
using ::crossbridge::testing::ServerBinary;
using ::crossbridge::testing::ServerProcess;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TestPki;
using ::crossbridge::testing::WaitFor;
using ::testing::HasSubstr;
using ::testing::Not;

void WriteFile(const std::string& path, const std::string& text) {
  const std::string temp = path + ".tmp";
  std::ofstream(temp, std::ios::trunc) << text;
  std::rename(temp.c_str(), path.c_str());
}

class SecurityE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<TestPki>> pki = TestPki::Create();
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    absl::StatusOr<CertFiles> server = pki_->IssueServer("server", 1);
    ASSERT_THAT(server, IsOk());
    server_cert_ = *server;
  }

  // A config with TLS on the gRPC port; `extra` is appended under server.tls.
  std::string TlsConfig(const std::string& client_auth = "none",
                        const std::string& rest = "") const {
    std::string ca = client_auth == "none"
                         ? ""
                         : absl::StrCat("    client_ca_file: ", pki_->ca_cert(), "\n");
    return absl::StrCat("server:\n  drain_grace_seconds: 0\n  tls:\n",
                        "    cert_file: ", server_cert_.cert, "\n",
                        "    key_file: ", server_cert_.key, "\n", ca,
                        "    client_auth: ", client_auth, "\n",
                        "    refresh_interval_seconds: 1\n", rest,
                        "runtime:\n  health_checks: {enabled: false}\n");
  }

  ClientOptions TlsClient(const ServerProcess& server) const {
    ClientOptions options;
    options.target = server.address();
    options.default_deadline = absl::Seconds(5);
    options.tls = ClientOptions::Tls{.ca_file = pki_->ca_cert()};
    return options;
  }

  static absl::StatusOr<Permit> Acquire(const ClientOptions& options,
                                        const std::string& op = "embed",
                                        const std::string& key = "user:1",
                                        uint32_t cost = 1) {
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    if (!client.ok()) return client.status();
    return (*client)->AcquirePermit(op, key, {.cost = cost});
  }

  std::unique_ptr<TestPki> pki_;
  CertFiles server_cert_;
};

TEST_F(SecurityE2eTest, TheSdkTalksToATlsServer) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(TlsConfig());
  ASSERT_THAT(server, IsOk());
  ClientOptions options = TlsClient(*server);
  absl::StatusOr<Permit> permit = Acquire(options);
  ASSERT_THAT(permit, IsOk());
  EXPECT_TRUE(permit->allowed);
  EXPECT_EQ(permit->remaining, 59u);  // embed: 60 per minute
  // By name, as clients that reach the server through a DNS name do.
  options.tls->server_name = "localhost";
  permit = Acquire(options);
  ASSERT_THAT(permit, IsOk());
  EXPECT_EQ(permit->remaining, 58u);
  EXPECT_THAT(server->Logs(), HasSubstr("TLS on: certificate serial 01"));
}

TEST_F(SecurityE2eTest, APlaintextClientIsRefusedByATlsServer) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(TlsConfig());
  ASSERT_THAT(server, IsOk());
  ClientOptions plaintext;
  plaintext.target = server->address();
  plaintext.default_deadline = absl::Seconds(2);
  EXPECT_THAT(Acquire(plaintext), StatusIs(absl::StatusCode::kUnavailable));
  // A client that trusts another CA is refused too.
  ClientOptions wrong_ca = TlsClient(*server);
  wrong_ca.tls->ca_file = pki_->other_ca_cert();
  EXPECT_THAT(Acquire(wrong_ca), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(SecurityE2eTest, RequiredClientCertificatesRefuseNoneAndTheOtherCas) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(TlsConfig("require"));
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<CertFiles> good = pki_->IssueClient("client", 10);
  absl::StatusOr<CertFiles> foreign = pki_->IssueClient("foreign", 11, /*other_ca=*/true);
  ASSERT_THAT(good, IsOk());
  ASSERT_THAT(foreign, IsOk());

  ClientOptions with_cert = TlsClient(*server);
  with_cert.tls->cert_file = good->cert;
  with_cert.tls->key_file = good->key;
  EXPECT_THAT(Acquire(with_cert), IsOk());

  ClientOptions no_cert = TlsClient(*server);
  no_cert.default_deadline = absl::Seconds(2);
  EXPECT_THAT(Acquire(no_cert), StatusIs(absl::StatusCode::kUnavailable));

  ClientOptions other_ca = TlsClient(*server);
  other_ca.default_deadline = absl::Seconds(2);
  other_ca.tls->cert_file = foreign->cert;
  other_ca.tls->key_file = foreign->key;
  EXPECT_THAT(Acquire(other_ca), StatusIs(absl::StatusCode::kUnavailable));
}

// The client CA rotates like the certificate: a client of the other CA,
// refused at first, is accepted once client_ca_file holds that CA.
TEST_F(SecurityE2eTest, ARotatedClientCaAdmitsItsClientsWithoutARestart) {
  const std::string ca_file = pki_->dir() + "/clients-ca.crt";
  WriteFile(ca_file, TestPki::ReadFile(pki_->ca_cert()));
  std::string config = TlsConfig("require");
  config = absl::StrReplaceAll(config, {{pki_->ca_cert(), ca_file}});
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(config);
  ASSERT_THAT(server, IsOk());
  absl::StatusOr<CertFiles> foreign = pki_->IssueClient("foreign", 21, /*other_ca=*/true);
  ASSERT_THAT(foreign, IsOk());
  ClientOptions options = TlsClient(*server);
  options.default_deadline = absl::Seconds(2);
  options.tls->cert_file = foreign->cert;
  options.tls->key_file = foreign->key;
  ASSERT_THAT(Acquire(options), StatusIs(absl::StatusCode::kUnavailable));

  WriteFile(ca_file, TestPki::ReadFile(pki_->other_ca_cert()));
  EXPECT_TRUE(WaitFor([&] { return Acquire(options).ok(); }, absl::Seconds(10),
                      absl::Milliseconds(200)));
}

// The serial of the certificate a new connection to `address` is given
// (nullopt when the handshake or the call fails).
std::optional<uint64_t> ServedSerial(const std::string& address,
                                     const std::string& ca_pem) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ca_pem;
  grpc::ChannelArguments args;
  // A connection of its own, never one shared with an earlier channel.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  if (!stub->Check(&context, request, &response).ok()) return std::nullopt;
  std::vector<grpc::string_ref> pem =
      context.auth_context()->FindPropertyValues("x509_pem_cert");
  if (pem.empty()) return std::nullopt;
  return TestPki::SerialOf(std::string(pem[0].data(), pem[0].size()));
}

TEST_F(SecurityE2eTest, ARotatedCertificateServesNewConnectionsWithoutARestart) {
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(TlsConfig());
  ASSERT_THAT(server, IsOk());
  const std::string ca = TestPki::ReadFile(pki_->ca_cert());
  ASSERT_EQ(ServedSerial(server->address(), ca), 1u);
  const pid_t pid = server->pid();

  // Two refresh intervals (ours, then gRPC's watcher): 1 s each here.
  ASSERT_THAT(pki_->IssueServer("server", 2), IsOk());
  EXPECT_TRUE(WaitFor([&] { return ServedSerial(server->address(), ca) == 2u; },
                      absl::Seconds(10), absl::Milliseconds(200)));
  EXPECT_EQ(server->pid(), pid);

  // A broken certificate: the old one keeps serving, the failure is logged
  // once and counted.
  WriteFile(server_cert_.cert, "-----BEGIN CERTIFICATE-----\nbroken\n"
                               "-----END CERTIFICATE-----\n");
  EXPECT_TRUE(WaitFor(
      [&] { return absl::StrContains(server->Logs(), "were rejected"); },
      absl::Seconds(10), absl::Milliseconds(100)));
  absl::SleepFor(absl::Seconds(3));  // three more looks at the broken file
  EXPECT_EQ(ServedSerial(server->address(), ca), 2u);
  const std::string logs = server->Logs();
  size_t rejections = 0;
  for (size_t at = logs.find("were rejected"); at != std::string::npos;
       at = logs.find("were rejected", at + 1)) {
    ++rejections;
  }
  EXPECT_EQ(rejections, 1u) << logs;
  EXPECT_THAT(logs, HasSubstr("server.tls.cert_file: \"" + server_cert_.cert +
                              "\" holds no PEM certificate"));
  absl::StatusOr<std::string> metrics =
      HttpGet(server->metrics_port(), "/metrics");
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(SampleValue(*metrics, "crossbridge_tls_reloads_total{result=\"failure\"}"),
              IsOkAndHolds(1));
  EXPECT_THAT(SampleValue(*metrics, "crossbridge_tls_reloads_total{result=\"success\"}"),
              IsOkAndHolds(1));

  // Fixed again: served at once.
  ASSERT_THAT(pki_->IssueServer("server", 3), IsOk());
  EXPECT_TRUE(WaitFor([&] { return ServedSerial(server->address(), ca) == 3u; },
                      absl::Seconds(10), absl::Milliseconds(200)));
}

TEST_F(SecurityE2eTest, AMissingTlsFileStopsTheServerNamingTheKeyAndPath) {
  const std::string missing = pki_->dir() + "/missing.key";
  std::string config = TlsConfig();
  config = absl::StrReplaceAll(config, {{server_cert_.key, missing}});
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(config);
  ASSERT_THAT(server, StatusIs(absl::StatusCode::kFailedPrecondition,
                               HasSubstr("server exited with 1")));
  EXPECT_THAT(std::string(server.status().message()),
              HasSubstr("server.tls.key_file: cannot read \"" + missing +
                        "\": No such file or directory"));
}

// With TLS on, kubelet probes and load balancers use the plaintext health
// listener: grpc.health.v1 and nothing else, no token needed.
TEST_F(SecurityE2eTest, TheHealthListenerServesHealthOnlyInPlaintext) {
  std::string config = TlsConfig();
  config = absl::StrReplaceAll(
      config, {{"  drain_grace_seconds: 0\n",
                "  drain_grace_seconds: 0\n  health_listen_address: \"127.0.0.1:0\"\n"}});
  const std::string tokens = pki_->dir() + "/tokens.yml";
  WriteFile(tokens, "- tenant: a\n  token_sha256: " + Sha256Hex("token-a") + "\n");
  config += "auth: {enabled: true, tokens_file: " + tokens + "}\n";
  absl::StatusOr<ServerProcess> server = ServerProcess::Start(config);
  ASSERT_THAT(server, IsOk());
  ASSERT_NE(server->health_port(), 0);

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server->health_port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  for (const char* name : {"", "crossbridge.v1.RateLimiter"}) {
    grpc::ClientContext context;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(name);
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << name;
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  // Nothing else: no CrossBridge service, no reflection.
  {
    auto limiter = v1::RateLimiter::NewStub(channel);
    grpc::ClientContext context;
    v1::AcquirePermitRequest request;
    request.set_operation("embed");
    request.set_key("k");
    v1::AcquirePermitResponse response;
    EXPECT_EQ(limiter->AcquirePermit(&context, request, &response).error_code(),
              grpc::StatusCode::UNIMPLEMENTED);
  }
  {
    auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(channel);
    grpc::ClientContext context;
    auto stream = reflection->ServerReflectionInfo(&context);
    grpc::reflection::v1alpha::ServerReflectionRequest request;
    request.set_list_services("");
    stream->Write(request);
    stream->WritesDone();
    grpc::reflection::v1alpha::ServerReflectionResponse response;
    EXPECT_FALSE(stream->Read(&response));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  // The TLS port's health needs no token either.
  ClientOptions options = TlsClient(*server);
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT((*client)->CheckHealth(""), IsOkAndHolds(ServingStatus::kServing));
  // ... and reflection stays open there (grpcurl list).
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = TestPki::ReadFile(pki_->ca_cert());
  auto tls_channel = grpc::CreateChannel(server->address(), grpc::SslCredentials(ssl));
  auto reflection = grpc::reflection::v1alpha::ServerReflection::NewStub(tls_channel);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> services;
  for (const auto& s : response.list_services_response().service()) {
    services.push_back(s.name());
  }
  EXPECT_THAT(services, ::testing::Contains("crossbridge.v1.RateLimiter"));
  stream->WritesDone();
  stream->Finish();
}

// Tenant tokens on the plaintext port (a local setup): isolation, global
// operations, every refusal, the reload of the tokens file, and no token in
// the logs.
class TokensE2eTest : public ::testing::Test {
 protected:
  static constexpr char kTokenA[] = "tok-A-7f3c9e2b41d8a6f0c5e1b9d2a4c7e8f1";
  static constexpr char kTokenB[] = "tok-B-0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d";
  static constexpr char kTokenC[] = "tok-C-1122334455667788990011223344556";
  static constexpr char kTokenD[] = "tok-D-99887766554433221100aabbccddeeff";

  void SetUp() override {
    char dir[] = "/tmp/crossbridge-tokens-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    tokens_ = dir_ + "/tokens.yml";
    WriteFile(tokens_, Tokens({{"a", kTokenA, ""},
                               {"b", kTokenB, "  operations: [embed, quota]\n"
                                              "  scopes: [acquire, read]\n"},
                               {"c", kTokenC, "  scopes: [read]\n"}}));
    absl::StatusOr<ServerProcess> server = ServerProcess::Start(absl::StrCat(
        "server: {drain_grace_seconds: 0}\n"
        "logging: {level: trace}\n"
        "auth:\n  enabled: true\n  tokens_file: ", tokens_, "\n",
        "runtime:\n"
        "  rate_limiting:\n"
        "    defaults:\n"
        "      embed: {capacity: 5, window_seconds: 60}\n"
        "      search: {capacity: 5, window_seconds: 60}\n"
        "      quota: {capacity: 4, window_seconds: 60, scope: global}\n"
        "  health_checks:\n"
        "    providers:\n"
        "      database: {check_type: tcp, target: \"127.0.0.1:1\", interval: 3600,"
        " timeout: 1}\n"));
    ASSERT_THAT(server, IsOk());
    server_.emplace(*std::move(server));
  }

  void TearDown() override { std::filesystem::remove_all(dir_); }

  struct Entry {
    std::string tenant, token, extra;
  };
  static std::string Tokens(const std::vector<Entry>& entries) {
    std::string out;
    for (const Entry& e : entries) {
      absl::StrAppend(&out, "- tenant: ", e.tenant, "\n  token_sha256: ",
                      Sha256Hex(e.token), "\n", e.extra);
    }
    return out;
  }

  std::unique_ptr<Client> ClientWith(const std::string& token) {
    ClientOptions options;
    options.target = server_->address();
    options.default_deadline = absl::Seconds(5);
    options.token = token;
    absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
    EXPECT_THAT(client, IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  std::string dir_;
  std::string tokens_;
  std::optional<ServerProcess> server_;
};

TEST_F(TokensE2eTest, TenantsOnTheSameKeyCountInSeparateBucketsExactly) {
  std::unique_ptr<Client> a = ClientWith(kTokenA);
  std::unique_ptr<Client> b = ClientWith(kTokenB);
  for (uint32_t want : {4u, 3u, 2u}) {
    absl::StatusOr<Permit> p = a->AcquirePermit("embed", "user:1");
    ASSERT_THAT(p, IsOk());
    EXPECT_EQ(p->remaining, want);
  }
  absl::StatusOr<Permit> p = b->AcquirePermit("embed", "user:1");
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->remaining, 4u);  // B's own first permit
  // A key made to look like B's bucket stays A's.
  p = a->AcquirePermit("embed", "b:embed:user:1");
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->remaining, 4u);
  p = a->AcquirePermit("embed", "user:1", {.cost = 0});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->remaining, 2u);
  p = b->AcquirePermit("embed", "user:1", {.cost = 0});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->remaining, 4u);
}

TEST_F(TokensE2eTest, AGlobalOperationIsSharedByEveryTenant) {
  std::unique_ptr<Client> a = ClientWith(kTokenA);
  std::unique_ptr<Client> b = ClientWith(kTokenB);
  absl::StatusOr<Permit> p = a->AcquirePermit("quota", "org", {.cost = 2});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->remaining, 2u);
  p = b->AcquirePermit("quota", "org", {.cost = 2});
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->remaining, 0u);
  p = a->AcquirePermit("quota", "org");
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE(p->allowed);
}

TEST_F(TokensE2eTest, UnknownOrMissingTokensAndUngrantedRequestsAreRefused) {
  EXPECT_THAT(ClientWith("tok-unknown-000")->AcquirePermit("embed", "k"),
              StatusIs(absl::StatusCode::kUnauthenticated, "unknown bearer token"));
  EXPECT_THAT(ClientWith("")->AcquirePermit("embed", "k"),
              StatusIs(absl::StatusCode::kUnauthenticated,
                       HasSubstr("missing bearer token")));
  EXPECT_THAT(ClientWith("")->GetHealth(),
              StatusIs(absl::StatusCode::kUnauthenticated));
  // b: operations [embed, quota], scopes [acquire, read].
  std::unique_ptr<Client> b = ClientWith(kTokenB);
  EXPECT_THAT(b->AcquirePermit("search", "k"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "tenant \"b\" is not granted operation \"search\""));
  EXPECT_THAT(b->ReportOutcome("database", false, absl::Milliseconds(3)),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       "tenant \"b\" is not granted scope \"report\" (needed by "
                       "ReportOutcome)"));
  EXPECT_THAT(b->GetHealth(), IsOk());
  // c: scopes [read] only.
  EXPECT_THAT(ClientWith(kTokenC)->AcquirePermit("embed", "k"),
              StatusIs(absl::StatusCode::kPermissionDenied,
                       HasSubstr("scope \"acquire\"")));
  EXPECT_THAT(ClientWith(kTokenA)->ReportOutcome("database", true,
                                                 absl::Milliseconds(3)),
              IsOk());
}

TEST_F(TokensE2eTest, HealthNeedsNoToken) {
  std::unique_ptr<Client> anonymous = ClientWith("");
  EXPECT_THAT(anonymous->CheckHealth(""), IsOkAndHolds(ServingStatus::kServing));
  EXPECT_THAT(anonymous->CheckHealth("crossbridge.v1.RateLimiter"),
              IsOkAndHolds(ServingStatus::kServing));
}

TEST_F(TokensE2eTest, TheTokensFileReloadsAndABrokenOneKeepsTheOldTokens) {
  ASSERT_THAT(ClientWith(kTokenD)->AcquirePermit("embed", "k"),
              StatusIs(absl::StatusCode::kUnauthenticated));
  WriteFile(tokens_, Tokens({{"a", kTokenA, ""}, {"d", kTokenD, ""}}));
  EXPECT_TRUE(WaitFor(
      [&] { return ClientWith(kTokenD)->AcquirePermit("embed", "k").ok(); },
      absl::Seconds(10), absl::Milliseconds(100)));
  EXPECT_THAT(ClientWith(kTokenC)->GetHealth(),
              StatusIs(absl::StatusCode::kUnauthenticated));

  WriteFile(tokens_, "- tenant: a\n  token_sha256: nothex\n");
  EXPECT_TRUE(WaitFor(
      [&] {
        return absl::StrContains(server_->Logs(), "[0].token_sha256: must be 64 hex");
      },
      absl::Seconds(10), absl::Milliseconds(100)));
  EXPECT_THAT(ClientWith(kTokenD)->AcquirePermit("embed", "k"), IsOk());
  EXPECT_THAT(ClientWith(kTokenA)->AcquirePermit("embed", "k"), IsOk());
}

TEST_F(TokensE2eTest, TheCliSendsTheTokenFromAFileOrTheEnvironment) {
  const std::string token_file = dir_ + "/token";
  WriteFile(token_file, std::string(kTokenA) + "\n");
  absl::StatusOr<CommandResult> r = RunCommand(
      {CliBinary(), "--target", server_->address(), "--token-file", token_file,
       "acquire", "--operation", "embed", "--key", "cli"},
      absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  r = RunCommand({CliBinary(), "--target", server_->address(), "acquire",
                  "--operation", "embed", "--key", "cli"},
                 absl::Seconds(20), {absl::StrCat("CROSSBRIDGE_TOKEN=", kTokenB)});
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  r = RunCommand({CliBinary(), "--target", server_->address(), "acquire",
                  "--operation", "embed", "--key", "cli"},
                 absl::Seconds(20));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_THAT(r->err, HasSubstr("UNAUTHENTICATED"));
}

TEST_F(TokensE2eTest, NoTokenEverAppearsInTheLogs) {
  // Every path a token takes: accepted, refused, unknown, malformed.
  ClientWith(kTokenA)->AcquirePermit("embed", "k").IgnoreError();
  ClientWith(kTokenB)->AcquirePermit("search", "k").IgnoreError();
  ClientWith(kTokenC)->AcquirePermit("embed", "k").IgnoreError();
  ClientWith("tok-unknown-secret-42")->AcquirePermit("embed", "k").IgnoreError();
  WriteFile(tokens_, Tokens({{"a", kTokenA, ""}, {"d", kTokenD, ""}}));
  EXPECT_TRUE(WaitFor(
      [&] { return ClientWith(kTokenD)->AcquirePermit("embed", "k").ok(); },
      absl::Seconds(10), absl::Milliseconds(100)));
  const std::string logs = server_->Logs();
  ASSERT_THAT(logs, HasSubstr("auth on: 2 token(s)"));  // the logs are there
  for (const char* token : {kTokenA, kTokenB, kTokenC, kTokenD, "tok-unknown-secret-42"}) {
    EXPECT_THAT(logs, Not(HasSubstr(token))) << token;
    // Not even a recognizable part of one.
    EXPECT_THAT(logs, Not(HasSubstr(std::string(token).substr(6, 12)))) << token;
  }
}

TEST(HashTokenTest, PrintsTheSha256OfTheTokenOnStdin) {
  char dir[] = "/tmp/crossbridge-hash-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/token";
  WriteFile(file, "  my-secret-token\n");
  absl::StatusOr<CommandResult> r = RunCommand(
      {"/bin/sh", "-c", absl::StrCat(ServerBinary(), " --hash-token < ", file)},
      absl::Seconds(20));
  std::filesystem::remove_all(dir);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_EQ(r->out, Sha256Hex("my-secret-token") + "\n");
  EXPECT_THAT(r->out + r->err, Not(HasSubstr("my-secret-token")));
}

}  // namespace
}  // namespace crossbridge
