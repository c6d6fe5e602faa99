#!/usr/bin/env bash
# Prints every query of the CrossBridge Grafana dashboard as plain PromQL,
# one per line, for sending to Prometheus's /api/v1/query: Grafana's
# $__rate_interval / $__interval / $__range become 1m, the $job and
# $instance variables (any other dashboard variable too) become .*, and a
# multi-line expr is joined into one line.
#   tests/charts/dashboard_queries.sh [REPO_ROOT]
set -euo pipefail

root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
dashboard="$root/charts/crossbridge/dashboards/crossbridge.json"
[ -f "$dashboard" ] || { echo "dashboard_queries: $dashboard: missing" >&2; exit 1; }

jq -r '
  [.panels[]? | if .type == "row" then (.panels // [])[] else . end]
  | .[] | .targets // [] | .[] | .expr // empty
  | select(test("\\S"))
  | gsub("\\s*\\n\\s*"; " ")
  | gsub("\\$\\{?__(rate_interval|interval|range)\\}?"; "1m")
  | gsub("\\$\\{[A-Za-z_][A-Za-z0-9_]*(:[A-Za-z]+)?\\}|\\$[A-Za-z_][A-Za-z0-9_]*"; ".*")
' "$dashboard"
