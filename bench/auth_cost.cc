// auth_cost: what tenant auth costs on the permit path, without gRPC.
//
// The gRPC rows of make bench swing by tens of percent from run to run on a
// 2-core machine, and row f (TLS + tokens) mixes the TLS record layer in, so
// this measures the token check itself: THREADS threads do what the
// AcquirePermit handler does after parsing - Authenticator::Authorize of a
// "Bearer <64 hex>" header (SHA-256, the lookup among TENANTS tenants' tokens,
// the scope and operation checks) and RateLimiter::Acquire on a MemoryStore
// with the caller's tenant (its own bucket) - once with auth on and once
// with auth off (Authorize answers at once; the shared bucket), alternating
// for ROUNDS rounds. Prints each round's calls/s, the median ratio on/off and
// the cost of one check in microseconds.
//
//   auth_cost [--threads 2] [--seconds 2] [--rounds 5] [--keys 1000] [--tenants 100]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "server/auth/authenticator.h"
#include "server/auth/tenant_tokens.h"
#include "server/auth/token_hash.h"
#include "server/rate_limiter.h"
#include "server/store/memory_store.h"

namespace crossbridge {
namespace {

struct Options {
  int threads = 2;
  double seconds = 2;
  int rounds = 5;
  int keys = 1000;
  int tenants = 100;
};

// "tok-<i>" padded to 64 characters, like `openssl rand -hex 32`.
std::string TokenOf(int i) {
  std::string token = absl::StrCat("tok-", i, "-");
  token.resize(64, 'f');
  return token;
}

// Calls per second over `o.seconds`, with auth on or off.
double Run(const Options& o, bool auth_on) {
  const Clock& clock = RealClock::Get();
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  RateLimitingConfig config;
  config.operations["bench"] = {1'000'000, absl::Seconds(60)};
  std::unique_ptr<RateLimiter> limiter = *RateLimiter::Create(config, store);
  std::string yaml;
  for (int t = 0; t < o.tenants; ++t) {
    absl::StrAppend(&yaml, "- tenant: tenant-", t, "\n  token_sha256: ",
                    Sha256Hex(TokenOf(t)), "\n  operations: [bench]\n");
  }
  absl::StatusOr<std::shared_ptr<const TenantTokens>> tokens =
      TenantTokens::Parse(yaml, "bench");
  if (!tokens.ok()) {
    std::fprintf(stderr, "auth_cost: %s\n", std::string(tokens.status().message()).c_str());
    std::exit(1);
  }
  const Authenticator auth(auth_on, *tokens);
  std::vector<std::string> keys;
  for (int k = 0; k < o.keys; ++k) keys.push_back(absl::StrCat("k", k));

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      // Each thread is one tenant's client.
      const std::string header = "Bearer " + TokenOf(t % o.tenants);
      uint64_t n = 0, seed = 88172645463325252ull + t;
      while (!stop.load(std::memory_order_relaxed)) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        absl::StatusOr<Caller> caller =
            auth.Authorize(header, Scope::kAcquire, "bench", "AcquirePermit");
        if (!caller.ok()) std::abort();
        limiter->Acquire(caller->tenant, "bench", keys[seed % keys.size()],
                         std::nullopt, [](absl::StatusOr<GcraResult>) {});
        ++n;
      }
      total.fetch_add(n);
    });
  }
  const absl::Time begin = absl::Now();
  absl::SleepFor(absl::Seconds(o.seconds));
  stop.store(true);
  for (std::thread& t : threads) t.join();
  return static_cast<double>(total.load()) / absl::ToDoubleSeconds(absl::Now() - begin);
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const double v = std::atof(argv[i + 1]);
    if (flag == "--threads") o.threads = static_cast<int>(v);
    else if (flag == "--seconds") o.seconds = v;
    else if (flag == "--rounds") o.rounds = static_cast<int>(v);
    else if (flag == "--keys") o.keys = static_cast<int>(v);
    else if (flag == "--tenants") o.tenants = static_cast<int>(v);
    else {
      std::fprintf(stderr, "auth_cost: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (o.threads < 1 || o.rounds < 1 || o.keys < 1 || o.tenants < 1 || !(o.seconds > 0)) {
    std::fprintf(stderr, "auth_cost: every flag must be positive\n");
    return 2;
  }
  std::vector<double> ratios, costs_us;
  for (int round = 1; round <= o.rounds; ++round) {
    // Alternate the order so a drift in the machine does not favour one side.
    double off, on;
    if (round % 2 == 1) {
      off = Run(o, false);
      on = Run(o, true);
    } else {
      on = Run(o, true);
      off = Run(o, false);
    }
    ratios.push_back(on / off);
    // Per thread: 1/on - 1/off seconds a call more.
    costs_us.push_back((o.threads / on - o.threads / off) * 1e6);
    std::printf("round %d: auth off %.0f calls/s, on %.0f calls/s, on/off %.3f\n",
                round, off, on, on / off);
  }
  std::sort(ratios.begin(), ratios.end());
  std::sort(costs_us.begin(), costs_us.end());
  std::printf("auth on/off (domain path, %d threads, %d tenants, median of %d rounds) = "
              "%.3f, %.2f us more per call\n",
              o.threads, o.tenants, o.rounds, ratios[ratios.size() / 2],
              costs_us[costs_us.size() / 2]);
  return 0;
}

}  // namespace
}  // namespace crossbridge

int main(int argc, char** argv) { return crossbridge::Main(argc, argv); }
