#!/usr/bin/env bash
# firstboot_test.sh — runs scripts/image/lookout-firstboot (the SD image's
# first-boot settings script) against a fake root directory and a fake boot
# partition folder, and checks what it changed and what it refused.
#
# Usage: tests/scripts/firstboot_test.sh [LOOKOUTD]
#   LOOKOUTD  a lookoutd binary; when it has --check-config, the lookout.yaml
#             override is validated with it (a bad file must be refused)
set -euo pipefail

prog=${0##*/}
fail() { echo "$prog: FAIL: $*" >&2; exit 1; }
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
script="$repo_root/scripts/image/lookout-firstboot"
lookoutd=${1:-}
t=$(mktemp -d "${TMPDIR:-/tmp}/lookout-firstboot.XXXXXX")
trap 'rm -rf -- "$t"' EXIT

fake_root() {
  rm -rf "$t/root" "$t/boot"
  mkdir -p "$t/root/etc/lookout" "$t/root/etc/ssh" "$t/root/root" "$t/boot"
  echo lookout >"$t/root/etc/hostname"
  printf '127.0.0.1\tlocalhost\n127.0.1.1\tlookout\n' >"$t/root/etc/hosts"
  printf 'camera: ""\n' >"$t/root/etc/lookout/lookout.yaml"
}
run() {
  LOOKOUT_ROOT="$t/root" LOOKOUT_BOOT_DIR="$t/boot" LOOKOUT_CHECKER="$lookoutd" \
    sh "$script" >"$t/out" 2>"$t/err"
}

# ---- 1. nothing on the boot partition: only SSH host keys are made ------------------------
fake_root
run || fail "empty boot dir: exit $? ($(cat "$t/err"))"
[ "$(cat "$t/root/etc/hostname")" = lookout ] || fail "hostname changed without a file"
if command -v ssh-keygen >/dev/null; then
  ls "$t"/root/etc/ssh/ssh_host_ed25519_key >/dev/null 2>&1 || fail "no SSH host keys generated"
  key1=$(cat "$t/root/etc/ssh/ssh_host_ed25519_key.pub")
  run || fail "second run: exit $?"
  [ "$key1" = "$(cat "$t/root/etc/ssh/ssh_host_ed25519_key.pub")" ] || fail "host keys regenerated on the second boot"
fi

# ---- 2. every setting, valid (with Windows line ends, as a PC editor may write) ---------
fake_root
printf 'pi-garage\r\n' >"$t/boot/hostname"
key='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk2ZbbXeZcLTuK5s1QWiy0pH7ST3jbZ8gVq3d4Jmz5L me@pc'
printf '# my key\r\n%s\r\n\r\n' "$key" >"$t/boot/authorized_keys"
printf 'ssid=Home Net\npsk=correct horse battery\ncountry=DE\n' >"$t/boot/wifi.conf"
printf 'camera: "garage"\nsource:\n  type: synthetic\n' >"$t/boot/lookout.yaml"
run || fail "valid settings: exit $? ($(cat "$t/err"))"
[ "$(cat "$t/root/etc/hostname")" = pi-garage ] || fail "hostname is '$(cat "$t/root/etc/hostname")'"
grep -qP '^127\.0\.1\.1\tpi-garage$' "$t/root/etc/hosts" || fail "/etc/hosts: $(cat "$t/root/etc/hosts")"
[ "$(grep -c 127.0.1.1 "$t/root/etc/hosts")" = 1 ] || fail "/etc/hosts has several 127.0.1.1 lines"
[ "$(cat "$t/root/root/.ssh/authorized_keys")" = "$key" ] || fail "authorized_keys: $(cat -A "$t/root/root/.ssh/authorized_keys")"
[ "$(stat -c %a "$t/root/root/.ssh")" = 700 ] || fail "/root/.ssh mode $(stat -c %a "$t/root/root/.ssh")"
[ "$(stat -c %a "$t/root/root/.ssh/authorized_keys")" = 600 ] || fail "authorized_keys mode"
wpa="$t/root/etc/wpa_supplicant/wpa_supplicant-wlan0.conf"
[ -f "$wpa" ] || fail "no wpa_supplicant-wlan0.conf"
grep -qx 'country=DE' "$wpa" || fail "wpa: no country=DE"
grep -qx '  ssid="Home Net"' "$wpa" || fail "wpa: ssid: $(cat "$wpa")"
grep -qx '  psk="correct horse battery"' "$wpa" || fail "wpa: psk: $(cat "$wpa")"
[ "$(stat -c %a "$wpa")" = 600 ] || fail "wpa conf readable by others (mode $(stat -c %a "$wpa"))"
if command -v wpa_supplicant >/dev/null; then
  wpa_supplicant -c "$wpa" -i lo -D none 2>&1 | grep -qi 'failed to parse' && fail "wpa_supplicant cannot parse the file"
fi
[ -L "$t/root/etc/systemd/system/multi-user.target.wants/wpa_supplicant@wlan0.service" ] \
  || fail "wpa_supplicant@wlan0 not enabled"
cmp -s "$t/boot/lookout.yaml" "$t/root/etc/lookout/lookout.yaml" || fail "lookout.yaml not installed"
[ "$(stat -c %a "$t/root/etc/lookout/lookout.yaml")" = 644 ] || fail "lookout.yaml mode"
grep -q 'pi-garage' "$t/out" || fail "no log line for the host name"

# Idempotent: a second boot with the same files changes nothing and logs nothing.
before=$(cd "$t/root" && find . -printf '%p %m %s %T@\n' | sort)
run || fail "second run: exit $?"
after=$(cd "$t/root" && find . -printf '%p %m %s %T@\n' | sort)
[ "$before" = "$after" ] || fail "second run changed files: $(diff <(echo "$before") <(echo "$after"))"
[ ! -s "$t/out" ] || fail "second run logged: $(cat "$t/out")"

# ---- 3. invalid settings are refused and reported; nothing is half-applied --------------
fake_root
printf 'not_a valid name!\n' >"$t/boot/hostname"
printf 'ssh-ed25519 AAAAC3Nza me@pc\nthis is not a key\n' >"$t/boot/authorized_keys"
printf 'ssid=Home\npsk=short\n' >"$t/boot/wifi.conf"
if run; then fail "invalid settings: exit 0"; fi
[ "$(cat "$t/root/etc/hostname")" = lookout ] || fail "invalid hostname was applied"
grep -q 'not a valid host name' "$t/err" || fail "no error for the hostname: $(cat "$t/err")"
[ ! -e "$t/root/root/.ssh/authorized_keys" ] || fail "authorized_keys with a bad line was installed"
grep -q 'line(s) 2' "$t/err" || fail "the bad key line is not named: $(cat "$t/err")"
[ ! -e "$t/root/etc/wpa_supplicant/wpa_supplicant-wlan0.conf" ] || fail "short psk accepted"
grep -q 'psk must be 8 to 63' "$t/err" || fail "no error for the psk: $(cat "$t/err")"

# ---- 4. a lookout.yaml that lookoutd rejects is not installed ---------------------------
if [ -n "$lookoutd" ] && [ -x "$lookoutd" ] && "$lookoutd" --help 2>&1 | grep -q -- --check-config; then
  fake_root
  printf 'source:\n  type: warp-drive\n' >"$t/boot/lookout.yaml"
  if run; then fail "a bad lookout.yaml: exit 0"; fi
  [ "$(cat "$t/root/etc/lookout/lookout.yaml")" = 'camera: ""' ] || fail "a rejected lookout.yaml was installed"
  grep -q 'rejected by lookoutd --check-config' "$t/err" || fail "no error for lookout.yaml: $(cat "$t/err")"
  [ ! -e "$t/root/etc/lookout/.lookout.yaml.firstboot" ] || fail "temporary file left behind"
  echo "$prog: lookout.yaml checked with $lookoutd --check-config"
else
  echo "$prog: note: no lookoutd with --check-config given; the rejection case is not exercised"
fi
echo "$prog: PASS"
