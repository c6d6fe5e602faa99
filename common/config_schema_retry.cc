// The YAML schema of runtime.retry, mapped onto RetryConfig: the section's
// retryable_codes, default_policy, and the <name>_policy entries, which
// inherit every field they leave out from default_policy. Errors about an
// inherited value blame the key that set it (see Blame()).
#include <yaml-cpp/yaml.h>

#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/config.h"
#include "common/config_internal.h"
#include "common/names.h"
#include "common/retry.h"
#include "common/status.h"
#include "common/yaml_reader.h"

namespace crossbridge::config_internal {
namespace {

// Where the fields other entries inherit came from, for blaming errors.
struct PolicyOrigins {
  ValueOrigin base_delay, max_delay, retryable_codes, max_tokens, token_ratio;
};

// Overlays runtime.retry (and the environment) on a RetryConfig.
class RetryParser {
 public:
  explicit RetryParser(const YamlReader& reader) : r_(reader) {}

  absl::Status ReadRetry(const YamlMap& m, RetryConfig* out) const {
    RETURN_IF_ERROR(CheckRetryKeys(m));
    RETURN_IF_ERROR(r_.ReadBool(m, "enabled", &out->enabled));
    RETURN_IF_ERROR(ReadRetryableCodes(m, "retryable_codes",
                                       &out->retryable_codes,
                                       &out->retryable_grpc_codes, nullptr));

    // default_policy first: the others inherit from it.
    RetryPolicyConfig default_policy;
    PolicyOrigins default_origins;
    ASSIGN_OR_RETURN(YamlMap default_map,
                     r_.Child(m, absl::StrCat("default", kPolicySuffix)));
    RETURN_IF_ERROR(ReadPolicy(default_map, PolicyOrigins(), &default_policy,
                               &default_origins));

    // Policies whose lists came from the file or the environment (their own
    // or default_policy's); the others get the section's lists at the end.
    std::set<std::string> own_lists;
    const bool default_lists = default_origins.retryable_codes.explicit_value;
    out->policies = BuiltinPolicies(default_policy);
    for (const YamlMap::Entry& entry : m.entries()) {
      if (!absl::EndsWith(entry.key, kPolicySuffix)) continue;
      std::string name =
          entry.key.substr(0, entry.key.size() - std::strlen(kPolicySuffix));
      // A policy in the file replaces the built-in one of that name.
      out->policies[name] = default_policy;
    }
    for (auto& [name, policy] : out->policies) {
      if (name == "default") continue;
      ASSIGN_OR_RETURN(YamlMap policy_map,
                       r_.Child(m, absl::StrCat(name, kPolicySuffix)));
      // Only a policy defined in the file inherits from default_policy; a
      // built-in one set its delays itself.
      PolicyOrigins inherited =
          policy_map.present() ? default_origins : PolicyOrigins();
      PolicyOrigins own;
      RETURN_IF_ERROR(ReadPolicy(policy_map, inherited, &policy, &own));
      if (own.retryable_codes.explicit_value) own_lists.insert(name);
    }
    if (default_lists) {
      for (const auto& [name, policy] : out->policies) own_lists.insert(name);
    }
    FillRetryableCodes(own_lists, out);
    return absl::OkStatus();
  }

 private:
  // map.key: a list of HTTP statuses (integers 100..599) and gRPC code names
  // (strings, case-insensitive), split into *http and *grpc. A list that is
  // set replaces both; `origin` (optional) tells whether it was set.
  absl::Status ReadRetryableCodes(const YamlMap& m, absl::string_view key,
                                  std::vector<int>* http,
                                  std::vector<absl::StatusCode>* grpc,
                                  ValueOrigin* origin) const {
    if (origin != nullptr) *origin = YamlReader::OriginOf(m);
    ASSIGN_OR_RETURN(std::optional<YamlReader::Leaf> leaf,
                     r_.Find(m, key, YamlReader::EnvSyntax::kYaml));
    if (!leaf) return absl::OkStatus();
    if (origin != nullptr) *origin = leaf->origin;
    if (!leaf->node.IsSequence()) {
      return r_.Error(*leaf,
                      absl::StrCat("expected a list of HTTP statuses "
                                   "(integers 100..599) and gRPC code names, "
                                   "got ",
                                   DescribeNode(leaf->node)));
    }
    std::vector<int> http_codes;
    std::vector<absl::StatusCode> grpc_codes;
    for (std::size_t i = 0; i < leaf->node.size(); ++i) {
      const YAML::Node element = leaf->node[i];
      ValueOrigin at = leaf->origin;
      if (at.env_var.empty()) at.mark = element.Mark();
      const std::string path = absl::StrCat(leaf->path, "[", i, "]");
      int64_t status = 0;
      if (IsPlainScalar(element) &&
          absl::SimpleAtoi(element.Scalar(), &status)) {
        if (status < kMinHttpStatus || status > kMaxHttpStatus) {
          return r_.Error(
              at, path,
              absl::StrCat(
                  "must be ", status < kMinHttpStatus ? ">= " : "<= ",
                  status < kMinHttpStatus ? kMinHttpStatus : kMaxHttpStatus,
                  ", got ", status));
        }
        http_codes.push_back(static_cast<int>(status));
        continue;
      }
      if (!element.IsScalar()) {
        return r_.Error(at, path,
                        absl::StrCat("expected an HTTP status (100..599) or a "
                                     "gRPC code name, got ",
                                     DescribeNode(element)));
      }
      // A string: a gRPC code name (numbers are HTTP statuses here).
      std::optional<absl::StatusCode> code;
      if (!AllDigits(absl::StripAsciiWhitespace(element.Scalar()))) {
        absl::StatusOr<absl::StatusCode> parsed =
            ParseGrpcCode(element.Scalar());
        if (parsed.ok()) code = *parsed;
      }
      if (!code) {
        return r_.Error(
            at, path,
            absl::StrCat("unknown gRPC code name ", DescribeNode(element),
                         " (expected an HTTP status 100..599 or one of: ",
                         kGrpcCodeNames, ")"));
      }
      grpc_codes.push_back(*code);
    }
    *http = std::move(http_codes);
    *grpc = std::move(grpc_codes);
    return absl::OkStatus();
  }

  // Keys: enabled, retryable_codes, <name>_policy.
  absl::Status CheckRetryKeys(const YamlMap& m) const {
    for (const YamlMap::Entry& entry : m.entries()) {
      if (entry.key == "enabled" || entry.key == "retryable_codes") continue;
      ValueOrigin at{"", entry.key_node.Mark(), true};
      if (!absl::EndsWith(entry.key, kPolicySuffix)) {
        return r_.Error(at, m.PathOf(entry.key),
                        "unknown key (expected one of: enabled, "
                        "retryable_codes, <name>_policy)");
      }
      absl::string_view name = absl::string_view(entry.key).substr(
          0, entry.key.size() - std::strlen(kPolicySuffix));
      if (!IsValidPolicyName(name)) {
        return r_.Error(at, m.PathOf(entry.key),
                        absl::StrCat("invalid policy name \"", name,
                                     "\": must match [A-Za-z0-9_]+"));
      }
    }
    return absl::OkStatus();
  }

  // Overlays m on *policy. `inherited`: where the fields *policy started with
  // came from (blamed when an inherited value breaks a rule).
  absl::Status ReadPolicy(const YamlMap& m, const PolicyOrigins& inherited,
                          RetryPolicyConfig* policy,
                          PolicyOrigins* origins) const {
    RETURN_IF_ERROR(r_.CheckKeys(
        m, {"max_attempts", "base_delay", "max_delay", "exponential_base",
            "jitter", "retryable_codes", "min_attempt_time", "budget"}));
    RETURN_IF_ERROR(
        r_.ReadInt(m, "max_attempts", 1, 100, &policy->max_attempts));
    RETURN_IF_ERROR(r_.ReadDuration(m, "base_delay", true, kMaxDuration,
                                    &policy->base_delay, &origins->base_delay));
    RETURN_IF_ERROR(r_.ReadDuration(m, "max_delay", true, kMaxDuration,
                                    &policy->max_delay, &origins->max_delay));
    RETURN_IF_ERROR(r_.ReadDouble(m, "exponential_base", 1.0, 100.0,
                                  &policy->exponential_base));
    RETURN_IF_ERROR(ReadJitter(m, &policy->jitter));
    RETURN_IF_ERROR(ReadRetryableCodes(
        m, "retryable_codes", &policy->retryable_codes,
        &policy->retryable_grpc_codes, &origins->retryable_codes));
    RETURN_IF_ERROR(r_.ReadDuration(m, "min_attempt_time", true, kMaxDuration,
                                    &policy->min_attempt_time));
    ASSIGN_OR_RETURN(YamlMap budget, r_.Child(m, "budget"));
    RETURN_IF_ERROR(ReadBudget(budget, inherited, &policy->budget, origins));
    if (policy->max_delay >= policy->base_delay) return absl::OkStatus();
    const ValueOrigin& max = Blame(origins->max_delay, inherited.max_delay);
    const ValueOrigin& base = Blame(origins->base_delay, inherited.base_delay);
    if (max.explicit_value || !base.explicit_value) {
      return r_.Error(max, m.PathOf("max_delay"),
                      absl::StrCat("must be >= base_delay (",
                                   FormatSeconds(policy->base_delay), ")"));
    }
    return r_.Error(base, m.PathOf("base_delay"),
                    absl::StrCat("must be <= max_delay (",
                                 FormatSeconds(policy->max_delay), ")"));
  }

  // budget: {max_tokens, token_ratio}, overlaid on *budget.
  absl::Status ReadBudget(const YamlMap& m, const PolicyOrigins& inherited,
                          RetryBudgetConfig* budget,
                          PolicyOrigins* origins) const {
    RETURN_IF_ERROR(r_.CheckKeys(m, {"max_tokens", "token_ratio"}));
    RETURN_IF_ERROR(r_.ReadDouble(m, "max_tokens", 0, kMaxBudgetTokens,
                                  &budget->max_tokens, &origins->max_tokens));
    if (budget->max_tokens > 0 && budget->max_tokens < 1) {
      return r_.Error(Blame(origins->max_tokens, inherited.max_tokens),
                      m.PathOf("max_tokens"),
                      absl::StrCat("must be 0 (no budget) or >= 1, got ",
                                   budget->max_tokens));
    }
    RETURN_IF_ERROR(r_.ReadDouble(
        m, "token_ratio", -std::numeric_limits<double>::max(), kMaxBudgetTokens,
        &budget->token_ratio, &origins->token_ratio));
    const ValueOrigin& ratio =
        Blame(origins->token_ratio, inherited.token_ratio);
    if (budget->token_ratio <= 0) {
      return r_.Error(ratio, m.PathOf("token_ratio"),
                      absl::StrCat("must be > 0, got ", budget->token_ratio));
    }
    // With max_tokens 0 there is no budget and the ratio is unused.
    if (budget->max_tokens == 0 || budget->token_ratio <= budget->max_tokens) {
      return absl::OkStatus();
    }
    // Blame the key this map set; when it set neither (or both), the ratio.
    const ValueOrigin& max = Blame(origins->max_tokens, inherited.max_tokens);
    if (origins->token_ratio.explicit_value ||
        !origins->max_tokens.explicit_value) {
      return r_.Error(
          ratio, m.PathOf("token_ratio"),
          absl::StrCat("must be <= max_tokens (", budget->max_tokens, ")"));
    }
    return r_.Error(
        max, m.PathOf("max_tokens"),
        absl::StrCat("must be >= token_ratio (", budget->token_ratio, ")"));
  }

  // jitter: true (full), false (none), or a mode name.
  absl::Status ReadJitter(const YamlMap& m, JitterMode* out) const {
    ASSIGN_OR_RETURN(std::optional<YamlReader::Leaf> leaf,
                     r_.Find(m, "jitter", YamlReader::EnvSyntax::kYaml));
    if (!leaf) return absl::OkStatus();
    if (std::optional<bool> on = ParseBoolScalar(leaf->node)) {
      *out = *on ? JitterMode::kFull : JitterMode::kNone;
      return absl::OkStatus();
    }
    for (const Named<JitterMode>& mode : kJitterModes) {
      if (leaf->node.IsScalar() && leaf->node.Scalar() == mode.name) {
        *out = mode.value;
        return absl::OkStatus();
      }
    }
    return r_.Error(*leaf,
                    absl::StrCat("expected one of true, false, ",
                                 absl::StrJoin(NamesOf(kJitterModes), ", "),
                                 "; got ", DescribeNode(leaf->node)));
  }

  const YamlReader& r_;
};

}  // namespace

absl::Status ReadRetrySection(const YamlReader& reader, const YamlMap& m,
                              RetryConfig* out) {
  return RetryParser(reader).ReadRetry(m, out);
}

}  // namespace crossbridge::config_internal
