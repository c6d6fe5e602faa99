#include "server/envoy/descriptor_matcher.h"

#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace crossbridge {
namespace {

absl::Status AddChildren(const std::vector<EnvoyDescriptor>& descriptors,
                         DescriptorMatcher::Node& parent) {
  for (const EnvoyDescriptor& d : descriptors) {
    auto node = std::make_unique<DescriptorMatcher::Node>();
    node->key = d.key;
    node->has_value = d.value.has_value();
    node->value = d.value.value_or("");
    node->shadow_mode = d.shadow_mode;
    for (size_t i = 0; i < d.rate_limits.size(); ++i) {
      const EnvoyRateLimit& l = d.rate_limits[i];
      absl::StatusOr<GcraRule> rule = GcraRule::Create(l.requests_per_unit, l.window);
      if (!rule.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "envoy descriptor \"", d.key, "\": ", rule.status().message()));
      }
      node->limits.push_back({*rule, static_cast<int>(i), l.requests_per_unit,
                              absl::ToInt64Microseconds(l.window), l.unit, l.name});
    }
    RETURN_IF_ERROR(AddChildren(d.descriptors, *node));
    if (d.value) {
      parent.by_value[{d.key, *d.value}] = std::move(node);
    } else {
      parent.by_key[d.key] = std::move(node);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<const DescriptorMatcher>> DescriptorMatcher::Create(
    const EnvoyConfig& config) {
  std::unique_ptr<DescriptorMatcher> m(new DescriptorMatcher());
  for (const EnvoyDomain& domain : config.domains) {
    auto root = std::make_unique<Node>();
    RETURN_IF_ERROR(AddChildren(domain.descriptors, *root));
    m->domains_[domain.domain] = std::move(root);
  }
  return std::unique_ptr<const DescriptorMatcher>(std::move(m));
}

const DescriptorMatcher::Node* DescriptorMatcher::Match(
    absl::string_view domain, absl::Span<const EnvoyEntry> entries) const {
  auto root = domains_.find(domain);
  if (root == domains_.end() || entries.empty()) return nullptr;
  const Node* level = root->second.get();
  const Node* reached = nullptr;
  for (const EnvoyEntry& e : entries) {
    auto with_value = level->by_value.find({std::string(e.key), std::string(e.value)});
    if (with_value != level->by_value.end()) {
      reached = with_value->second.get();
    } else {
      auto with_key = level->by_key.find(std::string(e.key));
      if (with_key == level->by_key.end()) return nullptr;
      reached = with_key->second.get();
    }
    level = reached;
  }
  return reached;
}

bool DescriptorMatcher::HasDomain(absl::string_view domain) const {
  return domains_.find(domain) != domains_.end();
}

std::map<std::string, std::vector<std::string>> DescriptorMatcher::TopLevelKeys() const {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [domain, root] : domains_) {
    std::set<std::string> keys;
    for (const auto& [kv, node] : root->by_value) keys.insert(kv.first);
    for (const auto& [k, node] : root->by_key) keys.insert(k);
    out[domain] = std::vector<std::string>(keys.begin(), keys.end());
  }
  return out;
}

}  // namespace crossbridge
