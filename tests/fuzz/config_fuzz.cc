// Fuzz target: the config loader, YAML text plus environment overrides.
//
// Input: YAML text, optionally followed by a line "#ENV" and then lines
// NAME=VALUE, each an environment variable the loader sees (so overrides
// of every leaf, including malformed flow YAML in a value, are explored).
//
// Invariants (a violation aborts, which libFuzzer reports as a crash):
// ParseConfig never throws or crashes; an error is InvalidArgument whose
// message names the file position ("fuzz.yml:LINE:COL:") or the
// environment variable it came from; a config that loads has every bound
// the loader promises (listen address parses, capacities and windows in
// range, providers named by the rule).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/config.h"
#include "common/names.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace crossbridge;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::string yaml = input;
  std::map<std::string, std::string> env;
  if (const size_t at = input.find("\n#ENV\n"); at != std::string::npos) {
    yaml = input.substr(0, at);
    for (absl::string_view line : absl::StrSplit(input.substr(at + 6), '\n')) {
      const size_t eq = line.find('=');
      if (eq == absl::string_view::npos || eq == 0) continue;
      env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
    }
  }
  const EnvLookup lookup = [&env](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
  absl::StatusOr<Config> config = ParseConfig(yaml, "fuzz.yml", lookup);
  if (!config.ok()) {
    Check(absl::IsInvalidArgument(config.status()));
    const absl::string_view message = config.status().message();
    Check(absl::StartsWith(message, "fuzz.yml") ||
          absl::StrContains(message, "CROSSBRIDGE_"));
    return 0;
  }
  Check(CheckListenAddress(config->server.listen_address).ok());
  for (const auto& [name, rule] : config->runtime.rate_limiting.operations) {
    Check(IsValidEntryName(name));
    Check(rule.capacity >= 1 && rule.capacity <= 1'000'000'000);
    Check(rule.window > absl::ZeroDuration());
  }
  for (const auto& [name, provider] : config->runtime.health_checks.providers) {
    Check(IsValidEntryName(name) && !IsReservedHealthName(name));
    Check(provider.timeout <= provider.interval);
    Check(config->runtime.retry.policies.count(provider.retry_policy) == 1);
  }
  Check(config->storage.redis.port >= 1 && config->storage.redis.port <= 65535);
  return 0;
}
