// gMock matchers for absl::Status / absl::StatusOr (abseil 20220623 ships
// none):  EXPECT_THAT(s, IsOk());
//         EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
//                                 HasSubstr("cost")));
//         EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound));
#ifndef CROSSBRIDGE_TESTS_TESTING_STATUS_MATCHERS_H_
#define CROSSBRIDGE_TESTS_TESTING_STATUS_MATCHERS_H_

#include <gmock/gmock.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace crossbridge::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

MATCHER_P(StatusIs, code, "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

// A StatusOr<T> that is OK and whose value matches `value_matcher`.
MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status is " << arg.status().ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_STATUS_MATCHERS_H_
