# crossbridge_proto_library(<target> <file.proto>...)
# A static library of the protobuf + gRPC code generated from the given
# .proto files (paths relative to the calling folder, which is also the
# import root). Generated files land in <build folder>/gen, never in the
# source tree; dependents get that folder on their include path while
# building, and <prefix>/${CMAKE_INSTALL_INCLUDEDIR}/crossbridge once
# installed (where crossbridge_install_proto_headers puts the headers).
function(crossbridge_proto_library target)
  add_library(${target} STATIC ${ARGN})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf gRPC::grpc++)
  set(gen_dir ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen_dir})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${gen_dir}>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}/crossbridge>)
  set_target_properties(${target} PROPERTIES
    CROSSBRIDGE_PROTO_FILES "${ARGN}" CROSSBRIDGE_PROTO_GEN_DIR "${gen_dir}")
  protobuf_generate(TARGET ${target} LANGUAGE cpp
    IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR} PROTOC_OUT_DIR ${gen_dir})
  protobuf_generate(TARGET ${target} LANGUAGE grpc
    GENERATE_EXTENSIONS .grpc.pb.h .grpc.pb.cc
    PLUGIN "protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
    IMPORT_DIRS ${CMAKE_CURRENT_SOURCE_DIR} PROTOC_OUT_DIR ${gen_dir})
endfunction()

# crossbridge_install_proto_headers(<target> [COMPONENT <name>])
# Installs the generated headers (<dir>/<name>.pb.h and .grpc.pb.h) of each
# .proto file of a crossbridge_proto_library target under
# ${CMAKE_INSTALL_INCLUDEDIR}/crossbridge/<dir>, keeping the import-relative
# path ("crossbridge/v1/rate_limiter.grpc.pb.h"). Exactly those files: no
# stale header left in the gen folder by a removed .proto is shipped.
function(crossbridge_install_proto_headers target)
  cmake_parse_arguments(ARG "" "COMPONENT" "" ${ARGN})
  if(NOT ARG_COMPONENT)
    set(ARG_COMPONENT development)
  endif()
  get_target_property(protos ${target} CROSSBRIDGE_PROTO_FILES)
  get_target_property(gen_dir ${target} CROSSBRIDGE_PROTO_GEN_DIR)
  if(NOT protos OR NOT gen_dir)
    message(FATAL_ERROR "${target} is not a crossbridge_proto_library target")
  endif()
  foreach(proto IN LISTS protos)
    get_filename_component(dir ${proto} DIRECTORY)
    string(REGEX REPLACE "\\.proto$" "" stem ${proto})
    install(FILES ${gen_dir}/${stem}.pb.h ${gen_dir}/${stem}.grpc.pb.h
      DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/crossbridge/${dir}
      COMPONENT ${ARG_COMPONENT})
  endforeach()
endfunction()
