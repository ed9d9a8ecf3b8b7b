#!/usr/bin/env bash
# build-icount.sh — build the qemu-user instruction-counting plugin (libicount.so).
#
# Usage: scripts/build-icount.sh [options] [OUTDIR]
#
#   OUTDIR  where libicount.so goes (default: <repo>/build/tools)
#
# Options:
#   --source FILE    plugin source (default: $LOOKOUT_ICOUNT_SRC, else
#                    <repo>/../shared/tools/qemu-icount/icount.c)
#   --sysroot DIR    after building, smoke-test the plugin: run an aarch64
#                    program from DIR under qemu-aarch64 -L DIR and check that
#                    it prints "icount: insns=N" with N > 0
#   --force          rebuild even if libicount.so is newer than the source
#   -h, --help       this help
#
# Prints the path of libicount.so on stdout. Use it as (see the source's README.md):
#
#   OMP_NUM_THREADS=1 QEMU_CPU=cortex-a72 \
#     qemu-aarch64 -L "$SYSROOT" -plugin "$OUTDIR/libicount.so,inline=on" -d plugin ./prog args
#
# Needs the host C compiler (gcc) and, for running, the dynamically linked
# qemu-aarch64 from Debian's qemu-user (qemu-aarch64-static has no -plugin).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

src=${LOOKOUT_ICOUNT_SRC:-$repo_root/../shared/tools/qemu-icount/icount.c}
outdir=""
sysroot=""
force=0

while [ $# -gt 0 ]; do
  case "$1" in
    --source) need_arg "$@"; src=$2; shift 2 ;;
    --source=*) src=${1#*=}; shift ;;
    --sysroot) need_arg "$@"; sysroot=$2; shift 2 ;;
    --sysroot=*) sysroot=${1#*=}; shift ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$outdir" ] || die "more than one OUTDIR given ('$outdir' and '$1')"; outdir=$1; shift ;;
  esac
done
[ -n "$outdir" ] || outdir="$repo_root/build/tools"

[ -f "$src" ] || die "plugin source not found: $src (use --source FILE or LOOKOUT_ICOUNT_SRC)"
cc=${CC:-gcc}
command -v "$cc" >/dev/null || die "C compiler '$cc' not found (apt install gcc)"

mkdir -p "$outdir"
out="$(cd "$outdir" && pwd)/libicount.so"
if [ "$force" = 1 ] || [ ! -f "$out" ] || [ "$src" -nt "$out" ]; then
  # Build next to the target and rename: never leaves a truncated .so behind.
  "$cc" -O2 -shared -fPIC -Wall -o "$out.tmp.$$" "$src" || { rm -f "$out.tmp.$$"; die "compiling $src failed"; }
  mv -f "$out.tmp.$$" "$out"
  note "built $out"
else
  note "$out is up to date"
fi

if [ -n "$sysroot" ]; then
  [ -d "$sysroot" ] || die "--sysroot: no such directory: $sysroot"
  qemu=$(command -v qemu-aarch64) || die "qemu-aarch64 not found (apt install qemu-user)"
  probe=""
  for p in usr/bin/true bin/true usr/bin/tar usr/bin/dpkg; do
    if [ -f "$sysroot/$p" ]; then probe="$sysroot/$p"; break; fi
  done
  [ -n "$probe" ] || die "no aarch64 program found in $sysroot to test with"
  # -d plugin sends the plugin's output to stderr (qemu's log)
  log=$(QEMU_CPU=cortex-a72 "$qemu" -L "$sysroot" -plugin "$out,inline=on" -d plugin "$probe" --version 2>&1 >/dev/null) \
    || die "qemu-aarch64 with the plugin failed on $probe: $log"
  insns=$(sed -n 's/^icount: insns=\([0-9]*\).*/\1/p' <<<"$log")
  if [ -z "$insns" ] || [ "$insns" -le 0 ]; then die "no 'icount: insns=N' from the plugin; qemu said: $log"; fi
  note "smoke test: ${probe#"$sysroot"/} --version ran $insns aarch64 instructions"
fi
echo "$out"
