// The request and response bytes of the "raw" callback methods. Every
// CrossBridge method is registered raw (ByteBuffer in, ByteBuffer out) so
// that a malformed, truncated or non-UTF-8 request is answered
// INVALID_ARGUMENT naming the request type, instead of gRPC's own answer to
// bytes it cannot parse (INTERNAL, or UNIMPLEMENTED with no message).
#ifndef CROSSBRIDGE_SERVER_SERVICE_RAW_MESSAGE_H_
#define CROSSBRIDGE_SERVER_SERVICE_RAW_MESSAGE_H_

#include <google/protobuf/message.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

namespace crossbridge {

// Parses `bytes` into `message`. OK, or INVALID_ARGUMENT
// "request: not a valid <full type name> (...)".
grpc::Status ParseRawRequest(const grpc::ByteBuffer& bytes,
                             google::protobuf::Message& message);

// Serializes `message` into `bytes` (for the reactor's response).
grpc::Status SerializeRawResponse(const google::protobuf::Message& message,
                                  grpc::ByteBuffer& bytes);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVICE_RAW_MESSAGE_H_
