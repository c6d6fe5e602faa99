// FakeEnv: an EnvLookup (common/config.h) over a fixed map, so tests never
// read or change the process environment.
#ifndef CROSSBRIDGE_TESTS_TESTING_FAKE_ENV_H_
#define CROSSBRIDGE_TESTS_TESTING_FAKE_ENV_H_

#include <map>
#include <optional>
#include <string>
#include <utility>

#include "common/config.h"

namespace crossbridge::testing {

inline EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](
             const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_FAKE_ENV_H_
