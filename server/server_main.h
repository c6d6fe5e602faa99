// The crossbridge-server command line, as a library so tests can drive it.
//
//   crossbridge-server [--config PATH] [--listen HOST:PORT]
//                      [--metrics-listen HOST:PORT]
//   crossbridge-server --check-config FILE   (exit 0 valid, 1 invalid with
//                                             file:line:col: key: reason)
//   crossbridge-server --hash-token          (stdin's token -> its SHA-256)
//   crossbridge-server --help | -h           (usage on stdout, exit 0)
//
// Parsed with CLI11: `--name value` or `--name=value`; an unknown flag, a
// missing value or --hash-token with another flag is a usage error (exit 2,
// "crossbridge-server: <reason naming the flag>" and the usage on stderr).
//
// Once listening it prints exactly one line to stdout, for scripts and tests:
//   CROSSBRIDGE_LISTENING <host>:<port>
// (the real port when the configured port is 0). Logs go to stderr.
//
// SIGTERM / SIGINT start a graceful drain (Server::Drain); the process then
// exits 0. SIGHUP, SIGUSR1 and SIGUSR2 are logged and ignored; SIGPIPE is
// ignored (a closed log pipe never kills the server). Exit codes: 0 ok,
// 1 configuration invalid, 2 usage error (also a malformed --listen),
// 3 cannot start (e.g. the address is taken: the port is never shared with
// another process).
#ifndef CROSSBRIDGE_SERVER_SERVER_MAIN_H_
#define CROSSBRIDGE_SERVER_SERVER_MAIN_H_

namespace crossbridge {

int RunServerMain(int argc, char** argv);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_SERVER_MAIN_H_
