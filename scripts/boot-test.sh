#!/usr/bin/env bash
# boot-test.sh — boot the SD image under qemu-system-aarch64 and check that
# lookoutd serves detections to a client on the host.
#
# Usage: scripts/boot-test.sh [options]
#
#   --image FILE     the image (default: <repo>/build-image/lookout-pi-arm64.img)
#   --budget SEC     give up after this long (default: 900; see below)
#   --port N         host port forwarded to the guest's 7878 (default: a free one)
#   --smp N          emulated cores (default: 2)
#   --keep           keep the scratch dir (overlay disk, console log)
#   -h, --help       this help
#
# The image's own kernel and initrd (vmlinuz and initrd.img, read from its FAT
# partition with mtools: what the Pi's firmware boots) start under
# `qemu-system-aarch64 -M virt -cpu cortex-a72` (TCG) with the root file system
# on a virtio disk (a qcow2 overlay: the image is not modified) and user-mode
# networking with 127.0.0.1:PORT forwarded to the guest's port 7878. systemd
# brings up lookout-firstboot, networkd and lookoutd from the image as on a Pi;
# the configured source (synthetic in the default lookout.yaml) runs. From the
# host, a client must then receive the lookout/1 "hello" and at least one
# "detections" message with a detection in it.
#
# Time budget: 900 s by default, measured with 2 emulated cores on a 2-core
# x86-64 host (see scripts/PACKAGING.md for the figures). Too slow for every CI
# run: CI runs it when packaging files change (scripts/make-*.sh, scripts/image/,
# scripts/deb/, systemd/). Prints the phase timings; exit 0 on success.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
die() { echo "$prog: FAIL: $*" >&2; exit 1; }  # a failure here is the test's verdict

image="$repo_root/build-image/lookout-pi-arm64.img"
budget=900
port=""
smp=2
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --image) need_arg "$@"; image=$2; shift 2 ;;
    --budget) need_arg "$@"; budget=$2; shift 2 ;;
    --port) need_arg "$@"; port=$2; shift 2 ;;
    --smp) need_arg "$@"; smp=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -f "$image" ] || die "no image at $image (scripts/make-image.sh)"
image="$(cd "$(dirname "$image")" && pwd)/$(basename "$image")"   # qemu-img resolves the backing file from the overlay's directory
for t in qemu-system-aarch64 qemu-img mcopy sfdisk python3; do
  command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh --image)"
done
py=/usr/bin/python3
[ -x "$py" ] || py=python3

scratch=$(mktemp -d "${TMPDIR:-/tmp}/lookout-boot.XXXXXX")
qemu_pid=""
cleanup() {
  local rc=$?
  if [ -n "$qemu_pid" ] && kill -0 "$qemu_pid" 2>/dev/null; then
    kill "$qemu_pid" 2>/dev/null || true
    wait "$qemu_pid" 2>/dev/null || true
  fi
  if [ "$keep" = 1 ] || [ "$rc" -ne 0 ]; then note "console log and overlay kept in $scratch"
  else rm -rf -- "$scratch"; fi
}
trap cleanup EXIT

# ---- kernel and initrd from the image's FAT partition ----------------------------------
fw_start=$(sfdisk -d "$image" | awk -F'[=,]' '/^[^ ]+1 :/ { gsub(/ /, "", $2); print $2 }')
[ -n "$fw_start" ] || die "cannot read partition 1 of $image"
fat="$image@@$((fw_start * 512))"
# Plain vmlinuz / initrd.img, or the versioned names bookworm's raspi-firmware
# writes (vmlinuz-6.1.0-N-arm64), whichever the FAT partition holds.
fat_file() {  # fat_file PLAIN: the name on the FAT partition
  local names
  names=$(mdir -b -i "$fat" :: 2>/dev/null | sed 's|^::/||' | grep -E "^$1(-.*)?\$" | sort)
  if echo "$names" | grep -qx "$1"; then echo "$1"; return; fi
  [ "$(echo "$names" | grep -c .)" -eq 1 ] || die "expected one $1 on the image's FAT partition, found: ${names:-none}"
  echo "$names"
}
kernel_name=$(fat_file vmlinuz)
initrd_name=$(fat_file initrd.img)
mcopy -n -i "$fat" "::$kernel_name" "$scratch/vmlinuz" || die "cannot read $kernel_name from the image's FAT partition"
mcopy -n -i "$fat" "::$initrd_name" "$scratch/initrd.img" || die "cannot read $initrd_name from the image's FAT partition"
mcopy -n -i "$fat" ::cmdline.txt "$scratch/cmdline.txt" || die "no cmdline.txt on the image's FAT partition"
if gzip -t "$scratch/vmlinuz" 2>/dev/null; then   # Debian's arm64 vmlinuz is a gzipped Image
  gzip -dc "$scratch/vmlinuz" >"$scratch/Image"
else
  cp "$scratch/vmlinuz" "$scratch/Image"
fi
# The Pi's command line, with the console moved to the virt machine's PL011 UART.
cmdline=$(tr -d '\n' <"$scratch/cmdline.txt" | sed -E 's/(^| )console=[^ ]*//g')
cmdline="$cmdline console=ttyAMA0"
grep -q 'root=' <<<"$cmdline" || die "cmdline.txt has no root=: $cmdline"
qemu-img create -q -f qcow2 -b "$image" -F raw "$scratch/disk.qcow2"

if [ -z "$port" ]; then
  port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
fi

start=$(date +%s)
elapsed() { echo $(($(date +%s) - start)); }
note "booting $(basename "$image") (smp $smp, budget ${budget} s, port 127.0.0.1:$port -> 7878)"
note "kernel command line: $cmdline"
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp "$smp" -m 2048 -accel tcg,thread=multi \
  -kernel "$scratch/Image" -initrd "$scratch/initrd.img" -append "$cmdline" \
  -drive file="$scratch/disk.qcow2",if=none,id=hd0,format=qcow2 -device virtio-blk-pci,drive=hd0 \
  -netdev user,id=net0,hostfwd=tcp:127.0.0.1:"$port"-:7878 -device virtio-net-pci,netdev=net0,romfile= \
  -device virtio-rng-pci \
  -display none -monitor none -serial file:"$scratch/console.log" -no-reboot &
qemu_pid=$!

console_tail() { tail -n "${1:-40}" "$scratch/console.log" 2>/dev/null | sed 's/^/  | /' >&2; }
t_login="" t_lookoutd="" 
client_out="$scratch/client.json"
while :; do
  kill -0 "$qemu_pid" 2>/dev/null || { console_tail; die "qemu exited after $(elapsed) s"; }
  now=$(elapsed)
  [ "$now" -lt "$budget" ] || { console_tail 60; die "no detections within the budget of $budget s"; }
  if [ -z "$t_login" ] && grep -qa -e 'login:' -e 'Reached target.*Multi-User' "$scratch/console.log" 2>/dev/null; then
    t_login=$now; note "multi-user after ${t_login} s"
  fi
  if [ -z "$t_lookoutd" ] && grep -qa 'Started.*lookoutd' "$scratch/console.log" 2>/dev/null; then
    t_lookoutd=$now; note "lookoutd.service started after ${t_lookoutd} s"
  fi
  if grep -qa -e 'Kernel panic' -e 'Failed to start.*lookoutd' -e 'Give root password' -e 'emergency mode' "$scratch/console.log" 2>/dev/null; then
    console_tail 60; die "boot failed (see the console above)"
  fi
  # A client: connect, expect hello, then detections with at least one box.
  # Before the guest listens, the user-mode stack accepts and closes at once.
  if "$py" - "$port" "$client_out" <<'EOF' 2>"$scratch/client.err"
import json, socket, sys, time
port, out = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.settimeout(120)
f = s.makefile("r", encoding="utf-8")
first = f.readline()
if not first:
    sys.exit(2)  # nobody listening yet
hello = json.loads(first)
if hello.get("type") != "hello":
    sys.exit("first message is not hello: " + first.strip())
deadline = time.time() + 300
seen = 0
for line in f:
    msg = json.loads(line)
    if msg.get("type") == "detections":
        seen += 1
        if msg.get("detections"):
            with open(out, "w") as o:
                o.write(first + line)
            sys.exit(0)
    if time.time() > deadline:
        break
sys.exit("%d detections messages, none with a detection" % seen)
EOF
  then
    t_det=$(elapsed)
    note "hello: $(head -n1 "$client_out" | cut -c1-300)"
    note "detections: $(sed -n 2p "$client_out" | cut -c1-300)"
    note "PASS: multi-user ${t_login:-?} s, lookoutd started ${t_lookoutd:-?} s, detections received ${t_det} s (budget ${budget} s)"
    exit 0
  else
    rc=$?
    if [ "$rc" -ne 2 ] && [ -s "$scratch/client.err" ] && ! grep -q -e 'Connection' -e 'timed out' "$scratch/client.err"; then
      note "client: $(tail -n1 "$scratch/client.err")"
    fi
  fi
  sleep 5
done
