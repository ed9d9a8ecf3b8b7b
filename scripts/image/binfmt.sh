# binfmt.sh — sourced helper: make sure the kernel runs foreign-architecture
# binaries through Debian's qemu-user-static (binfmt entry with the F flag, so
# it also works inside chroots that do not contain qemu).
#   ensure_binfmt ARCH    (Debian arch name, e.g. arm64); returns 1 if impossible
ensure_binfmt() {
  local qarch
  case "$1" in
    arm64) qarch=aarch64 ;;
    armhf) qarch=arm ;;
    *) qarch=$1 ;;
  esac
  local dir=/proc/sys/fs/binfmt_misc
  if [ ! -e "$dir/register" ]; then
    [ "$(id -u)" -eq 0 ] || return 1
    mount binfmt_misc -t binfmt_misc "$dir" 2>/dev/null || return 1
  fi
  if [ -e "$dir/qemu-$qarch" ]; then
    grep -q '^enabled' "$dir/qemu-$qarch" || echo 1 >"$dir/qemu-$qarch"
    grep -q '^flags:.*F' "$dir/qemu-$qarch" && return 0
    # registered without F (qemu-user-binfmt): the interpreter must be inside
    # every chroot, which ours are not; replace it with qemu-user-static's.
    echo -1 >"$dir/qemu-$qarch" || return 1
  fi
  local conf=/usr/lib/binfmt.d/qemu-$qarch.conf
  [ -f "$conf" ] || { echo "binfmt: $conf missing (apt-get install qemu-user-static)" >&2; return 1; }
  grep -q ':[A-Z]*F[A-Z]*$' "$conf" || { echo "binfmt: $conf has no F flag" >&2; return 1; }
  cat "$conf" >"$dir/register" || return 1
  [ -e "$dir/qemu-$qarch" ]
}
