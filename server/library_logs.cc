#include "server/library_logs.h"

#include <google/protobuf/stubs/logging.h>
#include <grpc/support/log.h>

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log_throttle.h"
#include "common/logging.h"

namespace crossbridge {
namespace {

LogThrottle& Throttle() {
  static LogThrottle* const throttle = new LogThrottle(absl::Minutes(1));
  return *throttle;
}

void Write(const char* logger, spdlog::level::level_enum level,
           const char* file, int line, absl::string_view message) {
  const std::string site = absl::StrCat(logger, ":", file ? file : "?", ":", line);
  std::optional<uint64_t> suppressed = Throttle().Admit(site);
  if (!suppressed) return;
  Logger(logger)->log(level, "{}{} ({}:{})", std::string(message.substr(0, 500)),
                      *suppressed > 0
                          ? absl::StrCat(" [", *suppressed, " more like it held back]")
                          : "",
                      file ? file : "?", line);
}

void FromProtobuf(google::protobuf::LogLevel level, const char* file, int line,
                  const std::string& message) {
  spdlog::level::level_enum ours = spdlog::level::info;
  switch (level) {
    case google::protobuf::LOGLEVEL_INFO: ours = spdlog::level::debug; break;
    case google::protobuf::LOGLEVEL_WARNING: ours = spdlog::level::warn; break;
    case google::protobuf::LOGLEVEL_ERROR: ours = spdlog::level::warn; break;
    case google::protobuf::LOGLEVEL_FATAL: ours = spdlog::level::critical; break;
  }
  Write("protobuf", ours, file, line, message);
}

void FromGrpc(gpr_log_func_args* args) {
  spdlog::level::level_enum ours = spdlog::level::debug;
  if (args->severity == GPR_LOG_SEVERITY_INFO) ours = spdlog::level::info;
  if (args->severity == GPR_LOG_SEVERITY_ERROR) ours = spdlog::level::err;
  Write("grpc", ours, args->file, args->line,
        args->message ? args->message : "");
}

}  // namespace

void RouteLibraryLogs() {
  google::protobuf::SetLogHandler(&FromProtobuf);
  gpr_set_log_function(&FromGrpc);
}

}  // namespace crossbridge
