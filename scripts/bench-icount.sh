#!/usr/bin/env bash
# bench-icount.sh — aarch64 instructions per engine stage, counted under qemu.
#
# Usage: scripts/bench-icount.sh [options] -- PROBE_ARGS...
#
#   Runs the cross-built lookout-engine-probe (app/engine/tools/engine_probe.cpp)
#   twice under qemu-aarch64 with the instruction-counting plugin, with
#   `-n N` and `-n 0` iterations, and prints (count(N) - count(0)) / N: the
#   instructions of one iteration, with start-up and model loading cancelled
#   (see ../shared/tools/qemu-icount/README.md).
#
# Options:
#   --build DIR     aarch64 build directory holding app/engine/lookout-engine-probe
#                   (default: build-engine/aarch64)
#   --sysroot DIR   arm64 sysroot (default: the build's LOOKOUT_SYSROOT)
#   --plugin FILE   libicount.so (default: built by scripts/build-icount.sh into
#                   build-engine/tools)
#   --cpu NAME      qemu CPU (default cortex-a72)
#   -n N            iterations of the counted run (default 1)
#   --env K=V       extra environment for the guest (repeatable), e.g.
#                   LD_LIBRARY_PATH=/usr/lib/aarch64-linux-gnu/blas
#   -h, --help      this help
#
# Example (one yolov5n forward at 640x640, each backend, 1 thread):
#   for b in onednn blas xnnpack; do
#     scripts/bench-icount.sh -- forward --model M.torchscript --backend $b --threads 1 \
#         --width 640 --height 640 --imgsz 640
#   done
#
# Prints one line: "<insns per iteration> <count N> <count 0> <args>".
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

repo=$repo_root
build=$repo/build-engine/aarch64
sysroot=""
plugin=""
cpu=cortex-a72
n=1
envs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --sysroot) sysroot=$2; shift 2 ;;
    --plugin) plugin=$2; shift 2 ;;
    --cpu) cpu=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    --env) envs+=("$2"); shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    --) shift; break ;;
    *) die "unknown option '$1' (probe arguments go after --)" ;;
  esac
done
[ $# -gt 0 ] || die "no probe arguments (after --)"
probe=$build/app/engine/lookout-engine-probe
[ -x "$probe" ] || die "$probe not found: configure $build with toolchains/aarch64-linux-gnu.cmake and build lookout-engine-probe"
if [ -z "$sysroot" ]; then
  sysroot=$(sed -n 's/^LOOKOUT_SYSROOT:PATH=//p' "$build/CMakeCache.txt")
fi
[ -d "$sysroot" ] || die "sysroot '$sysroot' not found (scripts/make-sysroot.sh)"
[ -n "$plugin" ] || plugin=$("$repo/scripts/build-icount.sh" "$repo/build-engine/tools")
command -v qemu-aarch64 >/dev/null || die "qemu-aarch64 not found (apt install qemu-user)"

count() {
  local out
  out=$(env OMP_NUM_THREADS=1 QEMU_CPU="$cpu" "${envs[@]}" \
        qemu-aarch64 -L "$sysroot" -plugin "$plugin,inline=on" -d plugin "$probe" "$@" 2>&1) ||
    { echo "$out" >&2; die "probe failed: $*"; }
  echo "$out" | sed -n 's/^icount: insns=\([0-9]*\).*/\1/p' | head -1
}
with=$(count "$@" -n "$n")
without=$(count "$@" -n 0)
per=$(( (with - without) / n ))
echo "$per $with $without $*"
