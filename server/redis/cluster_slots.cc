#include "server/redis/cluster_slots.h"

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace crossbridge {
namespace {

// CRC16-CCITT, polynomial 0x1021, initial value 0 (XMODEM), by table.
constexpr std::array<uint16_t, 256> MakeCrc16Table() {
  std::array<uint16_t, 256> table{};
  for (int i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    table[i] = crc;
  }
  return table;
}
constexpr std::array<uint16_t, 256> kCrc16 = MakeCrc16Table();

uint16_t Crc16(absl::string_view bytes) {
  uint16_t crc = 0;
  for (unsigned char c : bytes) {
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16[((crc >> 8) ^ c) & 0xff]);
  }
  return crc;
}

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("redis cluster: malformed CLUSTER SLOTS reply: ", what));
}

bool IsInteger(const redisReply* r) { return r != nullptr && r->type == REDIS_REPLY_INTEGER; }

// [host, port, id, ...] with a port in 1..65535.
bool IsNode(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
         r->element[0] != nullptr && r->element[0]->type == REDIS_REPLY_STRING &&
         IsInteger(r->element[1]) && r->element[1]->integer > 0 &&
         r->element[1]->integer <= 65535;
}

// REQUIRES: IsNode(r). An unknown host ("" or "?") is `default_host`.
ClusterNode NodeOf(const redisReply& r, absl::string_view default_host) {
  ClusterNode node;
  node.host.assign(r.element[0]->str, r.element[0]->len);
  if (node.host.empty() || node.host == "?") node.host = std::string(default_host);
  node.port = static_cast<int>(r.element[1]->integer);
  return node;
}

}  // namespace

int KeySlot(absl::string_view key) {
  const size_t open = key.find('{');
  if (open != absl::string_view::npos) {
    const size_t close = key.find('}', open + 1);
    if (close != absl::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return Crc16(key) & (kClusterSlots - 1);
}

std::string ClusterNode::ToString() const { return absl::StrCat(host, ":", port); }

absl::StatusOr<SlotMap> SlotMap::FromClusterSlots(const redisReply& reply,
                                                  absl::string_view default_host) {
  if (reply.type != REDIS_REPLY_ARRAY) return Malformed("not an array");
  constexpr uint16_t kNone = 0xffff;
  SlotMap map;
  map.owner_.fill(kNone);
  for (size_t i = 0; i < reply.elements; ++i) {
    const redisReply* range = reply.element[i];
    const std::string where = absl::StrCat("entry ", i + 1);
    if (range == nullptr || range->type != REDIS_REPLY_ARRAY || range->elements < 3) {
      return Malformed(absl::StrCat(where, " is not [first, last, master, ...]"));
    }
    const redisReply* first = range->element[0];
    const redisReply* last = range->element[1];
    const redisReply* master = range->element[2];
    if (!IsInteger(first) || !IsInteger(last) || first->integer < 0 ||
        last->integer >= kClusterSlots || first->integer > last->integer) {
      return Malformed(absl::StrCat(where, ": the slot range is not within 0..16383"));
    }
    if (!IsNode(master)) {
      return Malformed(absl::StrCat(where, ": the master is not [host, port, ...]"));
    }
    const ClusterNode node = NodeOf(*master, default_host);
    for (size_t r = 3; r < range->elements; ++r) {
      const redisReply* replica = range->element[r];
      if (!IsNode(replica)) {
        return Malformed(absl::StrCat(where, ": replica ", r - 2, " is not [host, port, ...]"));
      }
      ClusterNode rn = NodeOf(*replica, default_host);
      if (std::find(map.replicas_.begin(), map.replicas_.end(), rn) == map.replicas_.end()) {
        map.replicas_.push_back(std::move(rn));
      }
    }
    uint16_t index = 0;
    while (index < map.masters_.size() && !(map.masters_[index] == node)) ++index;
    if (index == map.masters_.size()) map.masters_.push_back(node);
    for (int64_t slot = first->integer; slot <= last->integer; ++slot) {
      if (map.owner_[slot] != kNone) {
        return Malformed(absl::StrCat(where, ": slot ", slot, " is in two ranges"));
      }
      map.owner_[slot] = index;
    }
  }
  for (int slot = 0; slot < kClusterSlots; ++slot) {
    if (map.owner_[slot] == kNone) {
      return absl::FailedPreconditionError(absl::StrCat(
          "redis cluster: slot ", slot, " is served by no master (cluster down or "
          "not set up: check CLUSTER INFO)"));
    }
  }
  return map;
}

std::optional<Redirect> ParseRedirect(absl::string_view error_text) {
  const std::vector<absl::string_view> words = absl::StrSplit(error_text, ' ');
  if (words.size() != 3) return std::nullopt;
  Redirect r;
  if (words[0] == "MOVED") {
    r.kind = Redirect::Kind::kMoved;
  } else if (words[0] == "ASK") {
    r.kind = Redirect::Kind::kAsk;
  } else {
    return std::nullopt;
  }
  if (!absl::SimpleAtoi(words[1], &r.slot) || r.slot < 0 || r.slot >= kClusterSlots) {
    return std::nullopt;
  }
  const size_t colon = words[2].rfind(':');
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(words[2].substr(colon + 1), &r.node.port) || r.node.port <= 0 ||
      r.node.port > 65535) {
    return std::nullopt;
  }
  r.node.host = std::string(words[2].substr(0, colon));
  return r;
}

}  // namespace crossbridge
