#!/usr/bin/env bash
# Checks systemd/lookoutd.service and systemd/lookout.sysusers.conf:
#  * systemd-analyze verify reports nothing (it exits 0 even for unknown
#    settings, so any output is a failure), and does report a broken copy;
#  * systemd-analyze security --offline rates its exposure at 1.6 or less;
#  * the settings the daemon depends on are there;
#  * systemd-sysusers accepts the sysusers.d file.
# Usage: check_unit.sh SYSTEMD_DIR LOOKOUTD_BINARY. Exit 77 (skip) without systemd-analyze.
set -euo pipefail
src=$1
binary=$2
if ! command -v systemd-analyze >/dev/null; then
  echo "skipped: systemd-analyze not installed (package systemd)"
  exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The unit as installed, but with the binary under test (verify checks ExecStart exists).
sed "s|/usr/sbin/lookoutd|$binary|g" "$src/lookoutd.service" > "$work/lookoutd.service"

out=$(cd "$work" && systemd-analyze verify ./lookoutd.service 2>&1) || fail "verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify complained:
$out"
# The check itself must be able to fail.
sed 's/^Type=notify$/Type=notifyy/' "$work/lookoutd.service" > "$work/broken.service"
out=$(cd "$work" && systemd-analyze verify ./broken.service 2>&1 || true)
[ -n "$out" ] || fail "verify did not notice a broken unit"

# Exposure is reported 0.0..10.0; --threshold takes tenths (fails above it).
report=$(cd "$work" && systemd-analyze security --offline=true --threshold=16 ./lookoutd.service 2>&1) ||
  fail "security exposure above 1.6:
$report"
echo "$report" | tail -n 1
echo "$report" | grep -Eq "Overall exposure level for lookoutd.service: [0-9.]+ (OK|SAFE|PERFECT)" ||
  fail "unexpected security report:
$report"

# Settings the daemon relies on (and the issue asks for).
for setting in \
    "Type=notify" "WatchdogSec=" "Restart=on-failure" "RestartPreventExitStatus=78" \
    "ExecReload=/bin/kill -HUP \$MAINPID" "User=lookout" "SupplementaryGroups=video" \
    "RuntimeDirectory=lookout" "StateDirectory=lookout" "ProtectSystem=strict" "PrivateTmp=yes" "NoNewPrivileges=yes" \
    "RestrictAddressFamilies=" "SystemCallFilter=@system-service" "CapabilityBoundingSet=" \
    "ExecStart=/usr/sbin/lookoutd --config /etc/lookout/lookout.yaml" \
    "LimitNOFILE=" "MemoryHigh=" "MemoryMax=" "OOMPolicy=continue" "StartLimitIntervalSec=" "StartLimitBurst="; do
  grep -qF -- "$setting" "$src/lookoutd.service" || fail "lookoutd.service lacks $setting"
done

if command -v systemd-sysusers >/dev/null; then
  mkdir -p "$work/root/etc"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$work/root/etc/passwd"
  printf 'root:x:0:\nvideo:x:44:\n' > "$work/root/etc/group"
  out=$(systemd-sysusers --dry-run --root="$work/root" "$src/lookout.sysusers.conf" 2>&1) ||
    fail "systemd-sysusers rejected lookout.sysusers.conf: $out"
  echo "$out" | grep -q "Creating user 'lookout'" || fail "sysusers would not create lookout: $out"
fi
echo "lookoutd.service: verify clean, security OK, sysusers OK"
