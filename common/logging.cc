#include "common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>

#include "absl/strings/str_cat.h"

namespace crossbridge {
namespace {

// "%v" with JSON string escaping, for the json format.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : msg.payload) {
      switch (c) {
        case '"': Append(dest, "\\\""); break;
        case '\\': Append(dest, "\\\\"); break;
        case '\n': Append(dest, "\\n"); break;
        case '\r': Append(dest, "\\r"); break;
        case '\t': Append(dest, "\\t"); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            snprintf(buf, sizeof(buf), "\\u%04x", c);
            Append(dest, buf);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }

 private:
  static void Append(spdlog::memory_buf_t& dest, const char* s) {
    dest.append(s, s + strlen(s));
  }
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

}  // namespace

absl::Status InitLogging(const LoggingConfig& config) {
  spdlog::level::level_enum level = spdlog::level::from_str(config.level);
  // from_str answers "off" for anything it does not know.
  if (level == spdlog::level::off && config.level != "off") {
    return absl::InvalidArgumentError(
        absl::StrCat("logging.level: unknown level \"", config.level,
                     "\" (trace|debug|info|warn|error|critical|off)"));
  }
  spdlog::set_formatter(MakeFormatter(config.format));
  spdlog::set_level(level);
  spdlog::flush_on(spdlog::level::warn);
  // Loggers created later copy the registry's level and formatter.
  return absl::OkStatus();
}

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  if (auto logger = spdlog::get(component)) return logger;
  // One sink (and so one lock) for every component's lines.
  static const auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>(component, sink);
  try {
    spdlog::initialize_logger(logger);  // applies registry level + formatter
  } catch (const spdlog::spdlog_ex&) {
    // Another thread registered the same name first.
  }
  return spdlog::get(component);
}

}  // namespace crossbridge
