#!/usr/bin/env bash
# Self-tests of the chart test tooling (ctest: charts.tools):
#   1. chart_tools_setup BUILD_DIR (builds helm-render and yaml2json, npm ci)
#   2. go test of tests/charts/helm_render and tests/charts/yaml2json
#   3. validate.mjs --self-test (a good Deployment passes, known-bad ones fail)
#   4. end to end through chart_tools.sh on helm_render/testdata/fixture:
#      chart_render | chart_to_json | chart_validate accepts the fixture with
#      its 6 objects; and each stage can fail: a schema-breaking -f value
#      makes chart_render fail, bad YAML makes chart_to_json fail, an invalid
#      Deployment makes chart_validate fail.
# Exits non-zero on the first failed step. Needs Go, node/npm and jq
# (scripts/install-deps.sh); the first run downloads the npm packages.
#   tests/charts/check_tools.sh BUILD_DIR SOURCE_DIR
set -euo pipefail

build=${1:?usage: check_tools.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: check_tools.sh BUILD_DIR SOURCE_DIR}
here="$src/tests/charts"
# shellcheck source-path=SCRIPTDIR source=chart_tools.sh
source "$here/chart_tools.sh"

fail() { echo "charts.tools: FAIL: $*" >&2; exit 1; }

echo "== chart_tools_setup $build"
chart_tools_setup "$build"

echo "== go test helm_render yaml2json"
(cd "$here/helm_render" && chart_tools_go test -count=1 .)
(cd "$here/yaml2json" && chart_tools_go test -count=1 .)

echo "== validate.mjs --self-test"
node "$CHART_TOOLS_DIR/kube-validate/validate.mjs" --self-test

echo "== end to end with $(chart_renderer)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fixture="$here/helm_render/testdata/fixture"
values_dir="$here/helm_render/testdata/values"

chart_render "$fixture" -f "$values_dir/override-a.yaml" --release e2e --namespace tools >"$tmp/out.yaml"
chart_to_json <"$tmp/out.yaml" >"$tmp/out.json"
chart_validate "$tmp/out.json"
[[ $(jq length "$tmp/out.json") == 6 ]] || fail "expected 6 objects from the fixture, got $(jq length "$tmp/out.json")"
[[ $(jq -r '.[] | select(.kind == "Deployment") | .spec.replicas' "$tmp/out.json") == 3 ]] ||
  fail "-f override-a.yaml did not set replicas to 3"
[[ $(chart_notes "$fixture" --release e2e --namespace tools) == "Release e2e installed in tools; image example/app" ]] ||
  fail "chart_notes output"

if chart_render "$fixture" -f "$values_dir/bad-replicas.yaml" >/dev/null 2>"$tmp/err"; then
  fail "chart_render accepted replicaCount: two"
fi
grep -q "replicaCount" "$tmp/err" || fail "schema error does not name replicaCount: $(cat "$tmp/err")"

if printf 'a: 1\n---\nb: [unclosed\n' | chart_to_json >/dev/null 2>"$tmp/err"; then
  fail "chart_to_json accepted bad YAML"
fi
grep -q "document 2" "$tmp/err" || fail "yaml2json error does not name document 2: $(cat "$tmp/err")"

jq '(.[] | select(.kind == "Deployment") | .spec.replicas) = "two"' "$tmp/out.json" >"$tmp/bad.json"
if chart_validate "$tmp/bad.json" >"$tmp/bad.out"; then
  fail "chart_validate accepted replicas: \"two\""
fi
grep -q '^invalid Deployment/e2e-fixture: /spec/replicas: must be integer$' "$tmp/bad.out" ||
  fail "chart_validate output: $(cat "$tmp/bad.out")"

echo "charts.tools: all checks passed"
