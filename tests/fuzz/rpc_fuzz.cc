// Fuzz target: the DecideRetry, GetRetryPolicy, ReportOutcome, GetHealth,
// AcquirePermits (batch) and ReturnPermits request paths through the real
// services. The first input byte picks the
// method; the rest is the request body.
//
// Invariants: as for AcquirePermit (fuzz_server.h): an answer, always, with
// a documented code and a bounded, escaped message.
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using crossbridge::fuzz::FuzzServer;
  if (size == 0) return 0;
  static const char* const kMethods[] = {
      "/crossbridge.v1.RetryAdvisor/DecideRetry",
      "/crossbridge.v1.RetryAdvisor/GetRetryPolicy",
      "/crossbridge.v1.HealthReporter/ReportOutcome",
      "/crossbridge.v1.HealthReporter/GetHealth",
      "/crossbridge.v1.RateLimiter/AcquirePermits",
      "/crossbridge.v1.RateLimiter/ReturnPermits",
  };
  grpc::ByteBuffer response;
  const grpc::Status s = FuzzServer::Get().Send(
      kMethods[data[0] % (sizeof(kMethods) / sizeof(kMethods[0]))],
      absl::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), &response);
  FuzzServer::CheckAnswer(s);
  return 0;
}
