#!/usr/bin/env bash
# package_contents_test.sh — builds the lookout .deb from a build tree with
# scripts/make-deb.sh and checks it the way lintian and dpkg would, without
# installing it (that is tests/scripts/deb_chroot_test.sh, run by
# scripts/test-packaging.sh):
#   control fields, Depends computed from the binaries (libtorch1.13,
#   libyaml-cpp0.7, libc6 with versions, plus adduser), the file list, the
#   conffile, ownership and modes, stripped binaries of the package's
#   architecture, md5sums, maintainer scripts that parse and handle every
#   dpkg action, the unit's User= matching the user postinst creates.
#
# Usage: tests/scripts/package_contents_test.sh BUILD_DIR
set -euo pipefail

prog=${0##*/}
fail() { echo "$prog: FAIL: $*" >&2; exit 1; }
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build_dir=${1:?usage: $prog BUILD_DIR}
out=$(mktemp -d "${TMPDIR:-/tmp}/lookout-pkgtest.XXXXXX")
trap 'rm -rf -- "$out"' EXIT

# Whatever prefix the build tree was configured with (the presets use /usr,
# a plain `cmake -S . -B DIR` /usr/local), the package is laid out for /usr.
deb=$("$repo_root/scripts/make-deb.sh" --build-dir "$build_dir" \
      --out "$out" 2>"$out/make-deb.log" | tail -n1) \
  || { cat "$out/make-deb.log" >&2; fail "make-deb.sh failed"; }
[ -f "$deb" ] || fail "make-deb.sh printed '$deb', not a file"
field() { dpkg-deb -f "$deb" "$1"; }

# ---- control ------------------------------------------------------------------------
[ "$(field Package)" = lookout ] || fail "Package: $(field Package)"
arch=$(field Architecture)
[ "$arch" = "$(dpkg --print-architecture)" ] || fail "Architecture: $arch (host build)"
version=$(field Version)
dpkg --validate-version "$version" || fail "invalid Version: $version"
[[ "$(basename "$deb")" == "lookout_${version}_${arch}.deb" ]] || fail "file name $(basename "$deb")"
for f in Maintainer Description Section Priority Installed-Size; do
  [ -n "$(field "$f")" ] || fail "control has no $f"
done
depends=$(field Depends)
echo "Depends: $depends"
for want in 'libc6 (>= ' 'libstdc++6 (>= ' 'libtorch1.13 (>= ' 'libyaml-cpp0.7 (>= ' 'adduser'; do
  grep -qF "$want" <<<"$depends" || fail "Depends lacks '$want': $depends"
done
# Every NEEDED library of the binaries comes from some dependency: no Depends
# entry may be missing for a library both binaries need.
# (dpkg-shlibdeps fails the build for an unknown library, so this is implied.)

# ---- files ---------------------------------------------------------------------------
list=$(dpkg-deb -c "$deb")
has() { grep -qE " \./$1\$" <<<"$list" || fail "package lacks /$1"; }
has usr/sbin/lookoutd
has usr/bin/lookout
has 'usr/lib/systemd/system/lookoutd\.service'
has 'etc/lookout/lookout\.yaml'
has 'usr/share/lookout/models/[^/]+'
has usr/share/doc/lookout/copyright
has 'usr/share/doc/lookout/changelog\.Debian\.gz'
# Nothing outside the FHS places a package may use; no /usr/local, no build paths.
bad=$(awk '{ print $6 }' <<<"$list" | grep -Ev '^\./($|etc/|usr/(bin|sbin|lib|share)/|usr/$|usr/(bin|sbin|lib|share)/?$)' || true)
[ -z "$bad" ] || fail "files outside /etc, /usr/{bin,sbin,lib,share}: $bad"
own=$(awk '$2 != "root/root" { print $6 " " $2 }' <<<"$list")
[ -z "$own" ] || fail "files not owned by root/root: $own"
ww=$(awk 'substr($1, 9, 1) == "w" { print $6 }' <<<"$list")
[ -z "$ww" ] || fail "world-writable files: $ww"
exe=$(awk '$1 ~ /^-..x/ { print $6 }' <<<"$list" | sort | tr '\n' ' ')
[ "$exe" = "./usr/bin/lookout ./usr/sbin/lookoutd " ] || fail "executables are '$exe'"

mkdir -p "$out/x"
dpkg-deb -R "$deb" "$out/x"
case "$arch" in amd64) machine="X86-64" ;; arm64) machine="AArch64" ;; *) machine="?" ;; esac
for b in usr/sbin/lookoutd usr/bin/lookout; do
  LC_ALL=C readelf -h "$out/x/$b" | grep -q "Machine:.*$machine" || fail "/$b is not $machine"
  LC_ALL=C readelf -S "$out/x/$b" | grep -q '\.debug_' && fail "/$b is not stripped"
  # Only lookout may name a search path, and only Graphviz's plugin directory
  # (it links two plugins); never a path of the build tree.
  paths=$(LC_ALL=C readelf -d "$out/x/$b" | sed -n 's/.*R\(UN\)\{0,1\}PATH).*\[\(.*\)\]$/\2/p')
  case "$b:$paths" in
    usr/sbin/lookoutd:) ;;
    usr/bin/lookout:|usr/bin/lookout:/usr/lib/*-linux-gnu/graphviz) ;;
    *) fail "/$b has RPATH/RUNPATH '$paths' (build paths?)" ;;
  esac
done
for m in "$out"/x/usr/share/lookout/models/*; do
  [ -s "$m" ] || fail "model ${m#"$out/x"} is empty"
done
[ -s "$out/x/etc/lookout/lookout.yaml" ] || fail "lookout.yaml is empty"
# An appliance looks for its camera: the installed file says source.type auto.
sed -n '/^source:/,/^[a-z]/p' "$out/x/etc/lookout/lookout.yaml" | grep -qx '  type: auto' \
  || fail "the packaged lookout.yaml does not say source.type auto"
# The packaged daemon, run from the unpacked tree, takes the packaged
# configuration and finds the packaged model relative to itself: no path of
# the build tree or of its configure-time prefix is compiled in.
if [ "$arch" = "$(dpkg --print-architecture)" ]; then
  env -u LOOKOUT_MODEL_DIR "$out/x/usr/sbin/lookoutd" --check-config "$out/x/etc/lookout/lookout.yaml" \
    >"$out/check.log" 2>&1 || { cat "$out/check.log" >&2; fail "the packaged lookoutd rejects the packaged lookout.yaml"; }
  grep -qF "from $out/x/usr/share/lookout/models/" "$out/check.log" \
    || { cat "$out/check.log" >&2; fail "the packaged lookoutd did not use the packaged model"; }
fi

# ---- DEBIAN/ ------------------------------------------------------------------------------
[ "$(cat "$out/x/DEBIAN/conffiles")" = /etc/lookout/lookout.yaml ] \
  || fail "conffiles is '$(cat "$out/x/DEBIAN/conffiles")'"
(cd "$out/x" && md5sum --quiet -c DEBIAN/md5sums) || fail "md5sums do not match the files"
nsums=$(wc -l <"$out/x/DEBIAN/md5sums")
nfiles=$(cd "$out/x" && find . -path ./DEBIAN -prune -o -type f -print | wc -l)
[ "$nsums" -eq "$nfiles" ] || fail "md5sums lists $nsums files, the package has $nfiles"
for s in postinst prerm postrm; do
  [ -x "$out/x/DEBIAN/$s" ] || fail "DEBIAN/$s missing or not executable"
  head -n1 "$out/x/DEBIAN/$s" | grep -qx '#!/bin/sh' || fail "DEBIAN/$s is not a /bin/sh script"
  sh -n "$out/x/DEBIAN/$s" || fail "DEBIAN/$s does not parse"
  grep -q '^set -e' "$out/x/DEBIAN/$s" || fail "DEBIAN/$s does not set -e"
done
# Every action dpkg may pass is handled (an unknown one is an error).
grep -q 'configure)' "$out/x/DEBIAN/postinst" && grep -q 'abort-upgrade' "$out/x/DEBIAN/postinst" \
  || fail "postinst does not handle configure/abort-*"
for a in remove purge upgrade failed-upgrade abort-install abort-upgrade disappear; do
  grep -q "$a" "$out/x/DEBIAN/postrm" || fail "postrm does not handle '$a'"
done
grep -q 'deb-systemd-helper enable' "$out/x/DEBIAN/postinst" || fail "postinst does not enable the unit"
grep -q 'adduser --system' "$out/x/DEBIAN/postinst" || fail "postinst does not create the system user"

# ---- the unit and the user ----------------------------------------------------------------
unit="$out/x/usr/lib/systemd/system/lookoutd.service"
grep -q '^ExecStart=/usr/sbin/lookoutd' "$unit" || fail "unit's ExecStart is not /usr/sbin/lookoutd: $(grep ExecStart "$unit")"
grep -q '^WantedBy=' "$unit" || fail "unit has no [Install] WantedBy= (postinst could not enable it)"
user=$(sed -n 's/^User=//p' "$unit")
if grep -q '^DynamicUser=yes' "$unit"; then
  echo "note: the unit uses DynamicUser=yes"
elif [ -n "$user" ] && [ "$user" != lookout ]; then
  fail "unit runs as User=$user but postinst creates 'lookout'"
fi
if command -v systemd-analyze >/dev/null; then
  # Paths it names must exist: verify against the unpacked tree is not
  # possible, so only the syntax is checked (unknown keys are errors).
  out_v=$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -Ev 'not executable|No such file|Failed to prepare filename|Command .* is not executable|unit file.*not found' || true)
  grep -qiE 'unknown (key|section)|invalid|failed to parse' <<<"$out_v" && fail "systemd-analyze verify: $out_v"
fi

echo "$prog: PASS ($(basename "$deb"), $(du -h "$deb" | cut -f1))"
