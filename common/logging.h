// Process logging on spdlog: one named logger per component ("config",
// "ratelimit", "retry", "health", "redis", "grpc", "server"), all writing to
// stderr with the level and format from LoggingConfig.
//
// Format text:  2026-11-30T06:40:00.123Z info  [server] listening on ...
// Format json:  {"ts":"2026-11-30T06:40:00.123Z","level":"info",
//                "logger":"server","msg":"listening on ..."}  (one per line)
//
// Never log secrets (passwords, tokens). Thread-safe after InitLogging.
#ifndef CROSSBRIDGE_COMMON_LOGGING_H_
#define CROSSBRIDGE_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

#include "absl/status/status.h"
#include "common/config.h"

namespace crossbridge {

// Applies level and format to every component logger, existing and future.
// InvalidArgument for an unknown level name. May be called again (reload).
absl::Status InitLogging(const LoggingConfig& config);

// The logger of `component`, created on first use. Never null.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_LOGGING_H_
