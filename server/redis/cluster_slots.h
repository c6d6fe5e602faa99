// What a Redis Cluster client needs to know about slots, as the Redis
// Cluster specification defines them: which of the 16384 slots a key is in,
// which master serves each slot (from CLUSTER SLOTS), and what a MOVED or
// ASK redirect says. Pure functions and a value type, no I/O.
//
// Every CrossBridge key is hash-tagged by bucket (keyspace.h), so all keys
// of one bucket, budget or health entry land in one slot.
#ifndef CROSSBRIDGE_SERVER_REDIS_CLUSTER_SLOTS_H_
#define CROSSBRIDGE_SERVER_REDIS_CLUSTER_SLOTS_H_

#include <hiredis/hiredis.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace crossbridge {

inline constexpr int kClusterSlots = 16384;

// CRC16 (XMODEM) of the key's hash tag (the bytes between the first '{'
// and the first '}' after it, when that is not empty) or else of the whole
// key, modulo 16384: what CLUSTER KEYSLOT answers.
int KeySlot(absl::string_view key);

struct ClusterNode {
  std::string host;
  int port = 0;
  bool operator==(const ClusterNode& o) const { return host == o.host && port == o.port; }
  std::string ToString() const;  // "host:port"
};

// Which master serves each slot.
class SlotMap {
 public:
  // From a CLUSTER SLOTS reply: [[first, last, [host, port, id...],
  // replicas...], ...]. DATA_LOSS naming what is wrong for a reply of
  // another shape (a hostile or broken node may send anything), overlapping
  // ranges or slots out of range; FAILED_PRECONDITION listing the first
  // uncovered slot when the cluster does not serve every slot (it is down
  // or still being set up). An empty host (a node that does not know its
  // own address) is taken as `default_host`, the address the reply came from.
  static absl::StatusOr<SlotMap> FromClusterSlots(const redisReply& reply,
                                                  absl::string_view default_host);

  // The masters, each once, in the order CLUSTER SLOTS first named them.
  const std::vector<ClusterNode>& masters() const { return masters_; }
  // Their replicas, each once (a client keeps connections to them ready
  // for a failover).
  const std::vector<ClusterNode>& replicas() const { return replicas_; }
  // Index into masters() of the master serving `slot` (0..16383).
  int MasterOf(int slot) const { return owner_[slot]; }

 private:
  std::vector<ClusterNode> masters_;
  std::vector<ClusterNode> replicas_;
  std::array<uint16_t, kClusterSlots> owner_{};
};

// A "-MOVED 3999 127.0.0.1:6381" or "-ASK 3999 127.0.0.1:6381" error reply
// (without the '-'): where the slot is served now (MOVED: for good, update
// the map; ASK: for this one command, sent after ASKING). nullopt for any
// other text, a malformed redirect included.
struct Redirect {
  enum class Kind { kMoved, kAsk };
  Kind kind;
  int slot;
  ClusterNode node;
};
std::optional<Redirect> ParseRedirect(absl::string_view error_text);

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_REDIS_CLUSTER_SLOTS_H_
