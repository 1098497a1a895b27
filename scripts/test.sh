#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit and
# end-to-end). Exits non-zero on any failure.
# Under CI=true it also builds and runs the suite once more with
# AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/), or do so
# yourself with: scripts/test.sh --sanitize
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc 2>/dev/null || echo 2)"

run_suite() {
  local dir="$1"; shift
  scripts/setup.sh "$dir" "$@"
  echo "==> running tests in $dir"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

if [ "${1:-}" != "--sanitize" ]; then
  run_suite build
fi
if [ "${1:-}" = "--sanitize" ] || [ "${CI:-}" = "true" ]; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DHARK_SANITIZE=ON -DHARK_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug
fi
