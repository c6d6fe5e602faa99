// Example 7: configuration-driven setup.
//
// The server and every client read the same crossbridge.yml. This example
// loads it with crossbridge::LoadConfigFile (common/config.h), prints the
// rate limits, retry policies and health providers it defines, then asks the running server for each
// policy (RetryAdvisor.GetRetryPolicy), each limit (a cost-0 permit) and its
// providers (GetHealth) and checks that both sides agree.
//
//   07_configuration_driven --config examples/crossbridge-examples.yml
// Without --config: $CROSSBRIDGE_CONFIG, else crossbridge.yml in the working
// directory or up to 3 parents (the server's own discovery).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "common/config.h"
#include "examples/fakes/example_support.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;

std::string Describe(const cb::RetryPolicyConfig& p) {
  std::vector<std::string> codes;
  for (int http : p.retryable_codes) codes.push_back(absl::StrCat(http));
  for (absl::StatusCode c : p.retryable_grpc_codes) {
    codes.push_back(absl::StatusCodeToString(c));
  }
  return absl::StrFormat(
      "%d attempts, base %s, max %s, x%g, jitter %s, on [%s]", p.max_attempts,
      absl::FormatDuration(p.base_delay), absl::FormatDuration(p.max_delay),
      p.exponential_base, cb::JitterModeName(p.jitter),
      absl::StrJoin(codes, " "));
}

int main(int argc, char** argv) {
  ex::Example example("Example 7: configuration-driven setup", argc, argv);
  cb::Client& client = example.client();

  example.Step("Load the configuration");
  char cwd[4096] = ".";
  if (getcwd(cwd, sizeof cwd) == nullptr) cwd[0] = '\0';
  absl::StatusOr<std::optional<std::string>> path =
      cb::DiscoverConfigPath(example.args().config, cb::ProcessEnv(), cwd);
  if (!example.Expect(path.ok() && path->has_value(),
                      "found a crossbridge.yml")) {
    std::printf("pass --config PATH (%s)\n",
                path.ok() ? "none found" : path.status().ToString().c_str());
    return example.Finish();
  }
  absl::StatusOr<cb::Config> config =
      cb::LoadConfigFile(**path, cb::ProcessEnv());
  if (!example.Expect(config.ok(), "loaded " + **path)) {
    std::printf("%s\n", config.status().ToString().c_str());
    return example.Finish();
  }
  const cb::RuntimeConfig& rt = config->runtime;

  example.Step("Rate limits (runtime.rate_limiting.defaults) vs the server");
  for (const auto& [op, rule] : rt.rate_limiting.operations) {
    absl::StatusOr<cb::Permit> peek =
        client.AcquirePermit(op, example.UniqueKey("config-check"),
                             {.cost = 0, .deadline = std::nullopt});
    std::printf("  %-14s %6lld per %-8s server: %s\n", op.c_str(),
                static_cast<long long>(rule.capacity),
                absl::FormatDuration(rule.window).c_str(),
                peek.ok() ? absl::StrCat("limit ", peek->limit).c_str()
                          : ex::DescribeStatus(peek.status()).c_str());
    example.Expect(
        peek.ok() && int64_t{peek->limit} == rule.capacity,
        absl::StrCat(op, ": the server enforces capacity ", rule.capacity));
  }

  example.Step("Retry policies (runtime.retry) vs RetryAdvisor.GetRetryPolicy");
  for (const auto& [name, policy] : rt.retry.policies) {
    absl::StatusOr<cb::RetryPolicyConfig> served = client.GetRetryPolicy(name);
    std::printf("  %-13s file:   %s\n", name.c_str(), Describe(policy).c_str());
    std::printf("  %-13s server: %s\n", "",
                served.ok() ? Describe(*served).c_str()
                            : ex::DescribeStatus(served.status()).c_str());
    example.Expect(
        served.ok() && served->max_attempts == policy.max_attempts &&
            served->base_delay == policy.base_delay &&
            served->max_delay == policy.max_delay &&
            served->exponential_base == policy.exponential_base &&
            served->jitter == policy.jitter &&
            served->retryable_codes == policy.retryable_codes &&
            served->retryable_grpc_codes == policy.retryable_grpc_codes,
        "policy " + name + " matches");
  }

  example.Step(
      "Health providers (runtime.health_checks.providers) vs GetHealth");
  absl::StatusOr<cb::v1::HealthReport> health = client.GetHealth();
  std::set<std::string> served_names;
  if (health.ok()) {
    for (const auto& d : health->dependencies()) served_names.insert(d.name());
  }
  std::set<std::string> file_names;
  for (const auto& [name, p] : rt.health_checks.providers) {
    file_names.insert(name);
    std::printf("  %-20s %-6s %-40s every %s, policy %s\n", name.c_str(),
                std::string(cb::CheckTypeName(p.check_type)).c_str(),
                p.target.c_str(), absl::FormatDuration(p.interval).c_str(),
                p.retry_policy.c_str());
  }
  std::printf("  the server reports: %s\n",
              absl::StrJoin(served_names, ", ").c_str());
  example.Expect(health.ok() && served_names == file_names,
                 "the server monitors exactly the configured providers");
  return example.Finish();
}
