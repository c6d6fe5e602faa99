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

// Whether per-call latency bounds are asserted. Not under TSan: there the
// instrumented test process and server stall for hundreds of ms (Debian's
// gRPC is not instrumented), which is not what those bounds measure; the
// normal and ASan suites hold them.
#if defined(__SANITIZE_THREAD__)
inline constexpr bool kLatencyBoundsHold = false;
#else
inline constexpr bool kLatencyBoundsHold = true;
#endif

// Threads a load test may run. Under TSan the test process and the server
// are slow enough that 8 closed-loop threads saturate the server: calls
// queue inside gRPC until they miss the SDK's deadline, and health checks
// wait behind them. 2 threads load it without queueing.
#if defined(__SANITIZE_THREAD__)
inline constexpr int LoadThreads(int wanted) { return wanted < 2 ? wanted : 2; }
#else
inline constexpr int LoadThreads(int wanted) { return wanted; }
#endif

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_SANITIZERS_H_
