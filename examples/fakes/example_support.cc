#include "examples/fakes/example_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"

namespace crossbridge::examples {
namespace {

[[noreturn]] void Usage(const char* argv0, absl::string_view error) {
  if (!error.empty())
    std::fprintf(stderr, "%s: %.*s\n", argv0, static_cast<int>(error.size()),
                 error.data());
  std::fprintf(stderr,
               "usage: %s [--target HOST:PORT] [--config PATH]\n"
               "  --target  CrossBridge server (default $CROSSBRIDGE_TARGET, "
               "then 127.0.0.1:50051)\n"
               "  --config  crossbridge.yml to read (configuration example)\n",
               argv0);
  std::exit(error.empty() ? 0 : 2);
}

ExampleArgs ParseArgs(int argc, char** argv) {
  ExampleArgs args;
  const char* env = std::getenv("CROSSBRIDGE_TARGET");
  args.target = env != nullptr && *env != '\0' ? env : "127.0.0.1:50051";
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") Usage(argv[0], "");
    std::string* dest = nullptr;
    absl::string_view name;
    for (auto [flag, field] : {std::pair{"--target", &args.target},
                               std::pair{"--config", &args.config}}) {
      if (arg == flag || absl::StartsWith(arg, absl::StrCat(flag, "="))) {
        dest = field;
        name = flag;
      }
    }
    if (dest == nullptr) Usage(argv[0], absl::StrCat("unknown argument ", arg));
    if (arg.size() > name.size()) {
      *dest = std::string(arg.substr(name.size() + 1));
    } else if (i + 1 < argc) {
      *dest = argv[++i];
    } else {
      Usage(argv[0], absl::StrCat(name, " needs a value"));
    }
    if (dest->empty()) Usage(argv[0], absl::StrCat(name, " must not be empty"));
  }
  return args;
}

}  // namespace

Example::Example(absl::string_view title, int argc, char** argv)
    : args_(ParseArgs(argc, argv)) {
  std::printf("# %.*s\n# server: %s\n", static_cast<int>(title.size()),
              title.data(), args_.target.c_str());
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(client_options());
  if (!client.ok()) {
    std::fprintf(stderr, "cannot create a client: %s\n",
                 client.status().ToString().c_str());
    std::exit(3);
  }
  client_ = std::move(*client);
  absl::StatusOr<ServingStatus> health =
      client_->CheckHealth("", absl::Seconds(5));
  if (!health.ok()) {
    std::fprintf(
        stderr, "no CrossBridge server at %s (%s); start one with `make run`\n",
        args_.target.c_str(), health.status().ToString().c_str());
    std::exit(3);
  }
  std::fflush(stdout);
}

ClientOptions Example::client_options() const {
  ClientOptions options;
  options.target = args_.target;
  options.default_deadline = absl::Seconds(5);
  return options;
}

std::string Example::UniqueKey(absl::string_view prefix) const {
  return absl::StrCat(prefix, ":", getpid());
}

void Example::StartFromHealthy(absl::string_view provider) {
  absl::StatusOr<v1::HealthReport> report = client_->GetHealth();
  if (!report.ok()) return;
  for (const v1::DependencyHealth& d : report->dependencies()) {
    if (d.name() != provider || d.consecutive_failures() == 0) continue;
    std::printf(
        "note: %s already has %u consecutive failures on this server (%s; "
        "last: %s); the fake stands in for it, so one success is reported "
        "first\n",
        d.name().c_str(), d.consecutive_failures(),
        std::string(
            absl::StripPrefix(v1::DependencyStatus_Name(d.status()), "STATUS_"))
            .c_str(),
        d.last_error().c_str());
    (void)client_->ReportOutcome(provider, true, absl::ZeroDuration());
  }
  std::fflush(stdout);
}

void Example::Step(absl::string_view title) const {
  std::printf("\n== %.*s\n", static_cast<int>(title.size()), title.data());
  std::fflush(stdout);
}

bool Example::Expect(bool ok, absl::string_view what) {
  ++checks_;
  if (!ok) failures_.emplace_back(what);
  std::printf("%s %.*s\n", ok ? "ok  " : "FAIL", static_cast<int>(what.size()),
              what.data());
  std::fflush(stdout);
  return ok;
}

int Example::Finish() const {
  if (failures_.empty()) {
    std::printf("\nRESULT: ok (%d checks passed)\n", checks_);
    return 0;
  }
  std::printf("\nRESULT: FAILED (%zu of %d checks): %s\n", failures_.size(),
              checks_, absl::StrJoin(failures_, "; ").c_str());
  return 1;
}

std::string Ms(absl::Duration d) {
  return absl::StrCat(absl::ToInt64Milliseconds(d), "ms");
}

std::string DescribeReport(const CallReport& report) {
  std::vector<std::string> delays;
  for (absl::Duration d : report.delays) delays.push_back(Ms(d));
  return absl::StrCat(
      report.attempts, report.attempts == 1 ? " attempt" : " attempts",
      ", delays [", absl::StrJoin(delays, ", "), "], permit wait ",
      Ms(report.permit_wait),
      report.used_local_limiter ? ", local limiter (server down)" : "");
}

std::string DescribeStatus(const absl::Status& status) {
  if (status.ok()) return "OK";
  // Not status.ToString(): that would also print the payloads.
  std::string out = absl::StrCat(absl::StatusCodeToString(status.code()), ": ",
                                 status.message());
  // HttpError messages already start with "HTTP <status>: ".
  if (std::optional<absl::Duration> ra = RetryAfterOf(status)) {
    absl::StrAppend(&out, " (Retry-After ", Ms(*ra), ")");
  }
  return out;
}

}  // namespace crossbridge::examples
