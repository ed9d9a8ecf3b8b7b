#!/usr/bin/env bash
# deb_chroot_test.sh — install, remove and purge the lookout .deb in a clean
# Debian bookworm root of its architecture (arm64 runs through qemu-user binfmt).
#
# Usage: tests/scripts/deb_chroot_test.sh DEB [--cache DIR] [--keep]
#
#   DEB          the package (scripts/make-deb.sh output); its Architecture picks
#                the chroot's
#   --cache DIR  where the clean root tarball and apt's .debs are kept between runs
#                (default: <repo>/build-pkg/chroot-cache)
#   --keep       leave the chroot in /tmp for inspection
#
# Checks, in order:
#   1. the package's dependencies install from Debian's archive (apt-get satisfy)
#   2. dpkg -i: `dpkg -s lookout` reports "install ok installed"; the binaries,
#      unit, model and conffile are there; user `lookout` exists, in group video;
#      the unit is enabled (multi-user.target.wants link); `lookout --help` runs
#   3. apt-get remove: only /etc/lookout/lookout.yaml (+ /etc/lookout) and the
#      user/group entries remain, compared with a snapshot taken before install
#   4. apt-get purge: nothing of lookout remains (same snapshot comparison; the
#      only differences allowed are dpkg/apt bookkeeping and logs, and the
#      shadow-utils backups /etc/{passwd,group,shadow,gshadow}-)
# Needs root, mmdebstrap, and for arm64 a registered qemu-aarch64 binfmt entry
# (the script registers Debian's qemu-user-static one if binfmt_misc allows).
# Exit 77 (skip) when not root or mmdebstrap is missing.
set -euo pipefail

prog=${0##*/}
die() { echo "$prog: FAIL: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }
skip() { echo "$prog: SKIP: $*" >&2; exit 77; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
deb=""
cache="$repo_root/build-pkg/chroot-cache"
keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) deb=$1; shift ;;
  esac
done
[ -n "$deb" ] && [ -f "$deb" ] || die "usage: $prog DEB (got '${deb}')"
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
[ "$(id -u)" -eq 0 ] || skip "needs root (chroot, mount)"
command -v mmdebstrap >/dev/null || skip "mmdebstrap not installed (scripts/install-deps.sh --cross)"

arch=$(dpkg-deb -f "$deb" Architecture)
host_arch=$(dpkg --print-architecture)
if [ "$arch" != "$host_arch" ]; then
  # shellcheck source=scripts/image/binfmt.sh
  . "$repo_root/scripts/image/binfmt.sh"
  ensure_binfmt "$arch" || skip "cannot run $arch binaries here (no qemu binfmt entry)"
fi

start=$(date +%s)
mkdir -p "$cache/apt-$arch"
cache=$(cd "$cache" && pwd)
base="$cache/bookworm-$arch-minbase.tar"
mirror=http://deb.debian.org/debian
if [ ! -f "$base" ]; then
  note "making a clean bookworm $arch root ($base)"
  mmdebstrap --variant=minbase --format=tar --architectures="$arch" --components=main \
    --aptopt='Acquire::Languages "none"' \
    bookworm "$base.tmp" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
    "deb http://deb.debian.org/debian-security bookworm-security main" >&2
  mv "$base.tmp" "$base"
fi

root=$(mktemp -d /tmp/lookout-chroot.XXXXXX)
mounted=()
cleanup() {
  local m
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
  if [ "$keep" = 1 ]; then note "chroot kept in $root"; else rm -rf --one-file-system -- "$root"; fi
}
trap cleanup EXIT
tar -C "$root" -xf "$base"
mnt() { mount "$@"; mounted+=("${@: -1}"); }
mnt -t proc proc "$root/proc"
mnt --bind /dev "$root/dev"
mnt --bind "$cache/apt-$arch" "$root/var/cache/apt/archives"
cp -L /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
cp "$deb" "$root/tmp/lookout.deb"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"; }
apt_q=(apt-get -q -y -o APT::Install-Recommends=false -o Dpkg::Use-Pty=0)

# The snapshot: every path outside pseudo/volatile places, with its type, mode,
# owner and (for files and links) content hash / target. Bookkeeping that
# install/remove legitimately touches is left out and checked separately.
snapshot() {
  (cd "$root" && find . -xdev \
      \( -path ./proc -o -path ./dev -o -path ./sys -o -path ./run -o -path ./tmp \
         -o -path ./var/cache -o -path ./var/log -o -path ./var/lib/apt -o -path ./var/lib/dpkg \) -prune \
      -o -printf '%p %y %m %u %g %l\n' | LC_ALL=C sort) >"$1.meta"
  (cd "$root" && find ./etc ./usr ./var/lib ./srv ./opt ./home ./root -xdev -type f \
      -not -path './var/lib/apt/*' -not -path './var/lib/dpkg/*' -print0 2>/dev/null \
      | LC_ALL=C sort -z | xargs -0 md5sum) >"$1.sums"
}
# Differences between two snapshots, minus the allowed shadow-utils backups.
snapdiff() {
  { diff "$1.meta" "$2.meta" || true; diff "$1.sums" "$2.sums" || true; } \
    | grep '^[<>]' | grep -Ev '\./etc/(passwd|group|shadow|gshadow)-( |$)' || true
}

note "installing dependencies: $(dpkg-deb -f "$deb" Depends)"
in_root "${apt_q[@]}" update >/dev/null
in_root "${apt_q[@]}" satisfy "$(dpkg-deb -f "$deb" Depends)" >/dev/null \
  || die "the dependencies do not install in a clean bookworm $arch root"
snapshot "$root/tmp/before"

# ---- install ---------------------------------------------------------------------
note "dpkg -i lookout.deb"
in_root dpkg -i /tmp/lookout.deb >&2 || die "dpkg -i failed"
status=$(in_root dpkg-query -W -f='${Status}' lookout)
[ "$status" = "install ok installed" ] || die "dpkg -s lookout: status '$status'"
in_root dpkg -s lookout | sed -n '1,3p' >&2
for f in /usr/sbin/lookoutd /usr/bin/lookout /etc/lookout/lookout.yaml; do
  [ -f "$root$f" ] || die "$f missing after install"
done
compgen -G "$root/usr/lib/systemd/system/lookoutd.service" >/dev/null \
  || compgen -G "$root/lib/systemd/system/lookoutd.service" >/dev/null || die "unit missing after install"
compgen -G "$root/usr/share/lookout/models/*" >/dev/null || die "no model in /usr/share/lookout/models"
in_root getent passwd lookout >/dev/null || die "user lookout not created"
in_root id -nG lookout | tr ' ' '\n' | grep -qx video || die "user lookout is not in group video"
shell=$(in_root getent passwd lookout | cut -d: -f7)
case "$shell" in */nologin|*/false) ;; *) die "user lookout has a login shell ($shell)" ;; esac
wants=$(cd "$root/etc/systemd/system" 2>/dev/null && find . -name lookoutd.service -type l | head -n1)
[ -n "$wants" ] || die "lookoutd.service is not enabled (no link in /etc/systemd/system/*.wants)"
note "enabled: /etc/systemd/system/${wants#./}"
in_root dpkg --verify lookout >&2 || die "dpkg --verify lookout reports changed files"
in_root /usr/bin/lookout --help >/dev/null 2>&1 || die "lookout --help does not run in the $arch root (libraries missing?)"
note "install: ok ($(($(date +%s) - start)) s so far)"

# ---- remove ----------------------------------------------------------------------
note "apt-get remove lookout"
in_root "${apt_q[@]}" remove lookout >/dev/null || die "apt-get remove failed"
status=$(in_root dpkg-query -W -f='${Status}' lookout)
[ "$status" = "deinstall ok config-files" ] || die "after remove: status '$status'"
snapshot "$root/tmp/removed"
left=$(snapdiff "$root/tmp/before" "$root/tmp/removed" \
  | grep -Ev '^> \./etc/lookout( |$)|^> [0-9a-f]+  \./etc/lookout/lookout\.yaml$|^> \./etc/lookout/lookout\.yaml ' \
  | grep -Ev '\./etc/(passwd|group|shadow|gshadow)( |$)' || true)
[ -z "$left" ] || die "apt-get remove left more than the conffile and the user:
$left"
[ -f "$root/etc/lookout/lookout.yaml" ] || die "apt-get remove deleted the conffile"
note "remove: ok (conffile and user kept, nothing else)"

# ---- purge -----------------------------------------------------------------------
note "apt-get purge lookout"
in_root "${apt_q[@]}" purge lookout >/dev/null || die "apt-get purge failed"
status=$(in_root dpkg-query -W -f='${Status}' lookout 2>/dev/null || true)
case "$status" in ""|"unknown ok not-installed"|"purge ok not-installed") ;;
  *) die "after purge: status '$status'" ;; esac
snapshot "$root/tmp/purged"
left=$(snapdiff "$root/tmp/before" "$root/tmp/purged")
[ -z "$left" ] || die "apt-get purge left traces:
$left"
if compgen -G "$root/var/lib/dpkg/info/lookout.*" >/dev/null; then
  die "dpkg database files left: $(ls "$root"/var/lib/dpkg/info/lookout.*)"
fi
grep -qw lookout "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" "$root/etc/gshadow" \
  && die "user or group lookout still in /etc/passwd, group, shadow or gshadow"
note "purge: ok (nothing of lookout left)"
echo "$prog: PASS ($arch, $(($(date +%s) - start)) s)"
