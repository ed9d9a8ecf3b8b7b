#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds lookout, and runs lookoutd.
# With no arguments lookoutd runs its embedded default: the synthetic camera and
# the model shipped in models/default, serving lookout/1 on TCP port 7878.
# Arguments are passed to lookoutd (e.g. --config FILE).
#
#   scripts/run.sh                 then, in another terminal: nc 127.0.0.1 7878
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh release
exec build/app/lookoutd "$@"
