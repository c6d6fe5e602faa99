#!/usr/bin/env bash
# make soak: CrossBridge under steady load for SOAK_MINUTES, on both
# backends at once, with Redis killed and restarted every
# SOAK_REDIS_RESTART_S. Not part of make test.
#
#   1. peak: both servers under closed-loop load together for 10 s;
#   2. soak: each paced at half its own peak (loadgen --rate), while every
#      SAMPLE_S the servers' resident memory is sampled and Redis is
#      SIGKILLed and restarted on the same port on schedule;
#   3. report: requests, errors (every call must be answered: the rule's
#      on_store_failure is local, so a Redis outage is never an error),
#      calls the server fell behind on (skipped), and per server the RSS
#      floor (each minute's lowest sample): its growth during the first half
#      (warm-up) and its least-squares slope over the second half. "flat":
#      that slope, over the whole run, adds less than 5% of the mean.
#
# usage: bench/soak.sh [BUILD_DIR]   env: SOAK_MINUTES (30)
#        SOAK_REDIS_RESTART_S (300) SOAK_SAMPLE_S (10)
#        SOAK_CONCURRENCY (32, the peak run) SOAK_SLOTS (512: calls the paced
#        run may have in flight, so a brief stall is absorbed, not skipped)
# Exit 1 if any call failed, more than 1% were skipped, a server died, or an
# RSS slope is not flat. Loopback only.
set -euo pipefail

BUILD_DIR=${1:-build}
MINUTES=${SOAK_MINUTES:-30}
RESTART_S=${SOAK_REDIS_RESTART_S:-300}
SAMPLE_S=${SOAK_SAMPLE_S:-10}
CONCURRENCY=${SOAK_CONCURRENCY:-32}
SLOTS=${SOAK_SLOTS:-512}
LOADGEN=$BUILD_DIR/bench/loadgen
SERVER=$BUILD_DIR/server/crossbridge-server
for bin in "$LOADGEN" "$SERVER"; do
  [[ -x $bin ]] || { echo "soak: $bin not built (run make build)" >&2; exit 1; }
done
command -v jq >/dev/null || { echo "soak: jq not installed" >&2; exit 1; }

source "$(dirname "$0")/lib.sh"
start_redis || { echo "soak: cannot start redis-server" >&2; exit 1; }

write_config() {  # write_config FILE STORAGE_FLOW_MAPPING
  cat >"$1" <<YML
server: {listen_address: "127.0.0.1:0", drain_grace_seconds: 0, shutdown_timeout_seconds: 2}
storage: $2
logging: {level: warn}
runtime:
  rate_limiting:
    defaults:
      soak: {capacity: 1000000, window_seconds: 60, on_store_failure: local}
  health_checks: {enabled: false}
YML
}
write_config "$TMP/memory.yml" "{backend: memory}"
write_config "$TMP/redis.yml" "{backend: redis, redis: {url: \"redis://127.0.0.1:$REDIS_PORT/0\"}}"
start_server memory "$SERVER" --config "$TMP/memory.yml" || { echo "soak: $SERVER_ERR" >&2; exit 1; }
MEM_PID=$SERVER_PID MEM_ADDR=$SERVER_ADDR
start_server redis "$SERVER" --config "$TMP/redis.yml" || { echo "soak: $SERVER_ERR" >&2; exit 1; }
RED_PID=$SERVER_PID RED_ADDR=$SERVER_ADDR

LOAD=(--mode grpc --operation soak --keys 10000 --json)
echo "CrossBridge soak  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: $(nproc) CPUs, loadavg $(cut -d' ' -f1-3 /proc/loadavg); ${MINUTES} min, Redis restarted every ${RESTART_S}s, RSS sampled every ${SAMPLE_S}s"

# ---- 1. peak, both at once ------------------------------------------------------
"$LOADGEN" "${LOAD[@]}" --concurrency "$CONCURRENCY" --target "$MEM_ADDR" --duration-s 10 \
  --warmup-s 2 --label memory >"$TMP/peak-m.json" &
P1=$!
"$LOADGEN" "${LOAD[@]}" --concurrency "$CONCURRENCY" --target "$RED_ADDR" --duration-s 10 \
  --warmup-s 2 --label redis >"$TMP/peak-r.json" &
P2=$!
wait "$P1" "$P2"
PEAK_M=$(jq -r .rps "$TMP/peak-m.json") PEAK_R=$(jq -r .rps "$TMP/peak-r.json")
RATE_M=$(awk -v p="$PEAK_M" 'BEGIN { printf "%d", p / 2 }')
RATE_R=$(awk -v p="$PEAK_R" 'BEGIN { printf "%d", p / 2 }')
echo "peak (both loaded together): memory ${PEAK_M%.*} req/s, redis ${PEAK_R%.*} req/s; soak rates ${RATE_M} and ${RATE_R} req/s"

# ---- 2. soak ----------------------------------------------------------------------
DURATION=$((MINUTES * 60))
"$LOADGEN" "${LOAD[@]}" --concurrency "$SLOTS" --target "$MEM_ADDR" --rate "$RATE_M" --duration-s "$DURATION" \
  --warmup-s 0 --label memory >"$TMP/soak-m.json" 2>"$TMP/soak-m.err" &
L1=$!
"$LOADGEN" "${LOAD[@]}" --concurrency "$SLOTS" --target "$RED_ADDR" --rate "$RATE_R" --duration-s "$DURATION" \
  --warmup-s 0 --label redis >"$TMP/soak-r.json" 2>"$TMP/soak-r.err" &
L2=$!
rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
echo "t_s memory_rss_kb redis_rss_kb" >"$TMP/rss.txt"
START=$(date +%s) NEXT_RESTART=$RESTART_S RESTARTS=0 DIED=''
while kill -0 "$L1" 2>/dev/null || kill -0 "$L2" 2>/dev/null; do
  sleep "$SAMPLE_S"
  t=$(($(date +%s) - START))
  for pid in "$MEM_PID" "$RED_PID"; do kill -0 "$pid" 2>/dev/null || DIED="$DIED $pid"; done
  echo "$t $(rss_kb "$MEM_PID") $(rss_kb "$RED_PID")" >>"$TMP/rss.txt"
  if ((t >= NEXT_RESTART && t < DURATION - 30)); then
    kill -KILL "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
    start_redis "$REDIS_PORT" || { echo "soak: redis did not restart" >&2; exit 1; }
    RESTARTS=$((RESTARTS + 1)) NEXT_RESTART=$((NEXT_RESTART + RESTART_S))
    echo "  ${t}s: Redis killed and restarted ($RESTARTS)" >&2
  fi
done
wait "$L1" || true
wait "$L2" || true

# ---- 3. report ------------------------------------------------------------------------
# RSS: a leak raises the floor, transient buffers only the peaks, so each
# minute counts with its lowest sample. The first half is warm-up: the
# allocator's arenas and the local fallback store (filled during each Redis
# outage, and a hash map keeps its capacity) reach their high-water marks
# there. The verdict is on the second half: its floor slope, projected over
# the whole run, must add less than 5% of the mean (a falling floor is fine).
HALF_S=$((DURATION / 2))
floor_fit() {  # floor_fit COLUMN FROM_S TO_S: "<slope KB/min> <mean floor KB> <first> <last>"
  awk -v c="$1" -v from="$2" -v to="$3" 'NR > 1 && $1 >= from && $1 < to {
      m = int($1 / 60); if (!(m in lo) || $c < lo[m]) lo[m] = $c }
    END { n = 0; for (m in lo) { n++; sx += m; sy += lo[m]; sxx += m * m; sxy += m * lo[m];
            if (first == "" || m < fm) { fm = m; first = lo[m] } if (m >= lm) { lm = m; last = lo[m] } }
          if (n < 2) { print "0 0 0 0"; exit } d = n * sxx - sx * sx;
          printf "%.1f %.0f %d %d\n", (d != 0 ? (n * sxy - sx * sy) / d : 0), sy / n, first, last }' "$TMP/rss.txt"
}
FAIL=0
report() {  # report NAME JSON COLUMN
  local name=$1 json=$2 col=$3 s mean first last ws wmean wfirst wlast req err skip verdict
  read -r ws wmean wfirst wlast < <(floor_fit "$col" 60 "$HALF_S")
  read -r s mean first last < <(floor_fit "$col" "$HALF_S" $((DURATION + 60)))
  req=$(jq -r .requests "$json" 2>/dev/null || echo '?')
  err=$(jq -r .errors "$json" 2>/dev/null || echo '?')
  skip=$(jq -r .skipped "$json" 2>/dev/null || echo '?')
  verdict=$(awk -v s="$s" -v m="$mean" -v min="$MINUTES" 'BEGIN { if (m > 0 && s * min < 0.05 * m) print "flat"; else print "NOT flat" }')
  printf '%-7s requests %s  errors %s  skipped %s  p99 %s us\n' "$name" "$req" "$err" "$skip" \
    "$(jq -r .p99_us "$json" 2>/dev/null || echo '?')"
  printf '        RSS floor: warm-up %s -> %s KB; second half %s -> %s KB (mean %s), slope %s KB/min: %s\n' \
    "$wfirst" "$wlast" "$first" "$last" "$mean" "$s" "$verdict"
  [[ $err == 0 && $verdict == flat ]] || FAIL=1
  # Skipped calls are load the server was never offered (it fell behind
  # the pace, or the generator did); more than 1% makes the run invalid.
  awk -v k="$skip" -v r="$req" 'BEGIN { exit !(r > 0 && k > 0.01 * r) }' && FAIL=1
  [[ $err != 0 ]] && echo "        first error: $(jq -r .first_error "$json")"
  return 0
}
echo
report memory "$TMP/soak-m.json" 2
report redis "$TMP/soak-r.json" 3
echo "Redis restarts: $RESTARTS"
[[ -z $DIED ]] || { echo "soak: a server died:$DIED" >&2; FAIL=1; }
cp "$TMP/rss.txt" "${SOAK_RSS_OUT:-$BUILD_DIR/soak-rss.txt}"
echo "RSS samples: ${SOAK_RSS_OUT:-$BUILD_DIR/soak-rss.txt}"
exit "$FAIL"
