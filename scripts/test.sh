#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds lookout and runs every test (C++ doctest
# suites and the models/ pytest suite, through ctest). Tests that need
# ../shared/data skip with a message when it is absent.
#   scripts/test.sh [release|debug-asan] [extra ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
scripts/install-deps.sh
scripts/build.sh "$preset"
ctest --preset "$preset" -j "${LOOKOUT_JOBS:-$(nproc)}" "$@"
