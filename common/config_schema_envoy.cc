// The YAML schema of the top-level `envoy` section, mapped onto EnvoyConfig:
// domains, each a tree of descriptors in envoyproxy/ratelimit's style.
//
//   envoy:
//     on_store_failure: allow          # allow | deny | local
//     domains:
//       - domain: edge
//         descriptors:
//           - key: remote_address
//             rate_limit: {unit: second, requests_per_unit: 10}
//           - key: path
//             value: /login
//             rate_limit:              # a list: every limit must admit
//               - {name: burst, window_seconds: 1, requests_per_unit: 5}
//               - {name: sustained, unit: minute, requests_per_unit: 60}
//             shadow_mode: false
//             descriptors: [...]       # nested, matched by the next entry
//
// The tree (envoy.domains) is read from the file only; envoy.on_store_failure
// also from CROSSBRIDGE_ENVOY_ON_STORE_FAILURE. Errors point at the value
// (file:line:col) and name its path, e.g.
// "envoy.domains[0].descriptors[1].rate_limit.requests_per_unit".
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config.h"
#include "common/config_internal.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace crossbridge::config_internal {
namespace {

// Deepest descriptor nesting accepted (a request has at most this many
// entries that can reach a limit).
constexpr int kMaxEnvoyDepth = 8;

struct UnitName {
  absl::string_view name;
  int envoy_unit;  // envoy.type.v3.RateLimitUnit
  absl::Duration length;
};
constexpr UnitName kUnits[] = {
    {"second", 1, absl::Seconds(1)},
    {"minute", 2, absl::Minutes(1)},
    {"hour", 3, absl::Hours(1)},
    {"day", 4, absl::Hours(24)},
};

class EnvoyParser {
 public:
  explicit EnvoyParser(const YamlReader& reader) : r_(reader) {}

  absl::Status Read(const YamlMap& m, EnvoyConfig* out) const {
    RETURN_IF_ERROR(r_.CheckKeys(m, {"on_store_failure", "domains"}));
    RETURN_IF_ERROR(ReadEnum(r_, m, "on_store_failure", kStoreFailurePolicies,
                             &out->on_store_failure));
    const YamlMap::Entry* domains = m.Find("domains");
    if (domains == nullptr) return absl::OkStatus();
    const std::string path = m.PathOf("domains");
    if (domains->value.IsNull()) {
      out->domains.clear();
      return absl::OkStatus();
    }
    RETURN_IF_ERROR(RequireList(domains->value, path));
    std::vector<EnvoyDomain> result;
    std::set<std::string> seen;
    for (size_t i = 0; i < domains->value.size(); ++i) {
      const YAML::Node node = domains->value[i];
      const std::string at = absl::StrCat(path, "[", i, "]");
      RETURN_IF_ERROR(RequireMap(node, at));
      RETURN_IF_ERROR(CheckNodeKeys(node, at, {"domain", "descriptors"}));
      EnvoyDomain domain;
      RETURN_IF_ERROR(RequiredString(node, at, "domain", &domain.domain));
      if (!seen.insert(domain.domain).second) {
        return Error(node["domain"], absl::StrCat(at, ".domain"),
                     absl::StrCat("duplicate domain \"", domain.domain, "\""));
      }
      RETURN_IF_ERROR(ReadDescriptors(node, at, 1, &domain.descriptors));
      result.push_back(std::move(domain));
    }
    out->domains = std::move(result);
    return absl::OkStatus();
  }

 private:
  absl::Status Error(const YAML::Node& node, absl::string_view path,
                     absl::string_view what) const {
    ValueOrigin origin;
    origin.mark = node.Mark();
    origin.explicit_value = true;
    return r_.Error(origin, path, what);
  }

  absl::Status RequireList(const YAML::Node& node, absl::string_view path) const {
    if (node.IsSequence()) return absl::OkStatus();
    return Error(node, path, absl::StrCat("expected a list, got ", DescribeNode(node)));
  }
  absl::Status RequireMap(const YAML::Node& node, absl::string_view path) const {
    if (node.IsMap()) return absl::OkStatus();
    return Error(node, path, absl::StrCat("expected a map, got ", DescribeNode(node)));
  }

  absl::Status CheckNodeKeys(const YAML::Node& node, absl::string_view path,
                             std::initializer_list<absl::string_view> allowed) const {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) {
        return Error(kv.first, path, "keys must be strings");
      }
      const std::string key = kv.first.Scalar();
      bool ok = false;
      for (absl::string_view a : allowed) ok = ok || a == key;
      if (!ok) {
        return Error(kv.first, path,
                     absl::StrCat("unknown key \"", key, "\" (allowed: ",
                                  absl::StrJoin(allowed, ", "), ")"));
      }
      if (!seen.insert(key).second) {
        return Error(kv.first, path, absl::StrCat("duplicate key \"", key, "\""));
      }
    }
    return absl::OkStatus();
  }

  // node[key] as a non-empty string scalar.
  absl::Status RequiredString(const YAML::Node& node, absl::string_view path,
                              const char* key, std::string* out) const {
    const YAML::Node v = node[key];
    if (!v) {
      return Error(node, path, absl::StrCat("missing required key \"", key, "\""));
    }
    return StringValue(v, absl::StrCat(path, ".", key), out);
  }
  absl::Status StringValue(const YAML::Node& v, const std::string& path,
                           std::string* out) const {
    if (!v.IsScalar() || v.Scalar().empty()) {
      return Error(v, path,
                   absl::StrCat("expected a non-empty string, got ", DescribeNode(v)));
    }
    *out = v.Scalar();
    return absl::OkStatus();
  }

  absl::Status ReadDescriptors(const YAML::Node& parent, const std::string& path,
                               int depth, std::vector<EnvoyDescriptor>* out) const {
    const YAML::Node list = parent["descriptors"];
    if (!list || list.IsNull()) return absl::OkStatus();
    const std::string at_list = absl::StrCat(path, ".descriptors");
    RETURN_IF_ERROR(RequireList(list, at_list));
    if (depth > kMaxEnvoyDepth) {
      return Error(list, at_list,
                   absl::StrCat("descriptors nest deeper than ", kMaxEnvoyDepth,
                                " levels"));
    }
    // key+value (or key alone, "" standing for no value) unique per level.
    std::set<std::pair<std::string, std::string>> seen;
    for (size_t i = 0; i < list.size(); ++i) {
      const YAML::Node node = list[i];
      const std::string at = absl::StrCat(at_list, "[", i, "]");
      RETURN_IF_ERROR(RequireMap(node, at));
      RETURN_IF_ERROR(CheckNodeKeys(
          node, at, {"key", "value", "rate_limit", "shadow_mode", "descriptors"}));
      EnvoyDescriptor d;
      RETURN_IF_ERROR(RequiredString(node, at, "key", &d.key));
      if (const YAML::Node v = node["value"]) {
        std::string value;
        RETURN_IF_ERROR(StringValue(v, absl::StrCat(at, ".value"), &value));
        d.value = std::move(value);
      }
      const std::pair<std::string, std::string> id(
          d.key, d.value ? absl::StrCat("=", *d.value) : "");
      if (!seen.insert(id).second) {
        return Error(node["key"], absl::StrCat(at, ".key"),
                     d.value ? absl::StrCat("duplicate descriptor key \"", d.key,
                                            "\" with value \"", *d.value,
                                            "\" at this level")
                             : absl::StrCat("duplicate descriptor key \"", d.key,
                                            "\" (without value) at this level"));
      }
      if (const YAML::Node shadow = node["shadow_mode"]) {
        std::optional<bool> b = ParseBoolScalar(shadow);
        if (!b) {
          return Error(shadow, absl::StrCat(at, ".shadow_mode"),
                       absl::StrCat("expected true or false, got ",
                                    DescribeNode(shadow)));
        }
        d.shadow_mode = *b;
      }
      if (const YAML::Node limits = node["rate_limit"]) {
        const std::string at_limit = absl::StrCat(at, ".rate_limit");
        if (limits.IsSequence()) {
          if (limits.size() == 0) {
            return Error(limits, at_limit, "an empty list; leave rate_limit out for "
                                           "a descriptor with no limit");
          }
          for (size_t j = 0; j < limits.size(); ++j) {
            EnvoyRateLimit limit;
            RETURN_IF_ERROR(ReadLimit(limits[j], absl::StrCat(at_limit, "[", j, "]"),
                                      &limit));
            d.rate_limits.push_back(std::move(limit));
          }
        } else {
          EnvoyRateLimit limit;
          RETURN_IF_ERROR(ReadLimit(limits, at_limit, &limit));
          d.rate_limits.push_back(std::move(limit));
        }
      }
      RETURN_IF_ERROR(ReadDescriptors(node, at, depth + 1, &d.descriptors));
      out->push_back(std::move(d));
    }
    return absl::OkStatus();
  }

  absl::Status ReadLimit(const YAML::Node& node, const std::string& at,
                         EnvoyRateLimit* out) const {
    RETURN_IF_ERROR(RequireMap(node, at));
    RETURN_IF_ERROR(CheckNodeKeys(
        node, at, {"unit", "window_seconds", "requests_per_unit", "name"}));
    const YAML::Node rpu = node["requests_per_unit"];
    if (!rpu) {
      return Error(node, at, "missing required key \"requests_per_unit\"");
    }
    int64_t n = 0;
    if (!IsPlainScalar(rpu) || !absl::SimpleAtoi(rpu.Scalar(), &n)) {
      return Error(rpu, absl::StrCat(at, ".requests_per_unit"),
                   absl::StrCat("expected an integer, got ", DescribeNode(rpu)));
    }
    if (n < 1 || n > kMaxCapacity) {
      return Error(rpu, absl::StrCat(at, ".requests_per_unit"),
                   absl::StrCat("must be in [1, ", kMaxCapacity, "]"));
    }
    out->requests_per_unit = n;
    const YAML::Node unit = node["unit"];
    const YAML::Node window = node["window_seconds"];
    if (unit && window) {
      return Error(window, absl::StrCat(at, ".window_seconds"),
                   "unit and window_seconds are mutually exclusive (give one)");
    }
    if (!unit && !window) {
      return Error(node, at, "needs unit (second|minute|hour|day) or window_seconds");
    }
    if (unit) {
      bool found = false;
      for (const UnitName& u : kUnits) {
        if (unit.IsScalar() && unit.Scalar() == u.name) {
          out->window = u.length;
          out->unit = u.envoy_unit;
          found = true;
        }
      }
      if (!found) {
        return Error(unit, absl::StrCat(at, ".unit"),
                     absl::StrCat("expected one of second, minute, hour, day, got ",
                                  DescribeNode(unit)));
      }
    } else {
      double seconds = 0;
      if (!IsPlainScalar(window) || !absl::SimpleAtod(window.Scalar(), &seconds) ||
          !(seconds > 0) || absl::Seconds(seconds) > kMaxDuration) {
        return Error(window, absl::StrCat(at, ".window_seconds"),
                     absl::StrCat("expected seconds in (0, ",
                                  FormatSeconds(kMaxDuration), "], got ",
                                  DescribeNode(window)));
      }
      out->window = absl::Seconds(seconds);
      out->unit = 0;
    }
    if (out->window < n * absl::Microseconds(1)) {
      return Error(rpu, absl::StrCat(at, ".requests_per_unit"),
                   "must be <= the window in microseconds (emission interval >= 1us)");
    }
    if (const YAML::Node name = node["name"]) {
      RETURN_IF_ERROR(StringValue(name, absl::StrCat(at, ".name"), &out->name));
    }
    return absl::OkStatus();
  }

  const YamlReader& r_;
};

}  // namespace

absl::Status ReadEnvoySection(const YamlReader& reader, const YamlMap& m,
                              EnvoyConfig* out) {
  return EnvoyParser(reader).Read(m, out);
}

}  // namespace crossbridge::config_internal
