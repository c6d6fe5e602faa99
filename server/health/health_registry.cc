// HealthRegistry: threading and counting.
//
// Threads: one probe thread per enabled provider, started by Start() (and by
// Reconfigure for a provider it adds or changes). A
// provider's probe blocks its own thread only (up to its timeout), so a slow
// or hanging dependency never delays another's probes; providers are few
// (a handful in crossbridge.yml), so a thread each is cheaper in code and
// reasoning than a scheduler plus a worker pool, at the same isolation. Each
// thread waits through the injected Clock until its next due time (a
// monotonic deadline, so wall-time jumps never stall probing, and tests run
// the loop on a FakeClock), then asks the store for the probe claim
// (ClaimProbe), probes if granted (or if the store fails or does not answer
// within the probe timeout), and records the outcome (RecordOutcome). A refused
// claim means another replica probes this interval; the thread tries again
// one interval later. The first probe runs at once on Start().
//
// Counting: the store's count after RecordOutcome is the provider's
// consecutive_failures. When the store fails (an error in `done`), the
// registry counts locally from the last count it knew, and goes back to the
// store's count as soon as the store answers again (both switches logged
// once). State: success -> SERVING; count >= failure_threshold ->
// NOT_SERVING; a failure below the threshold keeps UNKNOWN/SERVING as is, and
// turns NOT_SERVING into SERVING (the fleet-wide count can only have dropped
// below the threshold because some replica recorded a success).
//
// Listener: state changes are queued under mu_ and delivered outside it by
// whichever thread finds no delivery in progress, so calls are in order and
// never concurrent. Changes before Start() (Reports) are not queued. The
// destructor waits for a delivery in progress, so the listener is never
// called after ~HealthRegistry returns (hence: do not destroy the registry
// from inside the listener).
//
// Reconfigure: the provider map changes under mu. Each provider has a
// generation, bumped when its config changes; a probe thread runs for one
// (name, generation) and returns once the provider is gone or its
// generation moved on (a probe in progress finishes first). Reconfigure
// never waits for that: finished threads are joined by the next
// Reconfigure, the rest by Stop(). An outcome that arrives for a removed
// provider is dropped (a report gets NotFound). Removals reach the
// listener through the same queue as state changes, so a late change can
// never re-add a removed name.
//
// Lifetime: store callbacks hold a shared_ptr to the registry's core, so a
// late `done` (Redis store) after destruction is harmless: it touches only
// the core, which no longer uses the clock, probers, store or listener.
#include "server/health/health_registry.h"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/logging.h"
#include "common/mutex.h"
#include "common/quote.h"

namespace crossbridge {
namespace {

struct ProviderState {
  HealthProviderConfig config;
  uint64_t generation = 0;          // bumped when its probing changes
  uint64_t probing_generation = 0;  // the generation a thread was started for
  const DependencyMetrics* metrics = nullptr;  // null: metrics off
  int failure_threshold = 1;
  DependencyState state = DependencyState::kUnknown;
  int consecutive_failures = 0;
  bool counting_locally = false;  // the store failed on the last outcome
  absl::Duration last_latency = absl::ZeroDuration();
  std::string last_error;
  absl::Time last_check_time = absl::InfinitePast();
};

DependencySnapshot MakeSnapshot(const std::string& name, const ProviderState& p) {
  DependencySnapshot s;
  s.name = name;
  s.check_type = p.config.check_type;
  s.target = p.config.target;
  s.state = p.state;
  s.consecutive_failures = p.consecutive_failures;
  s.failure_threshold = p.failure_threshold;
  s.last_latency = p.last_latency;
  s.last_error = p.last_error;
  s.last_check_time = p.last_check_time;
  s.retry_policy = p.config.retry_policy;
  return s;
}

bool SameProbing(const HealthProviderConfig& a, const HealthProviderConfig& b) {
  return a.enabled == b.enabled && a.check_type == b.check_type &&
         a.target == b.target && a.interval == b.interval &&
         a.timeout == b.timeout && a.api_key_env == b.api_key_env;
}

// One outcome to apply (a probe's or a caller's).
struct Outcome {
  std::string provider;
  bool success = false;
  absl::Duration latency;
  std::string error;
  absl::Time check_time;
};

// The part of the registry that store callbacks may outlive the registry in.
class Core : public std::enable_shared_from_this<Core> {
 public:
  // Waiters (stop, claim answers, delivery finished) wait on conditions
  // over this state.
  absl::Mutex mu;

  bool stop ABSL_GUARDED_BY(mu) = false;
  bool enabled ABSL_GUARDED_BY(mu) = true;  // health_checks.enabled
  bool closed ABSL_GUARDED_BY(mu) = false;  // no more listener calls
  std::map<std::string, ProviderState, std::less<>> providers_ ABSL_GUARDED_BY(mu);

  // Listener delivery.
  HealthRegistry::Listener listener ABSL_GUARDED_BY(mu);
  std::deque<std::pair<std::string, std::optional<bool>>> pending
      ABSL_GUARDED_BY(mu);
  uint64_t next_generation ABSL_GUARDED_BY(mu) = 1;

  // Makes providers_ match `config`, keeping the state of names that stay.
  // Queues the listener calls for names that appear, disappear, or are
  // enabled or disabled (only once a listener is set).
  void Reconcile(const HealthChecksConfig& config, Metrics* metrics)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const bool was_enabled_section = enabled;
    enabled = config.enabled;
    // Threads ended while the section was off: every provider starts anew.
    if (!was_enabled_section && enabled) {
      for (auto& [name, p] : providers_) p.generation = next_generation++;
    }
    auto notify = [this](const std::string& name, std::optional<bool> serving)
                      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
      if (listener && !closed) pending.emplace_back(name, serving);
    };
    for (auto it = providers_.begin(); it != providers_.end();) {
      if (config.providers.count(it->first) > 0) {
        ++it;
        continue;
      }
      if (it->second.config.enabled) notify(it->first, std::nullopt);
      it = providers_.erase(it);
    }
    for (const auto& [name, provider] : config.providers) {
      auto [it, added] = providers_.try_emplace(name);
      ProviderState& p = it->second;
      const bool was_enabled = !added && p.config.enabled;
      if (added || !SameProbing(p.config, provider)) p.generation = next_generation++;
      p.config = provider;
      p.failure_threshold = std::max(1, provider.failure_threshold);
      if (metrics != nullptr) p.metrics = &metrics->Dependency(name);
      if (!provider.enabled) {
        p.state = DependencyState::kDisabled;
        if (was_enabled) notify(name, std::nullopt);
      } else if (added || !was_enabled) {
        if (p.state == DependencyState::kDisabled) p.state = DependencyState::kUnknown;
        notify(name, p.state != DependencyState::kNotServing);
      }
    }
  }

  // True while (name, generation) should keep probing.
  bool Probing(const std::string& name, uint64_t generation) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = providers_.find(name);
    return !stop && enabled && it != providers_.end() &&
           it->second.generation == generation && it->second.config.enabled;
  }
  bool delivering ABSL_GUARDED_BY(mu) = false;

  // Applies `count` (the store's answer) to `o.provider`, queues a listener
  // call on a serving change and delivers. Returns the provider's snapshot.
  // NotFound when a reload removed the provider meanwhile.
  absl::StatusOr<DependencySnapshot> Apply(const Outcome& o,
                                           const absl::StatusOr<int64_t>& count) {
    DependencySnapshot snapshot;
    {
      MutexLock lock(&mu);
      auto found = providers_.find(o.provider);
      if (found == providers_.end()) {
        return absl::NotFoundError(
            absl::StrCat("unknown provider ", QuoteForMessage(o.provider)));
      }
      ProviderState& p = found->second;
      if (count.ok()) {
        if (p.counting_locally) {
          Logger("health")->info("{}: outcome store is back; using its count",
                                 o.provider);
          p.counting_locally = false;
        }
        p.consecutive_failures =
            static_cast<int>(std::min<int64_t>(*count, 1'000'000'000));
      } else {
        if (!p.counting_locally) {
          Logger("health")->warn("{}: outcome store failed ({}); counting locally",
                                 o.provider, count.status().ToString());
          p.counting_locally = true;
        }
        p.consecutive_failures = o.success ? 0 : p.consecutive_failures + 1;
      }
      p.last_latency = o.latency;
      p.last_error = o.success ? "" : o.error;
      p.last_check_time = o.check_time;

      bool was_serving = p.state != DependencyState::kNotServing;
      if (o.success) {
        p.state = DependencyState::kServing;
      } else if (p.consecutive_failures >= p.failure_threshold) {
        p.state = DependencyState::kNotServing;
      } else if (p.state == DependencyState::kNotServing) {
        p.state = DependencyState::kServing;
      }
      bool serving = p.state != DependencyState::kNotServing;
      if (serving != was_serving) {
        if (serving) {
          Logger("health")->info("{}: SERVING", o.provider);
        } else {
          Logger("health")->warn("{}: NOT_SERVING after {} consecutive failures: {}",
                                 o.provider, p.consecutive_failures, p.last_error);
        }
        if (listener && !closed) pending.emplace_back(o.provider, serving);
      }
      snapshot = MakeSnapshot(o.provider, p);
    }
    Deliver();
    return snapshot;
  }

  // Delivers queued listener calls, outside mu, unless another thread is.
  void Deliver() {
    {
      MutexLock lock(&mu);
      if (delivering) return;  // that thread also delivers what we queued
      delivering = true;
    }
    for (;;) {
      std::pair<std::string, std::optional<bool>> change;
      HealthRegistry::Listener call;
      {
        MutexLock lock(&mu);
        if (pending.empty() || closed) {
          delivering = false;  // Stop() waits for this
          return;
        }
        change = std::move(pending.front());
        pending.pop_front();
        call = listener;
      }
      call(change.first, change.second);
    }
  }
};

}  // namespace

class HealthRegistry::Impl {
 public:
  Impl(const HealthChecksConfig& config, const Clock& clock,
       const Probers& probers, OutcomeStore& store, Metrics* metrics)
      : clock_(clock),
        probers_(probers),
        store_(store),
        metrics_(metrics),
        core_(std::make_shared<Core>()) {
    MutexLock lock(&core_->mu);
    core_->Reconcile(config, metrics_);
  }

  ~Impl() { Stop(); }

  void Stop() {
    {
      MutexLock lock(&core_->mu);
      core_->stop = true;
      core_->closed = true;
      core_->pending.clear();
      lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return !core_->delivering;
      });
    }
    MutexLock lock(&threads_mu_);
    for (ProbeThread& t : threads_) {
      if (t.thread.joinable()) t.thread.join();
    }
    threads_.clear();
  }

  void Start(Listener listener) {
    {
      MutexLock lock(&core_->mu);
      if (started_) {
        Logger("health")->warn("HealthRegistry::Start called twice; ignored");
        return;
      }
      started_ = true;
      core_->listener = std::move(listener);
      if (!core_->enabled) {
        Logger("health")->info("health checks disabled; no provider is probed");
      }
    }
    StartProbes();
  }

  void Reconfigure(const HealthChecksConfig& config) {
    {
      MutexLock lock(&core_->mu);
      if (core_->stop) return;
      core_->Reconcile(config, metrics_);
    }
    core_->Deliver();
    StartProbes();
  }

  std::vector<DependencySnapshot> Snapshot() const {
    MutexLock lock(&core_->mu);
    std::vector<DependencySnapshot> out;
    out.reserve(core_->providers_.size());
    for (const auto& [name, p] : core_->providers_) {
      out.push_back(MakeSnapshot(name, p));
    }
    return out;
  }

  absl::StatusOr<DependencySnapshot> Get(absl::string_view provider) const {
    MutexLock lock(&core_->mu);
    auto it = core_->providers_.find(provider);
    if (it == core_->providers_.end()) return UnknownProvider(provider);
    return MakeSnapshot(it->first, it->second);
  }

  bool IsServing(absl::string_view provider) const {
    MutexLock lock(&core_->mu);
    auto it = core_->providers_.find(provider);
    return it == core_->providers_.end() ||
           it->second.state != DependencyState::kNotServing;
  }

  void Report(absl::string_view provider, bool success, absl::Duration latency,
              absl::string_view error, ReportCallback done) {
    // Answered without counting: unknown (NotFound) or disabled (its
    // snapshot stays DISABLED). `done` runs outside the lock: it may call
    // back into the registry.
    std::optional<absl::StatusOr<DependencySnapshot>> answer;
    const DependencyMetrics* metrics = nullptr;
    {
      MutexLock lock(&core_->mu);
      auto it = core_->providers_.find(provider);
      if (it == core_->providers_.end()) {
        answer = UnknownProvider(provider);
      } else if (!it->second.config.enabled) {
        answer = MakeSnapshot(it->first, it->second);
      } else {
        metrics = it->second.metrics;
      }
    }
    if (answer.has_value()) {
      done(std::move(*answer));
      return;
    }
    if (!success && metrics != nullptr) metrics->report_failures->Increment();
    Outcome o;
    o.provider = std::string(provider);
    o.success = success;
    o.latency = latency;
    o.error = success ? "" : (error.empty() ? "reported failure" : std::string(error));
    o.check_time = clock_.Now();
    std::shared_ptr<Core> core = core_;
    store_.RecordOutcome(
        provider, success,
        [core, o = std::move(o), done = std::move(done)](absl::StatusOr<int64_t> count) {
          done(core->Apply(o, count));
        });
  }

 private:
  static absl::Status UnknownProvider(absl::string_view provider) {
    return absl::NotFoundError(
        absl::StrCat("unknown provider ", QuoteForMessage(provider)));
  }

  // True if this replica should probe now: the store granted the claim, or
  // the store failed / did not answer within `wait` (better a duplicate
  // probe than none). False also when stopping.
  bool Claim(const std::string& name, absl::Duration interval, absl::Duration wait) {
    struct Answer {
      std::optional<absl::StatusOr<bool>> value;  // guarded by Core::mu
    };
    auto answer = std::make_shared<Answer>();
    std::shared_ptr<Core> core = core_;
    store_.ClaimProbe(name, interval, [core, answer](absl::StatusOr<bool> claimed) {
      MutexLock lock(&core->mu);
      answer->value = std::move(claimed);
    });
    MutexLock lock(&core_->mu);
    const bool answered = clock_.AwaitFor(
        lock,
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return answer->value.has_value() || core_->stop;
        },
        wait);
    if (core_->stop) return false;
    if (!answered) {
      Logger("health")->warn("{}: no probe claim from the store within {}; probing",
                             name, absl::FormatDuration(wait));
      return true;
    }
    if (!answer->value->ok()) {
      Logger("health")->debug("{}: probe claim failed ({}); probing", name,
                              answer->value->status().ToString());
      return true;
    }
    return **answer->value;
  }

  // Starts a probe thread for every provider that should probe and has no
  // thread for its current generation yet; joins threads that finished.
  void StartProbes() {
    struct ToProbe {
      std::string name;
      HealthProviderConfig config;
      uint64_t generation;
      const DependencyMetrics* metrics;  // null: metrics off
    };
    std::vector<ToProbe> to_probe;
    {
      MutexLock lock(&core_->mu);
      if (!started_) return;
      for (auto& [name, p] : core_->providers_) {
        if (p.probing_generation == p.generation || !core_->Probing(name, p.generation)) {
          continue;
        }
        p.probing_generation = p.generation;
        to_probe.push_back({name, p.config, p.generation, p.metrics});
      }
    }
    MutexLock lock(&threads_mu_);
    threads_.erase(std::remove_if(threads_.begin(), threads_.end(),
                                  [](ProbeThread& t) {
                                    if (!t.finished->load()) return false;
                                    t.thread.join();
                                    return true;
                                  }),
                   threads_.end());
    for (ToProbe& p : to_probe) {
      Logger("health")->info("probing {} ({} {}) every {}", p.name,
                             std::string(CheckTypeName(p.config.check_type)),
                             p.config.target, absl::FormatDuration(p.config.interval));
      auto finished = std::make_shared<std::atomic<bool>>(false);
      threads_.push_back(ProbeThread{
          std::thread([this, p = std::move(p), finished] {
            ProbeLoop(p.name, p.config, p.generation, p.metrics);
            finished->store(true);
          }),
          finished});
    }
  }

  // Waits until `deadline` (monotonic), Stop, or the end of this
  // (name, generation); true when the loop should end.
  bool WaitUntilDue(const std::string& name, uint64_t generation,
                    absl::Time deadline) {
    MutexLock lock(&core_->mu);
    clock_.AwaitUntil(
        lock,
        [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
          return !core_->Probing(name, generation);
        },
        deadline);
    return !core_->Probing(name, generation);
  }

  void ProbeLoop(const std::string& name, const HealthProviderConfig& config,
                 uint64_t generation, const DependencyMetrics* metrics) {
    // A Redis or HTTP peer closing a probe connection must not kill the
    // process with SIGPIPE; the signal stays blocked on this thread only.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

    const Prober& prober = probers_.For(config.check_type);
    const absl::Duration interval = std::max(absl::Milliseconds(1), config.interval);
    absl::Time next = clock_.MonotonicNow();
    for (;;) {
      if (WaitUntilDue(name, generation, next)) return;
      if (Claim(name, config.interval, config.timeout)) ProbeOnce(name, config, prober, metrics);
      // A probe that overran its interval is followed by one right away,
      // never by a burst catching up on the missed ones.
      next = std::max(next + interval, clock_.MonotonicNow());
    }
  }

  void ProbeOnce(const std::string& name, const HealthProviderConfig& config,
                 const Prober& prober, const DependencyMetrics* metrics) {
    Outcome o;
    o.provider = name;
    o.check_time = clock_.Now();
    const absl::Time started = clock_.MonotonicNow();
    absl::Status status = prober.Probe(config, config.timeout);
    o.latency = clock_.MonotonicNow() - started;
    o.success = status.ok();
    if (metrics != nullptr) {
      metrics->probe_duration->Observe(absl::ToDoubleSeconds(o.latency));
      if (!o.success) metrics->probe_failures->Increment();
    }
    if (!o.success) {
      o.error = std::string(status.message());
      Logger("health")->debug("{}: probe failed: {}", name, o.error);
    }
    std::shared_ptr<Core> core = core_;
    store_.RecordOutcome(name, o.success,
                         [core, o](absl::StatusOr<int64_t> count) {
                           // NotFound: a reload removed the provider meanwhile.
                           core->Apply(o, count).IgnoreError();
                         });
  }

  struct ProbeThread {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> finished;
  };

  const Clock& clock_;
  const Probers& probers_;
  OutcomeStore& store_;
  Metrics* const metrics_;
  std::shared_ptr<Core> core_;
  bool started_ = false;  // guarded by core_->mu
  absl::Mutex threads_mu_;
  std::vector<ProbeThread> threads_ ABSL_GUARDED_BY(threads_mu_);
};

HealthRegistry::HealthRegistry(const HealthChecksConfig& config, const Clock& clock,
                               const Probers& probers, OutcomeStore& store,
                               Metrics* metrics)
    : impl_(std::make_unique<Impl>(config, clock, probers, store, metrics)) {}

HealthRegistry::~HealthRegistry() = default;

void HealthRegistry::Stop() { impl_->Stop(); }

void HealthRegistry::Start(Listener listener) { impl_->Start(std::move(listener)); }

void HealthRegistry::Reconfigure(const HealthChecksConfig& config) {
  impl_->Reconfigure(config);
}

std::vector<DependencySnapshot> HealthRegistry::Snapshot() const {
  return impl_->Snapshot();
}

absl::StatusOr<DependencySnapshot> HealthRegistry::Get(absl::string_view provider) const {
  return impl_->Get(provider);
}

bool HealthRegistry::IsServing(absl::string_view provider) const {
  return impl_->IsServing(provider);
}

void HealthRegistry::Report(absl::string_view provider, bool success,
                            absl::Duration latency, absl::string_view error,
                            ReportCallback done) {
  impl_->Report(provider, success, latency, error, std::move(done));
}

}  // namespace crossbridge
