#!/usr/bin/env bash
# make-sysroot.sh — build an arm64 Debian sysroot for cross-compiling lookout.
#
# Usage: scripts/make-sysroot.sh [options] [DIR]
#
#   DIR  where the sysroot goes (default: <repo>/build-aarch64/sysroot, which is
#        what toolchains/aarch64-linux-gnu.cmake looks for by default).
#
# Options:
#   --extra PKGS        extra Debian packages (space/comma separated, repeatable),
#                       added to the built-in list; also env LOOKOUT_SYSROOT_EXTRA
#   --mirror URL        Debian mirror (default: the host's apt source for the suite,
#                       else http://deb.debian.org/debian); env LOOKOUT_DEBIAN_MIRROR
#   --security-mirror URL
#                       security mirror ("none" to leave it out; default: host's,
#                       else http://deb.debian.org/debian-security);
#                       env LOOKOUT_DEBIAN_SECURITY_MIRROR
#   --suite NAME        Debian suite (default: bookworm)
#   --deb-cache DIR     keep the downloaded .debs here so a rebuild with a changed
#                       list only downloads what is new (default: DIR.debs);
#                       "none" disables it
#   --force             rebuild even if DIR is up to date
#   --check             only report: exit 0 if DIR is up to date, 1 if not
#   --print-packages    print the package list (built-in + extras), one per line,
#                       and exit (for the image build, which installs the same set)
#   -h, --help          this help
#
# What it does: mmdebstrap --variant=extract --architectures=arm64 of the
# package list in this script and its dependencies (no maintainer scripts run,
# no emulation needed), then makes the tree relocatable (absolute symlinks ->
# relative), sets up merged-/usr and the BLAS/LAPACK alternatives (which
# extract mode does not run), and writes DIR/.lookout-sysroot.stamp (hash of
# package list, suites, path excludes, script version) plus
# DIR/.lookout-sysroot.manifest (name, version, arch of every package in it).
# A second run with the same inputs is a no-op. The tree is built in DIR.tmp
# and renamed at the end, so an interrupted run never leaves a half-built DIR.
# The .debs of the last build stay in DIR.debs (exactly that set;
# scripts/make-deb.sh reads them); DIR.lock serialises concurrent runs.
# Needs root (mmdebstrap root mode): run it with sudo if you are not root.
# Host packages: mmdebstrap (scripts/install-deps.sh --cross).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

# Bump when the way the tree is produced changes (forces a rebuild).
readonly SCRIPT_VERSION=3

# ---- THE package list: everything lookout builds against, for arm64 ---------
# Keep this the single place; the image build reads it via --print-packages.
LOOKOUT_SYSROOT_PACKAGES=(
  # C/C++ runtime and headers for linking
  libc6-dev libstdc++-12-dev libgcc-12-dev linux-libc-dev
  # lookout's libraries (the same as scripts/install-deps.sh installs on the host)
  libtorch-dev libcamera-dev libboost-dev libyaml-cpp-dev doctest-dev
  libyuv-dev libturbojpeg0-dev libsystemd-dev nlohmann-json3-dev libcli11-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  libmosquitto-dev
  # the CLI's model pictures (libgvc, libcgraph)
  libgraphviz-dev
)
# Files a sysroot never needs (dpkg path-exclude, applied while extracting).
readonly PATH_EXCLUDES=(
  '/usr/share/doc/*' '/usr/share/man/*' '/usr/share/info/*'
  '/usr/share/locale/*' '/usr/share/lintian/*'
)
readonly ARCH=arm64
readonly MULTIARCH=aarch64-linux-gnu

dir=""
suite=bookworm
mirror=${LOOKOUT_DEBIAN_MIRROR:-}
security_mirror=${LOOKOUT_DEBIAN_SECURITY_MIRROR:-}
deb_cache=""
force=0
check_only=0
print_packages=0
extras_raw=${LOOKOUT_SYSROOT_EXTRA:-}

while [ $# -gt 0 ]; do
  case "$1" in
    --extra) need_arg "$@"; extras_raw+=" $2"; shift 2 ;;
    --extra=*) extras_raw+=" ${1#*=}"; shift ;;
    --mirror) need_arg "$@"; mirror=$2; shift 2 ;;
    --mirror=*) mirror=${1#*=}; shift ;;
    --security-mirror) need_arg "$@"; security_mirror=$2; shift 2 ;;
    --security-mirror=*) security_mirror=${1#*=}; shift ;;
    --suite) need_arg "$@"; suite=$2; shift 2 ;;
    --suite=*) suite=${1#*=}; shift ;;
    --deb-cache) need_arg "$@"; deb_cache=$2; shift 2 ;;
    --deb-cache=*) deb_cache=${1#*=}; shift ;;
    --force) force=1; shift ;;
    --check) check_only=1; shift ;;
    --print-packages) print_packages=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$dir" ] || die "more than one DIR given ('$dir' and '$1')"; dir=$1; shift ;;
  esac
done
if [ $# -gt 0 ]; then
  if [ -n "$dir" ] || [ $# -ne 1 ]; then die "unexpected arguments: $*"; fi
  dir=$1
fi

# Final package list: built-in + extras, sorted and de-duplicated.
read -r -a extras <<<"${extras_raw//,/ }"
for p in "${extras[@]}"; do
  [[ "$p" =~ ^[a-z0-9][a-z0-9+.-]+(:$ARCH)?$ ]] || die "'$p' is not a Debian package name"
done
mapfile -t packages < <(printf '%s\n' "${LOOKOUT_SYSROOT_PACKAGES[@]}" "${extras[@]}" | sed '/^$/d' | sort -u)
if [ "$print_packages" = 1 ]; then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

# ---- mirrors: default to what the host's apt uses for this suite ------------
# Prints the first URI of a deb (not deb-src) source for suite $1, from both
# deb822 (*.sources) and one-line (*.list) files.
host_uri_for_suite() {
  local want=$1 f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v want="$want" '
      function flush() { if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && enabled != "no" && uris != "") { split(uris, u, " "); print u[1]; found = 1; exit } types = suites = uris = enabled = "" }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^[ \t]+/, "");
        if (key == "types") types = $0; else if (key == "uris") uris = $0;
        else if (key == "suites") suites = $0; else if (key == "enabled") enabled = tolower($0) }
      END { if (!found) flush() }' "$f" | head -n1
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    sed -e 's/\[[^]]*\]//' "$f" | awk -v want="$want" '$1 == "deb" && $3 == want { print $2; exit }'
  done
}
if [ -z "$mirror" ]; then
  mirror=$(host_uri_for_suite "$suite" | head -n1)
  mirror=${mirror:-http://deb.debian.org/debian}
fi
if [ -z "$security_mirror" ]; then
  security_mirror=$(host_uri_for_suite "$suite-security" | head -n1)
  security_mirror=${security_mirror:-http://deb.debian.org/debian-security}
fi
mirror=${mirror%/}
security_mirror=${security_mirror%/}
sources=("deb $mirror $suite main" "deb $mirror $suite-updates main")
suites=("$suite" "$suite-updates")
if [ "$security_mirror" != none ]; then
  sources+=("deb $security_mirror $suite-security main")
  suites+=("$suite-security")
fi

# ---- paths, stamp -----------------------------------------------------------
[ -n "$dir" ] || dir="$repo_root/build-aarch64/sysroot"
dir=$(realpath -m -- "$dir")
case "$dir" in /) die "refusing to use / as the sysroot" ;; esac
tmp="$dir.tmp"
old="$dir.old"
[ -n "$deb_cache" ] || deb_cache="$dir.debs"
[ "$deb_cache" = none ] && deb_cache=""
stamp_name=.lookout-sysroot.stamp
manifest_name=.lookout-sysroot.manifest

# The hash covers what decides the tree's content; the mirror URLs are not part
# of it (any mirror serves the same archive).
stamp_content() {
  printf 'script-version %s\narch %s\n' "$SCRIPT_VERSION" "$ARCH"
  printf 'suite %s\n' "${suites[@]}"
  printf 'exclude %s\n' "${PATH_EXCLUDES[@]}"
  printf 'package %s\n' "${packages[@]}"
}
want_hash=$(stamp_content | sha256sum | cut -d' ' -f1)
is_up_to_date() {
  [ -f "$dir/$stamp_name" ] && [ "$(head -n1 "$dir/$stamp_name")" = "hash $want_hash" ]
}

if [ "$check_only" = 1 ]; then
  if is_up_to_date; then echo "$prog: $dir is up to date"; exit 0; fi
  echo "$prog: $dir is missing or out of date"; exit 1
fi

start=$(date +%s.%N)
elapsed() { awk -v s="${1:-$start}" -v e="${2:-$(date +%s.%N)}" 'BEGIN { printf "%.1f", e - s }'; }
up_to_date_exit() {
  echo "$prog: $dir is up to date (${#packages[@]} packages, $(elapsed)s)"
  exit 0
}
if [ "$force" = 0 ] && is_up_to_date; then up_to_date_exit; fi

# ---- build ------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "needs root for mmdebstrap (try: sudo $0 $*)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found; run scripts/install-deps.sh --cross"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
command -v flock >/dev/null || die "flock not found (util-linux)"

# One run at a time per DIR (two configures may call us at once); whoever
# waited re-checks, the other run may just have made the same tree.
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
if ! flock -n 9; then
  note "waiting for another run on $dir to finish..."
  flock 9
  if [ "$force" = 0 ] && is_up_to_date; then up_to_date_exit; fi
fi

safe_rm() {  # never cross into mounts, never remove anything but our dirs
  local d
  for d in "$@"; do
    [ -e "$d" ] || [ -L "$d" ] || continue
    case "$d" in "$dir.tmp"|"$dir.old"|"$dir") rm -rf --one-file-system -- "$d" ;;
      *) die "internal: refusing to remove $d" ;; esac
  done
}
cleanup() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ -e "$tmp" ]; then note "failed or interrupted (exit $rc); removing $tmp"; safe_rm "$tmp"; fi
    # a run interrupted between the two renames below leaves only DIR.old
    if [ ! -e "$dir" ] && [ -e "$old" ]; then mv -- "$old" "$dir"; fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -e "$dir" ] && [ ! -f "$dir/$stamp_name" ] && [ -n "$(ls -A "$dir" 2>/dev/null || echo x)" ]; then
  die "$dir exists but is not a sysroot made by this script (no $stamp_name); not replacing it"
fi
safe_rm "$tmp" "$old"
mkdir -p "$tmp/var/cache/apt/archives"
preseeded=0
if [ -n "$deb_cache" ] && [ -d "$deb_cache" ]; then
  # apt reuses a .deb found in its archive dir if the checksum matches.
  for f in "$deb_cache"/*.deb; do
    [ -f "$f" ] || continue
    ln "$f" "$tmp/var/cache/apt/archives/" 2>/dev/null || cp "$f" "$tmp/var/cache/apt/archives/"
    preseeded=$((preseeded + 1))
  done
fi

note "building $ARCH $suite sysroot in $tmp (${#packages[@]} packages + dependencies)"
note "sources: ${sources[*]}"
[ "$preseeded" -eq 0 ] || note "reusing $preseeded cached .debs from $deb_cache"
# merged-/usr like a real bookworm system: /lib -> usr/lib, /bin -> usr/bin, ...
# shellcheck disable=SC2016 # $1 is expanded by mmdebstrap's hook shell
merged_usr_hook='for d in bin sbin lib; do mkdir -p "$1/usr/$d" && ln -s "usr/$d" "$1/$d"; done'
mm_args=(
  --variant=extract --architectures="$ARCH" --components=main --format=directory
  --include="$(IFS=,; echo "${packages[*]}")"
  --aptopt='Acquire::Languages "none"'
  --aptopt='APT::Install-Recommends "false"'
  --setup-hook="$merged_usr_hook"
  # keep the .debs (for the manifest and the cache) and the lists (for apt below)
  --skip=cleanup/apt --skip=check/empty
)
for p in "${PATH_EXCLUDES[@]}"; do mm_args+=(--dpkgopt="path-exclude=$p"); done
mm_start=$(date +%s.%N)
nice -n 10 mmdebstrap "${mm_args[@]}" "$suite" "$tmp" "${sources[@]}"
mm_end=$(date +%s.%N)

# ---- downloads go to the cache first, so even a failed run below keeps them ----
archives="$tmp/var/cache/apt/archives"
download_bytes=0
for f in "$archives"/*.deb; do
  [ -f "$f" ] || continue
  b=${f##*/}
  if [ -n "$deb_cache" ] && [ -f "$deb_cache/$b" ]; then continue; fi  # pre-seeded
  download_bytes=$((download_bytes + $(stat -c %s "$f")))
  if [ -n "$deb_cache" ]; then mkdir -p "$deb_cache" && mv -- "$f" "$deb_cache/$b.part" && mv -- "$deb_cache/$b.part" "$deb_cache/$b"; fi
done
debs_dir=${deb_cache:-$archives}

# ---- what got installed: ask apt again, against the lists mmdebstrap fetched --
apt_sim=(apt-get -q -o Dir="$tmp" -o Dir::Etc::Trusted=/dev/null -o Dir::State::Status="$tmp/var/lib/dpkg/status"
         -o APT::Architecture="$ARCH" -o APT::Architectures="$ARCH" -o Debug::NoLocking=1
         -o APT::Install-Recommends=false)
[ -f "$tmp/var/lib/dpkg/status" ] || : >"$tmp/var/lib/dpkg/status"
# "Inst libc6 (2.36-9+deb12u10 Debian:12.11/stable [arm64]) []" -> "libc6 2.36-9+deb12u10 arm64"
"${apt_sim[@]}" --simulate install "${packages[@]}" \
  | awk '$1 == "Inst" && match($0, /\[[a-z0-9]+\]\)/) { v = $3; sub(/^\(/, "", v); print $2, v, substr($0, RSTART + 1, RLENGTH - 3) }' \
  | sort >"$tmp/$manifest_name"
npkgs=$(wc -l <"$tmp/$manifest_name")
[ "$npkgs" -gt 0 ] || die "could not work out the installed package list (apt simulation printed nothing)"

deb_bytes=0
declare -A used=()
while read -r name version arch; do
  f="${name}_${version//:/%3a}_${arch}.deb"
  [ -f "$debs_dir/$f" ] || die "expected $f in $debs_dir (apt simulation and mmdebstrap disagree?)"
  used[$f]=1
  deb_bytes=$((deb_bytes + $(stat -c %s "$debs_dir/$f")))
done <"$tmp/$manifest_name"
if [ -n "$deb_cache" ]; then
  # the cache keeps exactly this build's set (superseded versions drop out)
  for f in "$deb_cache"/*.deb; do
    [ -f "$f" ] || continue
    [ -n "${used[${f##*/}]:-}" ] || rm -f -- "$f"
  done
fi
rm -rf "$archives" "$tmp/var/lib/apt/lists" "$tmp/var/cache/apt"/*.bin
mkdir -p "$archives"

# ---- make it a relocatable sysroot ------------------------------------------
# 0. no device nodes in a build tree: under qemu -L, /dev/* falls through to
#    the host's /dev anyway.
rm -rf --one-file-system "${tmp:?}/dev"
mkdir -m 755 "$tmp/dev"

# 1. absolute symlinks -> relative (e.g. /usr/lib/aarch64-linux-gnu/libz.so ->
#    /lib/aarch64-linux-gnu/libz.so.1): the cross linker and qemu -L would
#    otherwise follow them into the host's /.
nabs=0
while IFS= read -r -d '' link; do
  target=$(readlink -- "$link")
  rel=$(realpath -s -m --relative-to="$(dirname "$link")" "$tmp$target")
  ln -sfn -- "$rel" "$link"
  nabs=$((nabs + 1))
done < <(find "$tmp" -xdev -type l -lname '/*' -print0)

# 2. BLAS/LAPACK: libblas.so.3 etc. are update-alternatives links, made by
#    postinst scripts that extract mode does not run. Same choice as Debian's
#    priorities: OpenBLAS if present, else BLIS, ATLAS, the reference build.
libdir="$tmp/usr/lib/$MULTIARCH"
blas_providers=(openblas-pthread openblas-openmp openblas-serial blis-pthread blis-openmp blis-serial atlas)
nalt=0
for name in libblas.so.3 libblas.so liblapack.so.3 liblapack.so libopenblas.so.0 libopenblas.so \
            pkgconfig/blas.pc pkgconfig/lapack.pc pkgconfig/openblas.pc; do
  [ -e "$libdir/$name" ] && continue   # a real file or a working link already
  base=${name##*/}
  case "$base" in *lapack*) ref=lapack ;; *) ref=blas ;; esac
  for sub in "${blas_providers[@]}" "$ref"; do
    src="$libdir/$sub/$base"
    [ "$name" != "$base" ] && src="$libdir/$sub/pkgconfig/$base"
    if [ -e "$src" ]; then
      mkdir -p "$(dirname "$libdir/$name")"
      ln -sfn -- "$(realpath -s --relative-to="$(dirname "$libdir/$name")" "$src")" "$libdir/$name"
      nalt=$((nalt + 1))
      break
    fi
  done
done
[ -e "$libdir/libblas.so.3" ] || die "no BLAS provider found in the tree (libblas.so.3)"
[ -e "$libdir/liblapack.so.3" ] || die "no LAPACK provider found in the tree (liblapack.so.3)"

# 3. an empty ld.so.cache: without one, the aarch64 loader run by qemu -L falls
#    through to the host's /etc/ld.so.cache. Empty = "no cache", so it searches
#    the multiarch default dirs (all of lookout's libraries live there).
#    (The host's ldconfig cannot index aarch64 libraries.)
: >"$tmp/etc/ld.so.cache"

# 4. anything still dangling (other alternatives, files excluded above): report only
ndangling=$(find "$tmp" -xdev -xtype l | wc -l)

# ---- stamp, swap in ---------------------------------------------------------
{
  echo "hash $want_hash"
  echo "# written by scripts/make-sysroot.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); inputs:"
  stamp_content
  printf '# source %s\n' "${sources[@]}"
} >"$tmp/$stamp_name"

if [ -e "$dir" ]; then mv -- "$dir" "$old"; fi
mv -- "$tmp" "$dir"
safe_rm "$old"
trap - EXIT

size=$(du -sh --one-file-system "$dir" | cut -f1)
mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
echo "$prog: built $dir in $(elapsed)s (mmdebstrap $(elapsed "$mm_start" "$mm_end")s, post-processing $(elapsed "$mm_end")s)"
echo "$prog:   $npkgs packages ($(mib "$deb_bytes") of .debs, downloaded $(mib "$download_bytes")), tree $size"
echo "$prog:   $nabs absolute symlinks made relative, $nalt BLAS/LAPACK links set," \
     "$ndangling dangling symlinks left (unused alternatives/excluded docs)"
echo "$prog:   package versions: $dir/$manifest_name"
