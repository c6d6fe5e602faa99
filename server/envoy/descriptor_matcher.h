// The descriptor tree of the `envoy` config section and how a request
// descriptor finds its limits in it, exactly as envoyproxy/ratelimit does:
//
//  - The domain picks a tree; an unknown domain matches nothing.
//  - The entries are walked in order, one tree level each. At each level an
//    entry matches the node with its key AND value first, else the node
//    with its key and no value; no node: nothing matches.
//  - The limits are those of the node the LAST entry reached. A node with
//    no rate_limit matches but limits nothing; an intermediate node's
//    limits do not apply.
//
// Pure and immutable once built; thread-safe for concurrent Match calls.
#ifndef CROSSBRIDGE_SERVER_ENVOY_DESCRIPTOR_MATCHER_H_
#define CROSSBRIDGE_SERVER_ENVOY_DESCRIPTOR_MATCHER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "common/config.h"
#include "common/gcra.h"

namespace crossbridge {

// One request entry, as Envoy sent it.
struct EnvoyEntry {
  absl::string_view key;
  absl::string_view value;
};

class DescriptorMatcher {
 public:
  // A configured limit with its bucket rule.
  struct Limit {
    GcraRule rule;
    int index = 0;                 // position at its node
    int64_t requests_per_unit = 0;
    int64_t window_us = 0;
    int unit = 0;                  // envoy unit 1..4, 0 for window_seconds
    std::string name;
  };
  struct Node {
    std::string key;
    bool has_value = false;
    std::string value;
    bool shadow_mode = false;
    std::vector<Limit> limits;  // empty: matches, limits nothing
    // Children by (key, value) and by key alone.
    std::map<std::pair<std::string, std::string>, std::unique_ptr<Node>> by_value;
    std::map<std::string, std::unique_ptr<Node>> by_key;
  };

  // Builds the trees. InvalidArgument if a limit cannot be a GCRA rule (the
  // config loader already rules that out).
  static absl::StatusOr<std::unique_ptr<const DescriptorMatcher>> Create(
      const EnvoyConfig& config);

  // The node `entries` reach in `domain`'s tree, or nullptr (unknown
  // domain, no node at some level, or no entries).
  const Node* Match(absl::string_view domain,
                    absl::Span<const EnvoyEntry> entries) const;

  bool HasDomain(absl::string_view domain) const;
  // The domains and, for each, its top-level keys (the metrics' labels).
  std::map<std::string, std::vector<std::string>> TopLevelKeys() const;

 private:
  DescriptorMatcher() = default;
  std::map<std::string, std::unique_ptr<Node>, std::less<>> domains_;  // roots
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_ENVOY_DESCRIPTOR_MATCHER_H_
