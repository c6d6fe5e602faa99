// A lock-free log-linear latency histogram (HdrHistogram-like): values below
// 256 ns are exact; above, each power of two is split into 128 buckets, so a
// recorded value is off by at most 1/128 (< 0.8%). Record() is one relaxed
// atomic increment, safe from any thread.
#ifndef CROSSBRIDGE_BENCH_HISTOGRAM_H_
#define CROSSBRIDGE_BENCH_HISTOGRAM_H_

#include <atomic>
#include <cmath>
#include <cstdint>
#include <vector>

namespace crossbridge::bench {

class Histogram {
 public:
  static constexpr int kSubBits = 8;                      // 256 exact values
  static constexpr int kSub = 1 << kSubBits;              // 256
  static constexpr int kHalf = kSub / 2;                  // 128 per octave
  static constexpr int kMaxExp = 40;                      // ~1100 s in ns
  static constexpr int kBuckets = kSub + (kMaxExp - kSubBits + 1) * kHalf;

  Histogram() : counts_(kBuckets) {}

  void Record(uint64_t ns) {
    counts_[Index(ns)].fetch_add(1, std::memory_order_relaxed);
  }

  uint64_t Count() const {
    uint64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }

  // The highest value equivalent to the q-quantile's bucket, in ns; 0 when
  // empty. q in (0, 1].
  uint64_t Quantile(double q) const {
    const uint64_t total = Count();
    if (total == 0) return 0;
    uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(total)));
    if (rank < 1) rank = 1;
    uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[i].load(std::memory_order_relaxed);
      if (seen >= rank) return UpperBound(i);
    }
    return UpperBound(kBuckets - 1);
  }

  uint64_t Max() const {
    for (int i = kBuckets - 1; i >= 0; --i) {
      if (counts_[i].load(std::memory_order_relaxed) != 0) return UpperBound(i);
    }
    return 0;
  }

  static int Index(uint64_t v) {
    if (v < static_cast<uint64_t>(kSub)) return static_cast<int>(v);
    int e = 63 - __builtin_clzll(v);  // >= kSubBits
    if (e > kMaxExp) return kBuckets - 1;
    int shift = e - (kSubBits - 1);
    int mantissa = static_cast<int>(v >> shift);  // [kHalf, kSub)
    return kSub + (e - kSubBits) * kHalf + (mantissa - kHalf);
  }

  static uint64_t UpperBound(int i) {
    if (i < kSub) return static_cast<uint64_t>(i);
    int octave = (i - kSub) / kHalf;
    int mantissa = (i - kSub) % kHalf + kHalf;
    int shift = octave + 1;  // e - (kSubBits - 1) with e = octave + kSubBits
    return ((static_cast<uint64_t>(mantissa) + 1) << shift) - 1;
  }

 private:
  std::vector<std::atomic<uint64_t>> counts_;
};

}  // namespace crossbridge::bench

#endif  // CROSSBRIDGE_BENCH_HISTOGRAM_H_
