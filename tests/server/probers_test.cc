// The real probers against real local peers on 127.0.0.1: a TCP listener, a
// tiny HTTP server, a gRPC server with the default health service, and a
// real redis-server. No external address is contacted.
#include "server/health/probers.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "crossbridge/v1/rate_limiter.grpc.pb.h"
#include "server/health/probers_internal.h"
#include "tests/testing/tcp_listener.h"
#include "tests/testing/wait.h"
#include "tests/testing/redis_server.h"
#include "tests/testing/fake_env.h"
#include "tests/testing/status_matchers.h"

namespace crossbridge {
namespace {

using ::crossbridge::testing::FakeEnv;
using ::crossbridge::testing::IsOk;
using ::crossbridge::testing::RedisServer;
using ::crossbridge::testing::StatusIs;
using ::crossbridge::testing::TcpListener;
using ::testing::HasSubstr;
using ::testing::Not;

HealthProviderConfig Provider(CheckType type, std::string target,
                              std::string api_key_env = "") {
  HealthProviderConfig p;
  p.check_type = type;
  p.target = std::move(target);
  p.api_key_env = std::move(api_key_env);
  return p;
}

std::chrono::milliseconds Elapsed(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
}

// ---- a tiny HTTP/1.1 server: one connection at a time, canned response ----
struct CannedResponse {
  int status = 200;
  std::string body;
  std::string extra_headers;  // each ending in \r\n
  std::chrono::milliseconds delay{0};  // before the response is written
};

CannedResponse Canned(int status, std::string body, std::string extra_headers = "",
                      std::chrono::milliseconds delay = std::chrono::milliseconds(0)) {
  CannedResponse r;
  r.status = status;
  r.body = std::move(body);
  r.extra_headers = std::move(extra_headers);
  r.delay = delay;
  return r;
}

struct RecordedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
};

class TinyHttpServer {
 public:
  TinyHttpServer() {
    if (!listener_.Open().ok()) return;
    thread_ = std::thread([this] { Serve(); });
  }
  ~TinyHttpServer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  std::string url(const std::string& path) const {
    return absl::StrCat("http://127.0.0.1:", listener_.port(), path);
  }
  void Respond(CannedResponse response) {
    std::lock_guard<std::mutex> lock(mu_);
    response_ = std::move(response);
  }
  std::optional<RecordedRequest> last_request() {
    std::lock_guard<std::mutex> lock(mu_);
    return last_;
  }

 private:
  void Serve() {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) return;
      }
      pollfd p{listener_.fd(), POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept4(listener_.fd(), nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      Handle(fd);
      close(fd);
    }
  }

  // Reads until the end of the headers and Content-Length bytes of body.
  static std::optional<RecordedRequest> ReadRequest(int fd) {
    std::string data;
    char buf[4096];
    size_t header_end = std::string::npos;
    size_t content_length = 0;
    while (true) {
      if (header_end != std::string::npos &&
          data.size() >= header_end + 4 + content_length) {
        break;
      }
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 2000) <= 0) return std::nullopt;
      ssize_t n = read(fd, buf, sizeof(buf));
      if (n <= 0) return std::nullopt;
      data.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos) {
        header_end = data.find("\r\n\r\n");
        if (header_end != std::string::npos) {
          std::string lower = absl::AsciiStrToLower(data.substr(0, header_end));
          size_t cl = lower.find("content-length:");
          if (cl != std::string::npos) {
            size_t eol = lower.find("\r\n", cl);
            std::string value(absl::StripAsciiWhitespace(
                lower.substr(cl + 15, eol == std::string::npos ? std::string::npos
                                                              : eol - cl - 15)));
            (void)absl::SimpleAtoi(value, &content_length);
          }
        }
      }
    }
    RecordedRequest r;
    std::vector<std::string> lines =
        absl::StrSplit(data.substr(0, header_end), "\r\n");
    std::vector<std::string> first = absl::StrSplit(lines[0], ' ');
    r.method = first.size() > 0 ? first[0] : "";
    r.path = first.size() > 1 ? first[1] : "";
    for (size_t i = 1; i < lines.size(); ++i) {
      size_t colon = lines[i].find(':');
      if (colon == std::string::npos) continue;
      r.headers[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
          std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
    }
    r.body = data.substr(header_end + 4, content_length);
    return r;
  }

  void Handle(int fd) {
    std::optional<RecordedRequest> request = ReadRequest(fd);
    if (!request.has_value()) return;
    CannedResponse response;
    {
      std::unique_lock<std::mutex> lock(mu_);
      last_ = std::move(request);
      response = response_;
      // A slow server: holds the reply back (interrupted by shutdown).
      if (cv_.wait_for(lock, response.delay, [&] { return stop_; })) return;
    }
    std::string out = absl::StrCat(
        "HTTP/1.1 ", response.status, " Canned\r\nContent-Type: application/json\r\n",
        response.extra_headers, "Content-Length: ", response.body.size(),
        "\r\nConnection: close\r\n\r\n", response.body);
    size_t sent = 0;
    while (sent < out.size()) {
      ssize_t n = send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;
      sent += static_cast<size_t>(n);
    }
  }

  TcpListener listener_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;                    // guarded by mu_
  CannedResponse response_;              // guarded by mu_
  std::optional<RecordedRequest> last_;  // guarded by mu_
};

class ProbersTest : public ::testing::Test {
 protected:
  std::unique_ptr<Probers> probers_ = MakeProbers(FakeEnv({{"TEST_API_KEY", "sk-secret"}}));
  absl::Status Probe(const HealthProviderConfig& p,
                     absl::Duration timeout = absl::Seconds(2)) {
    return probers_->For(p.check_type).Probe(p, timeout);
  }
};

// ---- helpers ----
TEST(ProberHelpersTest, ParseHostPort) {
  using health_internal::ParseHostPort;
  auto hp = ParseHostPort("127.0.0.1:6379");
  ASSERT_THAT(hp, IsOk());
  EXPECT_EQ(hp->host, "127.0.0.1");
  EXPECT_EQ(hp->port, 6379);
  hp = ParseHostPort("[::1]:80");
  ASSERT_THAT(hp, IsOk());
  EXPECT_EQ(hp->host, "::1");
  hp = ParseHostPort("redis://:pw@redis.local:6380/2");
  ASSERT_THAT(hp, IsOk());
  EXPECT_EQ(hp->host, "redis.local");
  EXPECT_EQ(hp->port, 6380);
  EXPECT_THAT(ParseHostPort("localhost"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("host:0"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("host:99999"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHostPort("::1:80"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ProberHelpersTest, HasNonEmptyEmbedding) {
  using health_internal::HasNonEmptyEmbedding;
  EXPECT_TRUE(HasNonEmptyEmbedding(
      R"({"object":"list","data":[{"object":"embedding","index":0,)"
      R"("embedding":[0.0023,-0.009]}],"model":"m"})"));
  EXPECT_TRUE(HasNonEmptyEmbedding("{\"embedding\" :\n [ -1e-3 ]}"));
  EXPECT_FALSE(HasNonEmptyEmbedding(R"({"data":[{"object":"embedding","embedding":[]}]})"));
  EXPECT_FALSE(HasNonEmptyEmbedding(R"({"object":"embedding"})"));
  EXPECT_FALSE(HasNonEmptyEmbedding(R"({"embedding":"AAAA"})"));
  EXPECT_FALSE(HasNonEmptyEmbedding(R"({"embedding":[)"));
  EXPECT_FALSE(HasNonEmptyEmbedding(""));
}

TEST(ProberHelpersTest, RedactUrl) {
  using health_internal::RedactUrl;
  EXPECT_EQ(RedactUrl("http://user:pw@host:1/p?q=a@b"), "http://host:1/p?q=a@b");
  EXPECT_EQ(RedactUrl("http://host/v1/embeddings"), "http://host/v1/embeddings");
}

// ---- tcp ----
TEST_F(ProbersTest, TcpConnectsToListener) {
  TcpListener listener;
  ASSERT_THAT(listener.Open(), IsOk());
  EXPECT_THAT(Probe(Provider(CheckType::kTcp, listener.address())), IsOk());
}

TEST_F(ProbersTest, TcpClosedPortIsRefused) {
  TcpListener listener;
  ASSERT_THAT(listener.Open(), IsOk());
  std::string address = listener.address();
  listener.Close();
  EXPECT_THAT(Probe(Provider(CheckType::kTcp, address)),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::AllOf(HasSubstr("connect " + address),
                                        HasSubstr("refused"))));
}

TEST_F(ProbersTest, TcpBadTargetIsInvalidArgument) {
  EXPECT_THAT(Probe(Provider(CheckType::kTcp, "no-port")),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("no-port")));
}

// ---- http ----
TEST_F(ProbersTest, HttpOkOn2xx) {
  TinyHttpServer server;
  server.Respond(Canned(200, "ok"));
  EXPECT_THAT(Probe(Provider(CheckType::kHttp, server.url("/healthz"))), IsOk());
  auto request = server.last_request();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->method, "GET");
  EXPECT_EQ(request->path, "/healthz");
  server.Respond(Canned(204, ""));
  EXPECT_THAT(Probe(Provider(CheckType::kHttp, server.url("/"))), IsOk());
}

TEST_F(ProbersTest, HttpFailsOn503) {
  TinyHttpServer server;
  server.Respond(Canned(503, "busy"));
  EXPECT_THAT(Probe(Provider(CheckType::kHttp, server.url("/"))),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 503")));
}

TEST_F(ProbersTest, HttpFollowsNoRedirect) {
  TinyHttpServer server;
  server.Respond(Canned(302, "", "Location: http://127.0.0.1:1/elsewhere\r\n"));
  EXPECT_THAT(Probe(Provider(CheckType::kHttp, server.url("/"))),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 302")));
}

TEST_F(ProbersTest, HttpSlowResponseTimesOutWithinBudget) {
  TinyHttpServer server;
  server.Respond(Canned(200, "late", "", std::chrono::milliseconds(5000)));
  auto start = std::chrono::steady_clock::now();
  absl::Status s =
      Probe(Provider(CheckType::kHttp, server.url("/")), absl::Milliseconds(300));
  auto elapsed = Elapsed(start);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded,
                          HasSubstr("timed out after 300ms")));
  EXPECT_GE(elapsed.count(), 250);
  EXPECT_LE(elapsed.count(), 400);
}

TEST_F(ProbersTest, HttpClosedPortFails) {
  TcpListener listener;
  ASSERT_THAT(listener.Open(), IsOk());
  std::string url = absl::StrCat("http://", listener.address(), "/");
  listener.Close();
  EXPECT_THAT(Probe(Provider(CheckType::kHttp, url)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("GET " + url)));
}

// ---- embed ----
constexpr char kEmbeddingReply[] =
    R"({"object":"list","data":[{"object":"embedding","index":0,)"
    R"("embedding":[0.0023064255,-0.009327292,0.015797347]}],)"
    R"("model":"text-embedding-3-small","usage":{"prompt_tokens":1,"total_tokens":1}})";

TEST_F(ProbersTest, EmbedOkWithEmbeddingAndSendsKey) {
  TinyHttpServer server;
  server.Respond(Canned(200, kEmbeddingReply));
  EXPECT_THAT(Probe(Provider(CheckType::kEmbed, server.url("/v1/embeddings"),
                             "TEST_API_KEY")),
              IsOk());
  auto request = server.last_request();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->method, "POST");
  EXPECT_EQ(request->path, "/v1/embeddings");
  EXPECT_EQ(request->headers["content-type"], "application/json");
  EXPECT_EQ(request->headers["authorization"], "Bearer sk-secret");
  EXPECT_EQ(request->body, R"({"input":"ping","model":"text-embedding-3-small"})");
}

TEST_F(ProbersTest, EmbedWithoutKeySendsNoAuthorization) {
  TinyHttpServer server;
  server.Respond(Canned(200, kEmbeddingReply));
  EXPECT_THAT(Probe(Provider(CheckType::kEmbed, server.url("/v1/embeddings"),
                             "UNSET_VARIABLE")),
              IsOk());
  auto request = server.last_request();
  ASSERT_TRUE(request.has_value());
  EXPECT_EQ(request->headers.count("authorization"), 0u);
}

TEST_F(ProbersTest, EmbedFailsOnEmptyEmbedding) {
  TinyHttpServer server;
  server.Respond(Canned(200, R"({"data":[{"object":"embedding","embedding":[]}]})"));
  EXPECT_THAT(Probe(Provider(CheckType::kEmbed, server.url("/v1/embeddings"))),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("embedding")));
}

TEST_F(ProbersTest, EmbedFailsOn401AndNeverLeaksTheKey) {
  TinyHttpServer server;
  server.Respond(Canned(401, R"({"error":{"message":"Incorrect API key"}})"));
  absl::Status s = Probe(Provider(CheckType::kEmbed, server.url("/v1/embeddings"),
                                  "TEST_API_KEY"));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kUnavailable, HasSubstr("HTTP 401")));
  EXPECT_THAT(std::string(s.message()), Not(HasSubstr("sk-secret")));
}

// ---- grpc ----
TEST_F(ProbersTest, GrpcFollowsHealthService) {
#if defined(__SANITIZE_THREAD__)
  // Debian's libgrpc/libabsl are not TSan-instrumented: TSan reports races
  // inside gRPC's own threads (none in our frames). Covered by the normal
  // and ASan builds.
  GTEST_SKIP() << "gRPC runtime is not TSan-instrumented";
#endif
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  // Any sync service: gRPC 1.51 serves the default health service only on a
  // server whose sync completion queues are polled.
  crossbridge::v1::RateLimiter::Service unimplemented;
  builder.RegisterService(&unimplemented);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_GT(port, 0);
  std::string target = absl::StrCat("127.0.0.1:", port);

  server->GetHealthCheckService()->SetServingStatus(true);
  EXPECT_THAT(Probe(Provider(CheckType::kGrpc, target)), IsOk());

  server->GetHealthCheckService()->SetServingStatus(false);
  EXPECT_THAT(Probe(Provider(CheckType::kGrpc, target)),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("NOT_SERVING")));

  server->Shutdown();
  server->Wait();
  EXPECT_THAT(Probe(Provider(CheckType::kGrpc, target), absl::Milliseconds(500)),
              Not(IsOk()));
}

// ---- ping ----
TEST_F(ProbersTest, PingRealRedisThenStopped) {
  auto redis = RedisServer::Start();
  ASSERT_THAT(redis, IsOk());
  std::string target = absl::StrCat("127.0.0.1:", (*redis)->port());
  EXPECT_THAT(Probe(Provider(CheckType::kPing, target)), IsOk());

  ASSERT_THAT((*redis)->Stop(), IsOk());
  EXPECT_THAT(Probe(Provider(CheckType::kPing, target)),
              StatusIs(absl::StatusCode::kUnavailable,
                       ::testing::AllOf(HasSubstr(target), HasSubstr("refused"))));
}

TEST_F(ProbersTest, PingNoAuthProvesLiveness) {
  testing::RedisServerOptions options;
  options.password = "hunter2";
  auto redis = RedisServer::Start(options);
  ASSERT_THAT(redis, IsOk());
  EXPECT_THAT(Probe(Provider(CheckType::kPing, absl::StrCat("127.0.0.1:", (*redis)->port()))),
              IsOk());
}

TEST_F(ProbersTest, PingSilentPeerTimesOutWithinBudget) {
  // Connects (into the backlog) but never answers PING.
  TcpListener listener;
  ASSERT_THAT(listener.Open(), IsOk());
  auto start = std::chrono::steady_clock::now();
  absl::Status s =
      Probe(Provider(CheckType::kPing, listener.address()), absl::Milliseconds(300));
  auto elapsed = Elapsed(start);
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("timed out")));
  EXPECT_GE(elapsed.count(), 250);
  EXPECT_LE(elapsed.count(), 400);
}

}  // namespace
}  // namespace crossbridge
