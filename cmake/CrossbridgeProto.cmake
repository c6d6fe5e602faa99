# crossbridge_proto_library(<target> <file.proto>...)
# A static library of the protobuf + gRPC code generated from the given
# .proto files (paths relative to the calling folder, which is also the
# import root). Generated files land in <build folder>/gen, never in the
# source tree; dependents get that folder on their include path.
function(crossbridge_proto_library target)
  add_library(${target} STATIC ${ARGN})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
  set(gen_dir ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen_dir})
  target_include_directories(${target} PUBLIC ${gen_dir})
  protobuf_generate(TARGET ${target} LANGUAGE cpp
    IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR} PROTOC_OUT_DIR ${gen_dir})
  protobuf_generate(TARGET ${target} LANGUAGE grpc
    GENERATE_EXTENSIONS .grpc.pb.h .grpc.pb.cc
    PLUGIN "protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
    IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR} PROTOC_OUT_DIR ${gen_dir})
endfunction()
