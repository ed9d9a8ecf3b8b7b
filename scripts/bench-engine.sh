#!/usr/bin/env bash
# bench-engine.sh — host wall-time benchmarks of the engine, as markdown rows
# for app/engine/BENCHMARKS.md.
#
# Usage: scripts/bench-engine.sh [options] MODEL
#
#   For each backend and thread count: `lookout bench` (end-to-end detect
#   vs. a bare forward loop on the same model, input and threads), then the
#   preprocessing of a 1920x1080 frame to a 640 input in each pixel format and
#   decode+NMS over 25,200 candidates (lookout-engine-probe).
#
# Options:
#   --build DIR       build directory with app/lookout and
#                     app/engine/lookout-engine-probe (default: build-engine)
#   --source SRC      frames for `lookout bench` (default: synthetic 1920x1080)
#   --frames N        frames per bench run (default 60)
#   --backends LIST   comma-separated (default: onednn,blas,xnnpack,auto)
#   --threads LIST    comma-separated intra-op thread counts (default: 1 and
#                     all cores)
#   -h, --help        this help
#
# Wall times are only comparable within one run on an otherwise idle machine;
# the script prints the load average first so a busy run is recognisable.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

repo=$repo_root
build=$repo/build-engine
source_arg=synthetic
frames=60
backends=onednn,blas,xnnpack,auto
threads="1,$(nproc)"
model=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --source) source_arg=$2; shift 2 ;;
    --frames) frames=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    --threads) threads=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) model=$1; shift ;;
  esac
done
[ -n "$model" ] || die "no MODEL given (see --help)"
lookout=$build/app/lookout
probe=$build/app/engine/lookout-engine-probe
[ -x "$lookout" ] && [ -x "$probe" ] || die "build lookout and lookout-engine-probe in $build first"
command -v python3 >/dev/null || die "python3 needed to format the JSON"

echo "host: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $model; source: $source_arg"
echo
echo "| backend | threads | input | forward p50 ms | e2e p50 ms | e2e fps | bare fps | ratio (pipelined) | ratio (serial) | preprocess p50 ms | postprocess p50 ms |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
IFS=, read -r -a backend_list <<< "$backends"
IFS=, read -r -a thread_list <<< "$threads"
for b in "${backend_list[@]}"; do
  for t in "${thread_list[@]}"; do
    "$lookout" bench --model "$model" --source "$source_arg" --frames "$frames" --warmup 5 \
        --backend "$b" --threads "$t" --json 2>/dev/null |
      python3 -c '
import json, sys
j = json.load(sys.stdin)
s = j["stages_ms"]
name = j["backend"] + (" (auto)" if sys.argv[1] == "auto" else "")
size = "%dx%d" % (j["input"]["width"], j["input"]["height"])
print("| %s | %d | %s | %.1f | %.1f | %.2f | %.2f | %.3f | %.3f | %.2f | %.2f |" % (
    name, j["threads"], size, s["forward"]["p50"], s["total"]["p50"], j["fps"]["end_to_end"],
    j["fps"]["bare_forward"], j["throughput_ratio"], j["serial_throughput_ratio"],
    s["preprocess"]["p50"], s["postprocess"]["p50"]))
' "$b"
  done
done
echo
echo "| stage | frame | ms per frame (wall) | thread CPU ms |"
echo "| --- | --- | --- | --- |"
for f in RGB24 BGR24 I420 NV12 YUYV GRAY8; do
  "$probe" preprocess --width 1920 --height 1080 --format "$f" --imgsz 640 -n 200 |
    sed -n 's/^preprocess: .* \([0-9.]*\) ms each (thread CPU \([0-9.]*\) ms each)/| preprocess to 640x384 | 1920x1080 '"$f"' | \1 | \2 |/p'
done
"$probe" nms -n 50 | sed -n \
  -e 's/^decode+nms: .* \([0-9.]*\) ms each (thread CPU \([0-9.]*\) ms each)/| decode + NMS, 25,200 candidates all over the threshold | - | \1 | \2 |/p' \
  -e 's/^  decode \([0-9.]*\) ms, nms \([0-9.]*\) ms.*/| (of which decode \1 ms, NMS \2 ms, thread CPU) | | | |/p'
