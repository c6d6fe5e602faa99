#!/usr/bin/env bash
# Checks the Grafana dashboard and the Prometheus alerting rules under
# charts/crossbridge/:
#   - promtool check rules  alerts/crossbridge-rules.yml
#   - promtool test rules   alerts/crossbridge-rules.test.yml
#   - dashboards/crossbridge.json with jq: valid JSON; a templating variable
#     `datasource` of type datasource; each expected panel title exactly once;
#     every panel has targets, each with a non-empty expr; every panel (and
#     target) datasource uid is "${datasource}"; every expr uses $instance
#     and $job when those variables exist; rate windows are $__rate_interval.
# Every problem is reported (one line each, naming the file and the panel),
# then the script exits 1. A missing promtool or jq is a failure too:
# scripts/install-deps.sh installs them (Debian: prometheus, jq).
#   tests/charts/check_dashboard_and_alerts.sh [REPO_ROOT]
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
charts="$root/charts/crossbridge"
rules="$charts/alerts/crossbridge-rules.yml"
rule_tests="$charts/alerts/crossbridge-rules.test.yml"
dashboard="$charts/dashboards/crossbridge.json"

titles=(
  "Admissions per second"
  "Refusal ratio"
  "Store up and fallbacks"
  "Store latency p50/p99"
  "Retry decisions by reason"
  "Retry budget tokens"
  "Dependency status"
  "gRPC p99 by method"
  "Config reloads"
)

for tool in promtool jq; do
  if ! command -v "$tool" > /dev/null; then
    echo "check_dashboard_and_alerts: FAIL: $tool not found (scripts/install-deps.sh installs it)" >&2
    exit 1
  fi
done

failures=()
fail() { failures+=("$1"); echo "FAIL: $1" >&2; }

for f in "$rules" "$rule_tests" "$dashboard"; do
  [ -f "$f" ] || fail "$f: missing"
done

# --- Alerting rules -----------------------------------------------------------
if [ -f "$rules" ]; then
  if out=$(promtool check rules "$rules" 2>&1); then
    echo "ok: promtool check rules $rules"
  else
    echo "$out" >&2
    fail "$rules: promtool check rules failed (output above)"
  fi
fi
if [ -f "$rule_tests" ] && [ -f "$rules" ]; then
  if out=$(promtool test rules "$rule_tests" 2>&1); then
    echo "ok: promtool test rules $rule_tests"
  else
    echo "$out" >&2
    fail "$rule_tests: promtool test rules failed (output above)"
  fi
fi

# --- Dashboard ----------------------------------------------------------------
# Panels, rows' nested panels included; rows themselves hold no queries.
panels='[.panels[]? | if .type == "row" then (.panels // [])[] else . end]'

if [ -f "$dashboard" ]; then
  if ! err=$(jq empty "$dashboard" 2>&1); then
    fail "$dashboard: not valid JSON: $err"
  else
    if ! jq -e '.templating.list[]? | select(.name == "datasource" and .type == "datasource")' \
        "$dashboard" > /dev/null; then
      fail "$dashboard: no templating variable named \"datasource\" of type \"datasource\""
    elif ! jq -e '.templating.list[] | select(.name == "datasource") | .query == "prometheus"' \
        "$dashboard" > /dev/null; then
      fail "$dashboard: templating variable \"datasource\" does not have query \"prometheus\""
    fi

    for title in "${titles[@]}"; do
      n=$(jq --arg t "$title" "$panels | map(select(.title == \$t)) | length" "$dashboard")
      if [ "$n" -eq 0 ]; then
        fail "$dashboard: no panel titled \"$title\""
      elif [ "$n" -gt 1 ]; then
        fail "$dashboard: $n panels titled \"$title\" (expected one)"
      fi
    done

    # One line per problem, each naming its panel.
    problems=$(jq -r "$panels"' | .[] | select(.type != "row") |
      (.title // "(untitled panel id \(.id))") as $t |
      (if ((.targets // []) | length) == 0 then "panel \"\($t)\": no targets" else empty end),
      (.targets // [] | .[] |
        if ((.expr // "") | type) != "string" or ((.expr // "") | test("^\\s*$"))
        then "panel \"\($t)\": target \(.refId // "?") has an empty expr" else empty end),
      (if (.datasource | type) != "object" or .datasource.uid != "${datasource}"
       then "panel \"\($t)\": datasource uid is \(.datasource.uid // .datasource | tojson), expected \"${datasource}\""
       else empty end),
      (if (.datasource | type) == "object" and .datasource.type != "prometheus"
       then "panel \"\($t)\": datasource type is \(.datasource.type | tojson), expected \"prometheus\""
       else empty end),
      (.targets // [] | .[] | select(has("datasource")) |
        if (.datasource | type) != "object" or .datasource.uid != "${datasource}"
        then "panel \"\($t)\": target \(.refId // "?") datasource uid is \(.datasource.uid // .datasource | tojson), expected \"${datasource}\""
        else empty end)' "$dashboard")
    while IFS= read -r line; do
      [ -n "$line" ] && fail "$dashboard: $line"
    done <<< "$problems"

    # Every query honours the instance/job selectors the dashboard offers,
    # and rate windows follow the scrape interval.
    for var in instance job; do
      if jq -e --arg v "$var" '.templating.list[]? | select(.name == $v)' "$dashboard" > /dev/null; then
        missing=$(jq -r --arg v "$var" "$panels"' | .[] | select(.type != "row") | .title as $t |
          .targets // [] | .[] | select((.expr // "") | test("\\$\\{?" + $v + "\\b") | not) |
          "panel \"\($t)\": target \(.refId // "?") does not use $\($v)"' "$dashboard")
        while IFS= read -r line; do
          [ -n "$line" ] && fail "$dashboard: $line"
        done <<< "$missing"
      fi
    done
    fixed=$(jq -r "$panels"' | .[] | select(.type != "row") | .title as $t |
      .targets // [] | .[] | select((.expr // "") | test("\\[[0-9]+[smhdwy]\\]")) |
      "panel \"\($t)\": target \(.refId // "?") uses a fixed rate window; use [$__rate_interval]"' "$dashboard")
    while IFS= read -r line; do
      [ -n "$line" ] && fail "$dashboard: $line"
    done <<< "$fixed"

    [ ${#failures[@]} -eq 0 ] && echo "ok: $dashboard (${#titles[@]} panels checked)"
  fi
fi

if [ ${#failures[@]} -gt 0 ]; then
  echo "check_dashboard_and_alerts: ${#failures[@]} problem(s):" >&2
  printf '  %s\n' "${failures[@]}" >&2
  exit 1
fi
echo "check_dashboard_and_alerts: all checks passed"
