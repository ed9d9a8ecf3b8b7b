#!/usr/bin/env bash
# Installs everything lookout needs on a Debian 12 (bookworm) machine, from
# Debian's archive only. Idempotent: packages already present are skipped by apt.
#
#   scripts/install-deps.sh            host build, tests, models/ tooling
#   scripts/install-deps.sh --cross    also the aarch64 cross toolchain, qemu-user, mmdebstrap
#   scripts/install-deps.sh --image    also what the SD image and boot test need
set -euo pipefail

want_cross=0
want_image=0
for arg in "$@"; do
  case "$arg" in
    --cross) want_cross=1 ;;
    --image) want_cross=1; want_image=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "error: unknown option '$arg'" >&2; exit 2 ;;
  esac
done

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  # the C++ libraries lookout builds against (see the README)
  libtorch-dev libcamera-dev libboost-dev libyaml-cpp-dev doctest-dev
  libyuv-dev libturbojpeg0-dev libsystemd-dev nlohmann-json3-dev libcli11-dev
  # video files in drivers/ (FFmpeg)
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  # lookoutd's MQTT output (libmosquitto), and for its tests a real broker
  # and Debian's command-line clients (tests/app/daemon/mqtt_test.cpp,
  # scripts/fleet-sim.sh); openssl makes the TLS tests' certificates
  libmosquitto-dev mosquitto mosquitto-clients openssl
  # `lookout model inspect --svg/--html`: Graphviz's layout library (CLI only)
  libgraphviz-dev
  # models/ tooling and its tests (Debian's python3, not any other on PATH)
  python3 python3-torch python3-numpy python3-pil python3-pytest python3-yaml
  # test helpers: a plain TCP client, systemd-analyze for the unit file
  netcat-openbsd systemd file
  # packaging checks in the test suite (dpkg-shlibdeps)
  dpkg-dev
  # lookoutd's HTTP tests: a real headless browser for the viewer page
  # (tests/app/daemon/viewer_test.cpp; it skips without one), and promtool
  # (`promtool check metrics`) for the /metrics exposition format
  chromium prometheus
  # the fuzz preset and scripts/fuzz.sh: clang with libFuzzer and its sanitizers
  clang libclang-rt-14-dev
)
if [ "$want_cross" = 1 ]; then
  # qemu-user-static: its binfmt_misc entry lets aarch64 tests start aarch64
  # child processes (lookoutd, the CLI) under qemu
  packages+=(g++-aarch64-linux-gnu qemu-user qemu-user-static mmdebstrap)
fi
if [ "$want_image" = 1 ]; then
  packages+=(qemu-system-arm qemu-utils qemu-user-static arch-test dosfstools mtools fdisk e2fsprogs dpkg-dev fakeroot)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
