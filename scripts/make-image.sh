#!/usr/bin/env bash
# make-image.sh — build a flashable SD-card image for the Raspberry Pi 4 / 400 /
# 3 / CM4 (not the Pi 5: Debian bookworm's kernel and firmware do not boot it;
# there, use Raspberry Pi OS plus the lookout package).
#
# Usage: scripts/make-image.sh [options]
#
#   --deb FILE       the arm64 lookout package (default: built now with
#                    scripts/make-deb.sh --arch arm64)
#   --out FILE       the image (default: <repo>/build-image/lookout-pi-arm64.img)
#   --mirror URL     Debian mirror (default: http://deb.debian.org/debian)
#   --size-extra MB  free space in the root file system beyond its contents
#                    (default 512; first boot grows it to the whole card anyway)
#   --keep-rootfs    keep the unpacked root tree next to the image (for debugging;
#                    also kept when the build fails)
#   --reuse-rootfs   skip mmdebstrap and assemble the image from the tree an
#                    earlier --keep-rootfs run left (developer shortcut: the
#                    lookout package inside is the one installed then)
#   -h, --help       this help
#
# Everything comes from Debian packages: a bookworm arm64 root (mmdebstrap,
# run through qemu-user binfmt), linux-image-arm64, raspi-firmware and
# firmware-brcm80211 (component non-free-firmware), systemd-networkd/resolved,
# openssh-server, wpasupplicant, and the lookout package with its dependencies.
# raspi-firmware's kernel hook fills the FAT partition (/boot/firmware: Pi
# firmware, config.txt, cmdline.txt, kernel, initrd, device trees).
# scripts/image/customize.sh adds the first-boot settings service
# (scripts/image/lookout-firstboot, reading lookout/ on the FAT partition).
#
# Layout (MBR): partition 1 FAT32 "RASPIFIRM" (256 MiB) at 4 MiB, partition 2
# ext4 "RASPIROOT". No loop devices or mounts: the file systems are made from
# directories (mkfs.ext4 -d, mtools) and written into the image at their offsets.
# Needs root. Host packages: scripts/install-deps.sh --image.
# Writes the kernel and initrd next to the image too (*.vmlinuz, *.initrd) for
# scripts/boot-test.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

deb=""
out=""
mirror=http://deb.debian.org/debian
size_extra=512
keep_rootfs=0
reuse_rootfs=0
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) need_arg "$@"; deb=$2; shift 2 ;;
    --out) need_arg "$@"; out=$2; shift 2 ;;
    --mirror) need_arg "$@"; mirror=${2%/}; shift 2 ;;
    --size-extra) need_arg "$@"; size_extra=$2; shift 2 ;;
    --keep-rootfs) keep_rootfs=1; shift ;;
    --reuse-rootfs) reuse_rootfs=1; keep_rootfs=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[[ "$size_extra" =~ ^[0-9]+$ ]] || die "--size-extra must be a number of MiB"
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap root mode, chroot): sudo $0 $*"
for t in mmdebstrap mkfs.ext4 mkfs.vfat mcopy sfdisk chroot; do
  command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh --image)"
done
# shellcheck source=scripts/image/binfmt.sh
. "$repo_root/scripts/image/binfmt.sh"
ensure_binfmt arm64 || die "cannot run arm64 binaries: need binfmt_misc and qemu-user-static"

start=$(date +%s)
elapsed() { echo "$(($(date +%s) - start)) s"; }
[ -n "$out" ] || out="$repo_root/build-image/lookout-pi-arm64.img"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
base=${out%.img}

if [ -z "$deb" ]; then
  note "building the arm64 package"
  deb=$("$repo_root/scripts/make-deb.sh" --arch arm64 | tail -n1)
fi
[ -f "$deb" ] || die "no package at $deb"
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"
[ "$(dpkg-deb -f "$deb" Architecture)" = arm64 ] || die "$deb is not an arm64 package"

work="$base.work"
rootfs="$work/rootfs"
# Unmounts everything mounted below DIR, deepest first: an interrupted
# mmdebstrap leaves /proc, /sys, /dev/pts, /dev/shm and bind mounts behind,
# and rm --one-file-system would then leave the tree half deleted.
unmount_below() {
  [ -d "$1" ] || return 0
  local dir mounts
  dir=$(cd "$1" && pwd -P)
  mounts=$(awk -v d="$dir/" 'index($2 "/", d) == 1 { print $2 }' /proc/self/mounts | sort -r)
  [ -z "$mounts" ] || note "unmounting what an earlier run left mounted below $dir"
  while IFS= read -r m; do
    if [ -n "$m" ]; then umount "$m" 2>/dev/null || umount -l "$m"; fi
  done <<< "$mounts"
}
cleanup() {
  local rc=$?
  unmount_below "$work"
  if [ "$keep_rootfs" = 0 ]; then
    [ -d "$work" ] && rm -rf --one-file-system -- "$work"
  fi
  [ "$rc" -eq 0 ] || note "failed (exit $rc) after $(elapsed)"
}
trap cleanup EXIT
unmount_below "$work"
if [ "$reuse_rootfs" = 1 ]; then
  [ -f "$work/rootfs.done" ] ||
    die "--reuse-rootfs: no finished root tree in $rootfs (make one with --keep-rootfs)"
else
  rm -rf --one-file-system -- "$work"
fi
mkdir -p "$work"

packages=(
  # boot: kernel + initramfs, the Pi firmware and its hook, Wi-Fi/Bluetooth firmware
  linux-image-arm64 initramfs-tools raspi-firmware firmware-brcm80211 zstd
  # the system
  systemd-sysv udev kmod dbus systemd-resolved systemd-timesyncd
  e2fsprogs dosfstools fdisk iproute2 iputils-ping procps less ca-certificates
  openssh-server wpasupplicant wireless-regdb
)
# raspi-firmware settings, read by its kernel hook when the kernel is installed.
raspi_default="$work/raspi-firmware"
cat >"$raspi_default" <<'EOF'
# /etc/default/raspi-firmware (written by lookout's scripts/make-image.sh)
ROOTPART=LABEL=RASPIROOT
CONSOLES="tty0 ttyS1,115200"
# No cma= on the command line: the hook cannot tell a Pi 4 from a chroot, and
# cma=64M makes a Pi 4 unbootable; the kernel's default suits 3 and 4 alike.
CMA=0
EOF

mm_args=(
  --mode=root --variant=minbase --architectures=arm64 --format=directory
  --components="main non-free-firmware"
  --aptopt='Acquire::Languages "none"'
  --aptopt='APT::Install-Recommends "false"'
  # keep /etc/default/raspi-firmware as written below instead of prompting
  --dpkgopt='force-confold'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --include="$(IFS=,; echo "${packages[*]}")"
  --include="$deb"
  --hook-dir=/usr/share/mmdebstrap/hooks/file-mirror-automount
  # raspi-firmware's hook refuses to write unless /boot/firmware is a mount
  # point: make it one (a bind mount onto itself) for the installation.
  --setup-hook='mkdir -p "$1/boot/firmware" "$1/etc/default" && mount --bind "$1/boot/firmware" "$1/boot/firmware"'
  --setup-hook="copy-in $raspi_default /etc/default"
  --customize-hook="$repo_root/scripts/image/customize.sh \"\$1\""
  --customize-hook='umount "$1/boot/firmware"'
)
if [ "$reuse_rootfs" = 1 ]; then
  note "reusing the root tree of an earlier run ($rootfs; its lookout package is the one installed then)"
else
  note "building the bookworm arm64 root with mmdebstrap (through qemu-user; about 30 minutes on 2 cores)"
  nice -n 10 mmdebstrap "${mm_args[@]}" bookworm "$rootfs" \
    "deb $mirror bookworm main non-free-firmware" \
    "deb $mirror bookworm-updates main non-free-firmware" \
    "deb http://deb.debian.org/debian-security bookworm-security main non-free-firmware" >&2
  note "root tree done after $(elapsed)"
  touch "$work/rootfs.done"
fi
ln -sfn ../run/systemd/resolve/stub-resolv.conf "$rootfs/etc/resolv.conf"

fw="$rootfs/boot/firmware"
# A reused tree: an earlier run moved the firmware files out of it.
[ ! -d "$work/firmware" ] || cp -a "$work/firmware/." "$fw/"
for f in config.txt cmdline.txt start4.elf bcm2711-rpi-4-b.dtb; do
  [ -e "$fw/$f" ] || die "raspi-firmware did not produce /boot/firmware/$f (ls: $(ls "$fw" | tr '\n' ' '))"
done
# bookworm's raspi-firmware hook copies the kernel and initrd under their
# versioned names (vmlinuz-6.1.0-N-arm64) and names them in config.txt;
# older versions used plain vmlinuz / initrd.img.
only_file() {  # only_file DIR PLAIN: DIR/PLAIN, else the one DIR/PLAIN-*
  local matches
  if [ -e "$1/$2" ]; then echo "$1/$2"; return; fi
  matches=$(find "$1" -maxdepth 1 -name "$2-*" | sort)
  [ "$(echo "$matches" | grep -c .)" -eq 1 ] ||
    die "expected one $2 in /boot/firmware, found: ${matches:-none} (ls: $(ls "$1" | tr '\n' ' '))"
  echo "$matches"
}
kernel=$(only_file "$fw" vmlinuz)
initrd=$(only_file "$fw" initrd.img)
grep -q "${kernel##*/}" "$fw/config.txt" || die "config.txt does not boot ${kernel##*/}: $(cat "$fw/config.txt")"
grep -q 'root=LABEL=RASPIROOT' "$fw/cmdline.txt" || die "cmdline.txt does not use root=LABEL=RASPIROOT: $(cat "$fw/cmdline.txt")"
grep -q 'cma=' "$fw/cmdline.txt" && die "cmdline.txt sets cma= (a Pi 4 does not boot with it): $(cat "$fw/cmdline.txt")"
cp "$kernel" "$base.vmlinuz"
cp "$initrd" "$base.initrd"
tr -d '\n' <"$fw/cmdline.txt" >"$base.cmdline"

# ---- file systems -------------------------------------------------------------------
fw_mib=256
fw_img="$work/firmware.vfat"
rm -f "$fw_img"
mkfs.vfat -F 32 -n RASPIFIRM -C "$fw_img" $((fw_mib * 1024)) >/dev/null
(cd "$fw" && mcopy -s -p -m -i "$fw_img" ./* ::/)
fw_used=$(du -sm "$fw" | cut -f1)
[ "$fw_used" -lt "$fw_mib" ] || die "firmware files ($fw_used MiB) do not fit in $fw_mib MiB"
# The FAT partition is mounted there on the Pi: empty it in the root tree, and
# keep the files beside it for --reuse-rootfs.
rm -rf "$work/firmware"
mkdir -p "$work/firmware"
cp -a "$fw/." "$work/firmware/"
find "$fw" -mindepth 1 -delete

used_mib=$(du -sm --one-file-system "$rootfs" | cut -f1)
root_mib=$(( (used_mib * 115 / 100) + size_extra ))
root_img="$work/root.ext4"
rm -f "$root_img"
note "making the ext4 root file system ($used_mib MiB used, $root_mib MiB)"
mkfs.ext4 -q -L RASPIROOT -E root_owner=0:0 -d "$rootfs" "$root_img" "${root_mib}M"

# ---- the image ------------------------------------------------------------------------
fw_start_mib=4
root_start_mib=$((fw_start_mib + fw_mib))
total_mib=$((root_start_mib + root_mib))
rm -f "$out.tmp"
truncate -s "${total_mib}M" "$out.tmp"
sfdisk -q "$out.tmp" <<EOF
label: dos
unit: sectors
start=$((fw_start_mib * 2048)), size=$((fw_mib * 2048)), type=c, bootable
start=$((root_start_mib * 2048)), size=$((root_mib * 2048)), type=83
EOF
dd if="$fw_img" of="$out.tmp" bs=1M seek="$fw_start_mib" conv=notrunc,sparse status=none
dd if="$root_img" of="$out.tmp" bs=1M seek="$root_start_mib" conv=notrunc,sparse status=none
mv -f "$out.tmp" "$out"

if [ "$keep_rootfs" = 1 ]; then note "root tree kept in $rootfs"; fi
note "built $out ($total_mib MiB, $(du -h "$out" | cut -f1) on disk) in $(elapsed)"
note "  kernel $(basename "$base.vmlinuz"), initrd $(basename "$base.initrd"), lookout $(dpkg-deb -f "$deb" Version)"
note "  write it with:  dd if=$out of=/dev/sdX bs=4M conv=fsync status=progress"
echo "$out"
