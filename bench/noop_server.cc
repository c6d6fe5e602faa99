// noop_server: crossbridge.v1.RateLimiter on the gRPC callback API that
// answers allowed=true at once, touching no store — the framework's floor for
// `make bench` (contender a).
//
//   noop_server [--listen HOST:PORT]     (default 127.0.0.1:0)
//
// Prints `CROSSBRIDGE_LISTENING <host>:<port>` on stdout once serving, like
// crossbridge-server; SIGTERM / SIGINT stop it (exit 0).
//
// The gRPC setup is crossbridge-server's (server/server.cc): the default
// health service and reflection are on. They matter for speed, not only for
// fidelity: the health service is a sync service, so gRPC adds a sync-server
// thread that also polls the connections — without it this floor measured
// below the real server.
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string>
#include <thread>

#include "crossbridge/v1/rate_limiter.grpc.pb.h"

namespace {

class NoopRateLimiter final : public crossbridge::v1::RateLimiter::CallbackService {
  grpc::ServerUnaryReactor* AcquirePermit(
      grpc::CallbackServerContext* context,
      const crossbridge::v1::AcquirePermitRequest* request,
      crossbridge::v1::AcquirePermitResponse* response) override {
    response->set_allowed(true);
    response->set_limit(1000000);
    response->set_remaining(999999);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--listen=", 0) == 0) {
      listen = arg.substr(strlen("--listen="));
    } else if (arg == "--listen" && i + 1 < argc) {
      listen = argv[++i];
    } else {
      std::cerr << "usage: noop_server [--listen HOST:PORT]\n";
      return 2;
    }
  }

  // Block the stop signals before gRPC starts its threads; a waiter thread
  // receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  NoopRateLimiter service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::cerr << "noop_server: cannot listen on " << listen << "\n";
    return 3;
  }
  std::cout << "CROSSBRIDGE_LISTENING " << listen.substr(0, listen.rfind(':'))
            << ":" << port << std::endl;

  std::thread waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  });
  server->Wait();
  waiter.join();
  return 0;
}
