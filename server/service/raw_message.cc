#include "server/service/raw_message.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <string>

namespace crossbridge {

grpc::Status ParseRawRequest(const grpc::ByteBuffer& bytes,
                             google::protobuf::Message& message) {
  grpc::ByteBuffer copy(bytes);  // the reader needs a mutable buffer
  grpc::ProtoBufferReader reader(&copy);
  if (!message.ParseFromZeroCopyStream(&reader)) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "request: not a valid " + message.GetDescriptor()->full_name() +
            " (truncated, malformed, or a string field is not UTF-8)");
  }
  return grpc::Status::OK;
}

grpc::Status SerializeRawResponse(const google::protobuf::Message& message,
                                  grpc::ByteBuffer& bytes) {
  bool own_buffer = false;
  return grpc::GenericSerialize<grpc::ProtoBufferWriter,
                                google::protobuf::Message>(message, &bytes,
                                                           &own_buffer);
}

}  // namespace crossbridge
