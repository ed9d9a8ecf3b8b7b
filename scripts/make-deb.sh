#!/usr/bin/env bash
# make-deb.sh — build the lookout Debian package (dpkg-deb, no debhelper).
#
# Usage: scripts/make-deb.sh [options]
#
#   --arch amd64|arm64   target architecture (default: the host's). arm64 is
#                        cross-built with the `pi` preset's toolchain against the
#                        sysroot from scripts/make-sysroot.sh (made if missing).
#   --build-dir DIR      package an existing build instead of configuring and
#                        building <repo>/build-pkg/<arch> (no tests). Any build
#                        tree will do, whatever prefix it was configured with:
#                        the package is installed from it with prefix /usr, the
#                        unit and configuration paths are set at install time
#                        and the binaries find their models relative to
#                        themselves, so no configure-time path is compiled in.
#   --sysroot DIR        arm64 sysroot (default: <repo>/build-aarch64/sysroot)
#   --deb-cache DIR      the .debs the sysroot was made from, for Depends
#                        (default: SYSROOT.debs, which make-sysroot.sh keeps)
#   --conffile FILE      the /etc/lookout/lookout.yaml to ship (default: what the
#                        CMake install rules put in etc/lookout/, else
#                        app/config/lookout.yaml in the repo)
#   --version VER        Debian version (default: <project version>-1)
#   --out DIR            where the .deb goes (default: <repo>/build-pkg)
#   -h, --help           this help
#
# Prints the path of the .deb on the last line of stdout.
#
# The package: lookoutd (/usr/sbin), lookout (/usr/bin), the systemd unit
# (enabled and started on install when systemd runs), /etc/lookout/lookout.yaml
# as a conffile, the shipped model in /usr/share/lookout/models, and the system
# user `lookout` (group `lookout`, member of `video`), created in postinst.
# Depends is computed from the binaries with dpkg-shlibdeps: against the host's
# dpkg database for a native build, against a dpkg database synthesised from
# the sysroot's .debs for arm64 (extract-mode sysroots have no dpkg database).
# remove: stops and disables the unit; leaves the conffile and the user.
# purge:  also removes /etc/lookout, /var/lib/lookout, /var/log/lookout, the user
#         and group, and every trace of the unit's enablement.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

arch=""
build_dir=""
sysroot=""
deb_cache=""
conffile=""
version=""
out_dir=""

while [ $# -gt 0 ]; do
  case "$1" in
    --arch) need_arg "$@"; arch=$2; shift 2 ;;
    --build-dir) need_arg "$@"; build_dir=$2; shift 2 ;;
    --sysroot) need_arg "$@"; sysroot=$2; shift 2 ;;
    --deb-cache) need_arg "$@"; deb_cache=$2; shift 2 ;;
    --conffile) need_arg "$@"; conffile=$2; shift 2 ;;
    --version) need_arg "$@"; version=$2; shift 2 ;;
    --out) need_arg "$@"; out_dir=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done

host_arch=$(dpkg --print-architecture)
[ -n "$arch" ] || arch=$host_arch
case "$arch" in
  amd64) multiarch=x86_64-linux-gnu; elf_machine="Advanced Micro Devices X86-64"; strip_cmd=strip ;;
  arm64) multiarch=aarch64-linux-gnu; elf_machine="AArch64"; strip_cmd=aarch64-linux-gnu-strip ;;
  *) die "unsupported --arch '$arch' (amd64 or arm64)" ;;
esac
if [ "$arch" != "$host_arch" ] && [ "$host_arch" = arm64 ]; then
  die "cross-building amd64 on an arm64 host is not supported"
fi
cross=0
[ "$arch" = "$host_arch" ] || cross=1
command -v "$strip_cmd" >/dev/null || die "$strip_cmd not found (scripts/install-deps.sh --cross)"
for t in dpkg-deb dpkg-shlibdeps cmake readelf; do
  command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh)"
done
[ -n "$out_dir" ] || out_dir="$repo_root/build-pkg"
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

# ---- build ------------------------------------------------------------------
if [ "$cross" = 1 ]; then
  [ -n "$sysroot" ] || sysroot="$repo_root/build-aarch64/sysroot"
fi
if [ -z "$build_dir" ]; then
  build_dir="$repo_root/build-pkg/$arch"
  cfg=(-S "$repo_root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release
       -DCMAKE_INSTALL_PREFIX=/usr -DLOOKOUT_BUILD_TESTS=OFF)
  if [ "$cross" = 1 ]; then
    if ! "$repo_root/scripts/make-sysroot.sh" --check "$sysroot" >/dev/null 2>&1; then
      note "making the arm64 sysroot $sysroot"
      bash "$repo_root/scripts/make-sysroot.sh" "$sysroot" >&2
    fi
    [ -f "$repo_root/toolchains/aarch64-linux-gnu.cmake" ] \
      || die "toolchains/aarch64-linux-gnu.cmake is missing (needed for the arm64 build)"
    cfg+=(-DCMAKE_TOOLCHAIN_FILE="$repo_root/toolchains/aarch64-linux-gnu.cmake"
          -DLOOKOUT_SYSROOT="$sysroot")
  fi
  note "configuring $build_dir"
  cmake "${cfg[@]}" >&2
  note "building lookoutd and lookout in $build_dir"
  nice cmake --build "$build_dir" --target lookoutd lookout -j "${LOOKOUT_JOBS:-2}" >&2
fi
[ -f "$build_dir/CMakeCache.txt" ] || die "$build_dir is not a CMake build directory"
build_dir=$(cd "$build_dir" && pwd)
cache_get() { sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" | head -n1; }
if [ -z "$version" ]; then
  upstream=$(cache_get CMAKE_PROJECT_VERSION)
  [ -n "$upstream" ] || die "no CMAKE_PROJECT_VERSION in $build_dir/CMakeCache.txt"
  version="$upstream-1"
fi
[[ "$version" =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || die "'$version' is not a Debian version"

# ---- stage --------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/lookout-deb.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
stage="$work/root"
DESTDIR="$stage" cmake --install "$build_dir" --prefix /usr >/dev/null \
  || die "cmake --install $build_dir failed (were lookoutd and lookout built?)"
[ -d "$stage/usr/etc" ] && die "the install tree has /usr/etc: an install rule ignores the /usr prefix's /etc"

for f in usr/sbin/lookoutd usr/bin/lookout; do
  [ -f "$stage/$f" ] || die "the install tree has no /$f"
  machine=$(LC_ALL=C readelf -h "$stage/$f" | sed -n 's/^ *Machine: *//p')
  [ "$machine" = "$elf_machine" ] \
    || die "/$f is built for '$machine', not $arch ('$elf_machine'): wrong --build-dir?"
done
unit=$(cd "$stage" && find lib usr/lib -path '*/systemd/system/lookoutd.service' 2>/dev/null | head -n1 || true)
[ -n "$unit" ] || die "the install tree has no lookoutd.service under /usr/lib/systemd/system"
[ -s "$stage/$unit" ] || die "/$unit is empty (systemd/lookoutd.service not written yet?)"
compgen -G "$stage/usr/share/lookout/models/*" >/dev/null \
  || die "the install tree has no model in /usr/share/lookout/models"
for m in "$stage"/usr/share/lookout/models/*; do
  [ -s "$m" ] || die "shipped model ${m#"$stage"} is empty (placeholder?)"
done

if [ -z "$conffile" ] && [ ! -f "$stage/etc/lookout/lookout.yaml" ]; then
  for c in app/config/lookout.yaml systemd/lookout.yaml config/lookout.yaml; do
    if [ -f "$repo_root/$c" ]; then conffile="$repo_root/$c"; break; fi
  done
  [ -n "$conffile" ] || die "no lookout.yaml: neither an install rule for etc/lookout/lookout.yaml nor systemd/lookout.yaml or config/lookout.yaml exists; pass --conffile FILE"
fi
if [ -n "$conffile" ]; then
  [ -f "$conffile" ] || die "--conffile $conffile does not exist"
  install -D -m 0644 "$conffile" "$stage/etc/lookout/lookout.yaml"
fi
[ -s "$stage/etc/lookout/lookout.yaml" ] || die "/etc/lookout/lookout.yaml is empty"

"$strip_cmd" --strip-unneeded --remove-section=.comment --remove-section=.note \
  "$stage/usr/sbin/lookoutd" "$stage/usr/bin/lookout"

docdir="$stage/usr/share/doc/lookout"
mkdir -p "$docdir"
cat >"$docdir/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: lookout
Comment: Edge object detection daemon for Raspberry Pi. Built by scripts/make-deb.sh
 from the lookout source tree; see the project's README for licensing.

Files: *
Copyright: the lookout authors
License: see-upstream
 The licence is stated in the lookout source tree.
EOF
{
  printf 'lookout (%s) unstable; urgency=medium\n\n' "$version"
  printf '  * Built by scripts/make-deb.sh.\n\n'
  printf ' -- lookout maintainers <lookout@localhost>  %s\n' "$(date -R -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")"
} | gzip -9n >"$docdir/changelog.Debian.gz"

# Normalise: root-owned, no group/other write, directories 0755.
find "$stage" -type d -exec chmod 0755 {} +
find "$stage" -type f -exec chmod go-w {} +

# ---- Depends ------------------------------------------------------------------
# dpkg-shlibdeps wants debian/control in the current directory.
mkdir -p "$work/src/debian"
printf 'Source: lookout\n\nPackage: lookout\nArchitecture: any\n' >"$work/src/debian/control"
shlibdeps_args=(-O -e"$stage/usr/sbin/lookoutd" -e"$stage/usr/bin/lookout")
shlibdeps_env=()
if [ "$cross" = 1 ]; then
  [ -d "$sysroot/usr/lib/$multiarch" ] || die "no arm64 sysroot at $sysroot (scripts/make-sysroot.sh)"
  [ -n "$deb_cache" ] || deb_cache="$sysroot.debs"
  compgen -G "$deb_cache/*.deb" >/dev/null \
    || die "no .debs in $deb_cache: the sysroot's dpkg database is synthesised from them (make-sysroot.sh keeps them unless --deb-cache none)"
  # A dpkg database describing the sysroot: status from each .deb's control,
  # info/*.list with the sysroot's absolute paths (plus /usr aliases of /lib,
  # as merged-/usr has them), info/*.shlibs and *.symbols from the .debs.
  # It is cached next to the .deb output, keyed by the sysroot path and the .debs.
  sysroot_abs=$(cd "$sysroot" && pwd)
  admin="$out_dir/dpkg-db-$arch"
  admin_key=$( { echo "$sysroot_abs"; sha256sum "$0"; ls -l --time-style=+%s "$deb_cache"; } | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$admin/.key" 2>/dev/null)" != "$admin_key" ]; then
  rm -rf "$admin"
  mkdir -p "$admin/info" "$admin/updates"
  echo 1 >"$admin/info/format"  # multiarch layout: info/<pkg>:<arch>.list for Multi-Arch: same
  : >"$admin/status"
  : >"$admin/available"
  n=0
  for deb in "$deb_cache"/*.deb; do
    pkg=$(dpkg-deb -f "$deb" Package)
    debarch=$(dpkg-deb -f "$deb" Architecture)
    ma=$(dpkg-deb -f "$deb" Multi-Arch)
    name=$pkg
    [ "$ma" = same ] && name="$pkg:$debarch"
    { dpkg-deb -f "$deb"; echo "Status: install ok installed"; echo; } >>"$admin/status"
    dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -e 's|^\./|/|' -e 's|/$||' -e '/^$/d' \
      | awk -v r="$sysroot_abs" '{ print r $0 } $0 ~ /^\/(lib|bin|sbin)(\/|$)/ { print r "/usr" $0 }' \
      >"$admin/info/$name.list"
    ctrl="$work/ctrl"
    rm -rf "$ctrl"; mkdir -p "$ctrl"
    dpkg-deb -e "$deb" "$ctrl"
    for c in shlibs symbols; do
      [ -f "$ctrl/$c" ] && cp "$ctrl/$c" "$admin/info/$name.$c"
    done
    n=$((n + 1))
  done
  echo "$arch" >"$admin/arch"
  echo "$admin_key" >"$admin/.key"
  note "synthesised a dpkg database of $n packages from $deb_cache in $admin"
  fi
  shlibdeps_args+=(--admindir="$admin" -l"$sysroot_abs/usr/lib/$multiarch" -l"$sysroot_abs/usr/lib")
  # lookout's RUNPATH names Graphviz's plugin directory (the CLI links two plugins).
  [ -d "$sysroot_abs/usr/lib/$multiarch/graphviz" ] && shlibdeps_args+=(-l"$sysroot_abs/usr/lib/$multiarch/graphviz")
  # libtorch's own libraries and BLAS live in subdirectories found via RUNPATH or ld.so.conf.d.
  for conf in "$sysroot_abs"/etc/ld.so.conf.d/*.conf; do
    [ -f "$conf" ] || continue
    while read -r d; do
      case "$d" in /*) [ -d "$sysroot_abs$d" ] && shlibdeps_args+=(-l"$sysroot_abs$d") ;; esac
    done <"$conf"
  done
  shlibdeps_env=(DEB_HOST_ARCH="$arch" DEB_HOST_MULTIARCH="$multiarch")
fi
shlibs_line=$(cd "$work/src" && env "${shlibdeps_env[@]}" dpkg-shlibdeps "${shlibdeps_args[@]}" 2>"$work/shlibdeps.err") \
  || { cat "$work/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
grep -v -e "should already be installed in their package" "$work/shlibdeps.err" >&2 || true
shlibs_depends=${shlibs_line#shlibs:Depends=}
[ -n "$shlibs_depends" ] && [ "$shlibs_depends" != "$shlibs_line" ] \
  || die "dpkg-shlibdeps gave no dependencies ('$shlibs_line')"
# adduser: postinst creates the system user. init-system-helpers: deb-systemd-helper.
depends="$shlibs_depends, adduser, init-system-helpers (>= 1.54~)"

# ---- control, maintainer scripts ------------------------------------------------
mkdir -p "$stage/DEBIAN"
installed_size=$(du -sk --apparent-size --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: lookout
Version: $version
Architecture: $arch
Maintainer: lookout maintainers <lookout@localhost>
Installed-Size: $installed_size
Depends: $depends
Section: misc
Priority: optional
Homepage: https://github.com/lookout/lookout
Description: edge object detection daemon for Raspberry Pi
 lookoutd captures frames from a camera (libcamera, V4L2, video files or a
 synthetic source), runs a YOLOv5 TorchScript model with libtorch and streams
 detections as JSON lines to clients on the LAN (TCP port 7878).
 .
 This package ships the daemon with its systemd unit (enabled on install), the
 command-line tool lookout, the default configuration
 /etc/lookout/lookout.yaml and the project's default model.
EOF
echo /etc/lookout/lookout.yaml >"$stage/DEBIAN/conffiles"
script_dir="$repo_root/scripts/deb"
for s in postinst prerm postrm; do
  install -m 0755 "$script_dir/$s" "$stage/DEBIAN/$s"
done
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z \
  | xargs -0 md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

deb="$out_dir/lookout_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
note "built $deb ($(du -h "$deb" | cut -f1))"
note "Depends: $depends"
echo "$deb"
