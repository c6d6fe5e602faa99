// crossbridge-cli: asks a CrossBridge server for a permit or its health from a
// shell. The logic lives here (not in main.cc) so tests can run it in-process.
//
//   crossbridge-cli [--target HOST:PORT] [--timeout-ms N] [--json]
//                   acquire --operation OP --key KEY [--cost N]
//   crossbridge-cli [global flags] health [--service NAME]
//
// Flags take their value as `--name value` or `--name=value` and may appear
// before or after the command. --target defaults to $CROSSBRIDGE_TARGET, then
// 127.0.0.1:50051. --help / -h prints usage to `out` and exits 0.
//
// Exit codes:
//   0  acquire: permit allowed            health: SERVING
//   1  acquire: refused (rate limited)    health: any other status
//   2  usage error (bad or missing flags, unknown command); message on `err`
//   3  RPC error (unreachable server, INVALID_ARGUMENT, NOT_FOUND, ...);
//      `err` gets "error: <GRPC_CODE>: <server message>"
//
// Results go to `out`: one human-readable line, or with --json one JSON object
// per line.
#ifndef CROSSBRIDGE_CLIENT_CLI_H_
#define CROSSBRIDGE_CLIENT_CLI_H_

#include <ostream>

namespace crossbridge {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRpcError = 3;

// argv[0] is the program name. Thread-compatible (reads the environment).
int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_CLI_H_
