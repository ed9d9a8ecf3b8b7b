#!/usr/bin/env bash
# Runs lookoutd's notify, pipeline, server and daemon tests (and its HTTP,
# event store and tracking tests) against sanitized builds: debug-asan
# (AddressSanitizer + UndefinedBehaviorSanitizer, build-asan/) and debug-tsan
# (ThreadSanitizer, build-tsan/). The tests start the sanitized lookoutd as a
# child process, so a report may come from the test binary or from the
# daemon; every report is written under a log_path and any report fails the
# run, whatever the test itself concluded.
#   scripts/test-sanitizers.sh [asan|tsan|both] [extra ctest arguments...]
#
# Not part of .ci/run: the two builds and the slowed-down tests take about
# as long as the rest of CI together (RELIABILITY.md has the figures).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:-both}"
shift || true
case "$which" in asan) presets=(debug-asan) ;; tsan) presets=(debug-tsan) ;;
  both) presets=(debug-asan debug-tsan) ;; *) echo "usage: $0 [asan|tsan|both]" >&2; exit 2 ;; esac
scripts/install-deps.sh
jobs="${LOOKOUT_JOBS:-$(nproc)}"
units='^app/daemon/(notify|pipeline|server|daemon|http|event_store|tracking)$'
failed=0
for preset in "${presets[@]}"; do
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs" --target lookoutd lookout test_app_daemon
  reports=$(mktemp -d "/tmp/lookout-$preset-XXXXXX")
  start=$(date +%s)
  status=0
  # halt_on_error off for TSan: one run lists every race it sees. The
  # suppressions name only what is libtorch's or OpenMP's own (see the file).
  ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
  UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
  TSAN_OPTIONS="log_path=$reports/tsan:halt_on_error=0:second_deadlock_stack=1:suppressions=$PWD/tests/support/tsan.supp${TSAN_OPTIONS:+:$TSAN_OPTIONS}" \
  LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}" \
    ctest --preset "$preset" -R "$units" -j "$jobs" --timeout 1800 "$@" || status=$?
  elapsed=$(( $(date +%s) - start ))
  found=$(find "$reports" -type f | wc -l)
  if [ "$found" -gt 0 ]; then
    echo "sanitizers: $preset: $found report file(s) in $reports:" >&2
    for f in "$reports"/*; do echo "--- $f" >&2; grep -E "^(WARNING|ERROR|SUMMARY)|runtime error|^    #[0-3] " "$f" | head -n 20 >&2; done
    failed=1
  fi
  [ "$status" = 0 ] || failed=1
  echo "sanitizers: $preset: tests exit $status, $found report(s), ${elapsed} s"
done
exit "$failed"
