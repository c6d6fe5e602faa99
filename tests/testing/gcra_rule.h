// MakeRule: a GcraRule for tests, from values the test knows are valid; a
// rejected value fails the test that asked for it.
#ifndef CROSSBRIDGE_TESTS_TESTING_GCRA_RULE_H_
#define CROSSBRIDGE_TESTS_TESTING_GCRA_RULE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/gcra.h"
#include "gtest/gtest.h"

namespace crossbridge::testing {

inline GcraRule MakeRule(int64_t capacity, absl::Duration window) {
  absl::StatusOr<GcraRule> rule = GcraRule::Create(capacity, window);
  EXPECT_TRUE(rule.ok()) << rule.status();
  return rule.ok() ? *rule : *GcraRule::Create(1, absl::Seconds(1));
}

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_GCRA_RULE_H_
