#!/usr/bin/env bash
# What can be checked of the container image on a machine that cannot pull
# base images or run docker: that its runtime stage has every shared library
# the binaries load, and nothing it does not need.
#   1. Every library `ldd BINARY` prints, for each BINARY, belongs (dpkg -S)
#      to a package the runtime stage gets: one listed in
#      docker/runtime-packages.txt, a dependency of one (Depends/Pre-Depends,
#      recursively, as apt installs them), or debian:12-slim's own base (the
#      Priority: required packages and their dependencies). A library no
#      package owns (one built by hand, a library of the build tree) fails.
#      The sanitizer runtimes (libasan, libubsan, libtsan) of a make asan /
#      make tsan build are skipped: the image is built without sanitizers.
#   2. The list is minimal: every package in it owns a library some BINARY
#      links directly (readelf NEEDED); an unused or misspelt entry fails.
#   3. The Dockerfile: its last stage is FROM debian:12-slim, installs
#      docker/runtime-packages.txt, runs as USER 65532:65532, has
#      ENTRYPOINT ["crossbridge-server"] and CMD --config
#      /etc/crossbridge/crossbridge.yml, copies docker/crossbridge.yml there,
#      and its build stage runs scripts/install-deps.sh --build-only.
#   4. docker/crossbridge.yml passes `crossbridge-server --check-config` and
#      listens on 0.0.0.0 (a container's loopback is unreachable).
#   5. The Helm chart's default image is the one the Dockerfile builds
#      (repository ghcr.io/crossbridge/crossbridge-server, the Dockerfile's
#      header names the same).
# Uses this machine's dpkg database, so it is exact when this machine is
# Debian 12 like the image (which is what scripts/install-deps.sh supports).
# Exits 0 with a PASS line, 1 with what failed, 2 on usage.
#   tests/packaging/check_runtime_libs.sh SOURCE_DIR BINARY...
set -Eeuo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 SOURCE_DIR BINARY..." >&2
  exit 2
fi
source_dir=$(cd "$1" && pwd)
shift
binaries=("$@")
dockerfile=$source_dir/Dockerfile
package_list=$source_dir/docker/runtime-packages.txt
readonly IMAGE=ghcr.io/crossbridge/crossbridge-server

fail() {
  echo "check_runtime_libs: FAIL: $*" >&2
  exit 1
}
trap 'fail "unexpected error: line $LINENO: $BASH_COMMAND (exit $?)"' ERR
step() { echo "check_runtime_libs: $*"; }

for f in "$dockerfile" "$package_list"; do
  [ -f "$f" ] || fail "missing $f"
done
for b in "${binaries[@]}"; do
  [ -x "$b" ] || fail "$b is not an executable (build it first)"
done

# The dpkg database, read once: which package owns each file (under both
# spellings of Debian 12's merged /usr, /lib <-> /usr/lib), and each
# installed package's dependencies.
declare -A owner_of=() depends_of=()
while IFS=$'\t' read -r pkg path; do
  owner_of[$path]=$pkg
  case "$path" in
    /usr/*) owner_of[${path#/usr}]=$pkg ;;
    *) owner_of[/usr$path]=$pkg ;;
  esac
done < <(awk '/\/lib.*\.so/ {f = FILENAME; sub(/.*\//, "", f); sub(/(:[^.]*)?\.list$/, "", f); print f "\t" $0}' \
  /var/lib/dpkg/info/*.list)
while IFS=$'\t' read -r pkg status deps; do
  [[ $status == "install ok installed" ]] && depends_of[$pkg]=$deps
done < <(dpkg-query -W -f='${Package}\t${Status}\t${Depends}, ${Pre-Depends}\n')
owner() {  # PATH: the package owning it, or ""
  echo "${owner_of[$1]:-${owner_of[$(readlink -f "$1")]:-}}"
}

# closure PACKAGE...: the packages and everything they depend on
# (Depends and Pre-Depends, recursively; of an alternative "a | b" the
# installed one), one per line.
closure() {
  declare -A seen=()
  local queue=("$@") pkg dep alt
  while [ ${#queue[@]} -gt 0 ]; do
    pkg=${queue[0]%%:*}
    queue=("${queue[@]:1}")
    [ -n "$pkg" ] && [ -z "${seen[$pkg]:-}" ] && [ -n "${depends_of[$pkg]+x}" ] || continue
    seen[$pkg]=1
    while IFS= read -r dep; do
      for alt in ${dep//|/ }; do
        alt=${alt%%:*}
        if [ -n "${depends_of[$alt]+x}" ]; then
          queue+=("$alt")
          break
        fi
      done
    done < <(tr ',' '\n' <<< "${depends_of[$pkg]}" | sed 's/([^)]*)//g; s/^[[:space:]]*//; s/[[:space:]]*$//; /^$/d')
  done
  printf '%s\n' "${!seen[@]}"
}

# --- the runtime package list ---------------------------------------------------
mapfile -t listed < <(grep -v '^[[:space:]]*\(#\|$\)' "$package_list" | tr -d '[:blank:]')
[ ${#listed[@]} -gt 0 ] || fail "$package_list lists no package"
for pkg in "${listed[@]}"; do
  [ -n "${depends_of[$pkg]+x}" ] ||
    fail "docker/runtime-packages.txt: $pkg is not an installed Debian package here (misspelt, or not the Debian 12 name?)"
done
declare -A provided=()
while IFS= read -r p; do provided[$p]=listed; done < <(closure "${listed[@]}")
mapfile -t required < <(dpkg-query -W -f='${Package} ${Priority}\n' | awk '$2 == "required" {print $1}')
while IFS= read -r p; do
  [ -n "${provided[$p]:-}" ] || provided[$p]=base
done < <(closure "${required[@]}")

# --- 1 and 2: every loaded library is provided; every listed package is used ---
declare -A direct_owner=()
for b in "${binaries[@]}"; do
  ldd_out=$(ldd "$b") || fail "ldd $b failed"
  if grep -q "not found" <<< "$ldd_out"; then
    fail "$(basename "$b"): ldd finds no $(grep "not found" <<< "$ldd_out" | awk '{print $1}' | tr '\n' ' ')"
  fi
  # name => path, for the direct (NEEDED) libraries.
  declare -A path_of=()
  while read -r name _ path _; do
    [[ $path == /* ]] && path_of[$name]=$path
  done < <(grep '=>' <<< "$ldd_out")
  count=0
  while read -r path; do
    # A sanitizer build (make asan/tsan) links the sanitizer runtimes; the
    # image is a Release build without them.
    case "$(basename "$path")" in
      libasan.so.* | libubsan.so.* | libtsan.so.*) continue ;;
    esac
    pkg=$(owner "$path")
    [ -n "$pkg" ] || fail "$(basename "$b") loads $path, which no Debian package owns"
    [ -n "${provided[$pkg]:-}" ] ||
      fail "$(basename "$b") loads $path from $pkg, which the runtime stage does not install (add it to docker/runtime-packages.txt)"
    count=$((count + 1))
  done < <(awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<< "$ldd_out" | sort -u)
  while read -r needed; do
    path=${path_of[$needed]:-}
    [ -n "$path" ] || fail "$(basename "$b") NEEDS $needed, which ldd does not resolve"
    direct_owner[$(owner "$path")]=1
  done < <(readelf -d "$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  unset path_of
  step "$(basename "$b"): all $count loaded libraries come from packages the runtime stage installs"
done
for pkg in "${listed[@]}"; do
  [ -n "${direct_owner[$pkg]:-}" ] ||
    fail "docker/runtime-packages.txt lists $pkg, but no binary links a library of it directly: remove it"
done
step "docker/runtime-packages.txt: ${#listed[@]} packages, each linked directly"

# --- 3. the Dockerfile ------------------------------------------------------------
code=$(sed 's/#.*//' "$dockerfile")
last_stage=$(awk '/^FROM /{buf=""} {buf=buf $0 "\n"} END {printf "%s", buf}' <<< "$code")
grep -q '^FROM debian:12 AS build' <<< "$code" || fail "Dockerfile: no 'FROM debian:12 AS build' stage"
grep -q 'scripts/install-deps.sh --build-only' <<< "$code" ||
  fail "Dockerfile: the build stage does not run scripts/install-deps.sh --build-only"
grep -q '^FROM debian:12-slim' <<< "$last_stage" || fail "Dockerfile: the last stage is not FROM debian:12-slim"
grep -q 'COPY docker/runtime-packages.txt' <<< "$last_stage" ||
  fail "Dockerfile: the runtime stage does not install docker/runtime-packages.txt"
grep -q '^USER 65532:65532$' <<< "$last_stage" || fail "Dockerfile: the runtime stage is not USER 65532:65532"
grep -q '^ENTRYPOINT \["crossbridge-server"\]$' <<< "$last_stage" ||
  fail 'Dockerfile: no ENTRYPOINT ["crossbridge-server"] in the runtime stage'
grep -q '^CMD \["--config", "/etc/crossbridge/crossbridge.yml"\]$' <<< "$last_stage" ||
  fail 'Dockerfile: no CMD ["--config", "/etc/crossbridge/crossbridge.yml"] in the runtime stage'
grep -q '^COPY docker/crossbridge.yml /etc/crossbridge/crossbridge.yml$' <<< "$last_stage" ||
  fail "Dockerfile: the runtime stage does not copy docker/crossbridge.yml to /etc/crossbridge/crossbridge.yml"
grep -q "docker build -t $IMAGE:" "$dockerfile" || fail "Dockerfile: its header does not say how to build $IMAGE"
step "Dockerfile: debian:12 build stage, debian:12-slim runtime as 65532, entrypoint and config as expected"

# --- 4. the image's configuration ---------------------------------------------------
server=""
for b in "${binaries[@]}"; do
  [ "$(basename "$b")" = crossbridge-server ] && server=$b
done
[ -n "$server" ] || fail "no crossbridge-server among the binaries"
check_out=$("$server" --check-config "$source_dir/docker/crossbridge.yml" 2>&1) ||
  fail "docker/crossbridge.yml does not pass --check-config: $check_out"
for key in listen_address metrics_listen_address; do
  grep -q "^  $key: \"0\.0\.0\.0:" "$source_dir/docker/crossbridge.yml" ||
    fail "docker/crossbridge.yml: server.$key does not listen on 0.0.0.0"
done
step "docker/crossbridge.yml passes --check-config and listens on 0.0.0.0"

# --- 5. the chart runs this image ------------------------------------------------------
values=$source_dir/charts/crossbridge/values.yaml
[ -f "$values" ] || fail "missing $values"
grep -q "^  repository: $IMAGE$" "$values" ||
  fail "charts/crossbridge/values.yaml: image.repository is not $IMAGE (the image the Dockerfile builds)"
step "the chart's default image is $IMAGE"

echo "check_runtime_libs: PASS"
