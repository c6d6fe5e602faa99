// The lines gRPC and protobuf write themselves, routed into the "grpc" and
// "protobuf" loggers (same format and level as ours) and rate limited per
// source line: at most one line a minute for each, with a count of what was
// held back. Without it, every request that is not valid UTF-8 wrote its own
// libprotobuf ERROR line to stderr (20,000 requests: 4.4 MB of log).
//
// Call once at startup, after InitLogging and before any gRPC or protobuf
// use; not thread-safe (the libraries' own setters are not).
#ifndef CROSSBRIDGE_SERVER_LIBRARY_LOGS_H_
#define CROSSBRIDGE_SERVER_LIBRARY_LOGS_H_

namespace crossbridge {

void RouteLibraryLogs();

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_LIBRARY_LOGS_H_
