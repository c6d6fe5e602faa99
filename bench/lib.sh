# Shared by bench/run.sh and bench/soak.sh (sourced, not run): a temporary
# folder, bookkeeping of every process started (all stopped on exit), and
# starting crossbridge-server and redis-server on loopback.
#
#   start_server NAME CMD...   sets SERVER_PID, SERVER_ADDR (or SERVER_ERR)
#   start_redis [PORT]         sets REDIS_PORT, REDIS_PID; a free port unless
#                              PORT is given (to restart on the same one)
#   start_redis_cluster N      N masters, no replicas (cluster-enabled, each
#                              on a free port whose bus port +10000 is free
#                              too), joined by redis-cli --cluster create;
#                              sets CLUSTER_NODES ("h:p, h:p, ...") and
#                              CLUSTER_PIDS
#   stop_pid PID               TERM, then KILL after 5 s

# The configs a script writes are the whole truth: no CROSSBRIDGE_* override
# from the caller's environment reaches the servers.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^CROSSBRIDGE_' || true)

TMP=$(mktemp -d -t crossbridge-bench.XXXXXX)
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops one process started here and forgets it.
stop_pid() {
  local pid=$1 keep=() p
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

# start_server NAME CMD...: starts CMD, waits for its CROSSBRIDGE_LISTENING
# line. Sets SERVER_PID and SERVER_ADDR, or SERVER_ERR and returns 1.
start_server() {
  local name=$1; shift
  SERVER_PID='' SERVER_ADDR='' SERVER_ERR=''
  : >"$TMP/$name.out"
  "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 100); do
    if SERVER_ADDR=$(awk '/^CROSSBRIDGE_LISTENING /{print $2; exit}' "$TMP/$name.out") &&
       [[ -n $SERVER_ADDR ]]; then
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      wait "$SERVER_PID" 2>/dev/null || true
      SERVER_ERR=$(grep -v '^[[:space:]]*$' "$TMP/$name.err" | head -n 3 | tr '\n' ' ')
      SERVER_ERR=${SERVER_ERR:-exited without a LISTENING line}
      stop_pid "$SERVER_PID"
      return 1
    fi
    sleep 0.1
  done
  SERVER_ERR="no LISTENING line within 10 s"
  stop_pid "$SERVER_PID"
  return 1
}

start_redis() {
  local want=${1:-} port tries=10
  REDIS_PID=''
  [[ -n $want ]] && tries=50
  for _ in $(seq "$tries"); do
    port=${want:-$((20000 + RANDOM % 40000))}
    if ss -Htln "sport = :$port" | grep -q .; then
      [[ -n $want ]] && { sleep 0.1; continue; }
      continue
    fi
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --protected-mode yes --dir "$TMP" --logfile "$TMP/redis.log" &
    REDIS_PID=$!
    PIDS+=("$REDIS_PID")
    for _ in $(seq 50); do
      if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]]; then
        REDIS_PORT=$port
        return 0
      fi
      kill -0 "$REDIS_PID" 2>/dev/null || break
      sleep 0.1
    done
    stop_pid "$REDIS_PID"
  done
  return 1
}

start_redis_cluster() {
  local n=$1 port pid i addrs=()
  CLUSTER_PIDS=() CLUSTER_NODES=''
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 20); do
      port=$((20000 + RANDOM % 32000))
      ss -Htln "sport = :$port" | grep -q . && continue
      ss -Htln "sport = :$((port + 10000))" | grep -q . && continue
      break
    done
    mkdir -p "$TMP/cluster-$port"
    redis-server --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
      --dir "$TMP/cluster-$port" --logfile "$TMP/cluster-$port/redis.log" &
    pid=$!
    PIDS+=("$pid")
    CLUSTER_PIDS+=("$pid")
    for _ in $(seq 50); do
      [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] && break
      sleep 0.1
    done
    addrs+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$TMP/cluster-create.log" 2>&1 ||
    return 1
  for _ in $(seq 100); do
    local ok=1 a
    for a in "${addrs[@]}"; do
      redis-cli -h 127.0.0.1 -p "${a##*:}" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || ok=0
    done
    ((ok)) && { CLUSTER_NODES=$(printf '"%s", ' "${addrs[@]}"); CLUSTER_NODES=${CLUSTER_NODES%, }; return 0; }
    sleep 0.1
  done
  return 1
}
