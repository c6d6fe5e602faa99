#!/usr/bin/env bash
# Installs the Debian 12 packages CrossBridge builds, tests and runs with.
#   scripts/install-deps.sh              everything: build, tests, fuzzing, bench
#   scripts/install-deps.sh --build-only what building the server, the CLI and
#                                        the SDK needs (the Dockerfile's build
#                                        stage), nothing for the tests
# Idempotent: does nothing when every package is already installed. Needs root
# (or sudo) only when something is missing.
set -euo pipefail

BUILD_PACKAGES=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libspdlog-dev libhiredis-dev
  libcurl4-openssl-dev prometheus-cpp-dev libssl-dev
  libcli11-dev
)
TEST_PACKAGES=(
  libgtest-dev libgmock-dev
  redis-server
  prometheus curl jq
  openssl
  clang-14 libclang-rt-14-dev
  golang-1.19-go golang-github-masterminds-sprig-dev
  golang-github-ghodss-yaml-dev golang-github-xeipuuv-gojsonschema-dev
)
case "${1:-}" in
  "") PACKAGES=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
      # The chart tests validate manifests with npm packages: Node.js from
      # Debian when the machine has none of its own.
      command -v node >/dev/null && command -v npm >/dev/null || PACKAGES+=(nodejs npm) ;;
  --build-only) PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--build-only]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
