// How much slower a sanitizer build runs: timing bounds in tests stretch by
// this factor under ASan and TSan (never a reason to loosen them elsewhere).
#ifndef CROSSBRIDGE_TESTS_TESTING_SANITIZERS_H_
#define CROSSBRIDGE_TESTS_TESTING_SANITIZERS_H_

namespace crossbridge::testing {

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
inline constexpr int kSlowdown = 4;
#else
inline constexpr int kSlowdown = 1;
#endif

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_SANITIZERS_H_
