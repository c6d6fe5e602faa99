#include "server/service/raw_message.h"

#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>

#include <string>

namespace crossbridge {

grpc::Status ParseRawRequest(const grpc::ByteBuffer& bytes,
                             google::protobuf::Message& message) {
  // ProtoBufferReader takes a mutable pointer but only reads the slices
  // (grpc_byte_buffer_reader_init takes references): no copy of the
  // request per call.
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&bytes));
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
