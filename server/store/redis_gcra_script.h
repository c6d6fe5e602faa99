// The Lua script that takes permits from (or returns them to) a Redis
// bucket: common/gcra.cc's GcraAcquire and GcraReturn, evaluated atomically
// inside Redis on Redis's own clock (TIME), so replicas with skewed clocks
// agree.
//
//   EVALSHA <sha> 1 <bucket key> <emission interval µs> <capacity> <n> <mode>
//     mode '0': take n (all or nothing; 0 peeks); '1': take 1..n (up to);
//     'r': give n back
//   -> {allowed (0|1), remaining, retry_after_ms, reset_after_ms, granted}
//   -> error "CROSSBRIDGE corrupt bucket (<why>); reset to an empty bucket"
//
// The bucket is one string key holding the TAT in microseconds; it expires
// exactly when the bucket is full again (a full bucket equals no bucket), so
// idle buckets cost nothing and their TTL never exceeds one window.
//
// A value the script did not write (another type, not a decimal integer, a
// TAT more than a day beyond now + burst) is corrupt: the script resets the
// bucket to empty (it refills within one window; never to full, which would
// over-admit) and answers the error above, so the call goes to its
// operation's on_store_failure.
#ifndef CROSSBRIDGE_SERVER_STORE_REDIS_GCRA_SCRIPT_H_
#define CROSSBRIDGE_SERVER_STORE_REDIS_GCRA_SCRIPT_H_

namespace crossbridge {

extern const char kRedisGcraScript[];

}  // namespace crossbridge

#endif  // CROSSBRIDGE_SERVER_STORE_REDIS_GCRA_SCRIPT_H_
