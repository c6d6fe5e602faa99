#!/usr/bin/env bash
# Installs the Debian 12 packages CrossBridge builds, tests and runs with.
# Idempotent: does nothing when every package is already installed. Needs root
# (or sudo) only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libyaml-cpp-dev libspdlog-dev libhiredis-dev
  libgtest-dev libgmock-dev
  redis-server
  libcurl4-openssl-dev
  prometheus-cpp-dev
  prometheus curl jq
  openssl libssl-dev
  clang-14 libclang-rt-14-dev
  libcli11-dev
  golang-1.19-go golang-github-masterminds-sprig-dev
  golang-github-ghodss-yaml-dev golang-github-xeipuuv-gojsonschema-dev
)
# The chart tests validate manifests with npm packages: Node.js from Debian
# when the machine has none of its own.
command -v node >/dev/null && command -v npm >/dev/null || PACKAGES+=(nodejs npm)

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
