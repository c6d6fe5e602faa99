// One HTTP GET on loopback (libcurl), for tests that read a server's
// /metrics. Bounded by `timeout`; never follows redirects.
#ifndef CROSSBRIDGE_TESTS_TESTING_HTTP_GET_H_
#define CROSSBRIDGE_TESTS_TESTING_HTTP_GET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace crossbridge::testing {

// The body of http://127.0.0.1:<port><path>; UNAVAILABLE on a transport
// error, FAILED_PRECONDITION on a status other than 200.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path,
                                    absl::Duration timeout = absl::Seconds(5));

// The value of the sample `series` (exact text before the value, e.g.
// `crossbridge_config_reloads_total{result="failure"}`) in a text
// exposition; NOT_FOUND when absent.
absl::StatusOr<double> SampleValue(const std::string& exposition,
                                   const std::string& series);

}  // namespace crossbridge::testing

#endif  // CROSSBRIDGE_TESTS_TESTING_HTTP_GET_H_
