// The real crossbridge server (memory backend, no probe threads, logging
// off), started once per fuzzing process on a loopback port, and a way to
// send it raw request bytes: what the RPC fuzz targets drive.
#ifndef CROSSBRIDGE_TESTS_FUZZ_FUZZ_SERVER_H_
#define CROSSBRIDGE_TESTS_FUZZ_FUZZ_SERVER_H_

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <future>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/logging.h"
#include "server/server.h"

namespace crossbridge::fuzz {

inline void Check(bool ok) {
  if (!ok) std::abort();
}

class FuzzServer {
 public:
  // The process-wide instance (never destroyed: libFuzzer exits directly).
  static FuzzServer& Get() {
    static FuzzServer* const server = new FuzzServer();
    return *server;
  }

  // Sends `bytes` as the request of `method` ("/pkg.Service/Method"); the
  // response bytes land in *response.
  grpc::Status Send(const std::string& method, absl::string_view bytes,
                    grpc::ByteBuffer* response) {
    grpc::Slice slice(bytes.data(), bytes.size());
    grpc::ByteBuffer request(&slice, 1);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::promise<grpc::Status> done;
    stub_->UnaryCall(&context, method, grpc::StubOptions(), &request, response,
                     [&done](grpc::Status s) { done.set_value(std::move(s)); });
    return done.get_future().get();
  }

  // What every answer must look like: a code CrossBridge uses, and a short
  // message with no terminal escapes (caller input is echoed bounded and
  // escaped).
  static void CheckAnswer(const grpc::Status& s) {
    switch (s.error_code()) {
      case grpc::StatusCode::OK:
      case grpc::StatusCode::INVALID_ARGUMENT:
      case grpc::StatusCode::NOT_FOUND:
      case grpc::StatusCode::UNAVAILABLE:
        break;
      default:
        std::abort();
    }
    Check(s.error_message().size() < 1024);
    for (char c : s.error_message()) Check(c != '\x1b' && c != '\x07');
  }

 private:
  FuzzServer() {
    LoggingConfig quiet;
    quiet.level = "off";
    (void)InitLogging(quiet);
    auto config = std::make_shared<Config>(DefaultConfig());
    config->server.listen_address = "127.0.0.1:0";
    config->server.metrics_listen_address = "127.0.0.1:0";  // counted, never scraped
    config->runtime.health_checks.enabled = false;  // no probe threads
    config->runtime.rate_limiting.default_rule = RateLimitRule{5, absl::Seconds(60)};
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Create(config, RealClock::Get());
    Check(server.ok());
    server_ = std::move(*server);
    Check(server_->Start().ok());
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", server_->port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = std::make_unique<grpc::GenericStub>(channel_);
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

}  // namespace crossbridge::fuzz

#endif  // CROSSBRIDGE_TESTS_FUZZ_FUZZ_SERVER_H_
