// Example 3: database calls with retry, three ways.
//
//  1. WithDatabaseRetry(client, fn, "quick") around any query function (a
//     decorator);
//  2. HardenDatabaseConnection(client, db): a connection whose Execute()
//     retries (a wrapper);
//  3. health: every outcome is reported to the "database" dependency, and
//     grpc.health.v1 tells anyone whether it is serving.
// The fake database loses its connection or deadlocks on purpose.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/str_join.h"
#include "client/client.h"
#include "client/hardened.h"
#include "examples/fakes/example_support.h"
#include "examples/fakes/flaky_providers.h"

namespace cb = ::crossbridge;
namespace ex = ::crossbridge::examples;
using Rows = std::vector<std::vector<std::string>>;

void PrintRows(const absl::StatusOr<Rows>& rows) {
  if (!rows.ok()) {
    std::printf("  error: %s\n", ex::DescribeStatus(rows.status()).c_str());
    return;
  }
  for (const auto& row : *rows)
    std::printf("  | %s |\n", absl::StrJoin(row, " | ").c_str());
}

int main(int argc, char** argv) {
  ex::Example example("Example 3: database with retry", argc, argv);
  cb::Client& client = example.client();
  example.StartFromHealthy("database");

  example.Step("1. WithDatabaseRetry: the first call loses its connection");
  ex::FlakyDatabase db(/*failures=*/1, ex::DbFailure::kConnectionLost);
  absl::StatusOr<Rows> rows = cb::WithDatabaseRetry<Rows>(
      client,
      [&]() { return db.Execute("SELECT * FROM tests WHERE id = 't-2'"); },
      "quick");
  PrintRows(rows);
  std::printf("the database saw %d calls\n", db.calls());
  example.Expect(
      rows.ok() && rows->size() == 1 && (*rows)[0][1] == "search ranks results",
      "the query succeeded on the second attempt");
  example.Expect(db.calls() == 2, "exactly 2 calls (quick policy: 2 attempts)");

  example.Step(
      "2. HardenDatabaseConnection: an UPDATE hits a deadlock (ABORTED)");
  // Whether a deadlock is retried is the quick policy's call: ABORTED must be
  // in its retryable_codes (examples/crossbridge-examples.yml lists it; the
  // default crossbridge.yml does not).
  absl::StatusOr<cb::RetryPolicyConfig> quick = client.GetRetryPolicy("quick");
  const bool retries_deadlocks =
      quick.ok() && absl::c_linear_search(quick->retryable_grpc_codes,
                                          absl::StatusCode::kAborted);
  std::printf("quick policy: %d attempts, ABORTED %s\n",
              quick.ok() ? quick->max_attempts : 0,
              retries_deadlocks ? "is retryable" : "is NOT retryable");
  ex::FlakyDatabase deadlocking(/*failures=*/1, ex::DbFailure::kDeadlock);
  std::unique_ptr<cb::HardenedDatabaseConnection> conn =
      cb::HardenDatabaseConnection(client, deadlocking);
  absl::StatusOr<Rows> updated =
      conn->Execute("UPDATE tests SET status = 'passed' WHERE id = 't-2'");
  const cb::CallReport update_report = conn->last_report();
  std::printf("update: %s; report: %s\n",
              ex::DescribeStatus(updated.status()).c_str(),
              ex::DescribeReport(update_report).c_str());
  if (retries_deadlocks) {
    example.Expect(updated.ok() && update_report.attempts == 2,
                   "the deadlocked update was retried once and succeeded");
  } else {
    example.Expect(updated.status().code() == absl::StatusCode::kAborted &&
                       update_report.attempts == 1,
                   "the deadlock came back to the caller (not retryable here); "
                   "running the update again");
    updated =
        conn->Execute("UPDATE tests SET status = 'passed' WHERE id = 't-2'");
  }
  absl::StatusOr<Rows> all = conn->Execute("SELECT * FROM tests");
  PrintRows(all);
  example.Expect(all.ok() && all->size() == 3 && (*all)[1][2] == "passed",
                 "the update is visible: t-2 passed");

  example.Step("A syntax error is not retried");
  absl::StatusOr<Rows> bad = conn->Execute("SELEKT nothing");
  std::printf("result: %s; report: %s\n",
              ex::DescribeStatus(bad.status()).c_str(),
              ex::DescribeReport(conn->last_report()).c_str());
  example.Expect(bad.status().code() == absl::StatusCode::kInvalidArgument &&
                     conn->last_report().attempts == 1,
                 "INVALID_ARGUMENT after 1 attempt");

  example.Step("3. Health of the database dependency (grpc.health.v1)");
  absl::StatusOr<cb::ServingStatus> health = client.CheckHealth("database");
  std::printf("database: %s\n",
              health.ok() ? std::string(cb::ServingStatusName(*health)).c_str()
                          : ex::DescribeStatus(health.status()).c_str());
  example.Expect(health.ok() && *health == cb::ServingStatus::kServing,
                 "database is SERVING (the last outcomes were successes)");
  return example.Finish();
}
