// Where a config comes from: ParseConfig (YAML text, one document only),
// LoadConfigFile (a file), DiscoverConfigPath (--config, $CROSSBRIDGE_CONFIG,
// or crossbridge.yml in the working directory or up to 3 parents) and
// ProcessEnv (the real environment for overrides). The mapping of a parsed
// document onto Config is config_schema*.cc's job.
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/config_internal.h"
#include "common/yaml_reader.h"

namespace crossbridge {
namespace {

constexpr char kConfigFileName[] = "crossbridge.yml";
constexpr char kConfigEnvVar[] = "CROSSBRIDGE_CONFIG";
constexpr int kMaxParentDirs = 3;

bool IsRegularFile(const std::filesystem::path& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

// An explicitly named config file: it must exist.
absl::StatusOr<std::optional<std::string>> ExplicitPath(
    const std::string& path, const std::string& working_dir,
    absl::string_view named_by) {
  std::filesystem::path p(path);
  if (p.is_relative() && !working_dir.empty()) p = working_dir / p;
  if (!IsRegularFile(p)) {
    return absl::NotFoundError(absl::StrCat("config file ", p.string(), " (",
                                            named_by, ") does not exist"));
  }
  return p.string();
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<Config> ParseConfig(absl::string_view yaml_text,
                                   absl::string_view filename,
                                   const EnvLookup& env) {
  // One document only. yaml-cpp 0.7's LoadAll never returns on some inputs
  // (a lone ","), so the first document is loaded with Load and a second
  // one is found by its marker.
  if (std::optional<int> line = SecondYamlDocumentLine(yaml_text)) {
    return absl::InvalidArgumentError(absl::StrCat(
        filename, ":", *line, ":1: expected a single YAML document, found a second one"));
  }
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(FormatYamlException(filename, e));
  }
  return config_internal::ConfigFromDocument(doc, std::string(filename), env);
}

absl::StatusOr<Config> LoadConfigFile(const std::string& path,
                                      const EnvLookup& env) {
  if (!IsRegularFile(path)) {
    return absl::NotFoundError(
        absl::StrCat("cannot read config file ", path, ": not a file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  if (in.is_open()) text << in.rdbuf();
  if (!in.is_open() || in.bad()) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path,
                                            ": ", std::strerror(errno)));
  }
  return ParseConfig(text.str(), path, env);
}

absl::StatusOr<std::optional<std::string>> DiscoverConfigPath(
    const std::string& flag_path, const EnvLookup& env,
    const std::string& working_dir) {
  if (!flag_path.empty()) {
    return ExplicitPath(flag_path, working_dir, "from --config");
  }
  std::optional<std::string> from_env = env ? env(kConfigEnvVar) : std::nullopt;
  if (from_env && !from_env->empty()) {
    return ExplicitPath(*from_env, working_dir,
                        absl::StrCat("from ", kConfigEnvVar));
  }
  std::error_code ec;
  std::filesystem::path dir = working_dir.empty()
                                  ? std::filesystem::current_path(ec)
                                  : std::filesystem::path(working_dir);
  for (int level = 0; level <= kMaxParentDirs && !dir.empty(); ++level) {
    std::filesystem::path candidate = dir / kConfigFileName;
    if (IsRegularFile(candidate)) return candidate.string();
    std::filesystem::path parent = dir.parent_path();
    if (parent == dir) break;
    dir = parent;
  }
  return std::optional<std::string>();
}

}  // namespace crossbridge
