// metrics_cost: what counting costs on the permit path, without gRPC.
//
// The gRPC rows of make bench (b: metrics off, e: on) swing by tens of
// percent from run to run on a 2-core machine, far more than counting can
// cost, so this measures the counting itself: THREADS threads call
// RateLimiter::Acquire on a MemoryStore (the whole domain path of
// AcquirePermit, keys spread as in the gRPC rows) and time it with an
// RpcTimer-equivalent (two clock reads and a GrpcMethodMetrics::Record),
// once with a Metrics object and once without, alternating for ROUNDS
// rounds. Prints each round's calls/s and the median ratio on/off.
//
//   metrics_cost [--threads 2] [--seconds 2] [--rounds 5] [--keys 1000]
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/clock.h"
#include "server/metrics/metrics.h"
#include "server/rate_limiter.h"
#include "server/store/memory_store.h"

namespace crossbridge {
namespace {

struct Options {
  int threads = 2;
  double seconds = 2;
  int rounds = 5;
  int keys = 1000;
};

// Calls per second over `o.seconds` with `metrics` (null: off).
double Run(const Options& o, Metrics* metrics) {
  const Clock& clock = RealClock::Get();
  MemoryStore store(clock, MemoryStorageConfig{}, 1000);
  RateLimitingConfig config;
  config.operations["bench"] = {1'000'000, absl::Seconds(60)};
  std::unique_ptr<RateLimiter> limiter =
      *RateLimiter::Create(config, store, nullptr, metrics);
  GrpcMethodMetrics* method =
      metrics != nullptr ? &metrics->GrpcMethod("crossbridge.v1.RateLimiter/AcquirePermit")
                         : nullptr;
  std::vector<std::string> keys;
  for (int k = 0; k < o.keys; ++k) keys.push_back(absl::StrCat("k", k));

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> total{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] {
      uint64_t n = 0, seed = 88172645463325252ull + t;
      while (!stop.load(std::memory_order_relaxed)) {
        seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
        // As RpcTimer does: a clock read at the start and at the finish.
        const absl::Time start = method != nullptr ? clock.MonotonicNow() : absl::InfinitePast();
        limiter->Acquire("", "bench", keys[seed % keys.size()], std::nullopt,
                         [&](absl::StatusOr<GcraResult> r) {
                           if (method != nullptr) {
                             method->Record(r.ok() ? 0 : 2, clock.MonotonicNow() - start);
                           }
                         });
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
    else {
      std::fprintf(stderr, "metrics_cost: unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::vector<double> ratios;
  for (int round = 1; round <= o.rounds; ++round) {
    Metrics metrics(RealClock::Get());
    // Alternate the order so a drift in the machine does not favour one side.
    double off, on;
    if (round % 2 == 1) {
      off = Run(o, nullptr);
      on = Run(o, &metrics);
    } else {
      on = Run(o, &metrics);
      off = Run(o, nullptr);
    }
    ratios.push_back(on / off);
    std::printf("round %d: metrics off %.0f calls/s, on %.0f calls/s, on/off %.3f\n",
                round, off, on, on / off);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("metrics on/off (domain path, %d threads, median of %d rounds) = %.3f\n",
              o.threads, o.rounds, ratios[ratios.size() / 2]);
  return 0;
}

}  // namespace
}  // namespace crossbridge

int main(int argc, char** argv) { return crossbridge::Main(argc, argv); }
