# Shared prologue of lookout's scripts; sourced right after `set -euo pipefail`:
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# Defines prog (the calling script's name), die and note (messages on stderr,
# prefixed with prog), usage (prints the calling script's header comment, the
# lines between the shebang and `set -euo`), need_arg (for option parsing:
# `need_arg "$@"` fails unless the option has a non-empty value) and repo_root.
# shellcheck shell=bash disable=SC2034
prog=${0##*/}
die() { echo "$prog: error: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
need_arg() { [ $# -ge 2 ] && [ -n "$2" ] || die "option $1 needs an argument (see --help)"; }
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
