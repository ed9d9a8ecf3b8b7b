#!/usr/bin/env bash
# test-packaging.sh — the slow packaging checks, for CI when packaging files
# change (scripts/make-*.sh, scripts/deb/, scripts/image/, scripts/boot-test.sh,
# systemd/, app/config/lookout.yaml) and before a release. Needs root.
#
#   scripts/test-packaging.sh [--no-image]
#
#   1. amd64 package: build, then install / remove / purge in a clean amd64
#      bookworm chroot (tests/scripts/deb_chroot_test.sh)
#   2. arm64 package: cross-build, then the same in an arm64 chroot through
#      qemu-user (dpkg -s lookout must say installed)
#   3. the SD image from that package (scripts/make-image.sh), booted under
#      qemu-system-aarch64 until a client on the host receives detections
#      (scripts/boot-test.sh, budget 900 s)
# Time on a 2-core x86-64 host with warm caches: see scripts/PACKAGING.md.
set -euo pipefail
cd "$(dirname "$0")/.."
image=1
[ "${1:-}" = --no-image ] && image=0
t0=$(date +%s)
lap() { echo "test-packaging: $1 after $(( $(date +%s) - t0 )) s"; }
scripts/install-deps.sh --image
deb_amd64=$(scripts/make-deb.sh --arch amd64 | tail -n1)
tests/scripts/deb_chroot_test.sh "$deb_amd64"
lap "amd64 package installed, removed and purged"
deb_arm64=$(scripts/make-deb.sh --arch arm64 | tail -n1)
tests/scripts/deb_chroot_test.sh "$deb_arm64"
lap "arm64 package installed, removed and purged"
if [ "$image" = 1 ]; then
  img=$(scripts/make-image.sh --deb "$deb_arm64" | tail -n1)
  lap "image built"
  scripts/boot-test.sh --image "$img"
  lap "image booted and served detections"
fi
