# shellcheck shell=bash
# chart_tools.sh: bash library (source it) to render and validate Helm charts,
# with helm when it is on PATH and without it otherwise.
#
#   source tests/charts/chart_tools.sh
#   chart_tools_setup BUILD_DIR
#       Builds helm-render and yaml2json into BUILD_DIR/chart-tools/bin (only
#       when their sources or the Go toolchain changed) and installs the node
#       packages of kube_validate/ into BUILD_DIR/chart-tools/kube-validate
#       with `npm ci` from the committed lockfile (only when package.json or
#       package-lock.json changed). Nothing is written into the source tree.
#       Safe to call from tests running in parallel (flock).
#   chart_render CHART_DIR [-f VALUES.yaml]... [--release NAME] [--namespace NS]
#       Manifests on stdout: `helm template` when helm is on PATH, else
#       helm-render. Both run with Kubernetes v1.28.0 and API version
#       monitoring.coreos.com/v1, both check values.schema.json; any failure
#       is a non-zero status with the reason on stderr.
#       CHART_RENDERER=helm|helm-render forces one (default: auto).
#   chart_renderer                  prints "helm" or "helm-render" (the one
#                                   chart_render uses)
#   chart_notes CHART_DIR [-f VALUES.yaml]... [--release NAME] [--namespace NS]
#       The rendered templates/NOTES.txt on stdout (always helm-render:
#       helm template does not print notes).
#   chart_to_json                   stdin multi-document YAML -> stdout JSON
#                                   array of the non-empty documents
#   chart_validate JSON_FILE        one "ok KIND/NAME" or "invalid KIND/NAME:
#                                   ..." line per object; status 1 if any is
#                                   invalid or the array is empty
#   chart_tools_go ARGS...          runs go with the offline GOPATH setup
#                                   (GOPATH=/usr/share/gocode GO111MODULE=off)
# Every function returns non-zero on failure (set -euo pipefail friendly) and
# never changes the caller's shell options. Missing go/npm/node or Go library
# packages fail with "run scripts/install-deps.sh".

CHART_TOOLS_SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CHART_TOOLS_KUBE_VERSION=v1.28.0
CHART_TOOLS_GOPATH=/usr/share/gocode

_chart_tools_err() { echo "chart_tools: $*" >&2; return 1; }

chart_tools_go() {
  [[ -n ${CHART_TOOLS_GO:-} ]] || { _chart_tools_err "call chart_tools_setup BUILD_DIR first"; return 1; }
  GOPATH="$CHART_TOOLS_GOPATH" GO111MODULE=off GOFLAGS='' GOCACHE="$CHART_TOOLS_DIR/gocache" \
    "$CHART_TOOLS_GO" "$@"
}

# _chart_tools_build NAME SRC_SUBDIR: go build unless the stamp matches.
_chart_tools_build() {
  local name=$1 src="$CHART_TOOLS_SRC/$2" bin="$CHART_TOOLS_DIR/bin/$1" f hash
  local sources=()
  for f in "$src"/*.go; do
    [[ $f == *_test.go ]] || sources+=("$f")
  done
  hash=$( { "$CHART_TOOLS_GO" version && sha256sum "${sources[@]}"; } | sha256sum) || return 1
  if [[ -x $bin && -f $bin.stamp && "$(cat "$bin.stamp")" == "$hash" ]]; then
    return 0
  fi
  mkdir -p "$CHART_TOOLS_DIR/bin" || return 1
  (cd "$src" && chart_tools_go build -o "$bin.tmp" .) || { _chart_tools_err "building $name failed"; return 1; }
  mv -f "$bin.tmp" "$bin" && echo "$hash" >"$bin.stamp"
}

# _chart_tools_npm: npm ci into the build dir unless the stamp matches.
_chart_tools_npm() {
  local src="$CHART_TOOLS_SRC/kube_validate" dir="$CHART_TOOLS_DIR/kube-validate" hash
  mkdir -p "$dir" || return 1
  cmp -s "$src/validate.mjs" "$dir/validate.mjs" || cp "$src/validate.mjs" "$dir/validate.mjs" || return 1
  hash=$(cat "$src/package.json" "$src/package-lock.json" | sha256sum) || return 1
  if [[ -d $dir/node_modules && -f $dir/npm.stamp && "$(cat "$dir/npm.stamp")" == "$hash" ]]; then
    return 0
  fi
  rm -f "$dir/npm.stamp"
  cp "$src/package.json" "$src/package-lock.json" "$dir/" || return 1
  local cache=()
  [[ -n ${HOME:-} ]] || cache=(--cache "$CHART_TOOLS_DIR/npm-cache")
  echo "chart_tools: npm ci in $dir" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error "${cache[@]}") >&2 ||
    { _chart_tools_err "npm ci failed in $dir (it needs the npm registry)"; return 1; }
  echo "$hash" >"$dir/npm.stamp"
}

chart_tools_setup() {
  [[ $# -eq 1 ]] || { _chart_tools_err "usage: chart_tools_setup BUILD_DIR"; return 1; }
  local go lib
  if [[ -x /usr/lib/go-1.19/bin/go ]]; then
    go=/usr/lib/go-1.19/bin/go
  else
    go=$(command -v go) || { _chart_tools_err "go not found (golang-1.19-go): run scripts/install-deps.sh"; return 1; }
  fi
  for lib in Masterminds/sprig ghodss/yaml xeipuuv/gojsonschema; do
    [[ -d $CHART_TOOLS_GOPATH/src/github.com/$lib ]] ||
      { _chart_tools_err "Go library github.com/$lib missing: run scripts/install-deps.sh"; return 1; }
  done
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    _chart_tools_err "node/npm not found: run scripts/install-deps.sh"; return 1
  fi
  command -v flock >/dev/null || { _chart_tools_err "flock not found (util-linux)"; return 1; }
  mkdir -p "$1/chart-tools" || return 1
  CHART_TOOLS_DIR="$(cd "$1/chart-tools" && pwd)" || return 1
  CHART_TOOLS_GO=$go
  local lock rc=0
  exec {lock}>"$CHART_TOOLS_DIR/setup.lock" || return 1
  flock "$lock" || rc=1
  if [[ $rc -eq 0 ]]; then
    _chart_tools_build helm-render helm_render && _chart_tools_build yaml2json yaml2json &&
      _chart_tools_npm || rc=1
  fi
  exec {lock}>&-
  return $rc
}

_chart_tools_ready() {
  [[ -n ${CHART_TOOLS_DIR:-} && -x $CHART_TOOLS_DIR/bin/helm-render ]] ||
    { _chart_tools_err "call chart_tools_setup BUILD_DIR first"; return 1; }
}

chart_renderer() {
  case ${CHART_RENDERER:-auto} in
    helm-render) echo helm-render ;;
    helm)
      command -v helm >/dev/null || { _chart_tools_err "CHART_RENDERER=helm but no helm on PATH"; return 1; }
      echo helm ;;
    auto) if command -v helm >/dev/null; then echo helm; else echo helm-render; fi ;;
    *) _chart_tools_err "CHART_RENDERER must be helm, helm-render or auto"; return 1 ;;
  esac
}

# _chart_tools_args ARGS...: parses chart_render's options into the caller's
# locals release, namespace and ct_values (array of -f FILE pairs).
_chart_tools_args() {
  while [[ $# -gt 0 ]]; do
    [[ $# -ge 2 ]] || { _chart_tools_err "$1 needs a value"; return 1; }
    case $1 in
      -f | --values) ct_values+=(-f "$2") ;;
      --release) release=$2 ;;
      -n | --namespace) namespace=$2 ;;
      *) _chart_tools_err "unsupported argument: $1"; return 1 ;;
    esac
    shift 2
  done
}

chart_render() {
  _chart_tools_ready || return 1
  [[ $# -ge 1 ]] || { _chart_tools_err "usage: chart_render CHART_DIR [-f VALUES.yaml]..."; return 1; }
  local chart=$1 release=release-name namespace=default renderer
  local ct_values=()
  shift
  _chart_tools_args "$@" || return 1
  renderer=$(chart_renderer) || return 1
  if [[ $renderer == helm ]]; then
    helm template "$release" "$chart" --namespace "$namespace" \
      --kube-version "$CHART_TOOLS_KUBE_VERSION" --api-versions monitoring.coreos.com/v1 "${ct_values[@]}"
  else
    "$CHART_TOOLS_DIR/bin/helm-render" --release "$release" --namespace "$namespace" \
      --kube-version "$CHART_TOOLS_KUBE_VERSION" "${ct_values[@]}" "$chart"
  fi
}

chart_notes() {
  _chart_tools_ready || return 1
  [[ $# -ge 1 ]] || { _chart_tools_err "usage: chart_notes CHART_DIR [-f VALUES.yaml]..."; return 1; }
  local chart=$1 release=release-name namespace=default
  local ct_values=()
  shift
  _chart_tools_args "$@" || return 1
  "$CHART_TOOLS_DIR/bin/helm-render" --notes --release "$release" --namespace "$namespace" \
    --kube-version "$CHART_TOOLS_KUBE_VERSION" "${ct_values[@]}" "$chart"
}

chart_to_json() {
  _chart_tools_ready || return 1
  "$CHART_TOOLS_DIR/bin/yaml2json"
}

chart_validate() {
  _chart_tools_ready || return 1
  [[ $# -eq 1 ]] || { _chart_tools_err "usage: chart_validate JSON_FILE"; return 1; }
  node "$CHART_TOOLS_DIR/kube-validate/validate.mjs" "$1"
}
