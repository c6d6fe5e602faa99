// Leases for hot keys (ClientOptions::leases): a cost-1 acquire of a leased
// operation is granted from permits this Client took from the shared bucket
// ahead of time, without an RPC.
//
// Per (operation, key), at most one lease fetch is in flight: an up-to-cost
// acquire of N permits (the server grants between 1 and N, whatever the
// bucket holds), sent like any permit call (stream or unary). Callers that
// find the lease empty wait for that fetch and are served from it in
// arrival order; more callers than it granted start the next fetch. A
// refused fetch (the bucket is empty) refuses every waiting caller with the
// server's answer (retry_after_ms); an error fails them with it.
//
// Size: N = ceil(rate * ttl / 2), rate = the permits granted from the
// previous lease over the time since it was fetched, so a key under steady
// load fetches about once per ttl/2. N is 1 for a cold key (no lease in the
// last ttl), grows at most 4x per fetch, and never exceeds max_permits or
// the bucket's capacity.
//
// Expiry: a lease grants nothing after ttl. Its unused permits go back to
// the bucket (ReturnPermits, fire and forget) when a caller finds it
// expired, when the sweeper (every ttl/4, at least 5 ms) finds it expired,
// and when this object is destroyed. A failed return loses nothing the
// bucket owes anyone: those permits were already counted as taken.
//
// What a granted Permit says: allowed, granted 1, limit = the bucket's
// capacity, remaining = permits left in this Client's lease (not the
// fleet's bucket), retry_after_ms 0, reset_after_ms as of the fetch.
//
// Thread safety: every method may be called from any thread. `done` runs
// exactly once: inline in Acquire when the lease has a permit, else on the
// thread that completes the fetch; never with this object's lock held. The
// destructor waits for fetches in flight (each bounded by its caller's
// deadline; a caller that joins a fetch waits as long as that fetch takes).
#ifndef CROSSBRIDGE_CLIENT_LEASE_MANAGER_H_
#define CROSSBRIDGE_CLIENT_LEASE_MANAGER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/options.h"
#include "client/server_rpcs.h"
#include "common/clock.h"

namespace crossbridge {

class LeaseManager {
 public:
  // How a lease is fetched: the Client's permit transport.
  using Fetch = std::function<void(v1::AcquirePermitRequest request,
                                   absl::Duration deadline, PermitDone done)>;
  using Leases = std::map<std::string, ClientOptions::Lease>;

  // INVALID_ARGUMENT naming `leases[op]` and the field unless every lease
  // has max_permits >= 1 and ttl in [10 ms, 1 h].
  static absl::Status Validate(const Leases& leases);

  // `rpcs` and `clock` outlive this; `leases` valid.
  LeaseManager(ServerRpcs& rpcs, const Clock& clock, Leases leases,
               Fetch fetch);
  LeaseManager(const LeaseManager&) = delete;
  LeaseManager& operator=(const LeaseManager&) = delete;
  ~LeaseManager();

  // Whether Acquire serves this call: a leased operation and cost 1.
  bool Covers(absl::string_view operation, uint32_t cost) const;
  // REQUIRES: Covers(operation, 1), deadline > 0.
  void Acquire(absl::string_view operation, absl::string_view key,
               absl::Duration deadline, PermitDone done);

 private:
  struct KeyLease {
    std::string operation;
    std::string key;
    const ClientOptions::Lease* options = nullptr;
    int64_t available = 0;  // permits held and not yet granted
    absl::Time expires = absl::InfinitePast();
    absl::Time fetched_at = absl::InfinitePast();  // InfinitePast: cold
    int64_t served = 0;     // granted from the current lease
    int64_t size = 0;       // N of the last fetch
    uint32_t limit = 0;     // the bucket's capacity, once known
    uint64_t reset_after_ms = 0;
    bool fetching = false;
    std::vector<PermitDone> waiters;
  };
  // A fetch to start once the lock is released.
  struct Start {
    std::string name;
    v1::AcquirePermitRequest request;
    absl::Duration deadline;
  };

  // The next fetch's N for `lease` at `now`.
  static int64_t NextSize(const KeyLease& lease, absl::Time now);
  // Marks a fetch of `lease` in flight and describes it.
  Start StartFetchLocked(const std::string& name, KeyLease& lease,
                         absl::Duration deadline, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(Start start);
  void OnFetched(const std::string& name, absl::Duration deadline,
                 absl::StatusOr<Permit> result);
  // Hands one permit of `lease` out.
  static Permit GrantLocked(KeyLease& lease);
  void SweepLoop();

  ServerRpcs& rpcs_;
  const Clock& clock_;
  // Transparent comparator: Covers looks an operation up without a copy.
  const std::map<std::string, ClientOptions::Lease, std::less<>> leases_;
  const Fetch fetch_;
  const absl::Duration sweep_every_;
  absl::Mutex mu_;
  // "<operation>\0<key>" -> its lease.
  absl::flat_hash_map<std::string, KeyLease> keys_ ABSL_GUARDED_BY(mu_);
  int fetches_ ABSL_GUARDED_BY(mu_) = 0;  // in flight
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::thread sweeper_;
};

}  // namespace crossbridge

#endif  // CROSSBRIDGE_CLIENT_LEASE_MANAGER_H_
