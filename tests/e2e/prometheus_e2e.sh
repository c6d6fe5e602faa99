#!/usr/bin/env bash
# End-to-end check of the metrics contract with a real Prometheus:
#   - starts crossbridge-server (in-process store; operation embed with
#     capacity 7 per 3600 s) and a Prometheus 2.x that scrapes its /metrics
#     every second, both on 127.0.0.1 only;
#   - sends known traffic with crossbridge-cli: 10 acquires on embed/user:1,
#     which must be 7 allowed and 3 refused (CLI output and exit codes);
#   - asserts through Prometheus's /api/v1/query that
#       crossbridge_permit_requests_total{operation="embed",result="allowed"} == 7
#       crossbridge_permit_requests_total{operation="embed",result="refused"} == 3
#       crossbridge_permits_granted_total{operation="embed"}                 == 7
#       crossbridge_grpc_requests_total{method=".../AcquirePermit",code="OK"} == 10
#       crossbridge_build_info == 1, up{job="crossbridge"} == 1;
#   - evaluates every Grafana panel query of charts/crossbridge/dashboards/
#     crossbridge.json (the PromQL printed by tests/charts/dashboard_queries.sh:
#     $__rate_interval -> 1m, $job/$instance -> .*): each must parse and
#     evaluate ("status":"success"), and the queries of the panels
#     "Admissions per second", "Store up and fallbacks" and
#     "gRPC p99 by method" must return data;
#   - runs `promtool check metrics` on the server's /metrics text: it must
#     exit 0 and print nothing.
# Every wait is bounded (30 s each, 90 s in all); a run takes ~15 s, most of
# it waiting for Prometheus's first scrape (~5 s after start) and for a few
# scrapes after the traffic.
# Exits 0 and prints a PASS summary, or prints what it expected and what it
# got, the server's stderr and Prometheus's log tail, and exits 1 (also when
# prometheus, promtool, curl or jq is missing: scripts/install-deps.sh
# installs them).
#   tests/e2e/prometheus_e2e.sh REPO_ROOT CROSSBRIDGE_SERVER CROSSBRIDGE_CLI
set -Eeuo pipefail

if [ $# -ne 3 ]; then
  echo "usage: $0 REPO_ROOT CROSSBRIDGE_SERVER CROSSBRIDGE_CLI" >&2
  exit 2
fi
root=$1
server_bin=$2
cli_bin=$3

# The traffic and what it must produce.
readonly CAPACITY=7
readonly REQUESTS=10
readonly EXPECT_ALLOWED=7
readonly EXPECT_REFUSED=3
readonly GRPC_METHOD="crossbridge.v1.RateLimiter/AcquirePermit"
# Panels whose every query must return at least one series.
readonly NONEMPTY_PANELS=("Admissions per second" "Store up and fallbacks" "gRPC p99 by method")
readonly WAIT_SECONDS=30   # bound of each wait below...
readonly TOTAL_SECONDS=90  # ...and of all of them together

for tool in prometheus promtool curl jq; do
  if ! command -v "$tool" > /dev/null; then
    echo "prometheus_e2e: FAIL: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
done
for bin in "$server_bin" "$cli_bin"; do
  [ -x "$bin" ] || { echo "prometheus_e2e: FAIL: $bin: not an executable" >&2; exit 1; }
done
dashboard="$root/charts/crossbridge/dashboards/crossbridge.json"
dashboard_queries="$root/tests/charts/dashboard_queries.sh"
for f in "$dashboard" "$dashboard_queries"; do
  [ -f "$f" ] || { echo "prometheus_e2e: FAIL: $f: missing" >&2; exit 1; }
done

started=$(date +%s)
total_deadline=$((SECONDS + TOTAL_SECONDS))
wait_deadline() {  # now + WAIT_SECONDS, but not past the overall deadline
  local d=$((SECONDS + WAIT_SECONDS))
  echo $((d < total_deadline ? d : total_deadline))
}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/crossbridge-prometheus-e2e.XXXXXX")
server_pid=""
prom_pid=""

stop_process() {  # PID: SIGTERM, up to 5 s, then SIGKILL; reaps it
  local pid=$1 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2> /dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT ERR
  set +e
  stop_process "$prom_pid"
  stop_process "$server_pid"
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "prometheus_e2e: FAIL: interrupted" >&2; exit 1' INT TERM HUP

show() {  # TITLE FILE [LINES]: the file's tail, or (empty)
  echo "--- $1:" >&2
  if [ -s "$2" ]; then tail -n "${3:-40}" "$2" >&2; else echo "(empty)" >&2; fi
}
diagnostics() {
  show "crossbridge-server stdout" "$tmp/server.out"
  show "crossbridge-server stderr (last 40 lines)" "$tmp/server.err"
  show "prometheus log (last 40 lines)" "$tmp/prometheus.log"
}
fail() {  # MESSAGE [EXPECTED GOT]
  echo "prometheus_e2e: FAIL: $1" >&2
  if [ $# -ge 3 ]; then
    echo "  expected: $2" >&2
    echo "  got:      $3" >&2
  fi
  diagnostics
  exit 1
}
trap 'fail "unexpected error: line $LINENO: $BASH_COMMAND (exit $?)"' ERR

# --- crossbridge-server -------------------------------------------------------
# drain_grace_seconds 0: no 2 s of serving NOT_SERVING at the SIGTERM of the
# teardown.
cat > "$tmp/crossbridge.yml" << EOF
server: {listen_address: 127.0.0.1:0, metrics_listen_address: 127.0.0.1:0, drain_grace_seconds: 0}
logging: {level: warn}
runtime:
  rate_limiting:
    defaults:
      embed: {capacity: $CAPACITY, window_seconds: 3600}
  health_checks: {enabled: false}
EOF
"$server_bin" --config "$tmp/crossbridge.yml" > "$tmp/server.out" 2> "$tmp/server.err" &
server_pid=$!

grpc_addr=""
metrics_addr=""
deadline=$(wait_deadline)
while :; do
  # Both from one read of the file, complete lines only (the server may be
  # writing it).
  listening=$(cat "$tmp/server.out"; echo .)
  listening=${listening%.}
  if [[ $listening == *$'\n'* ]]; then listening=${listening%$'\n'*}; else listening=""; fi
  grpc_addr=$(awk '$1 == "CROSSBRIDGE_LISTENING" {print $2; exit}' <<< "$listening")
  metrics_addr=$(awk '$1 == "CROSSBRIDGE_METRICS_LISTENING" {print $2; exit}' <<< "$listening")
  [ -n "$grpc_addr" ] && [ -n "$metrics_addr" ] && break
  kill -0 "$server_pid" 2> /dev/null || fail "crossbridge-server exited before listening"
  ((SECONDS < deadline)) ||
    fail "crossbridge-server did not print its addresses in time (${WAIT_SECONDS}s a wait, ${TOTAL_SECONDS}s in all)" \
      "CROSSBRIDGE_LISTENING and CROSSBRIDGE_METRICS_LISTENING lines" "$(tr '\n' '|' < "$tmp/server.out")"
  sleep 0.1
done
case "$grpc_addr/$metrics_addr" in
  127.0.0.1:[0-9]*/127.0.0.1:[0-9]*) ;;
  *) fail "server addresses are not 127.0.0.1:PORT" "127.0.0.1:PORT twice" "$grpc_addr $metrics_addr" ;;
esac

# --- Prometheus ---------------------------------------------------------------
cat > "$tmp/prometheus.yml" << EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: crossbridge
    static_configs:
      - targets: ['$metrics_addr']
EOF
promtool check config "$tmp/prometheus.yml" > "$tmp/promtool-config.out" 2>&1 ||
  fail "promtool check config rejects the generated prometheus.yml" "valid config" "$(cat "$tmp/promtool-config.out")"

port_in_use() { (: < "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
free_port() {  # a loopback port nothing listens on, from a random start in 20000-40000
  local start=$((20000 + RANDOM % 20000)) i p
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + (start - 20000 + i) % 20001))
    if ! port_in_use "$p"; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Another process may take the chosen port before Prometheus binds it: then
# Prometheus exits, and another port is tried (3 attempts).
prom_port=""
for attempt in 1 2 3; do
  p=$(free_port) || fail "no free loopback port in 20000-40000"
  : > "$tmp/prometheus.log"
  prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/data" \
    --web.listen-address="127.0.0.1:$p" --log.level=warn > "$tmp/prometheus.log" 2>&1 &
  prom_pid=$!
  deadline=$(wait_deadline)
  while ((SECONDS < deadline)); do
    if ! kill -0 "$prom_pid" 2> /dev/null; then
      wait "$prom_pid" 2> /dev/null || true
      prom_pid=""
      break
    fi
    if curl -fsS --max-time 2 "http://127.0.0.1:$p/-/ready" > /dev/null 2>&1; then
      prom_port=$p
      break
    fi
    sleep 0.2
  done
  [ -n "$prom_port" ] && break
  [ -z "$prom_pid" ] || fail "prometheus on 127.0.0.1:$p not ready in time (${WAIT_SECONDS}s a wait, ${TOTAL_SECONDS}s in all)" \
    "GET /-/ready answering 200" "$(curl -sS --max-time 2 "http://127.0.0.1:$p/-/ready" 2>&1 || true)"
  echo "prometheus_e2e: prometheus exited at start (attempt $attempt, port $p); retrying" >&2
  tail -n 5 "$tmp/prometheus.log" >&2 || true
done
[ -n "$prom_port" ] || fail "prometheus did not start in 3 attempts"
prom="http://127.0.0.1:$prom_port"

query() {  # EXPR: prints Prometheus's JSON answer (at the current time)
  curl -sS --max-time 5 "$prom/api/v1/query" --data-urlencode "query=$1"
}
value_of() {  # EXPR: the single sample's value, else a description of the answer
  query "$1" | jq -r '
    if .status != "success" then "error: \(.errorType // "") \(.error // "")"
    elif (.data.result | length) == 1 then .data.result[0].value[1]
    else "\(.data.result | length) series: \(.data.result | map(.metric) | tojson)" end' ||
    echo "no answer"
}

# One scrape before the traffic, so rate() sees the counters go up.
deadline=$(wait_deadline)
until [ "$(value_of 'up{job="crossbridge"}')" = 1 ]; do
  ((SECONDS < deadline)) ||
    fail "prometheus did not scrape crossbridge-server in time (${WAIT_SECONDS}s a wait, ${TOTAL_SECONDS}s in all)" \
      'up{job="crossbridge"} == 1' "$(value_of 'up{job="crossbridge"}'); targets: $(curl -sS --max-time 5 "$prom/api/v1/targets" | jq -c '[.data.activeTargets[] | {scrapeUrl, health, lastError}]' 2>&1)"
  sleep 0.2
done

# --- Traffic ------------------------------------------------------------------
allowed=0
refused=0
cli_log=""
for ((i = 1; i <= REQUESTS; i++)); do
  rc=0
  out=$("$cli_bin" --target "$grpc_addr" --timeout-ms 5000 acquire --operation embed --key user:1 2>&1) || rc=$?
  cli_log+="#$i rc=$rc: $out"$'\n'
  case "$rc/$out" in
    0/allowed*) allowed=$((allowed + 1)) ;;
    1/refused*) refused=$((refused + 1)) ;;
    *) fail "crossbridge-cli acquire #$i: unexpected answer" \
      "'allowed ...' with exit 0 or 'refused ...' with exit 1" "exit $rc: $out" ;;
  esac
  # The first CAPACITY are allowed, the rest refused, in that order.
  if { ((i <= CAPACITY)) && ((rc != 0)); } || { ((i > CAPACITY)) && ((rc != 1)); }; then
    fail "crossbridge-cli acquire #$i answered out of order (capacity $CAPACITY)" \
      "$([ "$i" -le "$CAPACITY" ] && echo allowed || echo refused)" "exit $rc: $out"
  fi
done
[ "$allowed/$refused" = "$EXPECT_ALLOWED/$EXPECT_REFUSED" ] ||
  fail "crossbridge-cli allowed/refused counts" "$EXPECT_ALLOWED/$EXPECT_REFUSED" "$allowed/$refused; output:"$'\n'"$cli_log"
traffic_done=$(date +%s.%N)

# --- Exact values through Prometheus -----------------------------------------
checks=(
  "crossbridge_permit_requests_total{operation=\"embed\",result=\"allowed\"}=$EXPECT_ALLOWED"
  "crossbridge_permit_requests_total{operation=\"embed\",result=\"refused\"}=$EXPECT_REFUSED"
  "crossbridge_permit_requests_total{operation=\"embed\",result=\"error\"}=0"
  "crossbridge_permits_granted_total{operation=\"embed\"}=$EXPECT_ALLOWED"
  "crossbridge_grpc_requests_total{method=\"$GRPC_METHOD\",code=\"OK\"}=$REQUESTS"
  "sum(crossbridge_grpc_requests_total{method=\"$GRPC_METHOD\"})=$REQUESTS"
  "crossbridge_build_info=1"
  "up{job=\"crossbridge\"}=1"
)
deadline=$(wait_deadline)
while :; do
  mismatches=()
  seen=()
  for check in "${checks[@]}"; do
    expr=${check%=*}
    want=${check##*=}
    got=$(value_of "$expr")
    seen+=("$expr = $got")
    [ "$got" = "$want" ] || mismatches+=("$expr: expected $want, got $got")
  done
  ((${#mismatches[@]} == 0)) && break
  if ((SECONDS >= deadline)); then
    printf '  %s\n' "${mismatches[@]}" >&2
    fail "Prometheus values after the traffic (polled ${WAIT_SECONDS}s at most)" \
      "$(printf '%s; ' "${checks[@]}")" "$(printf '%s; ' "${seen[@]}")"
  fi
  sleep 0.5
done
version=$(query 'crossbridge_build_info' | jq -r '.data.result[0].metric.version // ""')
[ -n "$version" ] || fail "crossbridge_build_info has no version label" 'crossbridge_build_info{version="..."}' "$(query crossbridge_build_info)"

# rate() needs two samples in its window after the traffic: wait for a few
# scrapes that started after it.
deadline=$(wait_deadline)
until jq -e --argjson t "$traffic_done" '.data.result[0].value[1] | tonumber >= $t + 3' \
  <<< "$(query 'timestamp(up{job="crossbridge"})')" > /dev/null 2>&1; do
  ((SECONDS < deadline)) ||
    fail "no scrapes 3 s after the traffic in time (${WAIT_SECONDS}s a wait, ${TOTAL_SECONDS}s in all)" \
      "timestamp(up) >= $traffic_done + 3" "$(value_of 'timestamp(up{job="crossbridge"})')"
  sleep 0.5
done

# --- Dashboard panel queries --------------------------------------------------
# Title and expr of every target, with dashboard_queries.sh's substitutions.
jq -r '
  [.panels[]? | if .type == "row" then (.panels // [])[] else . end]
  | .[] | .title as $title | .targets // [] | .[] | .expr // empty
  | select(test("\\S"))
  | gsub("\\s*\\n\\s*"; " ")
  | gsub("\\$\\{?__(rate_interval|interval|range)\\}?"; "1m")
  | gsub("\\$\\{[A-Za-z_][A-Za-z0-9_]*(:[A-Za-z]+)?\\}|\\$[A-Za-z_][A-Za-z0-9_]*"; ".*")
  | "\($title)\u001f\(.)"
' "$dashboard" > "$tmp/panels.txt"
# The exprs must be exactly what dashboard_queries.sh prints.
"$dashboard_queries" "$root" > "$tmp/dashboard_queries.txt" ||
  fail "$dashboard_queries exited non-zero"
cut -d $'\x1f' -f 2- "$tmp/panels.txt" > "$tmp/panel_exprs.txt"
if ! diff "$tmp/dashboard_queries.txt" "$tmp/panel_exprs.txt" > "$tmp/queries.diff"; then
  fail "the title/expr pairing differs from tests/charts/dashboard_queries.sh" \
    "the same PromQL lines" "$(cat "$tmp/queries.diff")"
fi
[ -s "$tmp/panels.txt" ] || fail "no panel queries in $dashboard"

panel_failures=()
panel_summary=()
nonempty_seen=()
while IFS=$'\x1f' read -r title expr; do
  answer=$(query "$expr" || echo '{}')
  # One jq: status, number of series, error.
  IFS=$'\t' read -r status n error < <(jq -r '[.status // "no answer", (.data.result // [] | length),
      "\(.errorType // "") \(.error // "")"] | @tsv' <<< "$answer" 2> /dev/null ||
    printf 'not JSON\t0\t%s\n' "$answer")
  if [ "$status" != success ]; then
    panel_failures+=("[$title] $expr: status $status: $error")
    continue
  fi
  panel_summary+=("[$title] $n series")
  for must in "${NONEMPTY_PANELS[@]}"; do
    if [ "$title" = "$must" ]; then
      nonempty_seen+=("$title")
      ((n > 0)) || panel_failures+=("[$title] $expr: no data (result array empty)")
    fi
  done
  case "$title" in
    "Admissions per second")
      # The embed/allowed and embed/refused rates must be above 0.
      for r in allowed refused; do
        v=$(jq -r --arg r "$r" '[.data.result[] | select(.metric.operation == "embed" and .metric.result == $r) | .value[1]] | first // "missing"' <<< "$answer")
        jq -e -n --arg v "$v" '$v | tonumber > 0' > /dev/null 2>&1 ||
          panel_failures+=("[$title] embed/$r rate: expected > 0, got $v")
        panel_summary+=("  embed/$r rate = $v/s")
      done
      ;;
    "gRPC p99 by method")
      p99=$(jq -r --arg m "$GRPC_METHOD" '[.data.result[] | select(.metric.method == $m) | .value[1]] | first // "missing"' <<< "$answer")
      jq -e -n --arg v "$p99" '$v | tonumber > 0' > /dev/null 2>&1 ||
        panel_failures+=("[$title] $GRPC_METHOD p99: expected a number > 0, got $p99")
      panel_summary+=("  $GRPC_METHOD p99 = ${p99}s")
      ;;
  esac
done < "$tmp/panels.txt"
for must in "${NONEMPTY_PANELS[@]}"; do
  printf '%s\n' "${nonempty_seen[@]}" | grep -Fqx -- "$must" ||
    panel_failures+=("panel \"$must\": not in $dashboard")
done
if ((${#panel_failures[@]} > 0)); then
  printf '  %s\n' "${panel_failures[@]}" >&2
  fail "dashboard panel queries (${#panel_failures[@]} problems above)" \
    "every query status success; data for: ${NONEMPTY_PANELS[*]}" "$(printf '%s; ' "${panel_summary[@]}")"
fi

# --- promtool check metrics ---------------------------------------------------
curl -sS --max-time 5 -o "$tmp/metrics.txt" "http://$metrics_addr/metrics" ||
  fail "GET http://$metrics_addr/metrics failed"
promtool_rc=0
promtool check metrics < "$tmp/metrics.txt" > "$tmp/promtool-metrics.out" 2>&1 || promtool_rc=$?
if ((promtool_rc != 0)) || [ -s "$tmp/promtool-metrics.out" ]; then
  fail "promtool check metrics on /metrics" "exit 0 and no output" \
    "exit $promtool_rc: $(cat "$tmp/promtool-metrics.out")"
fi

# --- Summary ------------------------------------------------------------------
echo "prometheus_e2e: PASS in $(($(date +%s) - started))s (server $grpc_addr, metrics $metrics_addr, prometheus 127.0.0.1:$prom_port)"
echo "  crossbridge-cli: $allowed allowed, $refused refused of $REQUESTS acquires (capacity $CAPACITY)"
printf '  %s\n' "${seen[@]}"
echo "  crossbridge_build_info version=\"$version\""
echo "  dashboard: $(wc -l < "$tmp/panels.txt") panel queries evaluated, all status success"
printf '    %s\n' "${panel_summary[@]}"
echo "  promtool check metrics: clean ($(grep -c '^# TYPE' "$tmp/metrics.txt") families)"
