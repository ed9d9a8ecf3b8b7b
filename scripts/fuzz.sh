#!/usr/bin/env bash
# Runs every libFuzzer target of tests/fuzz for SECONDS each (default 600),
# built by the `fuzz` preset (clang, AddressSanitizer + UndefinedBehaviorSanitizer)
# in build-fuzz/. Each starts from its seed corpus tests/fuzz/corpus/<target>
# (read only) and grows a working corpus in build-fuzz/fuzz-corpus/<target>,
# which later runs continue from. A crash stops that target and the script
# fails; the input is in build-fuzz/fuzz-artifacts/<target>/. Add it to
# tests/fuzz/corpus/<target> with the fix, so the normal suite replays it.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     e.g. scripts/fuzz.sh 60 (CI), scripts/fuzz.sh 600 image
#
# Prints, per target, the executions and seconds run. Inputs are capped at
# 1 MiB and each run at 2 GiB of memory (-rss_limit_mb): a leak or a bomb
# fails as a crash does.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(config client_line image mjpeg letterbox model_config model_file)

scripts/install-deps.sh
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "${LOOKOUT_JOBS:-$(nproc)}"

# Leaks that are libtorch's own, once per process (tests/fuzz/lsan.supp).
export LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

failed=0
report=()
for target in "${targets[@]}"; do
  binary=build-fuzz/tests/fuzz/fuzz_$target
  [ -x "$binary" ] || { echo "fuzz: no target $target" >&2; exit 2; }
  work=build-fuzz/fuzz-corpus/$target
  artifacts=build-fuzz/fuzz-artifacts/$target
  rm -rf "$artifacts"
  mkdir -p "$work" "$artifacts"
  log=build-fuzz/fuzz-$target.log
  start=$(date +%s)
  status=0
  "$binary" -max_total_time="$seconds" -max_len=1048576 -rss_limit_mb=2048 -timeout=30 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "tests/fuzz/corpus/$target" \
    >"$log" 2>&1 || status=$?
  elapsed=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$status" = 0 ]; then
    report+=("$(printf '%-13s %12s executions in %5d s, no crash' "$target" "${runs:-?}" "$elapsed")")
  else
    failed=1
    report+=("$(printf '%-13s %12s executions in %5d s, CRASH (exit %d): %s, log %s' "$target" \
      "${runs:-?}" "$elapsed" "$status" "$(ls "$artifacts" | head -n 1)" "$log")")
    grep -E "^(==[0-9]+==ERROR|SUMMARY)|runtime error" "$log" | head -n 5 >&2 || true
  fi
done
printf '%s\n' "${report[@]}"
exit "$failed"
