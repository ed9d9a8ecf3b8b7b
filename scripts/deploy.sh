#!/usr/bin/env bash
# deploy.sh — for developers with a real Pi: build the arm64 package, copy it
# over SSH, install it (apt pulls in libtorch & co. from the Pi's Debian or
# Raspberry Pi OS archive), restart lookoutd and follow its log.
#
# Usage: scripts/deploy.sh [options] [USER@]HOST
#
#   --deb FILE       deploy this package instead of building one
#   --arch ARCH      package architecture to build (default: arm64)
#   --port N         SSH port (default: 22)
#   --no-follow      do not follow the journal after the restart
#   --dry-run        print the commands instead of running them
#   -h, --help       this help
#
# The remote user needs root or passwordless sudo. One SSH connection is shared
# by all steps (ControlMaster), so a password or key passphrase is asked once.
# Ctrl-C stops following the log; lookoutd keeps running.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

deb=""
arch=arm64
port=22
follow=1
dry=0
target=""
while [ $# -gt 0 ]; do
  case "$1" in
    --deb) need_arg "$@"; deb=$2; shift 2 ;;
    --arch) need_arg "$@"; arch=$2; shift 2 ;;
    --port) need_arg "$@"; port=$2; shift 2 ;;
    --no-follow) follow=0; shift ;;
    --dry-run) dry=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$target" ] || die "more than one host given"; target=$1; shift ;;
  esac
done
[ -n "$target" ] || die "no host given (usage: $prog [USER@]HOST)"
[[ "$port" =~ ^[0-9]+$ ]] || die "--port must be a number"

run() {
  if [ "$dry" = 1 ]; then printf '+'; printf ' %q' "$@"; echo; else "$@"; fi
}

if [ -z "$deb" ]; then
  note "building the $arch package"
  if [ "$dry" = 1 ]; then
    deb="$repo_root/build-pkg/lookout_VERSION_$arch.deb"
    run "$repo_root/scripts/make-deb.sh" --arch "$arch"
  else
    deb=$("$repo_root/scripts/make-deb.sh" --arch "$arch" | tail -n1)
  fi
fi
[ "$dry" = 1 ] || [ -f "$deb" ] || die "no package at $deb"

ctl="${TMPDIR:-/tmp}/lookout-deploy-%C"
ssh_opts=(-p "$port" -o ControlMaster=auto -o "ControlPath=$ctl" -o ControlPersist=120)
remote_deb="/tmp/$(basename "$deb")"

note "checking $target"
if [ "$dry" = 0 ]; then
  remote_arch=$(ssh "${ssh_opts[@]}" "$target" dpkg --print-architecture) \
    || die "cannot reach $target over SSH"
  pkg_arch=$(dpkg-deb -f "$deb" Architecture)
  [ "$remote_arch" = "$pkg_arch" ] \
    || die "$target is $remote_arch, the package is $pkg_arch (a 32-bit OS on the Pi? lookout needs 64-bit)"
fi
# root logs in directly; anyone else goes through sudo (non-interactive).
sudo='if [ "$(id -u)" -ne 0 ]; then exec sudo -n "$@"; else exec "$@"; fi'
as_root="sh -c '$sudo' as-root"

note "copying $(basename "$deb") to $target"
run scp -P "$port" -o ControlMaster=auto -o "ControlPath=$ctl" -q "$deb" "$target:$remote_deb"
note "installing (apt resolves the dependencies on the Pi)"
run ssh "${ssh_opts[@]}" "$target" \
  "$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --reinstall -o Dpkg::Options::=--force-confold $remote_deb && rm -f $remote_deb"
note "restarting lookoutd"
run ssh "${ssh_opts[@]}" "$target" "$as_root systemctl restart lookoutd.service"
run ssh "${ssh_opts[@]}" "$target" "systemctl --no-pager --lines=0 status lookoutd.service || true"
if [ "$follow" = 1 ]; then
  note "following the log (Ctrl-C to stop; lookoutd keeps running)"
  run ssh -t "${ssh_opts[@]}" "$target" "$as_root journalctl -u lookoutd.service -f -n 30"
fi
