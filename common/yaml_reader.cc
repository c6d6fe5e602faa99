#include "common/yaml_reader.h"

#include <yaml-cpp/depthguard.h>

#include <cctype>
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status.h"

namespace crossbridge {
namespace {

std::string Quote(absl::string_view s) {
  return absl::StrCat("\"", absl::CEscape(s), "\"");
}


// A null value's own mark points at the next token; its key's mark is what a
// reader expects.
YAML::Mark ValueMark(const YamlMap::Entry& entry) {
  return entry.value.IsNull() ? entry.key_node.Mark() : entry.value.Mark();
}

// Parses a leaf as an integer in [min, max]; on failure sets *what.
bool ParseInt(const YAML::Node& node, int64_t min, int64_t max, int64_t* out,
              std::string* what) {
  int64_t value = 0;
  if (!IsPlainScalar(node) || !absl::SimpleAtoi(node.Scalar(), &value)) {
    *what = absl::StrCat("expected an integer, got ", DescribeNode(node));
    return false;
  }
  if (value < min) {
    *what = absl::StrCat("must be >= ", min, ", got ", value);
    return false;
  }
  if (value > max) {
    *what = absl::StrCat("must be <= ", max, ", got ", value);
    return false;
  }
  *out = value;
  return true;
}

// Parses a leaf as a finite number; on failure sets *what.
bool ParseNumber(const YAML::Node& node, double* out, std::string* what) {
  double value = 0;
  if (!IsPlainScalar(node) || !absl::SimpleAtod(node.Scalar(), &value) ||
      !std::isfinite(value)) {
    *what = absl::StrCat("expected a number, got ", DescribeNode(node));
    return false;
  }
  *out = value;
  return true;
}

}  // namespace

bool IsPlainScalar(const YAML::Node& node) {
  return node.IsScalar() && (node.Tag() == "?" || node.Tag().empty());
}

std::string DescribeNode(const YAML::Node& node) {
  if (node.IsScalar()) return Quote(node.Scalar());
  return std::string(YamlKindName(node));
}

std::optional<bool> ParseBoolScalar(const YAML::Node& node) {
  if (!IsPlainScalar(node)) return std::nullopt;
  const std::string& s = node.Scalar();
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

std::string FormatSeconds(absl::Duration d) {
  const double seconds = absl::ToDoubleSeconds(d);
  if (seconds == std::floor(seconds) && std::fabs(seconds) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(seconds));
  }
  return absl::StrCat(seconds);
}

std::string YamlPosition(absl::string_view filename, const YAML::Mark& mark) {
  if (mark.is_null()) return std::string(filename);
  return absl::StrCat(filename, ":", mark.line + 1, ":", mark.column + 1);
}

absl::string_view YamlKindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Scalar:
      return "a string";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    default:
      return "an empty value";
  }
}

std::string FormatYamlException(absl::string_view filename,
                                const YAML::Exception& e,
                                absl::string_view depth_hint) {
  // yaml-cpp stops a document nested too deep with a bare "bad file".
  if (const auto* deep = dynamic_cast<const YAML::DeepRecursion*>(&e)) {
    return absl::StrCat(YamlPosition(filename, e.mark),
                        ": YAML nested deeper than ", deep->depth(),
                        " levels (", depth_hint, ")");
  }
  return absl::StrCat(YamlPosition(filename, e.mark), ": ", e.msg);
}

// ---- YamlMap ----------------------------------------------------------------

const YamlMap::Entry* YamlMap::Find(absl::string_view key) const {
  for (const Entry& entry : entries_) {
    if (entry.key == key) return &entry;
  }
  return nullptr;
}

std::string YamlMap::PathOf(absl::string_view key) const {
  return path_.empty() ? std::string(key) : absl::StrCat(path_, ".", key);
}

// ---- YamlReader -------------------------------------------------------------

YamlReader::YamlReader(std::string filename, EnvLookup env)
    : filename_(std::move(filename)), env_(std::move(env)) {}

absl::StatusOr<YamlMap> YamlReader::MakeMap(const YAML::Node& node,
                                            const YAML::Mark& mark,
                                            std::string path) const {
  YamlMap map;
  map.path_ = std::move(path);
  map.present_ = true;
  map.mark_ = mark;
  for (const auto& pair : node) {
    const YAML::Node& key = pair.first;
    if (!key.IsScalar()) {
      return Error(
          ValueOrigin{"", key.Mark(), true}, map.path_,
          absl::StrCat("keys must be strings, got ", DescribeNode(key)));
    }
    if (const YamlMap::Entry* first = map.Find(key.Scalar())) {
      return Error(ValueOrigin{"", key.Mark(), true}, map.PathOf(key.Scalar()),
                   absl::StrCat("duplicate key (first defined at line ",
                                first->key_node.Mark().line + 1, ")"));
    }
    map.entries_.push_back({key.Scalar(), key, pair.second});
  }
  return map;
}

absl::StatusOr<YamlMap> YamlReader::Root(const YAML::Node& doc) const {
  if (!doc.IsDefined() || doc.IsNull()) return YamlMap();
  if (!doc.IsMap()) {
    return Error(ValueOrigin{"", doc.Mark(), true}, "",
                 absl::StrCat("expected a map at the top level, got ",
                              DescribeNode(doc)));
  }
  return MakeMap(doc, doc.Mark(), "");
}

absl::StatusOr<YamlMap> YamlReader::Child(const YamlMap& map,
                                          absl::string_view key) const {
  const YamlMap::Entry* entry = map.Find(key);
  if (entry == nullptr) {
    YamlMap absent;
    absent.path_ = map.PathOf(key);
    absent.mark_ = map.mark_;
    return absent;
  }
  if (!entry->value.IsMap()) {
    return Error(
        ValueOrigin{"", ValueMark(*entry), true}, map.PathOf(key),
        absl::StrCat("expected a map, got ", DescribeNode(entry->value)));
  }
  return MakeMap(entry->value, entry->value.Mark(), map.PathOf(key));
}

absl::Status YamlReader::CheckKeys(
    const YamlMap& map, absl::Span<const absl::string_view> allowed) const {
  for (const YamlMap::Entry& entry : map.entries()) {
    bool known = false;
    for (absl::string_view name : allowed) known = known || name == entry.key;
    if (!known) {
      return Error(ValueOrigin{"", entry.key_node.Mark(), true},
                   map.PathOf(entry.key),
                   absl::StrCat("unknown key (expected one of: ",
                                absl::StrJoin(allowed, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status YamlReader::CheckNames(
    const YamlMap& map, const std::function<bool(absl::string_view)>& valid,
    absl::string_view what, absl::string_view rule) const {
  for (const YamlMap::Entry& entry : map.entries()) {
    if (!valid(entry.key)) {
      return Error(
          ValueOrigin{"", entry.key_node.Mark(), true}, map.path(),
          absl::StrCat("invalid ", what, " ", Quote(entry.key), ": ", rule));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<YamlReader::Leaf>> YamlReader::Find(
    const YamlMap& map, absl::string_view key, EnvSyntax syntax) const {
  Leaf leaf;
  leaf.path = map.PathOf(key);
  if (env_) {
    std::string var = EnvVarName(leaf.path);
    if (std::optional<std::string> value = env_(var)) {
      leaf.origin.env_var = var;
      leaf.origin.explicit_value = true;
      if (syntax == EnvSyntax::kVerbatim) {
        leaf.node = YAML::Node(*value);
        return leaf;
      }
      try {
        leaf.node = YAML::Load(*value);
      } catch (const YAML::Exception& e) {
        return Error(leaf.origin, leaf.path,
                     absl::StrCat("invalid YAML value: ", e.msg));
      }
      return leaf;
    }
  }
  const YamlMap::Entry* entry = map.Find(key);
  if (entry == nullptr) return std::nullopt;
  leaf.node = entry->value;
  leaf.origin.mark = ValueMark(*entry);
  leaf.origin.explicit_value = true;
  return leaf;
}

absl::Status YamlReader::ReadBool(const YamlMap& map, absl::string_view key,
                                  bool* out, ValueOrigin* origin) const {
  if (origin != nullptr) *origin = OriginOf(map);
  ASSIGN_OR_RETURN(std::optional<Leaf> leaf, Find(map, key, EnvSyntax::kYaml));
  if (!leaf) return absl::OkStatus();
  if (origin != nullptr) *origin = leaf->origin;
  std::optional<bool> value = ParseBoolScalar(leaf->node);
  if (!value) {
    return Error(*leaf, absl::StrCat("expected true or false, got ",
                                     DescribeNode(leaf->node)));
  }
  *out = *value;
  return absl::OkStatus();
}

absl::Status YamlReader::ReadInt(const YamlMap& map, absl::string_view key,
                                 int64_t min, int64_t max, int64_t* out,
                                 ValueOrigin* origin) const {
  if (origin != nullptr) *origin = OriginOf(map);
  ASSIGN_OR_RETURN(std::optional<Leaf> leaf, Find(map, key, EnvSyntax::kYaml));
  if (!leaf) return absl::OkStatus();
  if (origin != nullptr) *origin = leaf->origin;
  std::string what;
  if (!ParseInt(leaf->node, min, max, out, &what)) return Error(*leaf, what);
  return absl::OkStatus();
}

absl::Status YamlReader::ReadInt(const YamlMap& map, absl::string_view key,
                                 int min, int max, int* out,
                                 ValueOrigin* origin) const {
  int64_t value = *out;
  RETURN_IF_ERROR(
      ReadInt(map, key, int64_t{min}, int64_t{max}, &value, origin));
  *out = static_cast<int>(value);
  return absl::OkStatus();
}

absl::Status YamlReader::ReadDouble(const YamlMap& map, absl::string_view key,
                                    double min, double max, double* out,
                                    ValueOrigin* origin) const {
  if (origin != nullptr) *origin = OriginOf(map);
  ASSIGN_OR_RETURN(std::optional<Leaf> leaf, Find(map, key, EnvSyntax::kYaml));
  if (!leaf) return absl::OkStatus();
  if (origin != nullptr) *origin = leaf->origin;
  double value = 0;
  std::string what;
  if (!ParseNumber(leaf->node, &value, &what)) return Error(*leaf, what);
  if (value < min) {
    return Error(
        *leaf, absl::StrCat("must be >= ", min, ", got ", leaf->node.Scalar()));
  }
  if (value > max) {
    return Error(
        *leaf, absl::StrCat("must be <= ", max, ", got ", leaf->node.Scalar()));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status YamlReader::ReadDuration(const YamlMap& map, absl::string_view key,
                                      bool allow_zero, absl::Duration max,
                                      absl::Duration* out,
                                      ValueOrigin* origin) const {
  if (origin != nullptr) *origin = OriginOf(map);
  ASSIGN_OR_RETURN(std::optional<Leaf> leaf, Find(map, key, EnvSyntax::kYaml));
  if (!leaf) return absl::OkStatus();
  if (origin != nullptr) *origin = leaf->origin;
  double seconds = 0;
  std::string what;
  if (!ParseNumber(leaf->node, &seconds, &what)) {
    return Error(*leaf, absl::StrCat("expected a number of seconds, got ",
                                     DescribeNode(leaf->node)));
  }
  if (seconds > absl::ToDoubleSeconds(max)) {
    return Error(*leaf, absl::StrCat("must be <= ", FormatSeconds(max),
                                     " seconds, got ", leaf->node.Scalar()));
  }
  // Whole nanoseconds, so 0.1 is exactly absl::Milliseconds(100).
  absl::Duration value = absl::Nanoseconds(std::llround(seconds * 1e9));
  if (value < absl::ZeroDuration() ||
      (!allow_zero && value == absl::ZeroDuration())) {
    return Error(*leaf, absl::StrCat("must be ", allow_zero ? ">= 0" : "> 0",
                                     " seconds, got ", leaf->node.Scalar()));
  }
  *out = value;
  return absl::OkStatus();
}

absl::Status YamlReader::ReadString(const YamlMap& map, absl::string_view key,
                                    std::string* out,
                                    ValueOrigin* origin) const {
  if (origin != nullptr) *origin = OriginOf(map);
  ASSIGN_OR_RETURN(std::optional<Leaf> leaf,
                   Find(map, key, EnvSyntax::kVerbatim));
  if (!leaf) return absl::OkStatus();
  if (origin != nullptr) *origin = leaf->origin;
  if (!leaf->node.IsScalar()) {
    return Error(*leaf, absl::StrCat("expected a string, got ",
                                     DescribeNode(leaf->node)));
  }
  *out = leaf->node.Scalar();
  return absl::OkStatus();
}

absl::Status YamlReader::ReadChoice(const YamlMap& map, absl::string_view key,
                                    absl::Span<const absl::string_view> choices,
                                    std::string* out,
                                    ValueOrigin* origin) const {
  ValueOrigin where;
  std::string value = *out;
  RETURN_IF_ERROR(ReadString(map, key, &value, &where));
  if (origin != nullptr) *origin = where;
  for (absl::string_view choice : choices) {
    if (value == choice) {
      *out = value;
      return absl::OkStatus();
    }
  }
  return Error(where, map.PathOf(key),
               absl::StrCat("expected one of ", absl::StrJoin(choices, ", "),
                            "; got ", Quote(value)));
}

absl::Status YamlReader::ReadIntList(const YamlMap& map, absl::string_view key,
                                     int min, int max, std::vector<int>* out,
                                     ValueOrigin* origin) const {
  if (origin != nullptr) *origin = OriginOf(map);
  ASSIGN_OR_RETURN(std::optional<Leaf> leaf, Find(map, key, EnvSyntax::kYaml));
  if (!leaf) return absl::OkStatus();
  if (origin != nullptr) *origin = leaf->origin;
  if (!leaf->node.IsSequence()) {
    return Error(*leaf, absl::StrCat("expected a list of integers, got ",
                                     DescribeNode(leaf->node)));
  }
  std::vector<int> values;
  for (std::size_t i = 0; i < leaf->node.size(); ++i) {
    const YAML::Node element = leaf->node[i];
    int64_t value = 0;
    std::string what;
    if (!ParseInt(element, min, max, &value, &what)) {
      ValueOrigin at = leaf->origin;
      if (at.env_var.empty()) at.mark = element.Mark();
      return Error(at, absl::StrCat(leaf->path, "[", i, "]"), what);
    }
    values.push_back(static_cast<int>(value));
  }
  *out = std::move(values);
  return absl::OkStatus();
}

absl::Status YamlReader::ReadStringList(const YamlMap& map, absl::string_view key,
                                        std::vector<std::string>* out,
                                        std::vector<ValueOrigin>* at) const {
  ASSIGN_OR_RETURN(std::optional<Leaf> leaf, Find(map, key, EnvSyntax::kYaml));
  if (!leaf) return absl::OkStatus();
  if (!leaf->node.IsSequence()) {
    return Error(*leaf, absl::StrCat("expected a list of strings, got ",
                                     DescribeNode(leaf->node)));
  }
  std::vector<std::string> values;
  std::vector<ValueOrigin> origins;
  for (std::size_t i = 0; i < leaf->node.size(); ++i) {
    const YAML::Node element = leaf->node[i];
    ValueOrigin origin = leaf->origin;
    if (origin.env_var.empty()) origin.mark = element.Mark();
    if (!element.IsScalar()) {
      return Error(origin, absl::StrCat(leaf->path, "[", i, "]"),
                   absl::StrCat("expected a string, got ", DescribeNode(element)));
    }
    values.push_back(element.Scalar());
    origins.push_back(std::move(origin));
  }
  *out = std::move(values);
  if (at != nullptr) *at = std::move(origins);
  return absl::OkStatus();
}

absl::Status YamlReader::Error(const ValueOrigin& origin,
                               absl::string_view path,
                               absl::string_view what) const {
  if (!origin.env_var.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("environment ", origin.env_var, ": ", what));
  }
  std::string where = YamlPosition(filename_, origin.mark);
  if (path.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", path, ": ", what));
}

ValueOrigin YamlReader::OriginOf(const YamlMap& map) {
  ValueOrigin origin;
  origin.mark = map.mark();
  return origin;
}

std::string YamlReader::EnvVarName(absl::string_view path) {
  std::string name = "CROSSBRIDGE_";
  for (char c : path) {
    name.push_back(absl::ascii_isalnum(c) ? absl::ascii_toupper(c) : '_');
  }
  return name;
}

std::optional<int> SecondYamlDocumentLine(absl::string_view text) {
  bool content = false;  // the first document has begun
  bool ended = false;    // ... and a "..." ended it
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_no;
    const bool start = absl::StartsWith(line, "---") &&
                       (line.size() == 3 || line[3] == ' ' || line[3] == '\t' ||
                        line[3] == '\r');
    const bool end = absl::StartsWith(line, "...") &&
                     (line.size() == 3 || line[3] == ' ' || line[3] == '\t' ||
                      line[3] == '\r');
    if (start) {
      if (content || ended) return line_no;
      content = !absl::StripAsciiWhitespace(line.substr(3)).empty();
      continue;
    }
    if (end) {
      ended = content || ended;
      continue;
    }
    const absl::string_view stripped = absl::StripLeadingAsciiWhitespace(line);
    if (stripped.empty() || stripped[0] == '#') continue;
    if (!content && stripped[0] == '%') continue;  // a directive
    if (ended) return line_no;
    content = true;
  }
  return std::nullopt;
}


}  // namespace crossbridge
