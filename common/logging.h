// Process logging on spdlog: one named logger per component ("config",
// "ratelimit", "retry", "health", "redis", "grpc", "server"), all writing to
// the same sinks with the level and format from LoggingConfig.
//
// Sinks: stderr when logging.console, and a size-rotated file at
// logging.file when it is set (rotated at max_file_mb MiB, keeping max_files
// rotated copies: app.log, app.1.log, ... app.<max_files>.log). The sinks
// are fixed at start: the first InitLogging() call that succeeds builds them,
// and later calls (a hot reload) apply level and format only, so a changed
// console/file/max_file_mb/max_files needs a restart (RestartOnlyChanges()
// in common/config_diff.h reports those keys). Before the first call,
// loggers write to stderr.
//
// Format text:  2026-11-30T06:40:00.123Z info  [server] listening on ...
// Format json:  {"ts":"2026-11-30T06:40:00.123Z","level":"info",
//                "logger":"server","msg":"listening on ..."}  (one per line)
// The format applies to every sink. File lines are flushed at once from
// warn up, and at least once a second otherwise.
//
// Never log secrets (passwords, tokens). Thread-safe: InitLogging may run
// (a reload) while other threads create loggers and log.
#ifndef CROSSBRIDGE_COMMON_LOGGING_H_
#define CROSSBRIDGE_COMMON_LOGGING_H_

#include <spdlog/spdlog.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "common/config.h"

namespace crossbridge {

// Applies level and format to every component logger, existing and future;
// the first call that succeeds also builds the sinks (see above). Errors,
// which change nothing:
//   InvalidArgument "logging.level: unknown level \"<level>\" (...)"
//   InvalidArgument "logging.file: cannot open <path>: <reason>"
//   InvalidArgument for sink settings a loaded Config cannot hold (console
//     false without a file, max_file_mb or max_files out of range).
// May be called again (reload).
absl::Status InitLogging(const LoggingConfig& config);

// The logger of `component`, created on first use. Never null.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

// Tests only: closes the sinks and goes back to the state before the first
// InitLogging (stderr), so the next InitLogging builds sinks again.
void ResetLoggingForTesting();

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_LOGGING_H_
