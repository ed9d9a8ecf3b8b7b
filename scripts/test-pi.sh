#!/usr/bin/env bash
# Cross-builds lookout for the Pi (aarch64) against an arm64 Debian sysroot made
# from Debian packages, checks the binaries are aarch64 ELF, and runs the C++
# test suite under qemu-aarch64 with QEMU_CPU set to a Pi core.
#   scripts/test-pi.sh [extra ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --cross
scripts/build.sh pi
for exe in build-aarch64/app/lookoutd build-aarch64/app/lookout; do
  file -b "$exe" | grep -q "ARM aarch64" || { echo "error: $exe is not an aarch64 executable" >&2; exit 1; }
done
echo "test-pi: lookoutd and lookout are ARM aarch64 executables"
# ctest runs each test binary through qemu-aarch64 (CMAKE_CROSSCOMPILING_EMULATOR);
# tests that start lookoutd or lookout as child processes run them through the
# same emulator (launcher scripts, tests/CMakeLists.txt), so binfmt_misc is
# not needed.
# Tests labelled slow (yolov5n parity at 640, long soak tests) take many minutes
# under instruction emulation; they run natively in scripts/test.sh.
ctest --preset pi -j "${LOOKOUT_JOBS:-$(nproc)}" -LE slow "$@"
