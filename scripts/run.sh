#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds lookout, and runs lookoutd.
# With no arguments lookoutd runs its embedded default: the synthetic camera and
# the model shipped in models/default, serving lookout/1 on TCP port 7878 and
# the web viewer on http://127.0.0.1:8080/.
# Arguments are passed to lookoutd (e.g. --config FILE).
#
#   scripts/run.sh                 then, in another terminal: nc 127.0.0.1 7878
#                                  or open http://127.0.0.1:8080/ in a browser
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
if [ $# -eq 0 ]; then
  echo "lookoutd: watch detections with  nc 127.0.0.1 7878  (or build/app/lookout watch)," \
       "or open the viewer at  http://127.0.0.1:8080/" >&2
fi
exec build/app/lookoutd "$@"
