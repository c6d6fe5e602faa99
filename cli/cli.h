// crossbridge-cli: asks a CrossBridge server for a permit, a retry decision or
// its health, and reports call outcomes, from a shell. The logic lives here
// (not in main.cc) so tests can run it in-process.
//
//   crossbridge-cli [--target HOST:PORT] [--timeout-ms N] [--json]
//                   [--token-file PATH] [--tls-ca PATH]
//                   [--tls-cert PATH --tls-key PATH] [--tls-server-name NAME]
//                   acquire --operation OP --key KEY [--cost N]
//   crossbridge-cli [global flags] health [--service NAME] [--watch]
//                   [--watch-seconds N]
//   crossbridge-cli [global flags] retry [--policy P] --attempt N
//                   (--code C | --http-status S) [--retry-after-ms X]
//                   [--deadline-ms D] [--dependency NAME]
//   crossbridge-cli [global flags] report --provider P (--success|--failure)
//                   [--latency-ms N] [--code C]
//
// Parsed with CLI11. Flags take their value as `--name value` or
// `--name=value` (an empty `--name=` counts as no value); the global flags
// may appear before or after the command, a command's flags only after it.
// --target defaults to $CROSSBRIDGE_TARGET (when set and not empty), then
// 127.0.0.1:50051. --help / -h prints usage (a command's: its flags, then
// the global flags) to `out` and exits 0, even with other errors on the line.
// A usage error names the flag: "unknown flag --x", "--key is required",
// "--cost: expected an integer in [0, 4294967295], got 'abc'", "--code
// excludes --http-status", "--tls-cert requires --tls-key", ... Numbers are
// decimal digits only (no sign, no 0x).
//
// Security (ClientOptions::tls, token, token_file in client/client.h):
// --token-file PATH sends the token in PATH (whitespace trimmed) as
// `authorization: Bearer <token>`; without it, $CROSSBRIDGE_TOKEN (trimmed)
// when set and not empty. Any --tls-* flag turns TLS on: --tls-ca PATH (PEM
// roots; without it the system roots), --tls-cert PATH with --tls-key PATH
// (mTLS; one without the other is a usage error), --tls-server-name NAME
// (the name checked in the server certificate). A missing value, or a file
// that cannot be read, is a usage error (exit 2) naming the flag; a failed
// TLS handshake is an RPC error (exit 3, UNAVAILABLE).
//
// Exit codes:
//   0  acquire: permit allowed            health: SERVING (--watch: the last
//      retry: retry advised               status seen)
//      report: outcome recorded
//   1  acquire: refused (rate limited)    health: any other status
//      retry: no retry
//   2  usage error (bad or missing flags, unknown command, unreadable
//      --tls-*/--token-file file); message on `err`
//   3  RPC error (unreachable server, INVALID_ARGUMENT, NOT_FOUND, ...);
//      `err` gets "error: <GRPC_CODE>: <server message>"
//
// Results go to `out`: one human-readable line, or with --json each RPC
// response in the proto3 JSON mapping (as grpcurl prints it: proto field
// names, fields at their default values included, enums by name, (u)int64
// fields as JSON strings), one object per line:
//   acquire  crossbridge.v1.AcquirePermitResponse, e.g.
//            {"allowed":true,"limit":60,"remaining":59,"retry_after_ms":"0",
//             "reset_after_ms":"1000"}
//   health   grpc.health.v1.HealthCheckResponse per status ({"status":
//            "SERVING"}); without --service and --watch a second line, the
//            crossbridge.v1.HealthReport
//   retry    crossbridge.v1.DecideRetryResponse
//   report   crossbridge.v1.ReportOutcomeResponse
#ifndef CROSSBRIDGE_CLI_CLI_H_
#define CROSSBRIDGE_CLI_CLI_H_

#include <ostream>

namespace crossbridge {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRefused = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRpcError = 3;

// argv[0] is the program name. Thread-compatible (reads the environment).
int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLI_CLI_H_
