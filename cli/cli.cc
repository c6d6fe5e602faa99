#include "cli/cli.h"

#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/quote.h"
#include "common/retry.h"

namespace crossbridge {
namespace {

constexpr char kDefaultTarget[] = "127.0.0.1:50051";
constexpr char kTargetEnv[] = "CROSSBRIDGE_TARGET";
constexpr char kTokenEnv[] = "CROSSBRIDGE_TOKEN";
constexpr uint64_t kMaxTimeoutMs = 24 * 60 * 60 * 1000;  // One day.
constexpr uint64_t kMaxUint32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxHintMs = uint64_t{1} << 40;

constexpr char kGlobalGroup[] = "Global flags (before or after the command)";

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  permit allowed / health SERVING / retry advised / outcome reported\n"
    "  1  permit refused (rate limited) / health not SERVING / no retry\n"
    "  2  usage error (bad or missing flags, unknown command)\n"
    "  3  RPC error (server unreachable, INVALID_ARGUMENT, NOT_FOUND, ...)";

// The validated command line.
struct CliArgs {
  std::string command;
  bool json = false;
  std::string target;
  uint64_t timeout_ms = 1000;
  // security (ClientOptions::tls, token, token_file)
  std::string token_file;  // --token-file
  std::string token;       // $CROSSBRIDGE_TOKEN, without --token-file
  std::string tls_ca;
  std::string tls_cert;
  std::string tls_key;
  std::string tls_server_name;
  // acquire
  std::string operation;
  std::string key;
  uint64_t cost = 1;
  // health
  std::string service;
  bool watch = false;
  uint64_t watch_seconds = 60;
  // retry
  std::string policy = "default";
  uint64_t attempt = 1;
  std::string grpc_code;
  uint64_t http_status = 0;
  std::optional<uint64_t> retry_after_ms;
  std::optional<uint64_t> deadline_ms;
  std::string dependency;
  // report
  std::string provider;
  bool success = false;
  bool failure = false;
  uint64_t latency_ms = 0;
  std::string code;
};

// Subcommand help also lists the global flags (they are accepted after the
// command too) and the exit codes.
class CliFormatter final : public CLI::Formatter {
 public:
  std::string make_help(const CLI::App* app, std::string name,
                        CLI::AppFormatMode mode) const override {
    std::string help = CLI::Formatter::make_help(app, std::move(name), mode);
    const CLI::App* parent = app->get_parent();
    if (parent == nullptr || mode == CLI::AppFormatMode::Sub) return help;
    while (absl::EndsWith(help, "\n\n")) help.pop_back();
    absl::StrAppend(
        &help,
        make_group(kGlobalGroup, false,
                   parent->get_options([parent](const CLI::Option* opt) {
                     return opt->get_group() == kGlobalGroup &&
                            opt != parent->get_help_ptr();
                   })),
        "\n", parent->get_footer(), "\n");
    return help;
  }
};

// A decimal integer in [min, max]: digits only, no sign, spaces or base
// prefixes (CLI11's own conversion would read 010 as octal, 0x10 as hex).
CLI::Validator DecimalIn(uint64_t min, uint64_t max) {
  return CLI::Validator(
      [min, max](std::string& text) {
        uint64_t value = 0;
        const bool digits =
            !text.empty() && text.size() <= 20 &&
            std::all_of(text.begin(), text.end(), [](char c) {
              return absl::ascii_isdigit(static_cast<unsigned char>(c));
            });
        if (digits && absl::SimpleAtoi(text, &value) && value >= min &&
            value <= max) {
          return std::string();
        }
        return absl::StrFormat("expected an integer in [%d, %d], got '%s'", min,
                               max, text);
      },
      /*validator_desc=*/"");
}

const CLI::Validator& NonEmpty() {
  static const auto* const validator = new CLI::Validator(
      [](std::string& text) {
        return text.empty() ? std::string("must not be empty") : std::string();
      },
      /*validator_desc=*/"");
  return *validator;
}

// CLI11 takes the next argument as a flag's value even when it is another
// flag (`--operation --key k`); no string value here starts with "--".
const CLI::Validator& NotAFlag() {
  static const auto* const validator = new CLI::Validator(
      [](std::string& text) {
        return absl::StartsWith(text, "--")
                   ? absl::StrCat("needs a value (got the flag ", text, ")")
                   : std::string();
      },
      /*validator_desc=*/"");
  return *validator;
}

// An unsigned integer flag, checked by DecimalIn, stored in *dest.
CLI::Option* AddNumber(CLI::App* app, const std::string& name, uint64_t* dest,
                       uint64_t min, uint64_t max, const std::string& help) {
  return app
      ->add_option_function<std::string>(
          name,
          [dest](const std::string& text) { (void)absl::SimpleAtoi(text, dest); },
          help)
      ->check(DecimalIn(min, max))
      ->type_name("N");
}

CLI::Option* AddOptionalNumber(CLI::App* app, const std::string& name,
                               std::optional<uint64_t>* dest, uint64_t max,
                               const std::string& help) {
  return app
      ->add_option_function<std::string>(
          name,
          [dest](const std::string& text) {
            uint64_t value = 0;
            (void)absl::SimpleAtoi(text, &value);
            *dest = value;
          },
          help)
      ->check(DecimalIn(0, max))
      ->type_name("MS");
}

// The whole command line. The apps hold pointers into `args`.
void DefineFlags(CLI::App& app, CliArgs& args) {
  app.formatter(std::make_shared<CliFormatter>());
  app.get_formatter()->column_width(26);
  app.set_help_flag("-h,--help", "print this help and exit 0");
  app.fallthrough();  // Global flags after the command reach `app`.
  app.require_subcommand(0, 1);
  app.description(
      "Asks a CrossBridge server for a rate-limit permit, a retry decision or\n"
      "its health, and reports call outcomes. Run `crossbridge-cli <command>\n"
      "--help` for the command's flags.\n");

  const std::string g = kGlobalGroup;
  app.get_help_ptr()->group(g);
  app.add_option("--target", args.target,
                 "server address (default $CROSSBRIDGE_TARGET,\n"
                 "then 127.0.0.1:50051)")
      ->envname(kTargetEnv)
      ->check(NonEmpty())
      ->check(NotAFlag())
      ->type_name("HOST:PORT")
      ->group(g);
  AddNumber(&app, "--timeout-ms", &args.timeout_ms, 1, kMaxTimeoutMs,
            "RPC deadline in milliseconds, 1..86400000\n(default 1000)")
      ->group(g);
  app.add_flag("--json", args.json,
               "print each response as JSON (the proto3 JSON\n"
               "mapping, proto field names), one object per line")
      ->disable_flag_override()
      ->group(g);
  app.add_option("--token-file", args.token_file,
                 "send the bearer token in PATH (whitespace\n"
                 "trimmed) as `authorization: Bearer <token>`;\n"
                 "default: $CROSSBRIDGE_TOKEN when set and not\n"
                 "empty; the flag wins")
      ->check(NonEmpty())
      ->check(NotAFlag())
      ->type_name("PATH")
      ->group(g);
  app.add_option("--tls-ca", args.tls_ca,
                 "TLS, verifying the server with the PEM roots\n"
                 "in PATH (any --tls-* flag turns TLS on; no\n"
                 "--tls-ca: the system roots)")
      ->check(NonEmpty())
      ->check(NotAFlag())
      ->type_name("PATH")
      ->group(g);
  CLI::Option* cert =
      app.add_option("--tls-cert", args.tls_cert,
                     "client certificate chain (PEM) for mTLS")
          ->check(NonEmpty())
          ->check(NotAFlag())
      ->type_name("PATH")
          ->group(g);
  CLI::Option* key = app.add_option("--tls-key", args.tls_key,
                                    "its private key (PEM)")
                         ->check(NonEmpty())
                         ->check(NotAFlag())
      ->type_name("PATH")
                         ->group(g);
  cert->needs(key);
  key->needs(cert);
  app.add_option("--tls-server-name", args.tls_server_name,
                 "name to check in the server certificate (and\n"
                 "SNI), e.g. localhost when --target is an IP")
      ->check(NonEmpty())
      ->check(NotAFlag())
      ->type_name("NAME")
      ->group(g);

  CLI::App* acquire =
      app.add_subcommand("acquire", "ask for a rate-limit permit");
  acquire->footer("Asks for COST permits from bucket KEY of rate-limit rule OP.");
  acquire->add_option("--operation", args.operation,
                      "rule name from the server config, e.g. embed")
      ->required()
      ->check(NotAFlag())
      ->type_name("OP");
  acquire->add_option("--key", args.key,
                      "bucket within the operation, e.g. user:123")
      ->required()
      ->check(NotAFlag())
      ->type_name("KEY");
  AddNumber(acquire, "--cost", &args.cost, 0, kMaxUint32,
            "permits to take, 0..4294967295; 0 peeks\n(default 1)");

  CLI::App* health = app.add_subcommand(
      "health",
      "check the server's (or one service's) health;\n--watch streams");
  health->footer(
      "Queries grpc.health.v1.Health/Check; prints SERVING, NOT_SERVING,\n"
      "UNKNOWN or SERVICE_UNKNOWN. Without --service and --watch it also\n"
      "prints the dependency table (HealthReporter/GetHealth): name, status,\n"
      "consecutive failures/threshold, last latency, last error.");
  health->add_option("--service", args.service,
                     "service or provider to check (default \"\":\n"
                     "the whole server)")
      ->check(NotAFlag())
      ->type_name("NAME");
  health->add_flag("--watch", args.watch,
                   "stream grpc.health.v1.Health/Watch, printing\n"
                   "every status change; exit status from the\nlast one")
      ->disable_flag_override();
  AddNumber(health, "--watch-seconds", &args.watch_seconds, 1, 86400,
            "how long to watch, 1..86400 (default 60)");

  CLI::App* retry = app.add_subcommand(
      "retry", "ask whether a failed attempt should be retried,\nand when");
  retry->footer(
      "Asks the server (RetryAdvisor/DecideRetry) whether attempt N, which\n"
      "failed with C or S, should be retried; prints e.g.\n"
      "  retry after 812ms (RETRYABLE, 1 attempts remaining)   (exit 0)\n"
      "  no retry: ATTEMPTS_EXHAUSTED                          (exit 1)");
  retry->add_option("--policy", args.policy,
                    "retry policy (default \"default\")")
      ->check(NotAFlag())
      ->type_name("P");
  AddNumber(retry, "--attempt", &args.attempt, 1, kMaxUint32,
            "the attempt that failed, 1 = the first call")
      ->required();
  CLI::Option* grpc_code =
      retry
          ->add_option("--code", args.grpc_code,
                       "gRPC code name or number, e.g. UNAVAILABLE\n"
                       "(exactly one of --code and --http-status)")
          ->check(CLI::Validator(
              [](std::string& text) {
                absl::StatusOr<absl::StatusCode> code = ParseGrpcCode(text);
                return code.ok() ? std::string()
                                 : std::string(code.status().message());
              },
              ""))
          ->check(NotAFlag())
      ->type_name("C");
  CLI::Option* http = AddNumber(retry, "--http-status", &args.http_status, 100,
                                599, "HTTP status, 100..599, e.g. 503")
                          ->type_name("S");
  grpc_code->excludes(http);
  AddOptionalNumber(retry, "--retry-after-ms", &args.retry_after_ms,
                    kMaxHintMs, "the failed call's Retry-After hint");
  AddOptionalNumber(retry, "--deadline-ms", &args.deadline_ms, kMaxHintMs,
                    "the caller's remaining deadline");
  retry->add_option("--dependency", args.dependency,
                    "provider the call went to (DEPENDENCY_UNHEALTHY\n"
                    "when it is NOT_SERVING)")
      ->check(NotAFlag())
      ->type_name("NAME");

  CLI::App* report = app.add_subcommand(
      "report", "report a call outcome to a dependency (passive\nhealth)");
  report->footer(
      "Reports one call outcome to provider P (HealthReporter/ReportOutcome)\n"
      "and prints the provider's health afterwards.");
  report->add_option("--provider", args.provider,
                     "provider from runtime.health_checks")
      ->required()
      ->check(NotAFlag())
      ->type_name("P");
  CLI::Option* success =
      report->add_flag("--success", args.success,
                       "the call succeeded (resets the failure count)")
          ->disable_flag_override();
  CLI::Option* failure =
      report->add_flag("--failure", args.failure,
                       "the call failed (counts toward\nfailure_threshold)")
          ->disable_flag_override();
  success->excludes(failure);
  AddNumber(report, "--latency-ms", &args.latency_ms, 0, kMaxTimeoutMs,
            "the call's latency, 0..86400000 (default 0)");
  report->add_option("--code", args.code,
                     "the failure's code, e.g. 503 or UNAVAILABLE")
      ->check(NotAFlag())
      ->type_name("C");

  // Set last: subcommands copy these when they are added. CliFormatter
  // prints the footer after a command's global flags. What neither a
  // command nor the globals know falls through to `app`, which keeps it for
  // CheckParsed to name.
  app.footer(kExitCodesHelp);
  app.allow_extras();
}

// Checks CLI11 cannot express; the first subcommand given in `app`.
absl::Status CheckParsed(const CLI::App& app, CliArgs& args) {
  const std::vector<const CLI::App*> commands = app.get_subcommands(
      [](const CLI::App* sub) { return sub->parsed(); });
  for (const std::string& extra : app.remaining()) {
    if (absl::StartsWith(extra, "-")) {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", extra));
    }
    return absl::InvalidArgumentError(
        commands.empty() ? absl::StrCat("unknown command '", extra, "'")
                         : absl::StrCat("unexpected argument '", extra, "'"));
  }
  if (commands.empty()) return absl::InvalidArgumentError("no command given");
  args.command = commands.front()->get_name();
  if (args.command == "retry" &&
      args.grpc_code.empty() == (args.http_status == 0)) {
    return absl::InvalidArgumentError(
        "exactly one of --code and --http-status is required");
  }
  if (args.command == "report" && args.success == args.failure) {
    return absl::InvalidArgumentError(
        "exactly one of --success and --failure is required");
  }
  if (args.target.empty()) args.target = kDefaultTarget;
  if (args.token_file.empty()) {
    const char* env = std::getenv(kTokenEnv);
    if (env != nullptr) args.token = std::string(absl::StripAsciiWhitespace(env));
  }
  return absl::OkStatus();
}

// ---- Output ----------------------------------------------------------------

// `message` in the proto3 JSON mapping as grpcurl shows it: proto field names,
// fields at their defaults included, (u)int64 as strings, one line.
void PrintJson(const google::protobuf::Message& message, std::ostream& out) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = false;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(message, &json, options);
  // Only a string field that is not UTF-8 fails, and the server's answers
  // are parsed protos (valid UTF-8); never a partial line.
  out << (status.ok() ? json : "{}") << "\n";
}

void PrintPermit(const CliArgs& args, const Permit& p, std::ostream& out) {
  if (args.json) {
    v1::AcquirePermitResponse response;
    response.set_allowed(p.allowed);
    response.set_limit(p.limit);
    response.set_remaining(p.remaining);
    response.set_retry_after_ms(p.retry_after_ms);
    response.set_reset_after_ms(p.reset_after_ms);
    response.set_granted(p.granted);
    PrintJson(response, out);
    return;
  }
  std::string line = absl::StrFormat(
      "%s  %s/%s  remaining %d/%d  ", p.allowed ? "allowed" : "refused",
      EscapeForTerminal(args.operation), EscapeForTerminal(args.key),
      p.remaining, p.limit);
  if (!p.allowed) absl::StrAppend(&line, "retry_after ", p.retry_after_ms, "ms ");
  absl::StrAppend(&line, "reset_after ", p.reset_after_ms, "ms");
  out << line << "\n";
}

void PrintHealth(const CliArgs& args, ServingStatus status, std::ostream& out) {
  if (args.json) {
    grpc::health::v1::HealthCheckResponse response;
    grpc::health::v1::HealthCheckResponse::ServingStatus proto_status =
        grpc::health::v1::HealthCheckResponse::UNKNOWN;
    grpc::health::v1::HealthCheckResponse::ServingStatus_Parse(
        std::string(ServingStatusName(status)), &proto_status);
    response.set_status(proto_status);
    PrintJson(response, out);
  } else {
    out << ServingStatusName(status) << "\n";
  }
}

int RpcError(const CliArgs& args, const absl::Status& status,
             std::ostream& err) {
  err << "error: " << absl::StatusCodeToString(status.code()) << ": "
      << EscapeForTerminal(status.message());
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    err << " (target " << args.target << ")";
  }
  err << "\n";
  return kExitRpcError;
}

// "SERVING", "NOT_SERVING", "UNKNOWN", "DISABLED" (the proto name without
// its STATUS_ prefix).
std::string DependencyStatusName(v1::DependencyStatus status) {
  std::string name = v1::DependencyStatus_Name(status);
  if (absl::StartsWith(name, "STATUS_")) name = name.substr(7);
  return name.empty() ? "UNSPECIFIED" : name;
}

constexpr char kTableFormat[] = "%-24s %-12s %-9s %-9s %s\n";

// What the server sends is shown escaped: a reported code or a probe's
// error text must not reach the terminal as escape sequences.
std::string DependencyRow(const v1::DependencyHealth& d) {
  return absl::StrFormat(
      kTableFormat, EscapeForTerminal(d.name()), DependencyStatusName(d.status()),
      absl::StrCat(d.consecutive_failures(), "/", d.failure_threshold()),
      absl::StrCat(d.last_latency_ms(), "ms"),
      d.last_error().empty() ? "-" : EscapeForTerminal(d.last_error()));
}

std::string StoreRow(const v1::DependencyHealth& d) {
  return absl::StrFormat("store %s (%s): %s%s\n", EscapeForTerminal(d.name()),
                         EscapeForTerminal(d.target()),
                         DependencyStatusName(d.status()),
                         d.last_error().empty()
                             ? ""
                             : absl::StrCat(": ", EscapeForTerminal(d.last_error())));
}

// health without --service and --watch: the Check status plus the table.
int RunServerHealth(const CliArgs& args, Client& client, std::ostream& out,
                    std::ostream& err) {
  absl::StatusOr<ServingStatus> health = client.CheckHealth(args.service);
  if (!health.ok()) return RpcError(args, health.status(), err);
  const int exit_code =
      *health == ServingStatus::kServing ? kExitOk : kExitRefused;
  absl::StatusOr<v1::HealthReport> report = client.GetHealth();
  if (!report.ok() && absl::IsUnimplemented(report.status())) {
    // An older server without HealthReporter: the status alone.
    PrintHealth(args, *health, out);
    err << "note: the server does not report dependency health\n";
    return exit_code;
  }
  if (!report.ok()) return RpcError(args, report.status(), err);
  if (args.json) {
    // One line per response: the Check status, then the HealthReport.
    PrintHealth(args, *health, out);
    PrintJson(*report, out);
    return exit_code;
  }
  out << ServingStatusName(*health) << "\n";
  if (report->has_store()) out << StoreRow(report->store());
  if (report->dependencies().empty()) {
    out << "no dependencies configured\n";
    return exit_code;
  }
  out << absl::StrFormat(kTableFormat, "DEPENDENCY", "STATUS", "FAILURES",
                         "LATENCY", "LAST_ERROR");
  for (const v1::DependencyHealth& d : report->dependencies()) {
    out << DependencyRow(d);
  }
  return exit_code;
}

int RunWatch(const CliArgs& args, Client& client, std::ostream& out,
             std::ostream& err) {
  std::optional<ServingStatus> last;
  const absl::Status status = client.WatchHealth(
      args.service, absl::Seconds(static_cast<int64_t>(args.watch_seconds)),
      [&](ServingStatus s) {
        last = s;
        PrintHealth(args, s, out);
        out.flush();
        return true;
      });
  if (!status.ok()) return RpcError(args, status, err);
  return last == ServingStatus::kServing ? kExitOk : kExitRefused;
}

int RunRetry(const CliArgs& args, Client& client, std::ostream& out,
             std::ostream& err) {
  RetryRequest request;
  request.attempt = static_cast<int>(std::min<uint64_t>(
      args.attempt, std::numeric_limits<int>::max()));
  if (!args.grpc_code.empty()) {
    request.failure.grpc_code = *ParseGrpcCode(args.grpc_code);  // checked
  } else {
    request.failure.http_status = static_cast<int>(args.http_status);
  }
  if (args.retry_after_ms) {
    request.retry_after =
        absl::Milliseconds(static_cast<int64_t>(*args.retry_after_ms));
  }
  if (args.deadline_ms) {
    request.deadline =
        absl::Milliseconds(static_cast<int64_t>(*args.deadline_ms));
  }
  absl::StatusOr<RetryDecision> decision =
      client.DecideRetry(args.policy, request, args.dependency);
  if (!decision.ok()) return RpcError(args, decision.status(), err);
  const int64_t delay_ms = absl::ToInt64Milliseconds(decision->delay);
  if (args.json) {
    v1::DecideRetryResponse response;
    response.set_retry(decision->retry);
    response.set_delay_ms(static_cast<uint64_t>(std::max<int64_t>(delay_ms, 0)));
    v1::RetryReason reason = v1::RETRY_REASON_UNSPECIFIED;
    v1::RetryReason_Parse(std::string(RetryReasonName(decision->reason)),
                          &reason);
    response.set_reason(reason);
    response.set_attempts_remaining(
        static_cast<uint32_t>(std::max(decision->attempts_remaining, 0)));
    PrintJson(response, out);
  } else if (decision->retry) {
    out << absl::StrFormat("retry after %dms (%s, %d attempts remaining)\n",
                           delay_ms, RetryReasonName(decision->reason),
                           decision->attempts_remaining);
  } else {
    out << "no retry: " << RetryReasonName(decision->reason) << "\n";
  }
  return decision->retry ? kExitOk : kExitRefused;
}

int RunReport(const CliArgs& args, Client& client, std::ostream& out,
              std::ostream& err) {
  absl::StatusOr<v1::DependencyHealth> health =
      client.ReportOutcome(
          args.provider, args.success,
          absl::Milliseconds(static_cast<int64_t>(args.latency_ms)), args.code);
  if (!health.ok()) return RpcError(args, health.status(), err);
  if (args.json) {
    v1::ReportOutcomeResponse response;
    *response.mutable_dependency() = *health;
    PrintJson(response, out);
  } else {
    out << absl::StrFormat(
        "reported %s to %s: %s, failures %d/%d, latency %dms, last_error %s\n",
        args.success ? "success" : "failure", EscapeForTerminal(health->name()),
        DependencyStatusName(health->status()), health->consecutive_failures(),
        health->failure_threshold(), health->last_latency_ms(),
        health->last_error().empty() ? "-" : EscapeForTerminal(health->last_error()));
  }
  return kExitOk;
}

// Create's message with the SDK option it names spelled as the CLI's flag
// (or environment variable), e.g. `--tls-ca: cannot read "/x": ...`.
std::string CreateErrorMessage(absl::string_view message) {
  static constexpr std::pair<absl::string_view, absl::string_view> kNames[] = {
      {"tls.ca_file: ", "--tls-ca: "},
      {"tls.cert_file: ", "--tls-cert: "},
      {"tls.key_file: ", "--tls-key: "},
      {"token_file: ", "--token-file: "},
      {"token: ", "$CROSSBRIDGE_TOKEN: "},
  };
  for (const auto& [option, flag] : kNames) {
    if (absl::ConsumePrefix(&message, option)) {
      return EscapeForTerminal(absl::StrCat(flag, message));
    }
  }
  return EscapeForTerminal(message);
}

int Run(const CliArgs& args, std::ostream& out, std::ostream& err) {
  ClientOptions options;
  options.target = args.target;
  // One call per command: a stream would only add its setup.
  options.permit_transport = ClientOptions::PermitTransport::kUnary;
  options.default_deadline =
      absl::Milliseconds(static_cast<int64_t>(args.timeout_ms));
  if (!args.tls_ca.empty() || !args.tls_cert.empty() ||
      !args.tls_server_name.empty()) {
    ClientOptions::Tls tls;
    tls.ca_file = args.tls_ca;
    tls.cert_file = args.tls_cert;
    tls.key_file = args.tls_key;
    tls.server_name = args.tls_server_name;
    options.tls = std::move(tls);
  }
  options.token_file = args.token_file;
  options.token = args.token;
  absl::StatusOr<std::unique_ptr<Client>> client =
      Client::Create(std::move(options));
  if (!client.ok()) {
    err << "error: " << CreateErrorMessage(client.status().message()) << "\n";
    return kExitUsage;
  }
  if (args.command == "acquire") {
    AcquireOptions acquire;
    acquire.cost = static_cast<uint32_t>(args.cost);
    absl::StatusOr<Permit> permit =
        (*client)->AcquirePermit(args.operation, args.key, acquire);
    if (!permit.ok()) return RpcError(args, permit.status(), err);
    PrintPermit(args, *permit, out);
    return permit->allowed ? kExitOk : kExitRefused;
  }
  if (args.command == "retry") return RunRetry(args, **client, out, err);
  if (args.command == "report") return RunReport(args, **client, out, err);
  if (args.watch) return RunWatch(args, **client, out, err);
  if (args.service.empty()) return RunServerHealth(args, **client, out, err);
  absl::StatusOr<ServingStatus> health = (*client)->CheckHealth(args.service);
  if (!health.ok()) return RpcError(args, health.status(), err);
  PrintHealth(args, *health, out);
  return *health == ServingStatus::kServing ? kExitOk : kExitRefused;
}

}  // namespace

int RunCli(int argc, char** argv, std::ostream& out, std::ostream& err) {
  CliArgs args;
  CLI::App app("", "crossbridge-cli");
  DefineFlags(app, args);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    out << app.help();  // The command's help when one was given.
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // --help wins over other errors on the line.
    for (const CLI::App* command : app.get_subcommands()) {
      if (command->get_help_ptr()->count() > 0) {
        out << app.help();
        return kExitOk;
      }
    }
    err << "error: " << e.what() << "\n\n" << app.help();
    return kExitUsage;
  }
  if (absl::Status s = CheckParsed(app, args); !s.ok()) {
    err << "error: " << s.message() << "\n\n" << app.help();
    return kExitUsage;
  }
  return Run(args, out, err);
}

}  // namespace crossbridge
