#include "client/cli.h"

#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <memory>
#include <optional>
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
#include "absl/time/time.h"
#include "client/client.h"
#include "common/status.h"

namespace crossbridge {
namespace {

constexpr absl::string_view kDefaultTarget = "127.0.0.1:50051";
constexpr absl::string_view kTargetEnv = "CROSSBRIDGE_TARGET";
constexpr uint64_t kDefaultTimeoutMs = 1000;
constexpr uint64_t kMaxTimeoutMs = 24 * 60 * 60 * 1000;  // One day.

constexpr absl::string_view kGlobalFlagsHelp =
    "Global flags (before or after the command):\n"
    "  --target HOST:PORT   server address (default $CROSSBRIDGE_TARGET,\n"
    "                       then 127.0.0.1:50051)\n"
    "  --timeout-ms N       RPC deadline in milliseconds (default 1000)\n"
    "  --json               print one JSON object per line\n"
    "  -h, --help           print this help and exit 0\n";

constexpr absl::string_view kExitCodesHelp =
    "Exit codes:\n"
    "  0  permit allowed / health SERVING\n"
    "  1  permit refused (rate limited) / health not SERVING\n"
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
    "Usage: crossbridge-cli [global flags] health [--service NAME]\n"
    "\n"
    "Queries grpc.health.v1.Health/Check; prints SERVING, NOT_SERVING, "
    "UNKNOWN\n"
    "or SERVICE_UNKNOWN.\n"
    "  --service NAME   service or provider to check (default \"\": the whole "
    "server)\n";

constexpr absl::string_view kMainHelp =
    "Usage: crossbridge-cli [global flags] <command> [command flags]\n"
    "\n"
    "Commands:\n"
    "  acquire   ask for a rate-limit permit\n"
    "  health    check the server's (or one service's) health\n"
    "Run `crossbridge-cli <command> --help` for the command's flags.\n";

// Flags that take a value, and the command each belongs to ("" = global).
const std::map<std::string, std::string>& ValueFlags() {
  static const auto* flags = new std::map<std::string, std::string>{
      {"target", ""},         {"timeout-ms", ""}, {"operation", "acquire"},
      {"key", "acquire"},     {"cost", "acquire"}, {"service", "health"},
  };
  return *flags;
}

bool IsCommand(absl::string_view name) {
  return name == "acquire" || name == "health";
}

std::string Usage(absl::string_view command) {
  absl::string_view body = command == "acquire"  ? kAcquireHelp
                           : command == "health" ? kHealthHelp
                                                 : kMainHelp;
  return absl::StrCat(body, "\n", kGlobalFlagsHelp, "\n", kExitCodesHelp);
}

// The command line after tokenizing; values are still strings.
struct RawArgs {
  std::string command;
  bool help = false;
  bool json = false;
  std::map<std::string, std::string> flags;  // Value flags by name.
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
  std::string operation;
  std::string key;
  uint32_t cost = 1;
  std::string service;
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
    const std::string& owner = ValueFlags().at(name);
    if (!owner.empty() && owner != raw.command) {
      return absl::InvalidArgumentError(absl::StrCat(
          "flag --", name, " does not apply to command '", raw.command, "'"));
    }
  }
  if (raw.command == "acquire") {
    for (const char* required : {"operation", "key"}) {
      if (raw.flags.count(required) == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("missing required flag --", required));
      }
    }
  }
  return absl::OkStatus();
}

std::string FlagOr(const RawArgs& raw, const std::string& name,
                   std::string fallback) {
  auto it = raw.flags.find(name);
  return it == raw.flags.end() ? std::move(fallback) : it->second;
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
  args.operation = FlagOr(raw, "operation", "");
  args.key = FlagOr(raw, "key", "");
  ASSIGN_OR_RETURN(uint64_t cost,
                   ParseInteger("cost", FlagOr(raw, "cost", "1"), 0,
                                std::numeric_limits<uint32_t>::max()));
  args.cost = static_cast<uint32_t>(cost);
  args.service = FlagOr(raw, "service", "");
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
      args.operation, args.key, p.remaining, p.limit);
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
      << status.message();
  if (absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status)) {
    err << " (target " << args.target << ")";
  }
  err << "\n";
  return kExitRpcError;
}

int Run(const CliArgs& args, std::ostream& out, std::ostream& err) {
  ClientOptions options;
  options.target = args.target;
  options.default_deadline = args.timeout;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(options);
  if (!client.ok()) {
    err << "error: " << client.status().message() << "\n";
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
