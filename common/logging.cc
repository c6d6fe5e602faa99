// Log sinks, formats and component loggers (contract in common/logging.h).
// Every component logger holds one shared dist_sink; InitLogging's first
// successful call fills it with the configured sinks, later calls only
// change the registry's level and formatter.
#include "common/logging.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/stubs/common.h>
#include <google/protobuf/util/json_util.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace crossbridge {
namespace {

// "%v" as the inside of a JSON string, for the json format: protobuf's JSON
// writer escapes it (a google.protobuf.Value holding the message, printed
// without its quotes). Bytes that are not UTF-8 become '?' first: protobuf
// would drop them and log an error, from inside a log call.
// spdlog calls format() under the sink's lock, so the buffers are reused.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const google::protobuf::StringPiece payload(msg.payload.data(),
                                                msg.payload.size());
    std::string* text = value_.mutable_string_value();
    if (google::protobuf::internal::IsStructurallyValidUTF8(payload)) {
      text->assign(payload.data(), payload.size());
    } else {
      text->resize(payload.size());
      google::protobuf::internal::UTF8CoerceToStructurallyValid(
          payload, text->data(), '?');
    }
    json_.clear();
    if (!google::protobuf::util::MessageToJsonString(value_, &json_).ok() ||
        json_.size() < 2) {
      return;  // Not reached: the string is UTF-8. An empty "msg" then.
    }
    dest.append(json_.data() + 1, json_.data() + json_.size() - 1);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }

 private:
  google::protobuf::Value value_;
  std::string json_;
};

std::unique_ptr<spdlog::formatter> MakeFormatter(LogFormat format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(
      spdlog::pattern_time_type::utc);
  if (format == LogFormat::kJson) {
    formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
        R"({"ts":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","logger":"%n","msg":"%*"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %-5l [%n] %v");
  }
  return formatter;
}

// Every component logger has this one sink (and so one lock for every
// component's lines); it fans out to the sinks InitLogging builds. Until then
// it holds stderr. Never destroyed: a logger may write during exit.
const std::shared_ptr<spdlog::sinks::dist_sink_mt>& SharedSink() {
  static const auto* const sink =
      new std::shared_ptr<spdlog::sinks::dist_sink_mt>(
          std::make_shared<spdlog::sinks::dist_sink_mt>(
              std::vector<spdlog::sink_ptr>{
                  std::make_shared<spdlog::sinks::stderr_sink_mt>()}));
  return *sink;
}

// Serializes InitLogging calls; the sinks are built once.
ABSL_CONST_INIT absl::Mutex init_mu(absl::kConstInit);
bool sinks_built ABSL_GUARDED_BY(init_mu) = false;

// Bounds a loaded LoggingConfig already meets (config_schema.cc checks them
// with positions); checked again for a LoggingConfig built in code.
constexpr int kMaxFileMb = 10240;
constexpr int kMaxFiles = 1000;

absl::StatusOr<std::vector<spdlog::sink_ptr>> BuildSinks(
    const LoggingConfig& config) {
  if (!config.console && config.file.empty()) {
    return absl::InvalidArgumentError(
        "logging.console: false with no logging.file: logs would go nowhere "
        "(set logging.file, or console: true)");
  }
  if (config.max_file_mb < 1 || config.max_file_mb > kMaxFileMb) {
    return absl::InvalidArgumentError(
        absl::StrCat("logging.max_file_mb: must be in [1, ", kMaxFileMb,
                     "], got ", config.max_file_mb));
  }
  if (config.max_files < 1 || config.max_files > kMaxFiles) {
    return absl::InvalidArgumentError(
        absl::StrCat("logging.max_files: must be in [1, ", kMaxFiles, "], got ",
                     config.max_files));
  }
  std::vector<spdlog::sink_ptr> sinks;
  if (config.console) {
    sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  }
  if (!config.file.empty()) {
    // Opened here first for the plain reason (errno): spdlog would create
    // missing directories, retry for 50 ms and wrap the reason in its own
    // words.
    std::FILE* probe = std::fopen(config.file.c_str(), "ab");
    if (probe == nullptr) {
      const int error = errno;
      return absl::InvalidArgumentError(
          absl::StrCat("logging.file: cannot open ", config.file, ": ",
                       std::strerror(error)));
    }
    std::fclose(probe);
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
          config.file, static_cast<std::size_t>(config.max_file_mb) << 20,
          static_cast<std::size_t>(config.max_files)));
    } catch (const spdlog::spdlog_ex& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "logging.file: cannot open ", config.file, ": ", e.what()));
    }
  }
  return sinks;
}

}  // namespace

absl::Status InitLogging(const LoggingConfig& config) {
  spdlog::level::level_enum level = spdlog::level::from_str(config.level);
  // from_str answers "off" for anything it does not know.
  if (level == spdlog::level::off && config.level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("logging.level: unknown level \"", config.level,
                     "\" (trace|debug|info|warn|error|critical|off)"));
  }
  absl::MutexLock lock(&init_mu);
  if (!sinks_built) {
    absl::StatusOr<std::vector<spdlog::sink_ptr>> sinks = BuildSinks(config);
    if (!sinks.ok()) return sinks.status();
    // Formatted before they take any line.
    for (const spdlog::sink_ptr& sink : *sinks) {
      sink->set_formatter(MakeFormatter(config.format));
    }
    SharedSink()->set_sinks(*std::move(sinks));
    if (!config.file.empty()) spdlog::flush_every(std::chrono::seconds(1));
    sinks_built = true;
  }
  // Every logger (and through the shared sink every sink) takes the format;
  // loggers created later copy the registry's level and formatter.
  spdlog::set_formatter(MakeFormatter(config.format));
  spdlog::set_level(level);
  spdlog::flush_on(spdlog::level::warn);
  return absl::OkStatus();
}

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  if (auto logger = spdlog::get(component)) return logger;
  auto logger = std::make_shared<spdlog::logger>(component, SharedSink());
  try {
    spdlog::initialize_logger(logger);  // applies registry level + formatter
  } catch (const spdlog::spdlog_ex&) {
    // Another thread registered the same name first.
  }
  return spdlog::get(component);
}

void ResetLoggingForTesting() {
  absl::MutexLock lock(&init_mu);
  auto stderr_sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  stderr_sink->set_formatter(MakeFormatter(LogFormat::kText));
  SharedSink()->set_sinks({stderr_sink});
  sinks_built = false;
}

}  // namespace crossbridge
