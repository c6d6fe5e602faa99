// Fuzz target: AcquirePermit's raw-bytes path through the real service on
// the memory store. The input is the request body, as a client could send
// it (malformed protobuf, non-UTF-8 strings, huge fields, any cost).
//
// Invariants: the server answers (never crashes or hangs), with a code it
// documents and a bounded, escaped message; an OK answer is a well-formed
// AcquirePermitResponse within its rule.
#include <cstddef>
#include <cstdint>

#include <grpcpp/support/proto_buffer_reader.h>

#include "crossbridge/v1/rate_limiter.pb.h"
#include "tests/fuzz/fuzz_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using crossbridge::fuzz::Check;
  using crossbridge::fuzz::FuzzServer;
  grpc::ByteBuffer response;
  const grpc::Status s = FuzzServer::Get().Send(
      "/crossbridge.v1.RateLimiter/AcquirePermit",
      absl::string_view(reinterpret_cast<const char*>(data), size), &response);
  FuzzServer::CheckAnswer(s);
  if (s.ok()) {
    crossbridge::v1::AcquirePermitResponse resp;
    grpc::ProtoBufferReader reader(&response);
    Check(resp.ParseFromZeroCopyStream(&reader));
    Check(resp.remaining() <= resp.limit());
    Check(resp.allowed() == (resp.retry_after_ms() == 0));
  }
  return 0;
}
