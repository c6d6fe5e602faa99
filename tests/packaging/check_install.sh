#!/usr/bin/env bash
# Installs a CrossBridge build tree and uses the result the way a user would:
#   1. cmake --install BUILD_DIR --prefix <tmp>/prefix (every component);
#   2. checks the installed tree: bin/crossbridge-server and
#      bin/crossbridge-cli; exactly the three SDK static libraries
#      (libcrossbridge_client.a, libcrossbridge_common.a,
#      libcrossbridge_proto.a) and no server library; the SDK headers under
#      include/crossbridge/ (client/, common/, crossbridge/v1/,
#      grpc/health/v1/) and nothing else directly under include/; every
#      #include "..." of an installed header resolves inside
#      include/crossbridge or /usr/include (a public header including an
#      uninstalled project header fails here); the CMake package
#      (CrossBridgeConfig.cmake, CrossBridgeConfigVersion.cmake,
#      CrossBridgeTargets*.cmake exporting CrossBridge::client, ::common and
#      ::proto and nothing else) and crossbridge.pc;
#   3. version compatibility (SameMinorVersion): find_package(CrossBridge X)
#      must find version M.m.p for X = M.m and not for X = M.(m+1) or
#      (M+1).0 (for 0.1.0: 0.1 yes, 0.2 and 1.0 no);
#   4. builds tests/packaging/consumer (one TU) out of tree with
#      find_package(CrossBridge 0.1) and -DCMAKE_PREFIX_PATH=<prefix>: the
#      package must be found in <prefix>, and no include path may point into
#      the source or build tree;
#   5. compiles the same main.cc with `pkg-config --cflags --libs crossbridge`
#      (PKG_CONFIG_PATH=<prefix>/<libdir>/pkgconfig); its version must be the
#      project's and its paths inside <prefix> (relocatable .pc);
#   6. starts the INSTALLED bin/crossbridge-server on the embedded default
#      configuration (no file: run from a folder of our own with no
#      crossbridge.yml up to 3 levels above, CROSSBRIDGE_* unset) with
#      --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0, reads its port from
#      the CROSSBRIDGE_LISTENING line, and runs both consumers against it:
#      each must print allowed=true and exit 0 (operation "embed" of the
#      default runtime.rate_limiting). Then stops the server and checks that
#      a consumer against the dead address exits non-zero.
# Same compiler and sanitizer flags as the build tree (read from its
# CMakeCache.txt), so ASan/TSan build trees link. The server is killed and
# the temporary folder removed on any exit.
# Exits 0 with a PASS line, or prints what failed and exits 1; 2 on usage.
#   tests/packaging/check_install.sh BUILD_DIR SOURCE_DIR
set -Eeuo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR" >&2
  exit 2
fi
build=$(cd "$1" && pwd)
source_dir=$(cd "$2" && pwd)
readonly WAIT_SECONDS=30

tmp=$(mktemp -d "${TMPDIR:-/tmp}/crossbridge-packaging.XXXXXX")
prefix=$tmp/prefix
server_pid=""
cleanup() {
  local rc=$?
  trap - EXIT ERR
  set +e
  if [ -n "$server_pid" ]; then
    kill -KILL "$server_pid" 2> /dev/null
    wait "$server_pid" 2> /dev/null
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "check_install: FAIL: interrupted" >&2; exit 1' INT TERM HUP

fail() {  # MESSAGE [LOG FILE...]
  echo "check_install: FAIL: $1" >&2
  shift
  local f
  for f in "$@"; do
    echo "--- $(basename "$f") (last 40 lines):" >&2
    if [ -s "$f" ]; then tail -n 40 "$f" >&2; else echo "(empty)" >&2; fi
  done
  exit 1
}
trap 'fail "unexpected error: line $LINENO: $BASH_COMMAND (exit $?)"' ERR
step() { echo "check_install: $*"; }

cache_get() {  # NAME: its value in the build tree's CMakeCache.txt, or ""
  sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1
}
[ -f "$build/CMakeCache.txt" ] || fail "$build is not a CMake build tree (no CMakeCache.txt)"
libdir=$(cache_get CMAKE_INSTALL_LIBDIR)
bindir=$(cache_get CMAKE_INSTALL_BINDIR)
includedir=$(cache_get CMAKE_INSTALL_INCLUDEDIR)
cxx=$(cache_get CMAKE_CXX_COMPILER)
build_type=$(cache_get CMAKE_BUILD_TYPE)
for v in libdir bindir includedir cxx; do
  [ -n "${!v}" ] || fail "no $v in $build/CMakeCache.txt"
done
sanitize=""
[ "$(cache_get CROSSBRIDGE_ASAN)" = ON ] && sanitize="-fsanitize=address,undefined -fno-omit-frame-pointer"
[ "$(cache_get CROSSBRIDGE_TSAN)" = ON ] && sanitize="-fsanitize=thread -fno-omit-frame-pointer"
version=$(sed -n 's/^project(crossbridge VERSION \([0-9][0-9.]*\).*/\1/p' "$source_dir/CMakeLists.txt")
[ -n "$version" ] || fail "no project(crossbridge VERSION ...) in $source_dir/CMakeLists.txt"

# --- 1. install ---------------------------------------------------------------
step "cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" > "$tmp/install.log" 2>&1 ||
  fail "cmake --install failed (is the build complete?)" "$tmp/install.log"

# --- 2. the installed tree ----------------------------------------------------
inc=$prefix/$includedir/crossbridge
cmakedir=$prefix/$libdir/cmake/CrossBridge
expected=(
  "$bindir/crossbridge-server" "$bindir/crossbridge-cli"
  "$libdir/libcrossbridge_client.a" "$libdir/libcrossbridge_common.a"
  "$libdir/libcrossbridge_proto.a"
  "$libdir/cmake/CrossBridge/CrossBridgeConfig.cmake"
  "$libdir/cmake/CrossBridge/CrossBridgeConfigVersion.cmake"
  "$libdir/cmake/CrossBridge/CrossBridgeTargets.cmake"
  "$libdir/pkgconfig/crossbridge.pc"
)
for h in client/client.h client/hardened.h client/hardened_call.h \
         common/clock.h common/config.h common/mutex.h common/retry.h \
         grpc/health/v1/health.pb.h grpc/health/v1/health.grpc.pb.h; do
  expected+=("$includedir/crossbridge/$h")
done
for p in rate_limiter retry_advisor health_reporter; do
  expected+=("$includedir/crossbridge/crossbridge/v1/$p.pb.h"
             "$includedir/crossbridge/crossbridge/v1/$p.grpc.pb.h")
done
missing=()
for f in "${expected[@]}"; do
  [ -f "$prefix/$f" ] || missing+=("$f")
done
[ ${#missing[@]} -eq 0 ] || fail "not installed: ${missing[*]}" "$tmp/install.log"
for b in crossbridge-server crossbridge-cli; do
  [ -x "$prefix/$bindir/$b" ] || fail "$bindir/$b is not executable"
done
ls "$prefix/$libdir/cmake/CrossBridge"/CrossBridgeTargets-*.cmake > /dev/null 2>&1 ||
  fail "no per-configuration CrossBridgeTargets-<config>.cmake in $libdir/cmake/CrossBridge"

libs=$(cd "$prefix/$libdir" && find . -maxdepth 1 -name '*.a' -printf '%f\n' | sort | tr '\n' ' ')
[ "$libs" = "libcrossbridge_client.a libcrossbridge_common.a libcrossbridge_proto.a " ] ||
  fail "static libraries installed: $libs; expected exactly libcrossbridge_{client,common,proto}.a"
top=$(find "$prefix/$includedir" -mindepth 1 -maxdepth 1 -printf '%f\n' | sort | tr '\n' ' ')
[ "$top" = "crossbridge " ] ||
  fail "$includedir/ holds $top; expected only crossbridge/ (headers must not collide with system ones)"
[ ! -e "$inc/server" ] || fail "server headers installed ($includedir/crossbridge/server)"
bins=$(find "$prefix/$bindir" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')
[ "$bins" = "crossbridge-cli crossbridge-server " ] ||
  fail "$bindir/ holds $bins; expected crossbridge-cli crossbridge-server"

# Exported targets: exactly CrossBridge::client, ::common, ::proto.
exported=$(cat "$cmakedir"/CrossBridgeTargets.cmake |
  sed -n 's/^add_library(\(CrossBridge::[A-Za-z_]*\) .*/\1/p' | sort | tr '\n' ' ')
[ "$exported" = "CrossBridge::client CrossBridge::common CrossBridge::proto " ] ||
  fail "exported targets: $exported; expected CrossBridge::client CrossBridge::common CrossBridge::proto"
if grep -q -e "$source_dir" -e "$build" "$cmakedir"/CrossBridgeTargets*.cmake; then
  fail "the installed targets files name the source or build tree: $(grep -h -e "$source_dir" -e "$build" "$cmakedir"/CrossBridgeTargets*.cmake | head -3)"
fi

# Every quoted include of an installed header resolves in the install or the
# system.
unresolved=()
while IFS= read -r header; do
  while IFS= read -r included; do
    [ -f "$inc/$included" ] || [ -f "/usr/include/$included" ] ||
      unresolved+=("${header#"$inc"/} -> \"$included\"")
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$header")
done < <(find "$inc" -type f -name '*.h')
[ ${#unresolved[@]} -eq 0 ] ||
  fail "installed headers include files that are not installed: ${unresolved[*]}"
step "installed tree OK (${#expected[@]} expected files)"

# --- 3. version compatibility -------------------------------------------------
mkdir -p "$tmp/probe"
cat > "$tmp/probe/CMakeLists.txt" << 'EOF'
cmake_minimum_required(VERSION 3.22)
project(probe LANGUAGES CXX)
find_package(CrossBridge ${REQUEST} QUIET)
message(STATUS "PROBE CrossBridge_FOUND=${CrossBridge_FOUND}")
EOF
probe() {  # REQUEST: prints 1 if find_package(CrossBridge REQUEST) finds it, else 0
  rm -rf "$tmp/probe/build"
  cmake -S "$tmp/probe" -B "$tmp/probe/build" -DREQUEST="$1" -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_PREFIX_PATH="$prefix" > "$tmp/probe.log" 2>&1 ||
    fail "version probe ($1) failed to configure" "$tmp/probe.log"
  sed -n 's/.*PROBE CrossBridge_FOUND=\([01]\)$/\1/p' "$tmp/probe.log"
}
minor=${version%.*}  # 0.1 for 0.1.0
[ "$(probe "$minor")" = 1 ] ||
  fail "find_package(CrossBridge $minor) does not accept version $version" "$tmp/probe.log"
for request in "${minor%.*}.$((${minor#*.} + 1))" "$((${minor%.*} + 1)).0"; do
  [ "$(probe "$request")" = 0 ] ||
    fail "find_package(CrossBridge $request) accepts version $version (SameMinorVersion must refuse it)" "$tmp/probe.log"
done
step "version $version: accepted for a request of $minor, refused for the next minor and major"

# --- 4. consumer with find_package -------------------------------------------
step "building tests/packaging/consumer with find_package(CrossBridge 0.1)"
consumer_build=$tmp/consumer-build
cmake -S "$source_dir/tests/packaging/consumer" -B "$consumer_build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_COMPILER="$cxx" \
  -DCMAKE_BUILD_TYPE="${build_type:-RelWithDebInfo}" \
  -DCMAKE_CXX_FLAGS="$sanitize" > "$tmp/consumer-configure.log" 2>&1 ||
  fail "the consumer does not configure against the installed package" "$tmp/consumer-configure.log"
found_dir=$(sed -n 's/^CrossBridge_DIR:PATH=//p' "$consumer_build/CMakeCache.txt")
[ "$(realpath "$found_dir")" = "$(realpath "$cmakedir")" ] ||
  fail "find_package(CrossBridge) found $found_dir, not the installed $cmakedir"
cmake --build "$consumer_build" > "$tmp/consumer-build.log" 2>&1 ||
  fail "the consumer does not build against the installed package" "$tmp/consumer-build.log"
includes=$(sed -n 's/^CXX_INCLUDES = //p' "$consumer_build/CMakeFiles/consumer.dir/flags.make")
for dir in $includes; do
  dir=${dir#-isystem}
  dir=${dir#-I}
  case "$dir" in
    "$source_dir"* | "$build"*) fail "the consumer's include path points into the source or build tree: $dir" ;;
  esac
done
[ -x "$consumer_build/consumer" ] || fail "no consumer executable in $consumer_build"

# --- 5. consumer with pkg-config ----------------------------------------------
step "compiling the consumer with pkg-config --cflags --libs crossbridge"
export PKG_CONFIG_PATH=$prefix/$libdir/pkgconfig
pc_version=$(pkg-config --modversion crossbridge) || fail "pkg-config does not find crossbridge in $PKG_CONFIG_PATH"
[ "$pc_version" = "$version" ] || fail "crossbridge.pc version $pc_version, project version $version"
pc_includedir=$(realpath -m "$(pkg-config --variable=includedir crossbridge)")
pc_libdir=$(realpath -m "$(pkg-config --variable=libdir crossbridge)")
[ "$pc_includedir" = "$(realpath "$prefix/$includedir")" ] && [ "$pc_libdir" = "$(realpath "$prefix/$libdir")" ] ||
  fail "crossbridge.pc points outside the prefix: includedir $pc_includedir, libdir $pc_libdir"
pc_flags=$(pkg-config --cflags --libs crossbridge)
# shellcheck disable=SC2086  # the flags are words
"$cxx" -std=c++17 $sanitize "$source_dir/tests/packaging/consumer/main.cc" $pc_flags \
  -o "$tmp/consumer-pc" > "$tmp/consumer-pc.log" 2>&1 ||
  fail "the consumer does not compile with: $cxx -std=c++17 main.cc $pc_flags" "$tmp/consumer-pc.log"

# --- 6. the installed server and both consumers -------------------------------
run_dir=$tmp/run/a/b/c  # 3 parents up, all ours: no crossbridge.yml to discover
mkdir -p "$run_dir"
server_env=(env)
while IFS= read -r name; do server_env+=(-u "$name"); done < <(compgen -e | grep '^CROSSBRIDGE_' || true)
# No drain grace at the SIGTERM of the teardown (an environment override of
# server.drain_grace_seconds).
server_env+=(CROSSBRIDGE_SERVER_DRAIN_GRACE_SECONDS=0)
step "starting $prefix/$bindir/crossbridge-server on the embedded default"
(cd "$run_dir" && exec "${server_env[@]}" "$prefix/$bindir/crossbridge-server" \
  --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 > "$tmp/server.out" 2> "$tmp/server.err") &
server_pid=$!
addr=""
deadline=$((SECONDS + WAIT_SECONDS))
while :; do
  addr=$(awk '$1 == "CROSSBRIDGE_LISTENING" {print $2; exit}' "$tmp/server.out")
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2> /dev/null ||
    fail "crossbridge-server exited before listening" "$tmp/server.out" "$tmp/server.err"
  ((SECONDS < deadline)) ||
    fail "no CROSSBRIDGE_LISTENING line within ${WAIT_SECONDS}s" "$tmp/server.out" "$tmp/server.err"
  sleep 0.1
done
[[ $addr == 127.0.0.1:[1-9]* ]] || fail "CROSSBRIDGE_LISTENING $addr: expected 127.0.0.1:PORT" "$tmp/server.out"
grep -q "configuration from <embedded default>" "$tmp/server.out" "$tmp/server.err" ||
  fail "the server did not run on the embedded default configuration" "$tmp/server.out" "$tmp/server.err"

for consumer in "$consumer_build/consumer" "$tmp/consumer-pc"; do
  rc=0
  "$consumer" "$addr" > "$tmp/consumer.out" 2> "$tmp/consumer.err" || rc=$?
  out=$(cat "$tmp/consumer.out")
  [ "$rc" -eq 0 ] && [[ $out == "allowed=true limit=60 remaining="* ]] ||
    fail "$(basename "$consumer") against $addr: exit $rc, output \"$out\"; expected exit 0 and allowed=true limit=60" \
      "$tmp/consumer.err" "$tmp/server.err"
  step "$(basename "$consumer") $addr: $out"
done

kill -TERM "$server_pid"
wait "$server_pid" || fail "crossbridge-server exited $? on SIGTERM" "$tmp/server.err"
server_pid=""
rc=0
"$consumer_build/consumer" "$addr" > "$tmp/consumer.out" 2> "$tmp/consumer.err" || rc=$?
[ "$rc" -eq 1 ] || fail "consumer against the stopped server exited $rc; expected 1" "$tmp/consumer.err"
step "consumer against the stopped server: exit 1 ($(head -c 120 "$tmp/consumer.err"))"

echo "check_install: PASS: installed to a temporary prefix, found by find_package and pkg-config, consumer allowed by the installed server"
