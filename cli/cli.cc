#include "cli/cli.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/quote.h"
#include "common/retry.h"
#include "common/status.h"

namespace crossbridge {
namespace {

constexpr absl::string_view kDefaultTarget = "127.0.0.1:50051";
constexpr absl::string_view kTargetEnv = "CROSSBRIDGE_TARGET";
constexpr absl::string_view kTokenEnv = "CROSSBRIDGE_TOKEN";
constexpr uint64_t kDefaultTimeoutMs = 1000;
constexpr uint64_t kMaxTimeoutMs = 24 * 60 * 60 * 1000;  // One day.

constexpr absl::string_view kGlobalFlagsHelp =
    "Global flags (before or after the command):\n"
    "  --target HOST:PORT      server address (default $CROSSBRIDGE_TARGET,\n"
    "                          then 127.0.0.1:50051)\n"
    "  --timeout-ms N          RPC deadline in milliseconds (default 1000)\n"
    "  --json                  print one JSON object per line\n"
    "  --token-file PATH       send the bearer token in PATH (whitespace\n"
    "                          trimmed) as `authorization: Bearer <token>`;\n"
    "                          default: $CROSSBRIDGE_TOKEN when set and not\n"
    "                          empty; the flag wins\n"
    "  --tls-ca PATH           TLS, verifying the server with the PEM roots\n"
    "                          in PATH (any --tls-* flag turns TLS on; no\n"
    "                          --tls-ca: the system roots)\n"
    "  --tls-cert PATH         client certificate chain (PEM) for mTLS;\n"
    "                          needs --tls-key\n"
    "  --tls-key PATH          its private key (PEM); needs --tls-cert\n"
    "  --tls-server-name NAME  name to check in the server certificate (and\n"
    "                          SNI), e.g. localhost when --target is an IP\n"
    "  -h, --help              print this help and exit 0\n";

constexpr absl::string_view kExitCodesHelp =
    "Exit codes:\n"
    "  0  permit allowed / health SERVING / retry advised / outcome reported\n"
    "  1  permit refused (rate limited) / health not SERVING / no retry\n"
    "  2  usage error (bad or missing flags, unknown command)\n"
    "  3  RPC error (server unreachable, INVALID_ARGUMENT, NOT_FOUND, ...)\n";

constexpr absl::string_view kAcquireHelp =
    "Usage: crossbridge-cli [global flags] acquire --operation OP --key KEY "
    "[--cost N]\n"
    "\n"
    "Asks for COST permits from bucket KEY of rate-limit rule OP.\n"
    "  --operation OP   rule name from the server config, e.g. embed "
    "(required)\n"
    "  --key KEY        bucket within the operation, e.g. user:123 "
    "(required)\n"
    "  --cost N         permits to take, 0..4294967295; 0 peeks (default 1)\n";

constexpr absl::string_view kHealthHelp =
    "Usage: crossbridge-cli [global flags] health [--service NAME] [--watch]\n"
    "                       [--watch-seconds N]\n"
    "\n"
    "Queries grpc.health.v1.Health/Check; prints SERVING, NOT_SERVING, "
    "UNKNOWN\n"
    "or SERVICE_UNKNOWN. Without --service and --watch it also prints the\n"
    "dependency table (HealthReporter/GetHealth): name, status, consecutive\n"
    "failures/threshold, last latency, last error.\n"
    "  --service NAME     service or provider to check (default \"\": the "
    "whole\n"
    "                     server)\n"
    "  --watch            stream grpc.health.v1.Health/Watch, printing every\n"
    "                     status change; exit status from the last one\n"
    "  --watch-seconds N  how long to watch, 1..86400 (default 60)\n";

constexpr absl::string_view kRetryHelp =
    "Usage: crossbridge-cli [global flags] retry [--policy P] --attempt N\n"
    "                       (--code C | --http-status S) [--retry-after-ms X]\n"
    "                       [--deadline-ms D] [--dependency NAME]\n"
    "\n"
    "Asks the server (RetryAdvisor/DecideRetry) whether attempt N, which "
    "failed\n"
    "with C or S, should be retried; prints e.g.\n"
    "  retry after 812ms (RETRYABLE, 1 attempts remaining)   (exit 0)\n"
    "  no retry: ATTEMPTS_EXHAUSTED                          (exit 1)\n"
    "  --policy P          retry policy (default \"default\")\n"
    "  --attempt N         the attempt that failed, 1 = the first call "
    "(required)\n"
    "  --code C            gRPC code name or number, e.g. UNAVAILABLE\n"
    "  --http-status S     HTTP status, 100..599, e.g. 503\n"
    "  --retry-after-ms X  the failed call's Retry-After hint\n"
    "  --deadline-ms D     the caller's remaining deadline\n"
    "  --dependency NAME   provider the call went to (DEPENDENCY_UNHEALTHY "
    "when\n"
    "                      it is NOT_SERVING)\n";

constexpr absl::string_view kReportHelp =
    "Usage: crossbridge-cli [global flags] report --provider P (--success | "
    "--failure)\n"
    "                       [--latency-ms N] [--code C]\n"
    "\n"
    "Reports one call outcome to provider P (HealthReporter/ReportOutcome) "
    "and\n"
    "prints the provider's health afterwards.\n"
    "  --provider P      provider from runtime.health_checks (required)\n"
    "  --success         the call succeeded (resets the failure count)\n"
    "  --failure         the call failed (counts toward failure_threshold)\n"
    "  --latency-ms N    the call's latency (default 0)\n"
    "  --code C          the failure's code, e.g. 503 or UNAVAILABLE\n";

constexpr absl::string_view kMainHelp =
    "Usage: crossbridge-cli [global flags] <command> [command flags]\n"
    "\n"
    "Commands:\n"
    "  acquire   ask for a rate-limit permit\n"
    "  health    check the server's (or one service's) health; --watch streams\n"
    "  retry     ask whether a failed attempt should be retried, and when\n"
    "  report    report a call outcome to a dependency (passive health)\n"
    "Run `crossbridge-cli <command> --help` for the command's flags.\n";

// Flags that take a value, and the commands each belongs to (empty = global).
const std::map<std::string, std::set<std::string>>& ValueFlags() {
  static const auto* flags = new std::map<std::string, std::set<std::string>>{
      {"target", {}},
      {"timeout-ms", {}},
      {"token-file", {}},
      {"tls-ca", {}},
      {"tls-cert", {}},
      {"tls-key", {}},
      {"tls-server-name", {}},
      {"operation", {"acquire"}},
      {"key", {"acquire"}},
      {"cost", {"acquire"}},
      {"service", {"health"}},
      {"watch-seconds", {"health"}},
      {"policy", {"retry"}},
      {"attempt", {"retry"}},
      {"code", {"retry", "report"}},
      {"http-status", {"retry"}},
      {"retry-after-ms", {"retry"}},
      {"deadline-ms", {"retry"}},
      {"dependency", {"retry"}},
      {"provider", {"report"}},
      {"latency-ms", {"report"}},
  };
  return *flags;
}

// Flags without a value (besides --json), and the command each belongs to.
const std::map<std::string, std::string>& BoolFlags() {
  static const auto* flags = new std::map<std::string, std::string>{
      {"watch", "health"}, {"success", "report"}, {"failure", "report"}};
  return *flags;
}

bool IsCommand(absl::string_view name) {
  return name == "acquire" || name == "health" || name == "retry" ||
         name == "report";
}

std::string Usage(absl::string_view command) {
  absl::string_view body = command == "acquire"  ? kAcquireHelp
                           : command == "health" ? kHealthHelp
                           : command == "retry"  ? kRetryHelp
                           : command == "report" ? kReportHelp
                                                 : kMainHelp;
  return absl::StrCat(body, "\n", kGlobalFlagsHelp, "\n", kExitCodesHelp);
}

// The command line after tokenizing; values are still strings.
struct RawArgs {
  std::string command;
  bool help = false;
  bool json = false;
  std::map<std::string, std::string> flags;  // Value flags by name.
  std::set<std::string> bools;               // Boolean flags given.
  absl::Status error;                        // The first tokenizing error.
};

void SetError(RawArgs& raw, absl::Status status) {
  if (raw.error.ok()) raw.error = std::move(status);
}

// Handles argv[*i], a `--name[=value]` token; may consume argv[*i + 1].
void TakeFlag(const std::vector<std::string>& args, size_t* i, RawArgs& raw) {
  const std::string& token = args[*i];
  const size_t eq = token.find('=');
  const std::string name = token.substr(2, eq == std::string::npos
                                               ? std::string::npos
                                               : eq - 2);
  if (name == "json") {
    if (eq != std::string::npos) {
      SetError(raw, absl::InvalidArgumentError("--json takes no value"));
    }
    raw.json = true;
    return;
  }
  if (BoolFlags().count(name) != 0) {
    if (eq != std::string::npos) {
      SetError(raw, absl::InvalidArgumentError(
                        absl::StrCat("--", name, " takes no value")));
    }
    if (!raw.bools.insert(name).second) {
      SetError(raw, absl::InvalidArgumentError(absl::StrCat(
                        "flag --", name, " given more than once")));
    }
    return;
  }
  if (ValueFlags().count(name) == 0) {
    SetError(raw, absl::InvalidArgumentError(
                      absl::StrCat("unknown flag --", name)));
    return;
  }
  std::string value;
  if (eq != std::string::npos) {
    value = token.substr(eq + 1);
  } else if (*i + 1 < args.size() && !absl::StartsWith(args[*i + 1], "--")) {
    value = args[++*i];
  } else {
    SetError(raw, absl::InvalidArgumentError(
                      absl::StrCat("flag --", name, " needs a value")));
    return;
  }
  if (!raw.flags.emplace(name, std::move(value)).second) {
    SetError(raw, absl::InvalidArgumentError(
                      absl::StrCat("flag --", name, " given more than once")));
  }
}

RawArgs Tokenize(const std::vector<std::string>& args) {
  RawArgs raw;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& token = args[i];
    if (token == "-h" || token == "--help") {
      raw.help = true;
    } else if (absl::StartsWith(token, "--") && token.size() > 2) {
      TakeFlag(args, &i, raw);
    } else if (absl::StartsWith(token, "-")) {
      SetError(raw, absl::InvalidArgumentError(
                        absl::StrCat("unknown flag ", token)));
    } else if (raw.command.empty()) {
      raw.command = token;
    } else {
      SetError(raw, absl::InvalidArgumentError(
                        absl::StrCat("unexpected argument '", token, "'")));
    }
  }
  return raw;
}

// Parses a decimal integer in [min, max]; no sign, spaces or suffixes.
absl::StatusOr<uint64_t> ParseInteger(absl::string_view flag,
                                      absl::string_view text, uint64_t min,
                                      uint64_t max) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrFormat("--%s: expected an integer in [%d, %d], got '%s'",
                        flag, min, max, text));
  };
  if (text.empty() || text.size() > 20) return bad();
  uint64_t value = 0;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return bad();
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (digit > max || value > (max - digit) / 10) return bad();  // Overflow.
    value = value * 10 + digit;
  }
  if (value < min) return bad();
  return value;
}

// The validated command line.
struct CliArgs {
  std::string command;
  bool json = false;
  std::string target;
  absl::Duration timeout;
  // security (ClientOptions::tls, token, token_file)
  std::optional<ClientOptions::Tls> tls;
  std::string token_file;  // --token-file
  std::string token;       // $CROSSBRIDGE_TOKEN, without --token-file
  std::string operation;
  std::string key;
  uint32_t cost = 1;
  std::string service;
  bool watch = false;
  absl::Duration watch_duration = absl::Seconds(60);
  // retry
  std::string policy;
  uint32_t attempt = 1;
  Failure failure;
  std::optional<absl::Duration> retry_after;
  std::optional<absl::Duration> deadline;
  std::string dependency;
  // report
  std::string provider;
  bool success = false;
  absl::Duration latency;
  std::string code;
};

std::string DefaultTarget() {
  const char* env = std::getenv(std::string(kTargetEnv).c_str());
  return env != nullptr && *env != '\0' ? env : std::string(kDefaultTarget);
}

absl::Status CheckCommandAndFlags(const RawArgs& raw) {
  if (raw.command.empty()) {
    return absl::InvalidArgumentError("no command given");
  }
  if (!IsCommand(raw.command)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown command '", raw.command, "'"));
  }
  for (const auto& [name, value] : raw.flags) {
    const std::set<std::string>& owners = ValueFlags().at(name);
    if (!owners.empty() && owners.count(raw.command) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flag --", name, " does not apply to command '", raw.command, "'"));
    }
  }
  for (const std::string& name : raw.bools) {
    if (BoolFlags().at(name) != raw.command) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flag --", name, " does not apply to command '", raw.command, "'"));
    }
  }
  std::vector<const char*> required;
  if (raw.command == "acquire") required = {"operation", "key"};
  if (raw.command == "retry") required = {"attempt"};
  if (raw.command == "report") required = {"provider"};
  for (const char* name : required) {
    if (raw.flags.count(name) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("missing required flag --", name));
    }
  }
  if (raw.command == "retry" &&
      raw.flags.count("code") + raw.flags.count("http-status") != 1) {
    return absl::InvalidArgumentError(
        "exactly one of --code and --http-status is required");
  }
  if (raw.command == "report" &&
      raw.bools.count("success") + raw.bools.count("failure") != 1) {
    return absl::InvalidArgumentError(
        "exactly one of --success and --failure is required");
  }
  return absl::OkStatus();
}

std::string FlagOr(const RawArgs& raw, const std::string& name,
                   std::string fallback) {
  auto it = raw.flags.find(name);
  return it == raw.flags.end() ? std::move(fallback) : it->second;
}

// The token from the environment ("" when unset or blank), trimmed.
std::string EnvToken() {
  const char* env = std::getenv(std::string(kTokenEnv).c_str());
  return env == nullptr ? ""
                        : std::string(absl::StripAsciiWhitespace(env));
}

// --token-file, $CROSSBRIDGE_TOKEN and the --tls-* flags into `args`.
absl::Status ValidateSecurity(const RawArgs& raw, CliArgs& args) {
  for (const char* name : {"token-file", "tls-ca", "tls-cert", "tls-key",
                           "tls-server-name"}) {
    auto it = raw.flags.find(name);
    if (it != raw.flags.end() && it->second.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " must not be empty"));
    }
  }
  if (raw.flags.count("tls-cert") != raw.flags.count("tls-key")) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key must be given together");
  }
  args.token_file = FlagOr(raw, "token-file", "");
  if (args.token_file.empty()) args.token = EnvToken();
  if (raw.flags.count("tls-ca") + raw.flags.count("tls-cert") +
          raw.flags.count("tls-server-name") !=
      0) {
    ClientOptions::Tls tls;
    tls.ca_file = FlagOr(raw, "tls-ca", "");
    tls.cert_file = FlagOr(raw, "tls-cert", "");
    tls.key_file = FlagOr(raw, "tls-key", "");
    tls.server_name = FlagOr(raw, "tls-server-name", "");
    args.tls = std::move(tls);
  }
  return absl::OkStatus();
}

absl::StatusOr<CliArgs> Validate(const RawArgs& raw) {
  RETURN_IF_ERROR(raw.error);
  RETURN_IF_ERROR(CheckCommandAndFlags(raw));
  CliArgs args;
  args.command = raw.command;
  args.json = raw.json;
  args.target = FlagOr(raw, "target", DefaultTarget());
  if (args.target.empty()) {
    return absl::InvalidArgumentError("--target must not be empty");
  }
  ASSIGN_OR_RETURN(
      uint64_t timeout_ms,
      ParseInteger("timeout-ms",
                   FlagOr(raw, "timeout-ms", std::to_string(kDefaultTimeoutMs)),
                   1, kMaxTimeoutMs));
  args.timeout = absl::Milliseconds(timeout_ms);
  RETURN_IF_ERROR(ValidateSecurity(raw, args));
  args.operation = FlagOr(raw, "operation", "");
  args.key = FlagOr(raw, "key", "");
  ASSIGN_OR_RETURN(uint64_t cost,
                   ParseInteger("cost", FlagOr(raw, "cost", "1"), 0,
                                std::numeric_limits<uint32_t>::max()));
  args.cost = static_cast<uint32_t>(cost);
  args.service = FlagOr(raw, "service", "");
  args.watch = raw.bools.count("watch") != 0;
  ASSIGN_OR_RETURN(uint64_t watch_seconds,
                   ParseInteger("watch-seconds",
                                FlagOr(raw, "watch-seconds", "60"), 1, 86400));
  args.watch_duration = absl::Seconds(static_cast<int64_t>(watch_seconds));
  if (args.command == "retry") {
    args.policy = FlagOr(raw, "policy", "default");
    ASSIGN_OR_RETURN(uint64_t attempt,
                     ParseInteger("attempt", FlagOr(raw, "attempt", "1"), 1,
                                  std::numeric_limits<uint32_t>::max()));
    args.attempt = static_cast<uint32_t>(attempt);
    if (raw.flags.count("code") != 0) {
      absl::StatusOr<absl::StatusCode> code = ParseGrpcCode(raw.flags.at("code"));
      if (!code.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--code: ", code.status().message()));
      }
      args.failure.grpc_code = *code;
    } else {
      ASSIGN_OR_RETURN(uint64_t http,
                       ParseInteger("http-status", raw.flags.at("http-status"),
                                    100, 599));
      args.failure.http_status = static_cast<int>(http);
    }
    constexpr uint64_t kMaxMs = uint64_t{1} << 40;
    if (raw.flags.count("retry-after-ms") != 0) {
      ASSIGN_OR_RETURN(uint64_t ms, ParseInteger("retry-after-ms",
                                                 raw.flags.at("retry-after-ms"),
                                                 0, kMaxMs));
      args.retry_after = absl::Milliseconds(static_cast<int64_t>(ms));
    }
    if (raw.flags.count("deadline-ms") != 0) {
      ASSIGN_OR_RETURN(uint64_t ms,
                       ParseInteger("deadline-ms", raw.flags.at("deadline-ms"),
                                    0, kMaxMs));
      args.deadline = absl::Milliseconds(static_cast<int64_t>(ms));
    }
    args.dependency = FlagOr(raw, "dependency", "");
  }
  if (args.command == "report") {
    args.provider = FlagOr(raw, "provider", "");
    args.success = raw.bools.count("success") != 0;
    ASSIGN_OR_RETURN(uint64_t latency_ms,
                     ParseInteger("latency-ms", FlagOr(raw, "latency-ms", "0"),
                                  0, kMaxTimeoutMs));
    args.latency = absl::Milliseconds(static_cast<int64_t>(latency_ms));
    args.code = FlagOr(raw, "code", "");
  }
  return args;
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

void PrintPermit(const CliArgs& args, const Permit& p, std::ostream& out) {
  if (args.json) {
    out << absl::StrFormat(
        "{\"operation\":%s,\"key\":%s,\"allowed\":%s,\"limit\":%d,"
        "\"remaining\":%d,\"retry_after_ms\":%d,\"reset_after_ms\":%d}\n",
        JsonString(args.operation), JsonString(args.key),
        p.allowed ? "true" : "false", p.limit, p.remaining, p.retry_after_ms,
        p.reset_after_ms);
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
    out << "{\"service\":" << JsonString(args.service) << ",\"status\":\""
        << ServingStatusName(status) << "\"}\n";
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

std::string DependencyJson(const v1::DependencyHealth& d) {
  return absl::StrFormat(
      "{\"name\":%s,\"status\":\"%s\",\"consecutive_failures\":%d,"
      "\"failure_threshold\":%d,\"last_latency_ms\":%d,\"last_error\":%s,"
      "\"check_type\":%s,\"target\":%s}",
      JsonString(d.name()), DependencyStatusName(d.status()),
      d.consecutive_failures(), d.failure_threshold(), d.last_latency_ms(),
      JsonString(d.last_error()), JsonString(d.check_type()),
      JsonString(d.target()));
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
    std::string deps;
    for (const v1::DependencyHealth& d : report->dependencies()) {
      if (!deps.empty()) deps += ",";
      deps += DependencyJson(d);
    }
    out << "{\"service\":" << JsonString(args.service) << ",\"status\":\""
        << ServingStatusName(*health) << "\",\"dependencies_status\":\""
        << DependencyStatusName(report->status())
        << "\",\"dependencies\":[" << deps << "]"
        << (report->has_store()
                ? absl::StrCat(",\"store\":", DependencyJson(report->store()))
                : "")
        << "}\n";
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
      args.service, args.watch_duration, [&](ServingStatus s) {
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
  request.attempt = static_cast<int>(
      std::min<uint32_t>(args.attempt, std::numeric_limits<int>::max()));
  request.failure = args.failure;
  request.retry_after = args.retry_after;
  request.deadline = args.deadline;
  absl::StatusOr<RetryDecision> decision =
      client.DecideRetry(args.policy, request, args.dependency);
  if (!decision.ok()) return RpcError(args, decision.status(), err);
  const int64_t delay_ms = absl::ToInt64Milliseconds(decision->delay);
  if (args.json) {
    out << absl::StrFormat(
        "{\"policy\":%s,\"attempt\":%d,\"retry\":%s,\"delay_ms\":%d,"
        "\"reason\":\"%s\",\"attempts_remaining\":%d}\n",
        JsonString(args.policy), args.attempt,
        decision->retry ? "true" : "false", delay_ms,
        RetryReasonName(decision->reason), decision->attempts_remaining);
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
      client.ReportOutcome(args.provider, args.success, args.latency, args.code);
  if (!health.ok()) return RpcError(args, health.status(), err);
  if (args.json) {
    out << DependencyJson(*health) << "\n";
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
  options.default_deadline = args.timeout;
  options.tls = args.tls;
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
    acquire.cost = args.cost;
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
  const std::vector<std::string> tokens(argv + (argc > 0 ? 1 : 0),
                                        argv + (argc > 0 ? argc : 0));
  const RawArgs raw = Tokenize(tokens);
  const std::string usage_of = IsCommand(raw.command) ? raw.command : "";
  if (raw.help) {
    out << Usage(usage_of);
    return kExitOk;
  }
  absl::StatusOr<CliArgs> args = Validate(raw);
  if (!args.ok()) {
    err << "error: " << args.status().message() << "\n\n" << Usage(usage_of);
    return kExitUsage;
  }
  return Run(*args, out, err);
}

}  // namespace crossbridge
