#!/usr/bin/env bash
# make bench: measures the contenders below with the same load generators and
# settings, one after another, and prints a table plus the ratios.
#   a  noop       a no-op RateLimiter gRPC server (the framework's floor)
#   b  memory     crossbridge-server, storage.backend memory, metrics off
#   e  memory+metrics  the same with metrics on (every request counted)
#   f  memory+tls+auth the same as b over TLS, with tenant tokens on
#   c  redis      crossbridge-server, storage.backend redis
#   k  redis-cluster  crossbridge-server, storage.backend redis-cluster on 3
#                 masters (no replicas) on the same machine
#   d  lua-direct loadgen calling the same Lua script on Redis itself
#   g  peer       npm rate-limiter-flexible (RateLimiterRedis, ioredis) on
#                 the same Redis, driven in process by bench/peer_load.js;
#                 installed into BUILD_DIR/bench-node on first use
#   s  sdk-unary  crossbridge-server (redis) driven through the C++ SDK
#                 (loadgen --mode sdk, Client::AcquirePermitAsync), one
#                 AcquirePermit RPC per call (--transport unary)
#   ss sdk-stream the same over the SDK's StreamPermits stream (the default)
#   sl sdk-lease  the same with leases on (BENCH_LEASE_MAX_PERMITS, ttl 1 s)
#   gh, sh, ssh, slh  the same over one hot key instead of BENCH_KEYS
# Then the exactness check: every Redis-backed contender on a small rule
# (BENCH_EXACT_CAPACITY per second, one hot key, BENCH_EXACT_S seconds);
# the script exits 1 if any admitted more than its rule allows.
#
# usage: bench/run.sh [BUILD_DIR]          (default: build)
# env:   BENCH_CONCURRENCY (64) BENCH_DURATION_S (10) BENCH_KEYS (1000)
#        BENCH_COST (1) BENCH_WARMUP_S (2) BENCH_CHANNELS (2)
#        BENCH_REDIS_CONNECTIONS (2)
#        BENCH_METRICS_ROUNDS (5): rounds of b, e and f
#        BENCH_EXACT_CAPACITY (100) BENCH_EXACT_S (3)
#        BENCH_LEASE_MAX_PERMITS (1000)
# Everything binds and targets 127.0.0.1; every process started here is
# stopped on exit.
set -euo pipefail

BUILD_DIR=${1:-build}
CONCURRENCY=${BENCH_CONCURRENCY:-64}
DURATION_S=${BENCH_DURATION_S:-10}
KEYS=${BENCH_KEYS:-1000}
COST=${BENCH_COST:-1}
WARMUP_S=${BENCH_WARMUP_S:-2}
CHANNELS=${BENCH_CHANNELS:-2}
REDIS_CONNECTIONS=${BENCH_REDIS_CONNECTIONS:-2}
SERVER_REDIS_CONNECTIONS=${BENCH_SERVER_REDIS_CONNECTIONS:-2}
METRICS_ROUNDS=${BENCH_METRICS_ROUNDS:-5}
OPERATION=bench
# The same rule for every contender, so large that nothing is refused: a
# hot key at 1M/s for 12 s stays inside its burst.
CAPACITY=100000000
WINDOW_S=600
# The exactness rule: capacity EXACT_CAPACITY, refilled over 1 s.
EXACT_OPERATION=exact
EXACT_CAPACITY=${BENCH_EXACT_CAPACITY:-100}
EXACT_WINDOW_S=1
EXACT_S=${BENCH_EXACT_S:-3}
LEASE_MAX_PERMITS=${BENCH_LEASE_MAX_PERMITS:-1000}

LOADGEN=$BUILD_DIR/bench/loadgen
NOOP=$BUILD_DIR/bench/noop_server
SERVER=$BUILD_DIR/server/crossbridge-server
for bin in "$LOADGEN" "$NOOP" "$SERVER"; do
  [[ -x $bin ]] || { echo "bench: $bin not built (run make build)" >&2; exit 1; }
done
command -v redis-server >/dev/null || { echo "bench: redis-server not installed" >&2; exit 1; }
command -v jq >/dev/null || { echo "bench: jq not installed" >&2; exit 1; }

# The peer (rate-limiter-flexible on ioredis) lives in BUILD_DIR/bench-node,
# installed from the npm registry on first use; node and npm from Debian if
# missing. Without them the peer rows say unavailable.
PEER_DIR=$BUILD_DIR/bench-node
PEER_JS=$(dirname "$0")/peer_load.js
install_peer() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    local sudo=; ((EUID == 0)) || sudo=sudo
    $sudo apt-get install -y --no-install-recommends nodejs npm >&2 || return 1
  fi
  [[ -d $PEER_DIR/node_modules/rate-limiter-flexible && -d $PEER_DIR/node_modules/ioredis ]] && return 0
  mkdir -p "$PEER_DIR"
  [[ -f $PEER_DIR/package.json ]] || echo '{"private": true}' >"$PEER_DIR/package.json"
  (cd "$PEER_DIR" && npm install --no-audit --no-fund rate-limiter-flexible ioredis >&2)
}
PEER_OK=true
install_peer || { PEER_OK=false; echo "bench: cannot install the peer (node, npm, rate-limiter-flexible)" >&2; }
export NODE_PATH=$PEER_DIR/node_modules

# Shared with soak.sh: the temporary folder, process bookkeeping, starting
# servers and redis-server (bench/lib.sh).
source "$(dirname "$0")/lib.sh"
start_redis || { echo "bench: cannot start redis-server" >&2; exit 1; }
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
rcli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# ---- configs -----------------------------------------------------------------
write_config() {  # write_config FILE STORAGE_FLOW_MAPPING [METRICS_ADDRESS [SECURITY]]
  cat >"$1" <<EOF
server: {listen_address: "127.0.0.1:0", metrics_listen_address: "${3-}",
         drain_grace_seconds: 0, shutdown_timeout_seconds: 2${4:+, $4}}
storage: $2
logging: {level: warn}
auth: {enabled: ${5:-false}${6:+, tokens_file: $6}}
runtime:
  rate_limiting:
    defaults:
      # deny: a Redis failure or timeout is an RPC error the generator counts,
      # never a silent fallback to an in-process bucket.
      $OPERATION: {capacity: $CAPACITY, window_seconds: $WINDOW_S, on_store_failure: deny}
      $EXACT_OPERATION: {capacity: $EXACT_CAPACITY, window_seconds: $EXACT_WINDOW_S, on_store_failure: deny}
  health_checks: {enabled: false}
EOF
}
# Metrics are off ("") except in contender e, which differs from b only in
# counting every request (the same families a scrape would read).
write_config "$TMP/memory.yml" "{backend: memory}"
write_config "$TMP/memory-metrics.yml" "{backend: memory}" "127.0.0.1:0"
write_config "$TMP/redis.yml" "{backend: redis, redis: {url: \"$REDIS_URL\", connections: $SERVER_REDIS_CONNECTIONS}}"
# f: b over TLS (an EC P-256 certificate from a throwaway CA) with a tenant
# token on every call (auth on: each call is hashed and authorized, and its
# bucket is the tenant's own).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=bench CA" -keyout "$TMP/ca.key" -out "$TMP/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
  -keyout "$TMP/server.key" -out "$TMP/server.csr" 2>/dev/null
openssl x509 -req -in "$TMP/server.csr" -CA "$TMP/ca.crt" -CAkey "$TMP/ca.key" \
  -CAcreateserial -days 1 -out "$TMP/server.crt" 2>/dev/null \
  -extfile <(printf "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth")
BENCH_TOKEN=$(openssl rand -hex 32)
printf -- "- tenant: bench\n  token_sha256: %s\n" \
  "$("$SERVER" --hash-token <<<"$BENCH_TOKEN")" >"$TMP/tokens.yml"
write_config "$TMP/memory-tls-auth.yml" "{backend: memory}" "" \
  "tls: {cert_file: \"$TMP/server.crt\", key_file: \"$TMP/server.key\"}" true "\"$TMP/tokens.yml\""

# ---- machine -----------------------------------------------------------------
BUILD_TYPE=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null || true)
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "CrossBridge bench  $(date -u +%Y-%m-%dT%H:%M:%SZ)  $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "machine: $(nproc) CPUs, $CPU, $(. /etc/os-release && echo "$PRETTY_NAME"), build ${BUILD_TYPE:-?}, redis $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p')"
echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg) (anything else running on these CPUs disturbs the figures)"
echo "load: concurrency $CONCURRENCY, duration ${DURATION_S}s (+${WARMUP_S}s warm-up), keys $KEYS, cost $COST," \
     "rule $CAPACITY/${WINDOW_S}s, $CHANNELS gRPC channels, $REDIS_CONNECTIONS Redis connection(s)"
echo

COMMON=(--concurrency "$CONCURRENCY" --duration-s "$DURATION_S" --warmup-s "$WARMUP_S"
        --keys "$KEYS" --cost "$COST" --operation "$OPERATION" --json)
GRPC=(--mode grpc --channels "$CHANNELS")
declare -A STATUS RESULT OTHER_CPU
PEERS=()
# The generator run_loadgen starts: loadgen, or the peer's node program
# (which takes the same COMMON flags).
GEN=("$LOADGEN")

# CPU accounting, to show how much of the machine something else used during
# a run (that disturbs the figures): user+system jiffies on all CPUs, minus
# those of the contender's processes and of the generator. Interrupt and
# softirq time (loopback networking, mostly ours) are left out on both sides.
HZ=$(getconf CLK_TCK)
busy_jiffies() { awk '/^cpu /{print $2 + $3 + $4; exit}' /proc/stat; }  # user nice system
proc_jiffies() {  # proc_jiffies PID...: utime+stime+cutime+cstime
  local pid total=0 t
  for pid in "$@"; do
    t=$(awk '{sub(/^.*\) /, ""); print $12 + $13 + $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "$total"
}

# run_loadgen ID ARGS...: runs the generator (GEN) with COMMON, then ARGS
# (a later flag wins: --keys 1 for a hot-key row), keeps its JSON in
# RESULT[ID] and the share of CPU used by other processes meanwhile in
# OTHER_CPU[ID]. PEERS: the pids of the contender's processes (server, redis).
run_loadgen() {
  local id=$1; shift
  local busy0 peers0 self0 busy1 peers1 self1 t0 t1
  busy0=$(busy_jiffies); peers0=$(proc_jiffies "${PEERS[@]}"); self0=$(proc_jiffies $$)
  t0=$(date +%s%N)
  if "${GEN[@]}" "${COMMON[@]}" "$@" >"$TMP/$id.json" 2>"$TMP/$id.lg.err"; then
    RESULT[$id]=$(tail -n 1 "$TMP/$id.json")
    STATUS[$id]=ok
  else
    STATUS[$id]="failed: $(tr '\n' ' ' <"$TMP/$id.lg.err")"
  fi
  t1=$(date +%s%N)
  busy1=$(busy_jiffies); peers1=$(proc_jiffies "${PEERS[@]}"); self1=$(proc_jiffies $$)
  # self: this shell's reaped children, i.e. the generator.
  OTHER_CPU[$id]=$(awk -v b=$((busy1 - busy0)) -v p=$((peers1 - peers0)) -v s=$((self1 - self0)) \
    -v hz="$HZ" -v ns=$((t1 - t0)) -v n="$(nproc)" \
    'BEGIN { o = (b - p - s) / hz / (ns / 1e9 * n) * 100; if (o < 0) o = 0; printf "%.0f%%", o }')
  echo "  $id: ${STATUS[$id]}" >&2
}

# bench_server ID NAME CMD...: start, load, stop. LOADGEN_EXTRA: more
# generator flags (TLS, token) for this contender. GEN_MODE: the generator's
# mode flags (gRPC by default, the SDK for the sdk rows); EXTRA_RUNS: more
# "ID NAME FLAGS..." runs against the same server, one per line.
LOADGEN_EXTRA=()
GEN_MODE=("${GRPC[@]}")
EXTRA_RUNS=''
bench_server() {
  local id=$1 name=$2; shift 2
  if start_server "$name" "$@"; then
    PEERS=("$SERVER_PID" $REDIS_PID)  # REDIS_PID: one pid, or a cluster's
    run_loadgen "$id" "${GEN_MODE[@]}" "${LOADGEN_EXTRA[@]}" --target "$SERVER_ADDR" --label "$name"
    local xid xname xflags
    while read -r xid xname xflags; do
      [[ -n $xid ]] || continue
      rcli flushall >/dev/null
      # shellcheck disable=SC2086  # xflags: several flags
      run_loadgen "$xid" "${GEN_MODE[@]}" "${LOADGEN_EXTRA[@]}" --target "$SERVER_ADDR" \
        --label "$xname" $xflags
    done <<<"$EXTRA_RUNS"
    stop_pid "$SERVER_PID"
  else
    STATUS[$id]="unavailable: $SERVER_ERR"
    echo "  $id: ${STATUS[$id]}" >&2
  fi
}
EXACT=(--keys 1 --warmup-s 0 --duration-s "$EXACT_S" --operation "$EXACT_OPERATION")

echo "running (one contender at a time) ..." >&2
bench_server a noop "$NOOP" --listen 127.0.0.1:0
# b, e and f take turns for METRICS_ROUNDS rounds (b e f, f e b, b e f,
# ...): the run-to-run spread on a 2-core machine is larger than the cost of
# metrics, so e/b and f/b are medians of the rounds' ratios. The table shows
# round 1.
bench_f() {
  LOADGEN_EXTRA=(--tls-ca "$TMP/ca.crt" --token "$BENCH_TOKEN")
  bench_server "$1" memory+tls+auth "$SERVER" --config "$TMP/memory-tls-auth.yml"
  LOADGEN_EXTRA=()
}
for ((round = 1; round <= METRICS_ROUNDS; round++)); do
  suffix=$([[ $round == 1 ]] || echo "$round")
  if ((round % 2 == 1)); then
    bench_server "b$suffix" memory "$SERVER" --config "$TMP/memory.yml"
    bench_server "e$suffix" memory+metrics "$SERVER" --config "$TMP/memory-metrics.yml"
    bench_f "f$suffix"
  else
    bench_f "f$suffix"
    bench_server "e$suffix" memory+metrics "$SERVER" --config "$TMP/memory-metrics.yml"
    bench_server "b$suffix" memory "$SERVER" --config "$TMP/memory.yml"
  fi
done
rcli flushall >/dev/null
bench_server c redis "$SERVER" --config "$TMP/redis.yml"
DBSIZE_AFTER_C=$(rcli dbsize)
# k: the same server on a 3-master cluster (its own redis-servers), then
# the exactness rule on it.
if start_redis_cluster 3; then
  write_config "$TMP/cluster.yml" "{backend: redis-cluster, redis_cluster: {nodes: [$CLUSTER_NODES], connections: $SERVER_REDIS_CONNECTIONS}}"
  SAVED_REDIS_PID=$REDIS_PID
  REDIS_PID="${CLUSTER_PIDS[*]}"  # PEERS: the cluster's processes
  bench_server k redis-cluster "$SERVER" --config "$TMP/cluster.yml"
  LOADGEN_EXTRA=("${EXACT[@]}")
  bench_server kx redis-cluster-exact "$SERVER" --config "$TMP/cluster.yml"
  LOADGEN_EXTRA=()
  REDIS_PID=$SAVED_REDIS_PID
  for pid in "${CLUSTER_PIDS[@]}"; do stop_pid "$pid"; done
else
  for id in k kx; do STATUS[$id]="unavailable: cannot start the redis cluster ($(tail -n 2 "$TMP/cluster-create.log" | tr '\n' ' '))"; done
fi
rcli flushall >/dev/null
PEERS=("$REDIS_PID")
run_loadgen d --mode redis --redis-url "$REDIS_URL" --redis-connections "$REDIS_CONNECTIONS" \
  --capacity "$CAPACITY" --window-s "$WINDOW_S" --label lua-direct
DBSIZE_AFTER_D=$(rcli dbsize)
rcli flushall >/dev/null
run_loadgen dx --mode redis --redis-url "$REDIS_URL" --redis-connections "$REDIS_CONNECTIONS" \
  --capacity "$EXACT_CAPACITY" --window-s "$EXACT_WINDOW_S" --label lua-direct-exact "${EXACT[@]}"

# g: the peer, on the same rule (points = capacity per window; a fixed
# window, see bench/peer_load.js), spread, hot, then the exactness rule.
if $PEER_OK; then
  GEN=(node "$PEER_JS")
  for row in "g --label peer" "gh --label peer-hot --keys 1"; do
    rcli flushall >/dev/null
    # shellcheck disable=SC2086
    run_loadgen ${row%% *} --redis-url "$REDIS_URL" --connections "$REDIS_CONNECTIONS" \
      --points "$CAPACITY" --window-s "$WINDOW_S" ${row#* }
  done
  rcli flushall >/dev/null
  run_loadgen gx --redis-url "$REDIS_URL" --connections "$REDIS_CONNECTIONS" \
    --points "$EXACT_CAPACITY" --window-s "$EXACT_WINDOW_S" --label peer-exact "${EXACT[@]}"
  GEN=("$LOADGEN")
else
  for id in g gh gx; do STATUS[$id]="unavailable: node/npm/rate-limiter-flexible not installed"; done
fi

# s, ss, sl: the C++ SDK against the Redis-backed server, unary, stream and
# leases: spread, hot, exactness. c's exactness run (gRPC, cx) uses a server
# of its own, like every row.
for sdk in "s sdk-unary --transport unary" "ss sdk-stream --transport stream" \
           "sl sdk-lease --transport stream --lease-max-permits $LEASE_MAX_PERMITS --lease-ttl-ms 1000"; do
  read -r sid sname sflags <<<"$sdk"
  # shellcheck disable=SC2206  # sflags: several flags
  GEN_MODE=(--mode sdk --channels "$CHANNELS" $sflags)
  EXTRA_RUNS="${sid}h $sname-hot --keys 1
${sid}x $sname-exact ${EXACT[*]}"
  rcli flushall >/dev/null
  bench_server "$sid" "$sname" "$SERVER" --config "$TMP/redis.yml"
done
GEN_MODE=("${GRPC[@]}")
EXTRA_RUNS=''
rcli flushall >/dev/null
LOADGEN_EXTRA=("${EXACT[@]}")
bench_server cx redis-exact "$SERVER" --config "$TMP/redis.yml"
LOADGEN_EXTRA=()

# ---- memory per bucket ---------------------------------------------------------
# A bucket taken with cost 1 out of 100,000,000 per 600 s is full again (and
# expires) after 6 µs, so after a run almost nothing is left. To measure a bucket, drain
# KEYS buckets completely through the same script (cost = capacity: each lives
# for the whole window), then ask Redis.
rcli flushall >/dev/null
MEM_BEFORE=$(rcli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
"$LOADGEN" --mode redis --redis-url "$REDIS_URL" --concurrency 16 --warmup-s 0 \
  --duration-s 1 --keys "$KEYS" --cost "$CAPACITY" --capacity "$CAPACITY" \
  --window-s "$WINDOW_S" --operation "$OPERATION" --label fill >/dev/null 2>&1 || true
MEM_AFTER=$(rcli info memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
BUCKETS=$(rcli dbsize)
MEM_SUM=0 MEM_N=0
SAMPLE_KEYS=$(rcli scan 0 match "cb:v2:bucket:{$OPERATION:*}" count 1000 | tail -n +2 | head -n 50 || true)
for key in $SAMPLE_KEYS; do
  m=$(rcli memory usage "$key" samples 0)
  [[ $m =~ ^[0-9]+$ ]] || continue
  MEM_SUM=$((MEM_SUM + m)); MEM_N=$((MEM_N + 1))
done
SAMPLE_KEY=$(head -n 1 <<<"$SAMPLE_KEYS")
SAMPLE_TTL=$([[ -n $SAMPLE_KEY ]] && rcli pttl "$SAMPLE_KEY" || echo '?')

# ---- report ------------------------------------------------------------------
field() { jq -r ".$2" <<<"${RESULT[$1]}"; }
echo
printf '%-3s %-16s %12s %10s %10s %10s %8s %8s %10s\n' "" contender "req/s" "p50 us" "p99 us" "p999 us" errors refused "other-cpu"
declare -A NAME=([a]=noop [b]=memory [e]=memory+metrics [f]=memory+tls+auth [c]=redis [k]=redis-cluster
                 [d]=lua-direct [g]=peer [gh]=peer-hot [s]=sdk-unary [sh]=sdk-unary-hot
                 [ss]=sdk-stream [ssh]=sdk-stream-hot [sl]=sdk-lease [slh]=sdk-lease-hot)
for id in a b e f c k d g gh s sh ss ssh sl slh; do
  name=${NAME[$id]}
  if [[ ${STATUS[$id]} == ok ]]; then
    printf '%-3s %-16s %12.0f %10.1f %10.1f %10.1f %8s %8s %10s\n' "$id" "$name" \
      "$(field $id rps)" "$(field $id p50_us)" "$(field $id p99_us)" "$(field $id p999_us)" \
      "$(field $id errors)" "$(field $id refused)" "${OTHER_CPU[$id]}"
  else
    printf '%-3s %-16s %s\n' "$id" "$name" "${STATUS[$id]}"
  fi
done

ratio() {  # ratio X Y: throughput X / Y, or n/a
  if [[ ${STATUS[$1]-} == ok && ${STATUS[$2]-} == ok ]]; then
    awk -v x="$(field "$1" rps)" -v y="$(field "$2" rps)" 'BEGIN { if (y > 0) printf "%.3f", x / y; else print "n/a" }'
  else
    echo n/a
  fi
}
echo "other-cpu: share of the machine used by processes other than the contender's"
echo "during its run (builds, tests...); above a few % the figures are disturbed."
echo
echo "b/a = $(ratio b a)   (target >= 0.85)"
# round_ratios X: the ratios X<round>/b<round> of every round.
round_ratios() {
  local round suffix
  for ((round = 1; round <= METRICS_ROUNDS; round++)); do
    suffix=$([[ $round == 1 ]] || echo "$round")
    ratio "$1$suffix" "b$suffix"
    echo
  done
}
median() {
  grep -v n/a | sort -n |
    awk '{v[NR] = $1} END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2];
                            else printf "%.3f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ROUND_RATIOS=($(round_ratios e))
echo "e/b = $(printf '%s\n' "${ROUND_RATIOS[@]}" | median)   (metrics on / off, memory store," \
     "median of ${METRICS_ROUNDS} rounds: ${ROUND_RATIOS[*]}; target >= 0.95)"
echo "  the counting alone, without gRPC (bench/metrics_cost: RateLimiter on a MemoryStore, 2 threads):"
"$BUILD_DIR/bench/metrics_cost" --threads 2 --seconds 2 --rounds 5 | tail -n 1 | sed 's/^/  /'
TLS_RATIOS=($(round_ratios f))
echo "f/b = $(printf '%s\n' "${TLS_RATIOS[@]}" | median)   (TLS + tokens / plaintext, memory store," \
     "median of ${METRICS_ROUNDS} rounds: ${TLS_RATIOS[*]})"
echo "  the token check alone, without gRPC (bench/auth_cost: Authorize + a tenant's bucket, 2 threads):"
"$BUILD_DIR/bench/auth_cost" --threads 2 --seconds 2 --rounds 5 | tail -n 1 | sed 's/^/  /'
echo "c/a = $(ratio c a)   (target >= 0.60)"
echo "c/d = $(ratio c d)"
echo "k/c = $(ratio k c)   (redis-cluster, 3 masters / one Redis, all on these $(nproc) CPUs)"
if [[ ${STATUS[c]} == ok ]]; then
  echo "p99(c) = $(awk -v u="$(field c p99_us)" 'BEGIN { printf "%.3f", u / 1000 }') ms   (target <= 2 ms)"
else
  echo "p99(c) = n/a"
fi
if ((MEM_N > 0)); then
  echo "redis bucket: MEMORY USAGE $((MEM_SUM / MEM_N)) bytes (mean of $MEM_N keys, SAMPLES 0; target <= 120);" \
       "used_memory delta $(((MEM_AFTER - MEM_BEFORE) / (BUCKETS > 0 ? BUCKETS : 1))) bytes/bucket over $BUCKETS drained buckets (PTTL ${SAMPLE_TTL} ms)"
else
  echo "redis bucket: not measured (no bucket keys after the fill run)"
fi
echo "redis DBSIZE: after c ${DBSIZE_AFTER_C}, after d ${DBSIZE_AFTER_D} (buckets expire once full again), after the fill $BUCKETS"
echo "s/g  = $(ratio s g)   (sdk-unary / peer, $KEYS keys)"
echo "sh/gh = $(ratio sh gh)   (sdk-unary / peer, hot key)"
echo "ss/g  = $(ratio ss g)   (sdk-stream / peer, $KEYS keys; target >= 1.5)"
echo "ssh/gh = $(ratio ssh gh)   (sdk-stream / peer, hot key)"
echo "sl/g  = $(ratio sl g)   (sdk-lease / peer, $KEYS keys)"
echo "slh/gh = $(ratio slh gh)   (sdk-lease / peer, hot key; target >= 3)"

# ---- exactness -----------------------------------------------------------------
# Allowed answers over the whole run (allowed_all) against the most the rule
# admits in the measured elapsed time (elapsed_s, from the generator's start
# to its last answer, which contains every moment the store saw a call):
#   GCRA (CrossBridge, lua-direct): capacity + floor(elapsed * capacity / window)
#   fixed window (peer):            points * (floor(elapsed / window) + 1)
echo
echo "exactness: capacity $EXACT_CAPACITY per ${EXACT_WINDOW_S}s, one hot key, ${EXACT_S}s, concurrency $CONCURRENCY"
printf '    %-18s %10s %10s %10s %10s  %s\n' contender allowed bound elapsed_s answers verdict
EXACT_FAILED=0
for id in cx kx dx gx sx ssx slx; do
  case $id in cx) name=redis kind=gcra;; kx) name=redis-cluster kind=gcra;; dx) name=lua-direct kind=gcra;;
              gx) name=peer kind=fixed;; sx) name=sdk-unary kind=gcra;;
              ssx) name=sdk-stream kind=gcra;; slx) name=sdk-lease kind=gcra;; esac
  if [[ ${STATUS[$id]-} != ok ]]; then
    printf '    %-18s %s\n' "$name" "not measured: ${STATUS[$id]-not run}"
    continue
  fi
  allowed=$(field $id allowed_all) elapsed=$(field $id elapsed_s) answers=$(field $id requests)
  bound=$(awk -v c="$EXACT_CAPACITY" -v w="$EXACT_WINDOW_S" -v t="$elapsed" -v k="$kind" \
    'BEGIN { if (k == "gcra") printf "%d", c + int(t * c / w); else printf "%d", c * (int(t / w) + 1) }')
  verdict=ok
  if ((allowed > bound)); then verdict="OVER THE RULE"; EXACT_FAILED=1; fi
  # Nothing allowed: the contender is broken (every call an error), not exact.
  ((allowed > 0)) || { verdict="NO PERMIT ALLOWED (broken contender)"; EXACT_FAILED=1; }
  printf '    %-18s %10s %10s %10.3f %10s  %s\n' "$name" "$allowed" "$bound" "$elapsed" "$answers" "$verdict"
done
echo "(answers: those inside the measured window; allowed counts every answer of the run)"
if ((EXACT_FAILED)); then
  echo "bench: a contender admitted more than its rule allows, or none at all" >&2
  exit 1
fi
