// Typed reading of a parsed YAML document with positioned errors and
// environment overrides. The building block of the config loader
// (common/config_schema.cc); knows nothing of CrossBridge's schema.
//
// Every leaf is read through a YamlMap (a mapping of the document, or an
// absent one when the file does not have it) and a key. The environment
// variable named after the leaf's key path (EnvVarName()) wins over the file;
// a leaf that neither sets keeps the caller's value (its default).
//
// Errors are absl::InvalidArgumentError:
//   "<file>:<line>:<col>: <key.path>: <what>"   (line, col 1-based)
//   "environment <VAR>: <what>"                 (value came from VAR)
//   "<file>: <key.path>: <what>"                (value came from a default
//                                                and the file has no position
//                                                to point at)
//
// yaml-cpp throws; nothing here does. Callers catch YAML::Exception around
// YAML::Load (see FormatYamlException()).
#ifndef CROSSBRIDGE_COMMON_YAML_READER_H_
#define CROSSBRIDGE_COMMON_YAML_READER_H_

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/config.h"

namespace crossbridge {

// Where a value came from; an error about the value points there.
struct ValueOrigin {
  // Non-empty: the value came from this environment variable.
  std::string env_var;
  // The value's position in the file; for a value nobody set, the position of
  // the nearest enclosing map in the file (null mark when there is none).
  YAML::Mark mark = YAML::Mark::null_mark();
  // True when the environment or the file set this very key.
  bool explicit_value = false;
};

// A mapping of the document at `path()`, or an absent one (not in the file):
// keys read from an absent map see only the environment. Keys are unique
// (YamlReader rejects duplicates) and in file order.
class YamlMap {
 public:
  struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
  };

  const std::string& path() const { return path_; }
  bool present() const { return present_; }
  const std::vector<Entry>& entries() const { return entries_; }
  // This map's position, else the nearest enclosing map's, else null.
  const YAML::Mark& mark() const { return mark_; }

  // nullptr when the key is not in the file.
  const Entry* Find(absl::string_view key) const;
  // "path.key" (or "key" at the root).
  std::string PathOf(absl::string_view key) const;

 private:
  friend class YamlReader;
  std::string path_;
  bool present_ = false;
  YAML::Mark mark_ = YAML::Mark::null_mark();
  std::vector<Entry> entries_;
};

class YamlReader {
 public:
  // How an environment value becomes a node: parsed as YAML (numbers, bools,
  // flow lists like "[429, 503]") or taken verbatim as a string scalar.
  enum class EnvSyntax { kYaml, kVerbatim };

  // A leaf found in the environment or the file.
  struct Leaf {
    std::string path;
    YAML::Node node;
    ValueOrigin origin;
  };

  // `filename` only names the source in errors. `env` may be empty (no
  // overrides).
  YamlReader(std::string filename, EnvLookup env);

  // The document as the root map. A null document (empty file) is an absent
  // map; anything but a mapping is an error.
  absl::StatusOr<YamlMap> Root(const YAML::Node& doc) const;
  // map.key as a map: absent when the key is absent (or `map` is), an error
  // when it is not a mapping or has duplicate or non-scalar keys.
  absl::StatusOr<YamlMap> Child(const YamlMap& map,
                                absl::string_view key) const;

  // Error for the first key of `map` not in `allowed` (lists them).
  absl::Status CheckKeys(const YamlMap& map,
                         absl::Span<const absl::string_view> allowed) const;
  // Error for the first key of `map` (a map of user-named entries) for which
  // `valid` is false: "invalid <what> \"key\": <rule>".
  absl::Status CheckNames(const YamlMap& map,
                          const std::function<bool(absl::string_view)>& valid,
                          absl::string_view what, absl::string_view rule) const;

  // map.key from the environment, else from the file; nullopt when neither
  // sets it. Errors only for an environment value that is not valid YAML.
  absl::StatusOr<std::optional<Leaf>> Find(const YamlMap& map,
                                           absl::string_view key,
                                           EnvSyntax syntax) const;

  // Typed leaves. Each leaves *out (and sets *origin, if given, to an unset
  // origin) when neither the environment nor the file sets the key.
  absl::Status ReadBool(const YamlMap& map, absl::string_view key, bool* out,
                        ValueOrigin* origin = nullptr) const;
  absl::Status ReadInt(const YamlMap& map, absl::string_view key, int64_t min,
                       int64_t max, int64_t* out,
                       ValueOrigin* origin = nullptr) const;
  absl::Status ReadInt(const YamlMap& map, absl::string_view key, int min,
                       int max, int* out, ValueOrigin* origin = nullptr) const;
  absl::Status ReadDouble(const YamlMap& map, absl::string_view key, double min,
                          double max, double* out,
                          ValueOrigin* origin = nullptr) const;
  // Seconds as a number (int or float); `allow_zero` false means > 0.
  absl::Status ReadDuration(const YamlMap& map, absl::string_view key,
                            bool allow_zero, absl::Duration max,
                            absl::Duration* out,
                            ValueOrigin* origin = nullptr) const;
  // Any scalar (a number is taken as its text). Environment: verbatim.
  absl::Status ReadString(const YamlMap& map, absl::string_view key,
                          std::string* out,
                          ValueOrigin* origin = nullptr) const;
  // A string that must be one of `choices`.
  absl::Status ReadChoice(const YamlMap& map, absl::string_view key,
                          absl::Span<const absl::string_view> choices,
                          std::string* out,
                          ValueOrigin* origin = nullptr) const;
  // A list of integers, each in [min, max].
  absl::Status ReadIntList(const YamlMap& map, absl::string_view key, int min,
                           int max, std::vector<int>* out,
                           ValueOrigin* origin = nullptr) const;

  // A list of strings (scalars). Environment: YAML ("[a, b]"). `at` (if
  // given) gets where each element is, for errors about one.
  absl::Status ReadStringList(const YamlMap& map, absl::string_view key,
                              std::vector<std::string>* out,
                              std::vector<ValueOrigin>* at = nullptr) const;

  // The error "<where>: <path>: <what>" for a value from `origin`.
  absl::Status Error(const ValueOrigin& origin, absl::string_view path,
                     absl::string_view what) const;
  absl::Status Error(const Leaf& leaf, absl::string_view what) const {
    return Error(leaf.origin, leaf.path, what);
  }
  // An unset origin pointing at `map` (for errors about a missing key).
  static ValueOrigin OriginOf(const YamlMap& map);

  // CROSSBRIDGE_ + path upper-cased, every character other than [A-Z0-9]
  // replaced by '_': "storage.backend" -> "CROSSBRIDGE_STORAGE_BACKEND".
  static std::string EnvVarName(absl::string_view path);

  const std::string& filename() const { return filename_; }
  // The injected environment's value of `name`; nullopt when unset or when
  // there is no environment. For values that name a variable (password_env).
  std::optional<std::string> LookupEnv(const std::string& name) const {
    return env_ ? env_(name) : std::nullopt;
  }

 private:
  absl::StatusOr<YamlMap> MakeMap(const YAML::Node& node,
                                  const YAML::Mark& mark,
                                  std::string path) const;

  std::string filename_;
  EnvLookup env_;
};

// A plain (unquoted, untagged) scalar: the only kind that may be a number or
// a boolean.
bool IsPlainScalar(const YAML::Node& node);
// `"abc"`, `a map`, `a list`, `an empty value`: for "expected X, got Y".
std::string DescribeNode(const YAML::Node& node);
// `a string`, `a map`, `a list`, `an empty value`: what a node is, never
// what it holds (for files where a scalar may be a secret).
absl::string_view YamlKindName(const YAML::Node& node);
// "<file>:<line>:<col>" (1-based), or "<file>" for a null mark.
std::string YamlPosition(absl::string_view filename, const YAML::Mark& mark);
// true/false (also True/TRUE/False/FALSE); nullopt for anything else.
std::optional<bool> ParseBoolScalar(const YAML::Node& node);
// Seconds as the file writes them: "0.5", "30", "31536000".
std::string FormatSeconds(absl::Duration d);
// "<file>:<line>:<col>: <message>" for an exception from yaml-cpp; a
// document nested too deep says so, with `depth_hint` (how deep the file's
// schema goes) in parentheses.
std::string FormatYamlException(
    absl::string_view filename, const YAML::Exception& e,
    absl::string_view depth_hint = "a crossbridge.yml needs fewer than 10");

// The 1-based line where a second YAML document starts in `text`, if any.
// A document marker ("---" or "...") at column 0 can only be a marker
// (block content is indented, and flow content may not hold one), so this
// is exact. Files of one document (the config, the tokens file) reject a
// second: YAML::Load silently drops it, and yaml-cpp 0.7's LoadAll never
// returns on some inputs (a lone ",").
std::optional<int> SecondYamlDocumentLine(absl::string_view text);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_COMMON_YAML_READER_H_
