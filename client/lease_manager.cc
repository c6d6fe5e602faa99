#include "client/lease_manager.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/server_rpcs.h"
#include "common/mutex.h"
#include "common/quote.h"

namespace crossbridge {
namespace {

constexpr absl::Duration kMinTtl = absl::Milliseconds(10);
constexpr absl::Duration kMaxTtl = absl::Hours(1);
constexpr absl::Duration kMinSweep = absl::Milliseconds(5);
// N grows at most this factor per fetch.
constexpr int64_t kMaxGrowth = 4;

std::string LeaseName(absl::string_view operation, absl::string_view key) {
  return absl::StrCat(operation, absl::string_view("\0", 1), key);
}

absl::Duration SweepPeriod(const LeaseManager::Leases& leases) {
  absl::Duration shortest = kMaxTtl;
  for (const auto& [operation, lease] : leases) {
    shortest = std::min(shortest, lease.ttl);
  }
  return std::max(kMinSweep, shortest / 4);
}

}  // namespace

absl::Status LeaseManager::Validate(const Leases& leases) {
  for (const auto& [operation, lease] : leases) {
    const std::string field = absl::StrCat("leases[", QuoteForMessage(operation), "]");
    if (operation.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(field, ": the operation must not be empty"));
    }
    if (lease.max_permits < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".max_permits: must be >= 1"));
    }
    if (lease.ttl < kMinTtl || lease.ttl > kMaxTtl) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, ".ttl: ", absl::FormatDuration(lease.ttl),
          " is outside [10ms, 1h]"));
    }
  }
  return absl::OkStatus();
}

LeaseManager::LeaseManager(ServerRpcs& rpcs, const Clock& clock, Leases leases,
                           Fetch fetch)
    : rpcs_(rpcs),
      clock_(clock),
      leases_(leases.begin(), leases.end()),
      fetch_(std::move(fetch)),
      sweep_every_(SweepPeriod(leases)) {
  sweeper_ = std::thread([this] { SweepLoop(); });
}

LeaseManager::~LeaseManager() {
  {
    MutexLock lock(&mu_);
    closing_ = true;
    lock.Await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return fetches_ == 0; });
  }
  sweeper_.join();
  // No fetch, no sweeper, no caller: the table is ours alone now.
  MutexLock lock(&mu_);
  for (auto& [name, lease] : keys_) {
    if (lease.available > 0) {
      rpcs_.ReturnPermitsAsync(lease.operation, lease.key,
                               static_cast<uint32_t>(lease.available));
    }
  }
  keys_.clear();
}

bool LeaseManager::Covers(absl::string_view operation, uint32_t cost) const {
  return cost == 1 && leases_.find(operation) != leases_.end();
}

int64_t LeaseManager::NextSize(const KeyLease& lease, absl::Time now) {
  if (lease.fetched_at == absl::InfinitePast()) return 1;  // cold
  const double span_s = absl::ToDoubleSeconds(
      std::max(now - lease.fetched_at, absl::Milliseconds(1)));
  const double rate = static_cast<double>(lease.served) / span_s;
  const double target =
      std::ceil(rate * absl::ToDoubleSeconds(lease.options->ttl) / 2);
  int64_t cap = std::min<int64_t>(lease.options->max_permits,
                                  kMaxGrowth * std::max<int64_t>(1, lease.size));
  if (lease.limit > 0) cap = std::min<int64_t>(cap, lease.limit);
  return std::clamp<int64_t>(static_cast<int64_t>(std::min(target, 1e12)), 1, cap);
}

LeaseManager::Start LeaseManager::StartFetchLocked(const std::string& name,
                                                   KeyLease& lease,
                                                   absl::Duration deadline,
                                                   absl::Time now) {
  lease.fetching = true;
  ++fetches_;
  Start start{name, {}, deadline};
  start.request.set_operation(lease.operation);
  start.request.set_key(lease.key);
  start.request.set_cost(static_cast<uint32_t>(NextSize(lease, now)));
  start.request.set_up_to_cost(true);
  return start;
}

void LeaseManager::Send(Start start) {
  fetch_(std::move(start.request), start.deadline,
         [this, name = std::move(start.name),
          deadline = start.deadline](absl::StatusOr<Permit> result) {
           if (result.ok() && result->allowed && result->granted == 0) {
             result->granted = 1;  // a server that predates `granted`
           }
           OnFetched(name, deadline, std::move(result));
         });
}

Permit LeaseManager::GrantLocked(KeyLease& lease) {
  --lease.available;
  ++lease.served;
  Permit permit;
  permit.allowed = true;
  permit.limit = lease.limit;
  permit.remaining = static_cast<uint32_t>(lease.available);
  permit.reset_after_ms = lease.reset_after_ms;
  permit.granted = 1;
  return permit;
}

void LeaseManager::Acquire(absl::string_view operation, absl::string_view key,
                           absl::Duration deadline, PermitDone done) {
  const absl::Time now = clock_.MonotonicNow();
  std::string name = LeaseName(operation, key);
  std::optional<Permit> granted;
  std::optional<Start> start;
  int64_t expired = 0;
  {
    MutexLock lock(&mu_);
    auto [it, inserted] = keys_.try_emplace(name);
    KeyLease& lease = it->second;
    if (inserted) {
      lease.operation = std::string(operation);
      lease.key = std::string(key);
      lease.options = &leases_.find(lease.operation)->second;
    }
    if (lease.available > 0 && now < lease.expires) {
      granted = GrantLocked(lease);
    } else {
      if (lease.available > 0) {  // expired: what is left goes back
        expired = lease.available;
        lease.available = 0;
      }
      lease.waiters.push_back(std::move(done));
      if (!lease.fetching) start = StartFetchLocked(name, lease, deadline, now);
    }
  }
  if (granted.has_value()) return done(*std::move(granted));
  if (expired > 0) {
    rpcs_.ReturnPermitsAsync(operation, key, static_cast<uint32_t>(expired));
  }
  if (start.has_value()) Send(*std::move(start));
}

void LeaseManager::OnFetched(const std::string& name, absl::Duration deadline,
                             absl::StatusOr<Permit> result) {
  std::vector<std::pair<PermitDone, absl::StatusOr<Permit>>> answers;
  std::optional<Start> next;
  {
    MutexLock lock(&mu_);
    --fetches_;
    const absl::Time now = clock_.MonotonicNow();
    KeyLease& lease = keys_.find(name)->second;  // not erased while fetching
    lease.fetching = false;
    std::vector<PermitDone> waiters = std::move(lease.waiters);
    lease.waiters.clear();
    size_t served = 0;
    if (result.ok() && result->allowed) {
      lease.size = result->granted;
      lease.available = result->granted;
      lease.limit = result->limit;
      lease.reset_after_ms = result->reset_after_ms;
      lease.fetched_at = now;
      lease.expires = now + lease.options->ttl;
      lease.served = 0;
      for (; served < waiters.size() && lease.available > 0; ++served) {
        answers.emplace_back(std::move(waiters[served]), GrantLocked(lease));
      }
      // More callers than this fetch granted: they wait for the next.
      for (size_t i = served; i < waiters.size(); ++i) {
        lease.waiters.push_back(std::move(waiters[i]));
      }
      if (!lease.waiters.empty()) {
        next = StartFetchLocked(name, lease, deadline, now);
      }
    } else {
      if (result.ok()) lease.limit = result->limit;
      for (PermitDone& waiter : waiters) {
        answers.emplace_back(std::move(waiter), result);
      }
    }
  }
  // The destructor may run once fetches_ is 0 and the lock is free; only
  // the answers (user code) and the next fetch remain, neither touching a
  // freed lease: a started fetch holds fetches_ above 0.
  if (next.has_value()) Send(*std::move(next));
  for (auto& [done, answer] : answers) done(std::move(answer));
}

void LeaseManager::SweepLoop() {
  for (;;) {
    std::vector<std::pair<std::string, std::pair<std::string, int64_t>>> unused;
    {
      MutexLock lock(&mu_);
      clock_.AwaitFor(
          lock, [this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return closing_; },
          sweep_every_);
      if (closing_) return;
      const absl::Time now = clock_.MonotonicNow();
      for (auto it = keys_.begin(); it != keys_.end();) {
        KeyLease& lease = it->second;
        if (lease.fetching || !lease.waiters.empty() || now < lease.expires) {
          ++it;
          continue;
        }
        if (lease.available > 0) {
          unused.push_back({lease.operation, {lease.key, lease.available}});
        }
        // An expired lease's rate no longer says anything: the key is cold.
        keys_.erase(it++);
      }
    }
    for (auto& [operation, key_count] : unused) {
      rpcs_.ReturnPermitsAsync(operation, key_count.first,
                               static_cast<uint32_t>(key_count.second));
    }
  }
}

}  // namespace crossbridge
