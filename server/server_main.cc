#include "server/server_main.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <iterator>
#include <string>
#include <thread>
#include <utility>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/config.h"
#include "common/logging.h"
#include "server/config_reloader.h"
#include "server/auth/token_hash.h"
#include "server/library_logs.h"
#include "server/server.h"

namespace crossbridge {
namespace {

constexpr char kFooter[] =
    "Prints 'CROSSBRIDGE_LISTENING HOST:PORT' on stdout once serving, then\n"
    "'CROSSBRIDGE_METRICS_LISTENING HOST:PORT' when metrics are on.\n"
    "SIGHUP reloads the configuration file (so does a change to it);\n"
    "SIGTERM and SIGINT drain and stop.\n"
    "Exit codes: 0 ok, 1 invalid configuration, 2 usage, 3 cannot start.";

struct Flags {
  std::string config_path;
  std::string listen;
  std::string metrics_listen;
  std::string check_config;
  bool hash_token = false;
};

const CLI::Validator& NonEmpty() {
  static const auto* const validator = new CLI::Validator(
      [](std::string& text) {
        return text.empty() ? std::string("empty value") : std::string();
      },
      /*validator_desc=*/"");
  return *validator;
}

void DefineFlags(CLI::App& app, Flags& flags) {
  app.get_formatter()->column_width(28);
  app.set_help_flag("-h,--help", "print this help and exit 0");
  app.description(
      "The CrossBridge server: rate limits, retry decisions and dependency\n"
      "health over gRPC.\n");
  app.footer(kFooter);
  app.add_option("--config", flags.config_path,
                 "configuration file (default: $CROSSBRIDGE_CONFIG,\n"
                 "else crossbridge.yml in this directory or up to\n"
                 "3 parents, else the embedded default)")
      ->check(NonEmpty())
      ->type_name("PATH");
  app.add_option("--listen", flags.listen,
                 "overrides server.listen_address (port 0 = any)")
      ->check(NonEmpty())
      ->type_name("HOST:PORT");
  app.add_option("--metrics-listen", flags.metrics_listen,
                 "overrides server.metrics_listen_address\n(port 0 = any)")
      ->check(NonEmpty())
      ->type_name("HOST:PORT");
  CLI::Option* check =
      app.add_option("--check-config", flags.check_config,
                     "validate FILE and exit 0 (valid) or 1 (invalid)")
          ->check(NonEmpty())
          ->type_name("FILE");
  CLI::Option* hash =
      app.add_flag("--hash-token", flags.hash_token,
                   "read a token on stdin, print its SHA-256 (hex,\n"
                   "for tenant token_sha256) and exit")
          ->disable_flag_override();
  // --hash-token stands alone; --check-config only validates its FILE.
  for (const char* other : {"--config", "--listen", "--metrics-listen"}) {
    hash->excludes(other);
  }
  hash->excludes(check);
}

// The config file to read, or "" for the embedded default.
absl::StatusOr<std::string> ConfigPath(const Flags& flags, const EnvLookup& env) {
  std::error_code ec;
  std::string cwd = std::filesystem::current_path(ec).string();
  absl::StatusOr<std::optional<std::string>> path =
      DiscoverConfigPath(flags.config_path, env, cwd);
  if (!path.ok()) return path.status();
  return path->value_or("");
}

// The config at `path` ("" = the embedded default) with the command-line
// overrides, which a reload applies again.
absl::StatusOr<Config> LoadConfig(const std::string& path, const Flags& flags,
                                  const EnvLookup& env) {
  absl::StatusOr<Config> config =
      path.empty() ? DefaultConfigWithEnv(env) : LoadConfigFile(path, env);
  if (!config.ok()) return config;
  if (!flags.listen.empty()) config->server.listen_address = flags.listen;
  if (!flags.metrics_listen.empty()) {
    config->server.metrics_listen_address = flags.metrics_listen;
  }
  return config;
}

// "host:port" for the CROSSBRIDGE_*LISTENING lines: the configured host, the
// bound port.
std::string BoundAddress(const std::string& configured, int port) {
  return absl::StrCat(configured.substr(0, configured.rfind(':')), ":", port);
}

// Stop signals (SIGTERM, SIGINT) drain; SIGHUP reloads; SIGUSR1 and
// SIGUSR2 are logged and ignored.
sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&set, s);
  return set;
}

const char* SignalName(int signal_number) {
  switch (signal_number) {
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    default: return "a signal";
  }
}

// --hash-token: stdin's token -> its hex SHA-256 on stdout. The token is
// never echoed.
int HashToken() {
  std::string text((std::istreambuf_iterator<char>(std::cin)),
                   std::istreambuf_iterator<char>());
  const absl::string_view token = TrimToken(text);
  if (token.empty()) {
    std::cerr << "crossbridge-server: --hash-token: no token on stdin\n";
    return 2;
  }
  std::cout << Sha256Hex(token) << "\n";
  return 0;
}

}  // namespace

int RunServerMain(int argc, char** argv) {
  Flags flags;
  CLI::App app("", "crossbridge-server");
  DefineFlags(app, flags);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::ParseError& e) {
    std::cerr << "crossbridge-server: " << e.what() << "\n\n" << app.help();
    return 2;
  }
  if (flags.hash_token) return HashToken();
  const EnvLookup env = ProcessEnv();

  if (!flags.check_config.empty()) {
    absl::StatusOr<Config> config = LoadConfigFile(flags.check_config, env);
    if (!config.ok()) {
      std::cerr << config.status().message() << "\n";
      return 1;
    }
    std::cout << flags.check_config << ": OK\n";
    return 0;
  }

  // A closed stdout or stderr (a log pipe whose reader died) must not kill
  // the server: writes then fail with EPIPE, which spdlog ignores.
  signal(SIGPIPE, SIG_IGN);
  // Block the signals the server handles before any thread starts, so only
  // the waiter below receives them (and none kills the process by default).
  sigset_t handled = HandledSignals();
  pthread_sigmask(SIG_BLOCK, &handled, nullptr);

  // abseil's mutex deadlock detection (on by default) builds a lock graph on
  // every lock gRPC takes per call; the server does not need it at run time.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  for (const auto& [flag, value] : {std::pair<const char*, const std::string&>{
                                        "--listen", flags.listen},
                                    {"--metrics-listen", flags.metrics_listen}}) {
    if (value.empty()) continue;
    if (absl::Status s = CheckListenAddress(value); !s.ok()) {
      std::cerr << "crossbridge-server: " << flag << ": " << s.message() << "\n\n"
                << app.help();
      return 2;
    }
  }
  absl::StatusOr<std::string> path = ConfigPath(flags, env);
  absl::StatusOr<Config> loaded =
      path.ok() ? LoadConfig(*path, flags, env) : path.status();
  if (!loaded.ok()) {
    std::cerr << "crossbridge-server: invalid configuration: "
              << loaded.status().message() << "\n";
    return 1;
  }
  if (absl::Status s = InitLogging(loaded->logging); !s.ok()) {
    std::cerr << "crossbridge-server: invalid configuration: " << s.message()
              << "\n";
    return 1;
  }
  RouteLibraryLogs();
  Logger("config")->info("configuration from {}", loaded->source);

  auto config = std::make_shared<const Config>(*std::move(loaded));
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Create(config, RealClock::Get());
  if (!server.ok()) {
    std::cerr << "crossbridge-server: " << server.status().message() << "\n";
    return 1;
  }
  if (absl::Status s = (*server)->Start(); !s.ok()) {
    std::cerr << "crossbridge-server: " << s.message() << "\n";
    return 3;
  }
  std::cout << "CROSSBRIDGE_LISTENING "
            << BoundAddress(config->server.listen_address, (*server)->port())
            << std::endl;
  if ((*server)->health_port() != 0) {
    std::cout << "CROSSBRIDGE_HEALTH_LISTENING "
              << BoundAddress(config->server.health_listen_address,
                              (*server)->health_port())
              << std::endl;
  }
  if ((*server)->metrics_port() != 0) {
    std::cout << "CROSSBRIDGE_METRICS_LISTENING "
              << BoundAddress(config->server.metrics_listen_address,
                              (*server)->metrics_port())
              << std::endl;
  }

  ConfigReloader reloader(
      *path, [&flags, &env, path = *path] { return LoadConfig(path, flags, env); },
      **server, *config, RealClock::Get());
  std::thread signal_waiter([&handled, &reloader, srv = server->get()] {
    for (;;) {
      int signal_number = 0;
      if (sigwait(&handled, &signal_number) != 0) continue;
      if (signal_number == SIGTERM || signal_number == SIGINT) {
        Logger("server")->info("received {}, draining", SignalName(signal_number));
        srv->Drain();
        return;
      }
      if (signal_number == SIGHUP) {
        reloader.ReloadNow("SIGHUP").IgnoreError();  // logged and counted
        continue;
      }
      // A stray SIGUSR1/2 must not kill the server, nor go unnoticed.
      Logger("server")->warn("received {}; ignored (this server has no action "
                             "for it)", SignalName(signal_number));
    }
  });
  (*server)->Wait();
  signal_waiter.join();
  return 0;
}

}  // namespace crossbridge
