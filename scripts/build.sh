#!/usr/bin/env bash
# Configures and builds one CMake preset (default: release); see CMakePresets.json.
#   scripts/build.sh [release|debug-asan|pi] [extra cmake -D options...]
# The pi preset first makes (or reuses) the arm64 sysroot in build-aarch64/sysroot.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
jobs="${LOOKOUT_JOBS:-$(nproc)}"
if [ "$preset" = pi ]; then
  scripts/make-sysroot.sh build-aarch64/sysroot
fi
cmake --preset "$preset" "$@" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
