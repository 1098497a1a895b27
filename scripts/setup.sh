#!/usr/bin/env bash
# Installs the Debian 12 packages Hark needs (when missing), then configures
# and builds it with CMake.
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
# Environment: CI=true turns warnings into errors.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(build-essential cmake pkg-config libgrpc++-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler libabsl-dev libspdlog-dev libsqlite3-dev
  libyaml-cpp-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libjemalloc-dev libzstd-dev)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "==> installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "Hark needs these Debian packages. Install them, then run this again:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

build_dir="${1:-build}"
shift || true
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ "${CI:-}" = "true" ]; then cmake_args+=(-DHARK_WERROR=ON); fi
jobs="$(nproc 2>/dev/null || echo 2)"

echo "==> configuring $build_dir"
cmake -S . -B "$build_dir" "${cmake_args[@]}" "$@" >/dev/null
echo "==> building in $build_dir ($jobs jobs)"
cmake --build "$build_dir" -j "$jobs"
