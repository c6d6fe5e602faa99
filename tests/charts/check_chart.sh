#!/usr/bin/env bash
# shellcheck disable=SC2016 # jq programs and bash -c scripts are single-quoted on purpose
# Tests of the Helm chart charts/crossbridge (ctest: charts.chart), without a
# cluster: rendered with helm (when on PATH) or helm-render via
# chart_tools.sh, validated against the Kubernetes v1.28 and
# prometheus-operator schemas, and checked against the server itself.
#   tests/charts/check_chart.sh BUILD_DIR SOURCE_DIR SERVER_BINARY
# For the default values and tests/charts/values/{redis,tls-auth,all-on}.yaml:
#   - every rendered object is schema-valid (chart_validate);
#   - crossbridge.yml of the ConfigMap passes `SERVER_BINARY --check-config`;
#   - the gRPC probes use the port of server.listen_address (of
#     server.health_listen_address while TLS is on) and the container
#     declares it; Service target ports exist on the container;
#   - the config volume is mounted at /etc/crossbridge as a directory (no
#     subPath anywhere, or hot reload would never see an update);
#   - no Secret is rendered and no password value appears;
#   - terminationGracePeriodSeconds > drain_grace + shutdown_timeout of the
#     rendered config.
# Plus: Secret references (redis env secretKeyRef named like the config's
# password_env; TLS and tokens Secrets projected to the config's paths);
# checksum/config only with hotReload false (and it follows the config); PDB
# by default, none with replicaCount 1; the optional objects absent by
# default and present in all-on (PrometheusRule = alerts/, dashboard =
# dashboards/); HPA on -> no Deployment replicas; Chart version/appVersion =
# project VERSION of SOURCE_DIR/CMakeLists.txt = default image tag, image
# repository ghcr.io/crossbridge/crossbridge-server; NOTES render with
# grpcurl and dns:///; failures: replicaCount "two" (schema), auth without
# existingSecret, terminationGracePeriodSeconds too small, a password in
# redis.url; README.md has a row for every value.
# One line per check, "charts.chart: PASS" at the end; exit 1 with the reason
# on the first failure. Every render and server call is under `timeout`.
# Needs Go, node/npm and jq (scripts/install-deps.sh).
set -Eeuo pipefail

usage="usage: check_chart.sh BUILD_DIR SOURCE_DIR SERVER_BINARY"
build=${1:?$usage}
src=${2:?$usage}
server=${3:?$usage}
here="$src/tests/charts"
chart="$src/charts/crossbridge"
values="$here/values"

fail() { echo "charts.chart: FAIL: $*" >&2; exit 1; }
ok() { echo "ok   $*"; }
trap 'fail "unexpected error at line $LINENO: $BASH_COMMAND"' ERR

[[ -x $server ]] || fail "server binary $server is not executable"
command -v jq >/dev/null || fail "jq not found: run scripts/install-deps.sh"
[[ -f $chart/Chart.yaml ]] || fail "no chart at $chart"

# shellcheck source-path=SCRIPTDIR source=chart_tools.sh
source "$here/chart_tools.sh"
timeout 280 bash -c 'source "$1/chart_tools.sh" && chart_tools_setup "$2"' _ "$here" "$build" >&2 ||
  fail "chart_tools_setup $build failed"
chart_tools_setup "$build" >&2 # cheap now (stamps match); sets CHART_TOOLS_*
export CHART_TOOLS_DIR CHART_TOOLS_GO

tmp=$(mktemp -d)
mkdir "$tmp/in"
trap 'rm -rf "$tmp"' EXIT

# bounded CMD: the chart_tools.sh functions in a child shell, under timeout.
bounded() {
  timeout 60 bash -c 'source "$1/chart_tools.sh"; shift; "$@"' _ "$here" "$@"
}
# render NAME [chart_render args]: $tmp/NAME.yaml and $tmp/NAME.json, or fail.
render() {
  local name=$1
  shift
  bounded chart_render "$chart" --release cb --namespace crossbridge "$@" >"$tmp/$name.yaml" 2>"$tmp/$name.err" ||
    fail "render $name failed: $(cat "$tmp/$name.err")"
  bounded chart_to_json <"$tmp/$name.yaml" >"$tmp/$name.json" 2>"$tmp/$name.err" ||
    fail "$name: rendered YAML does not parse: $(cat "$tmp/$name.err")"
}
# render_fails NAME PATTERN [chart_render args]: the render must fail and its
# error match PATTERN (grep -E).
render_fails() {
  local name=$1 pattern=$2
  shift 2
  if bounded chart_render "$chart" "$@" >/dev/null 2>"$tmp/$name.err"; then
    fail "$name: render succeeded but must fail"
  fi
  grep -Eq "$pattern" "$tmp/$name.err" || fail "$name: error does not match /$pattern/: $(cat "$tmp/$name.err")"
}
# q NAME JQ: jq -r over the objects of render NAME.
q() { jq -r "$2" "$tmp/$1.json"; }
count() { q "$1" "[.[] | select(.kind == \"$2\")] | length"; }
deploy='.[] | select(.kind == "Deployment")'
ctr="$deploy | .spec.template.spec.containers[0]"
portof() { [[ $1 =~ :([0-9]+)$ ]] && echo "${BASH_REMATCH[1]}"; }

echo "== renderer: $(chart_renderer)"
printf 'hotReload: false\n' >"$tmp/in/no-reload.yaml"
printf 'hotReload: false\nconfig:\n  logging:\n    level: warn\n' >"$tmp/in/no-reload-2.yaml"
printf 'replicaCount: 1\n' >"$tmp/in/one.yaml"
printf 'auth:\n  enabled: true\n' >"$tmp/in/auth-no-secret.yaml"
printf 'redis:\n  enabled: true\n  url: redis://:s3cr3t@redis:6379/0\n' >"$tmp/in/redis-url-password.yaml"
printf 'terminationGracePeriodSeconds: 12\n' >"$tmp/in/grace-low.yaml"
printf 'terminationGracePeriodSeconds: 45\n' >"$tmp/in/grace-set.yaml"

for set in default redis tls-auth all-on; do
  args=()
  [[ $set == default ]] || args=(-f "$values/$set.yaml")
  render "$set" "${args[@]}"
  bounded chart_validate "$tmp/$set.json" >"$tmp/$set.valid" ||
    fail "$set: schema validation: $(grep -v '^ok ' "$tmp/$set.valid")"
  ok "$set: $(jq length "$tmp/$set.json") objects valid ($(q "$set" '[.[].kind] | join(" ")'))"

  [[ $(count "$set" Deployment) == 1 ]] || fail "$set: expected one Deployment"
  cm=$(q "$set" '.[] | select(.kind == "ConfigMap" and (.data | has("crossbridge.yml"))) | .metadata.name')
  [[ -n $cm ]] || fail "$set: no ConfigMap with crossbridge.yml"
  q "$set" '.[] | select(.kind == "ConfigMap" and (.data | has("crossbridge.yml"))) | .data["crossbridge.yml"]' \
    >"$tmp/$set.crossbridge.yml"
  timeout 30 "$server" --check-config "$tmp/$set.crossbridge.yml" >"$tmp/$set.check" 2>&1 ||
    fail "$set: crossbridge-server --check-config rejects the rendered config: $(cat "$tmp/$set.check")"
  ok "$set: crossbridge.yml passes crossbridge-server --check-config"
  bounded chart_to_json <"$tmp/$set.crossbridge.yml" | jq '.[0]' >"$tmp/$set.config.json"
  cfg() { jq -r "$1" "$tmp/$set.config.json"; }

  # Probes: the health listener's port when there is one (TLS), else the
  # gRPC listener's; the container declares it.
  listen=$(cfg '.server.listen_address')
  health=$(cfg '.server.health_listen_address // ""')
  tls_cert=$(cfg '.server.tls.cert_file // ""')
  want=$(portof "$listen") || fail "$set: listen_address $listen has no port"
  if [[ -n $tls_cert ]]; then
    [[ -n $health ]] || fail "$set: TLS on but no health_listen_address (kubelet probes cannot speak TLS)"
    want=$(portof "$health") || fail "$set: health_listen_address $health has no port"
  fi
  for p in startupProbe readinessProbe livenessProbe; do
    got=$(q "$set" "$ctr | .$p.grpc.port // \"none\"")
    [[ $got == "$want" ]] || fail "$set: $p grpc port is $got, expected $want"
  done
  q "$set" "$ctr | .ports[].containerPort" | grep -qx "$want" ||
    fail "$set: probe port $want is not a containerPort"
  grpc_port=$(q "$set" "$ctr | .ports[] | select(.name == \"grpc\") | .containerPort")
  [[ $grpc_port == $(portof "$listen") ]] || fail "$set: containerPort grpc $grpc_port != listen_address $listen"
  metrics_port=$(q "$set" "$ctr | .ports[] | select(.name == \"metrics\") | .containerPort")
  [[ $metrics_port == $(portof "$(cfg '.server.metrics_listen_address')") ]] ||
    fail "$set: containerPort metrics $metrics_port != metrics_listen_address"
  for tp in $(q "$set" '.[] | select(.kind == "Service") | .spec.ports[].targetPort'); do
    q "$set" "$ctr | .ports[].name" | grep -qx "$tp" || fail "$set: Service targetPort $tp is not a container port"
  done
  ok "$set: probes on port $want (listen $listen${health:+, health $health}), declared by the container"

  # The config directory: a directory mount, no subPath anywhere.
  [[ $(q "$set" "$ctr | .volumeMounts[] | select(.mountPath == \"/etc/crossbridge\") | .name") == config ]] ||
    fail "$set: no volume mounted at /etc/crossbridge"
  [[ $(q "$set" "[$ctr | .volumeMounts[] | select(has(\"subPath\") or has(\"subPathExpr\"))] | length") == 0 ]] ||
    fail "$set: a volumeMount uses subPath (never updated: hot reload would not fire)"
  [[ $(q "$set" "$deploy | .spec.template.spec.volumes[] | select(.name == \"config\") |
        .projected.sources[] | select(.configMap) | .configMap.name") == "$cm" ]] ||
    fail "$set: the config volume does not project ConfigMap $cm"
  [[ $(q "$set" "$ctr | .args | join(\" \")") == "--config /etc/crossbridge/crossbridge.yml" ]] ||
    fail "$set: container args are not --config /etc/crossbridge/crossbridge.yml"
  ok "$set: ConfigMap $cm mounted as the directory /etc/crossbridge (no subPath)"

  # No Secret, no password values (only Secret references).
  [[ $(count "$set" Secret) == 0 ]] || fail "$set: the chart rendered a Secret"
  leaks=$(q "$set" '[paths(strings) as $p | {k: ($p[-1] | tostring), v: getpath($p)} |
      select((.k | test("password|passwd|secret|token"; "i")) and (.k | test("_env$|Key$|_file$|^existingSecret"; "") | not))] +
      [.. | strings | select(test("://[^/@ ]*:[^/@ ]+@"))] +
      [.. | objects | select(has("name") and has("value") and (.name | tostring | test("password|secret|token"; "i")))] |
      length')
  [[ $leaks == 0 ]] || fail "$set: rendered objects contain password-like values"
  ok "$set: no Secret object, no password value rendered"

  # Termination grace covers drain + shutdown.
  drain=$(cfg '.server.drain_grace_seconds // 2')
  shutdown=$(cfg '.server.shutdown_timeout_seconds // 10')
  grace=$(q "$set" "$deploy | .spec.template.spec.terminationGracePeriodSeconds")
  jq -en --argjson g "$grace" --argjson d "$drain" --argjson s "$shutdown" '$g > $d + $s' >/dev/null ||
    fail "$set: terminationGracePeriodSeconds $grace <= drain $drain + shutdown $shutdown"
  ok "$set: terminationGracePeriodSeconds $grace > drain $drain + shutdown $shutdown"

  [[ $(q "$set" "$deploy | .spec.template.metadata.annotations // {} | has(\"checksum/config\")") == false ]] ||
    fail "$set: checksum/config annotation present with hotReload true"
done
ok "no checksum/config annotation with hotReload true"

# Defaults: the image, the version, the PDB, no optional objects.
project_version=$(sed -n 's/^project(crossbridge VERSION \([0-9][0-9.]*\).*/\1/p' "$src/CMakeLists.txt" | head -n1)
[[ -n $project_version ]] || fail "no project(crossbridge VERSION ...) in $src/CMakeLists.txt"
chart_json=$(bounded chart_to_json <"$chart/Chart.yaml")
[[ $(jq -r '.[0].appVersion' <<<"$chart_json") == "$project_version" ]] ||
  fail "Chart.yaml appVersion $(jq -r '.[0].appVersion' <<<"$chart_json") != project VERSION $project_version"
[[ $(jq -r '.[0].version' <<<"$chart_json") == "$project_version" ]] ||
  fail "Chart.yaml version != project VERSION $project_version"
image=$(q default "$ctr | .image")
[[ $image == "ghcr.io/crossbridge/crossbridge-server:$project_version" ]] ||
  fail "default image is $image, expected ghcr.io/crossbridge/crossbridge-server:$project_version"
ok "Chart version/appVersion and default image tag = project VERSION $project_version ($image)"

[[ $(q default "$deploy | .spec.replicas") == 2 ]] || fail "default replicas is not 2"
[[ $(count default PodDisruptionBudget) == 1 ]] || fail "no PodDisruptionBudget by default (2 replicas)"
render one -f "$tmp/in/one.yaml"
[[ $(count one PodDisruptionBudget) == 0 ]] || fail "PodDisruptionBudget rendered with replicaCount 1"
ok "PodDisruptionBudget with 2 replicas (default), none with replicaCount 1"

optional='HorizontalPodAutoscaler ServiceMonitor PrometheusRule NetworkPolicy'
for kind in $optional; do
  [[ $(count default "$kind") == 0 ]] || fail "$kind rendered by default"
  [[ $(count all-on "$kind") == 1 ]] || fail "$kind missing in all-on"
done
dash='.[] | select(.kind == "ConfigMap" and (.data | has("crossbridge.json")))'
headless='.[] | select(.kind == "Service" and .spec.clusterIP == "None")'
[[ -z $(q default "$dash | .metadata.name") && -z $(q default "$headless | .metadata.name") ]] ||
  fail "dashboard ConfigMap or headless Service rendered by default"
[[ -n $(q all-on "$dash | .metadata.name") && -n $(q all-on "$headless | .metadata.name") ]] ||
  fail "dashboard ConfigMap or headless Service missing in all-on"
ok "optional objects ($optional dashboard headless) absent by default, present in all-on"

[[ $(q all-on "$deploy | .spec | has(\"replicas\")") == false ]] || fail "all-on: HPA on but the Deployment sets replicas"
ok "HPA on: the Deployment has no replicas"

bounded chart_to_json <"$chart/alerts/crossbridge-rules.yml" | jq -S '.[0].groups' >"$tmp/groups.want"
q all-on '.[] | select(.kind == "PrometheusRule") | .spec.groups' | jq -S . >"$tmp/groups.got"
cmp -s "$tmp/groups.want" "$tmp/groups.got" || fail "PrometheusRule groups differ from alerts/crossbridge-rules.yml"
q all-on "$dash | .data[\"crossbridge.json\"]" | jq -S . >"$tmp/dash.got" ||
  fail "dashboard ConfigMap crossbridge.json is not JSON"
jq -S . "$chart/dashboards/crossbridge.json" | cmp -s - "$tmp/dash.got" ||
  fail "dashboard ConfigMap differs from dashboards/crossbridge.json"
[[ $(q all-on "$dash | .metadata.labels.grafana_dashboard") == 1 && $(q all-on "$dash | .metadata.namespace") == monitoring ]] ||
  fail "dashboard ConfigMap lacks label grafana_dashboard=1 or namespace monitoring"
[[ $(q all-on "$headless | .spec.publishNotReadyAddresses") == false ]] || fail "headless Service publishes not-ready pods"
ok "PrometheusRule = alerts/crossbridge-rules.yml, dashboard ConfigMap = dashboards/crossbridge.json"

# Secret references.
pw_env=$(jq -r '.storage.redis.password_env' "$tmp/redis.config.json")
[[ $(jq -r '.storage.backend' "$tmp/redis.config.json") == redis ]] || fail "redis: storage.backend is not redis"
[[ $(q redis "$ctr | .env[] | select(.name == \"$pw_env\") | .valueFrom.secretKeyRef | \"\(.name)/\(.key)\"") == \
  crossbridge-redis/redis-password ]] || fail "redis: no env $pw_env from secretKeyRef crossbridge-redis/redis-password"
[[ $(q default "[$ctr | .env // [] | .[] | select(.valueFrom.secretKeyRef)] | length") == 0 ]] ||
  fail "default: secretKeyRef env without redis.existingSecret"
ok "redis: env $pw_env (= config password_env) from Secret crossbridge-redis key redis-password"

secret_sources="$deploy | .spec.template.spec.volumes[] | select(.name == \"config\") | .projected.sources[] | select(.secret) | .secret"
tls_refs=$(q tls-auth "$secret_sources | select(.name == \"crossbridge-tls\") | .items | map(\"\(.key)=\(.path)\") | join(\" \")")
[[ $tls_refs == "tls.crt=tls/tls.crt tls.key=tls/tls.key ca.crt=tls/ca.crt" ]] ||
  fail "tls-auth: Secret crossbridge-tls not projected as tls/{tls.crt,tls.key,ca.crt} ($tls_refs)"
auth_refs=$(q tls-auth "$secret_sources | select(.name == \"crossbridge-tokens\") | .items | map(\"\(.key)=\(.path)\") | join(\" \")")
[[ $auth_refs == "tokens.yml=auth/tokens.yml" ]] || fail "tls-auth: Secret crossbridge-tokens not projected as auth/tokens.yml ($auth_refs)"
[[ $(jq -r '[.server.tls.cert_file, .server.tls.key_file, .server.tls.client_ca_file, .server.tls.client_auth,
      .auth.enabled, .auth.tokens_file] | join(" ")' "$tmp/tls-auth.config.json") == \
  "/etc/crossbridge/tls/tls.crt /etc/crossbridge/tls/tls.key /etc/crossbridge/tls/ca.crt require true /etc/crossbridge/auth/tokens.yml" ]] ||
  fail "tls-auth: config paths do not match the mounted Secrets"
[[ $(q default "[$secret_sources] | length") == 0 ]] || fail "default: Secret volumes without tls/auth"
ok "tls-auth: Secrets crossbridge-tls and crossbridge-tokens mounted at the config's paths"

# hotReload false: checksum/config, changing with the config.
render no-reload -f "$tmp/in/no-reload.yaml"
render no-reload-2 -f "$tmp/in/no-reload-2.yaml"
sum1=$(q no-reload "$deploy | .spec.template.metadata.annotations[\"checksum/config\"] // \"\"")
sum2=$(q no-reload-2 "$deploy | .spec.template.metadata.annotations[\"checksum/config\"] // \"\"")
[[ $sum1 =~ ^[0-9a-f]{64}$ ]] || fail "hotReload false: no sha256 checksum/config annotation ($sum1)"
[[ $sum1 != "$sum2" ]] || fail "hotReload false: checksum/config does not change with the config"
ok "hotReload false: checksum/config annotation present and follows the config"

# terminationGracePeriodSeconds: explicit value kept, too small refused.
render grace-set -f "$tmp/in/grace-set.yaml"
[[ $(q grace-set "$deploy | .spec.template.spec.terminationGracePeriodSeconds") == 45 ]] ||
  fail "explicit terminationGracePeriodSeconds 45 not used"
[[ $(q redis "$deploy | .spec.template.spec.terminationGracePeriodSeconds") == 27 ]] ||
  fail "redis: grace does not follow shutdown_timeout_seconds 20 (want 2+20+5 = 27)"
render_fails grace-low 'terminationGracePeriodSeconds' -f "$tmp/in/grace-low.yaml"
ok "terminationGracePeriodSeconds: computed 17/27, explicit 45 kept, 12 (<= 2+10) refused"

# Failures with clear messages.
render_fails bad-replicas 'replicaCount' -f "$values/bad-replicas.yaml"
ok "replicaCount: \"two\" refused: $(grep -m1 replicaCount "$tmp/bad-replicas.err")"
render_fails redis-url-password 'redis\.url must not contain a password' -f "$tmp/in/redis-url-password.yaml"
ok "redis.url with a password refused (passwords only through redis.existingSecret)"
render_fails auth-no-secret 'auth\.existingSecret is required' -f "$tmp/in/auth-no-secret.yaml"
ok "auth.enabled without existingSecret refused: $(grep -m1 -o 'auth.existingSecret is required[^(]*' "$tmp/auth-no-secret.err")"

# NOTES.
bounded chart_notes "$chart" --release cb --namespace crossbridge >"$tmp/notes.txt" 2>"$tmp/notes.err" ||
  fail "NOTES.txt does not render: $(cat "$tmp/notes.err")"
grep -q 'grpcurl -plaintext localhost:50051 list' "$tmp/notes.txt" || fail "NOTES lack 'grpcurl -plaintext localhost:50051 list'"
grep -q 'dns:///cb-crossbridge.crossbridge.svc.cluster.local:50051' "$tmp/notes.txt" || fail "NOTES lack the dns:/// target"
grep -q 'crossbridge.v1.RateLimiter/AcquirePermit' "$tmp/notes.txt" || fail "NOTES lack the AcquirePermit example"
bounded chart_notes "$chart" -f "$values/all-on.yaml" -f "$values/tls-auth.yaml" --release cb --namespace crossbridge \
  >"$tmp/notes2.txt" 2>"$tmp/notes.err" || fail "NOTES.txt (all-on + tls-auth) does not render: $(cat "$tmp/notes.err")"
for want in 'dns:///cb-crossbridge-headless.crossbridge.svc.cluster.local:50051' round_robin -cacert; do
  grep -qF -- "$want" "$tmp/notes2.txt" || fail "NOTES with headless + TLS lack '$want'"
done
ok "NOTES render: grpcurl, AcquirePermit, dns:/// (headless + round_robin, -cacert with TLS)"

# README: a row for every value (two levels deep; free-form maps as one).
bounded chart_to_json <"$chart/values.yaml" | jq -r '.[0] | [paths | select(length <= 2) |
    select(length == 1 or (.[0] as $k | ["config", "podSecurityContext", "securityContext", "resources",
      "updateStrategy"] | index($k) | not)) | map(tostring) | join(".")] | .[]' >"$tmp/value-paths"
while read -r p; do
  grep -qF "| \`$p" "$chart/README.md" || fail "charts/crossbridge/README.md has no row for value $p"
done <"$tmp/value-paths"
ok "README.md documents all $(wc -l <"$tmp/value-paths") value paths"

echo "charts.chart: PASS"
