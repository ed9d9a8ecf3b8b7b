#!/usr/bin/env bash
# fleet-sim.sh — a fleet of lookoutd instances publishing to one MQTT broker:
# checks that every detections message a daemon says the broker acknowledged
# reached a subscriber, and measures the broker's and the daemons' CPU.
#
# Usage: scripts/fleet-sim.sh N [options]
#
#   N                 how many lookoutd instances (cameras cam01 .. camNN)
#   --duration S      seconds to run once every daemon is ready (default 20)
#   --fps F           each daemon's synthetic source rate (default 2)
#   --build-dir DIR   the build tree with app/lookoutd (default: $BUILD_DIR,
#                     else build/ in the repo)
#   --keep DIR        write the configs and logs to DIR (new or empty) and keep
#                     them; without it they go to a temporary directory that
#                     is kept only when the run fails
#   -h, --help        this help
#
# Starts one mosquitto on a free loopback port, a subscriber counting
# lookout/+/detections per camera (mosquitto_sub, QoS 1), then N lookoutd
# (synthetic source, model.threads 1, MQTT at its defaults, each with its
# own config; everything on loopback, no HTTP, no Unix socket). Once all are ready (`ready: camera` in their
# logs; at most READY_TIMEOUT s, default 120), runs for S seconds, samples
# CPU, stops the daemons with SIGTERM and waits for them (at most 60 s),
# lets the subscriber drain, stops it and the broker. Then compares each
# daemon's "mqtt: stopped (...): M messages sent (D detections), X dropped"
# line with what the subscriber got for that camera, and prints a table
# (delivered = D, received, unique = distinct seq, duplicates, lost =
# delivered - unique, so a duplicate cannot hide a loss) with totals, and the CPU time (utime + stime from
# /proc/<pid>/stat) of the broker and the daemons over their whole run and
# over the S seconds.
#
# Exit status: 0 when every daemon stopped cleanly with its stop line, no
# camera lost a delivered message (duplicates, which QoS 1 allows, are
# reported, not counted as failures) and some were delivered; 1 otherwise;
# 77 (skipped) when mosquitto or mosquitto-clients is not installed.
# Environment: BUILD_DIR, MODEL (default models/default/shapes.torchscript),
# READY_TIMEOUT (default 120).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

n=""
duration=20
fps=2
build=${BUILD_DIR:-$repo_root/build}
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --duration) need_arg "$@"; duration=$2; shift 2 ;;
    --fps) need_arg "$@"; fps=$2; shift 2 ;;
    --build-dir) need_arg "$@"; build=$2; shift 2 ;;
    --keep) need_arg "$@"; keep=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [ -z "$n" ] || die "unexpected argument '$1' (see --help)"; n=$1; shift ;;
  esac
done
[ -n "$n" ] || die "no N given (see --help)"
if ! [[ "$n" =~ ^[1-9][0-9]{0,2}$ ]]; then die "N must be 1 .. 999, not '$n'"; fi
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || die "--duration must be a whole number of seconds > 0, not '$duration'"
if ! [[ "$fps" =~ ^[0-9]*\.?[0-9]+$ ]] || ! awk -v f="$fps" 'BEGIN { exit !(f > 0) }'; then
  die "--fps must be a number > 0, not '$fps'"
fi
ready_timeout=${READY_TIMEOUT:-120}
[[ "$ready_timeout" =~ ^[1-9][0-9]*$ ]] || die "READY_TIMEOUT must be a whole number of seconds > 0"

broker_bin=$(command -v mosquitto || true)
if [ -z "$broker_bin" ] && [ -x /usr/sbin/mosquitto ]; then broker_bin=/usr/sbin/mosquitto; fi
if [ -z "$broker_bin" ] || ! command -v mosquitto_sub >/dev/null || ! command -v mosquitto_pub >/dev/null; then
  echo "$prog: skipped: mosquitto and mosquitto-clients are needed (apt-get install mosquitto mosquitto-clients)"
  exit 77
fi
command -v python3 >/dev/null || die "python3 is needed"
build=$(cd "$build" 2>/dev/null && pwd) || die "build directory '$build' does not exist"
lookoutd=$build/app/lookoutd
[ -x "$lookoutd" ] || die "$lookoutd not built"
model=${MODEL:-$repo_root/models/default/shapes.torchscript}
[ -s "$model" ] || die "model $model missing or empty"

prefix=lookout        # mqtt.topic_prefix's default
probe_topic=$prefix/fleet-sim-probe/detections  # matches the subscription, not a camera
clk_tck=$(getconf CLK_TCK)
# Every step below is bounded; this bounds them all together.
hard_timeout=$((ready_timeout + duration + 150))

if [ -n "$keep" ]; then
  mkdir -p "$keep" || die "cannot create $keep"
  [ -z "$(ls -A "$keep")" ] || die "--keep $keep is not empty"
  work=$(cd "$keep" && pwd)
else
  work=$(mktemp -d "${TMPDIR:-/tmp}/lookout-fleet-XXXXXX")
fi
# Event snapshots below the work directory, not in ~/.local/state.
export STATE_DIRECTORY="$work/state"

broker_pid=""
sub_pid=""
daemon_pids=()
passed=0
# stop_pids SIGNAL SECONDS PID...: signals each once (a second SIGTERM could
# cut a daemon's delivery short), waits for them at most SECONDS, then kills
# what is left.
stop_pids() {
  local sig=$1 secs=$2 pid left i
  shift 2
  for pid in "$@"; do kill "-$sig" "$pid" 2>/dev/null || true; done
  for ((i = 0; i < secs * 10; i++)); do
    left=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && left=1; done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  for pid in "$@"; do kill -KILL "$pid" 2>/dev/null || true; done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local pids=("${daemon_pids[@]}")
  [ -n "$sub_pid" ] && pids+=("$sub_pid")
  [ -n "$broker_pid" ] && pids+=("$broker_pid")
  [ ${#pids[@]} -gt 0 ] && stop_pids TERM 5 "${pids[@]}"
  if [ "$passed" = 1 ] && [ -z "$keep" ]; then
    rm -rf -- "$work"
  else
    echo "logs: $work (camNN.log and camNN.yaml per daemon, broker.log, subscriber.out)"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "$prog: interrupted" >&2; exit 130' INT
trap 'echo "$prog: terminated" >&2; exit 143' TERM

check_deadline() {  # WHAT
  [ "$SECONDS" -lt "$hard_timeout" ] || die "overall timeout ($hard_timeout s) reached while $1"
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# cpu_sample LABEL NAME PID: appends "LABEL NAME uptime_s cpu_ticks start_ticks"
# (utime + stime and starttime, fields 14, 15 and 22 of /proc/PID/stat).
cpu_sample() {
  local stat up f
  stat=$(cat "/proc/$3/stat" 2>/dev/null) || return 0
  read -r up _ < /proc/uptime
  read -r -a f <<< "${stat##*) }"  # f[0] is field 3
  echo "$1 $2 $up $((f[11] + f[12])) ${f[19]}" >> "$work/cpu.txt"
}
pub() {  # PAYLOAD: one message on the probe topic, at QoS 1
  timeout 5 mosquitto_pub -h 127.0.0.1 -p "$port" -i fleet-sim-probe -q 1 -t "$probe_topic" -m "$1" 2>/dev/null
}
# barrier PAYLOAD: publishes PAYLOAD until the subscriber has printed it (at most 10 s).
barrier() {
  local i
  for ((i = 0; i < 20; i++)); do
    pub "$1" || true
    for _ in 1 2 3 4 5; do
      grep -qsxF "$probe_topic $1" "$work/subscriber.out" && return 0
      sleep 0.1
    done
  done
  return 1
}

cams=()
width=$(( ${#n} < 2 ? 2 : ${#n} ))
for ((i = 1; i <= n; i++)); do cams+=("$(printf "cam%0${width}d" "$i")"); done

echo "fleet-sim: $n lookoutd ($(basename "$model"), synthetic at $fps fps, model.threads 1) for $duration s, one mosquitto; $(nproc) CPUs"

# ---- the broker, on a free loopback port (another port if that one was taken meanwhile) ----
for _ in 1 2 3 4 5; do
  port=$(free_port)
  cat > "$work/broker.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
# No limit of the broker's own drops what the subscriber has not taken yet
# (default 1000 QoS 1 messages per client): a loss here is the daemons'.
max_queued_messages 1000000
EOF
  "$broker_bin" -c "$work/broker.conf" > "$work/broker.log" 2>&1 &
  broker_pid=$!
  for _ in $(seq 100); do
    grep -qs ' running$' "$work/broker.log" && break
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.1
  done
  grep -qs ' running$' "$work/broker.log" && kill -0 "$broker_pid" 2>/dev/null && break
  stop_pids TERM 2 "$broker_pid"
  wait "$broker_pid" 2>/dev/null || true
  broker_pid=""
  grep -qs 'Address already in use' "$work/broker.log" || { cat "$work/broker.log" >&2; die "mosquitto did not start"; }
done
[ -n "$broker_pid" ] || die "mosquitto found no free port in 5 attempts"

# ---- the subscriber, subscribed (a probe went through) before any daemon starts ----------
mosquitto_sub -h 127.0.0.1 -p "$port" -i fleet-sim-counter -q 1 -v -t "$prefix/+/detections" \
  > "$work/subscriber.out" 2> "$work/subscriber.err" &
sub_pid=$!
barrier start || die "the subscriber got no probe message (see $work/subscriber.err)"

# ---- the daemons ----------------------------------------------------------------------
for i in "${!cams[@]}"; do
  cam=${cams[$i]}
  cat > "$work/$cam.yaml" <<EOF
camera: $cam
source:
  type: synthetic
  fps: $fps
  seed: $((i + 1))
model:
  path: $model
  threads: 1
publish:
  tcp:
    bind: 127.0.0.1
    port: 0
    allowed_networks: [127.0.0.0/8]
  unix:
    enabled: false
http:
  enabled: false
mqtt:
  enabled: true
  host: 127.0.0.1
  port: $port
  topic_prefix: $prefix
logging:
  level: info
EOF
done
t_launch=$SECONDS
for cam in "${cams[@]}"; do
  "$lookoutd" --config "$work/$cam.yaml" 2> "$work/$cam.log" &
  daemon_pids+=($!)
done
echo "started $n daemons and the broker on 127.0.0.1:$port; waiting for them to be ready (at most $ready_timeout s)"
last_note=$SECONDS
while :; do
  ready=0
  for i in "${!cams[@]}"; do
    if grep -qs "ready: camera ${cams[$i]}\$" "$work/${cams[$i]}.log"; then
      ready=$((ready + 1))
    elif ! kill -0 "${daemon_pids[$i]}" 2>/dev/null; then
      tail -n 20 "$work/${cams[$i]}.log" >&2
      die "lookoutd for ${cams[$i]} exited before it was ready (log above)"
    fi
  done
  [ "$ready" = "$n" ] && break
  [ $((SECONDS - t_launch)) -lt "$ready_timeout" ] || die "only $ready of $n daemons ready after $ready_timeout s"
  check_deadline "waiting for the daemons"
  if [ $((SECONDS - last_note)) -ge 10 ]; then
    echo "  $ready of $n ready after $((SECONDS - t_launch)) s"
    last_note=$SECONDS
  fi
  sleep 0.2
done
echo "all $n ready after $((SECONDS - t_launch)) s; running $duration s"

# ---- the run --------------------------------------------------------------------------
cpu_sample ready broker "$broker_pid"
for i in "${!cams[@]}"; do cpu_sample ready "${cams[$i]}" "${daemon_pids[$i]}"; done
for ((i = 0; i < duration * 4; i++)); do
  check_deadline "running"
  sleep 0.25
done
cpu_sample stop broker "$broker_pid"
for i in "${!cams[@]}"; do cpu_sample stop "${cams[$i]}" "${daemon_pids[$i]}"; done

# ---- the stop: daemons first (they deliver what they still have), then the subscriber ----
echo "stopping the daemons (SIGTERM)"
t_stop=$SECONDS
stop_timeout=60
[ $((hard_timeout - SECONDS - 30)) -lt "$stop_timeout" ] && stop_timeout=$((hard_timeout - SECONDS - 30))
[ "$stop_timeout" -ge 5 ] || stop_timeout=5
stop_pids TERM "$stop_timeout" "${daemon_pids[@]}"
: > "$work/exit-status"
for i in "${!cams[@]}"; do
  rc=0
  wait "${daemon_pids[$i]}" || rc=$?
  echo "${cams[$i]} $rc" >> "$work/exit-status"
done
daemon_pids=()
echo "daemons exited after $((SECONDS - t_stop)) s"
sleep 1  # the subscriber drains
drained=1
barrier end || drained=0
cpu_sample end broker "$broker_pid"
stop_pids TERM 5 "$sub_pid"
wait "$sub_pid" 2>/dev/null || true
sub_pid=""
stop_pids TERM 5 "$broker_pid"
wait "$broker_pid" 2>/dev/null || true
broker_pid=""

# ---- the report -----------------------------------------------------------------------
echo
report_rc=0
python3 - "$work" "$prefix" "$clk_tck" "$duration" "$drained" "${cams[@]}" <<'EOF' || report_rc=$?
import collections, json, re, sys

work, prefix, clk_tck, duration, drained = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), sys.argv[5] == "1"
cams = sys.argv[6:]
failures = []

# What each daemon says: "mqtt: stopped (host:port): M messages sent (D detections), X dropped"
stop_re = re.compile(r"mqtt: stopped \([^)]*\): (\d+) messages sent \((\d+) detections\), (\d+) dropped")
status = dict(line.split() for line in open(f"{work}/exit-status"))
reported = {}
for cam in cams:
    lines = [m for m in map(stop_re.search, open(f"{work}/{cam}.log", errors="replace")) if m]
    if lines:
        sent, det, dropped = map(int, lines[-1].groups())
        reported[cam] = {"sent": sent, "detections": det, "dropped": dropped}
    else:
        failures.append(f"{cam}: no 'mqtt: stopped' line in its log (exit status {status[cam]})")
    if status[cam] != "0" and lines:
        failures.append(f"{cam}: lookoutd exited with status {status[cam]}")

# What the subscriber got: "<prefix>/<camera>/detections <json>"
received = collections.Counter()
seqs = collections.defaultdict(set)
bad = collections.Counter()
others = collections.Counter()
with open(f"{work}/subscriber.out", "rb") as f:
    for raw in f:
        topic, _, payload = raw.rstrip(b"\n").decode(errors="replace").partition(" ")
        parts = topic.split("/")
        if len(parts) != 3 or parts[0] != prefix or parts[2] != "detections":
            others[topic] += 1
            continue
        cam = parts[1]
        if cam == "fleet-sim-probe":
            continue
        if cam not in cams:
            others[topic] += 1
            continue
        received[cam] += 1
        try:
            seqs[cam].add(json.loads(payload)["seq"])
        except (ValueError, KeyError, TypeError):
            bad[cam] += 1

rows = []
tot = collections.Counter()
for cam in cams:
    r = reported.get(cam)
    rec, uniq = received[cam], len(seqs[cam]) + bad[cam]
    dup = rec - uniq
    row = {"cam": cam, "delivered": r["detections"] if r else None, "received": rec, "unique": uniq,
           "dup": dup, "lost": max(0, r["detections"] - uniq) if r else None,
           "extra": max(0, uniq - r["detections"]) if r else 0,
           "sent": r["sent"] if r else None, "dropped": r["dropped"] if r else None}
    rows.append(row)
    for k in ("delivered", "received", "unique", "dup", "lost", "extra", "sent", "dropped"):
        tot[k] += row[k] or 0
    if r and uniq < r["detections"]:
        failures.append(f"{cam}: {r['detections']} detections messages reported delivered, "
                        f"{uniq} distinct received ({rec} with duplicates): {r['detections'] - uniq} lost")
    if bad[cam]:
        failures.append(f"{cam}: {bad[cam]} detections messages without a readable seq")

fmt = "{:<8} {:>10} {:>9} {:>7} {:>5} {:>5} {:>12} {:>8}"
dash = lambda v: "-" if v is None else v
print(fmt.format("camera", "delivered", "received", "unique", "dups", "lost", "msgs sent", "dropped"))
for row in rows:
    print(fmt.format(row["cam"], dash(row["delivered"]), row["received"], row["unique"], row["dup"],
                     dash(row["lost"]), dash(row["sent"]), dash(row["dropped"])))
print(fmt.format("total", tot["delivered"], tot["received"], tot["unique"], tot["dup"], tot["lost"],
                 tot["sent"], tot["dropped"]))
print("  delivered: detections messages the daemon reports acknowledged by the broker (its stop line);")
print("  received/unique: detections messages the subscriber got / distinct seq among them;")
print("  msgs sent, dropped: all streamed messages the daemon delivered / dropped from its queue")
if tot["extra"]:
    print(f"  note: {tot['extra']} messages received that their daemon did not count as delivered: "
          + ", ".join(f"{r['cam']} +{r['extra']}" for r in rows if r["extra"]))
if others:
    print(f"  note: {sum(others.values())} messages on other topics: {dict(others)}")
if not drained:
    print("  note: the subscriber did not get the final probe within 10 s (it may not have drained)")

# CPU: "label name uptime_s cpu_ticks start_ticks"
samples = {}
for line in open(f"{work}/cpu.txt"):
    label, name, up, ticks, start = line.split()
    samples[label, name] = (float(up), int(ticks) / clk_tck, int(start) / clk_tck)
def whole(label, name):  # (cpu s since start, wall s since start)
    up, cpu, start = samples[label, name]
    return cpu, up - start
def window(name):  # (cpu s, wall s) from "ready" to "stop"
    (u0, c0, _), (u1, c1, _) = samples["ready", name], samples["stop", name]
    return c1 - c0, u1 - u0
print()
print(f"CPU (utime + stime, CLK_TCK {clk_tck}), % of one core:")
if ("end", "broker") in samples and ("stop", "broker") in samples:
    c, w = whole("end", "broker")
    wc, ww = window("broker")
    print(f"  broker:  {c:.2f} s over its {w:.1f} s = {100 * c / w:.2f}%; "
          f"{wc:.2f} s in the {ww:.1f} s run = {100 * wc / ww:.2f}%")
have = [cam for cam in cams if ("stop", cam) in samples and ("ready", cam) in samples]
if have:
    runs = [whole("stop", cam) for cam in have]
    wins = [window(cam) for cam in have]
    c, pct = sum(c for c, _ in runs), sum(100 * c / w for c, w in runs)
    wc, wpct = sum(c for c, _ in wins), sum(100 * c / w for c, w in wins)
    k = len(have)
    print(f"  daemons: {c:.2f} s over their {max(w for _, w in runs):.1f} s = {pct:.1f}% "
          f"(per daemon {c / k:.2f} s, {pct / k:.2f}%); in the {max(w for _, w in wins):.1f} s run "
          f"{wc:.2f} s = {wpct:.1f}% (per daemon {wc / k:.2f} s, {wpct / k:.2f}%)")
if len(have) != len(cams):
    failures.append(f"CPU not sampled for {len(cams) - len(have)} daemons (exited early?)")

if tot["delivered"] == 0 and len(reported) == len(cams):
    failures.append("no detections message was delivered at all")
print()
if failures:
    print(f"result: FAIL ({len(failures)} problems)")
    for f in failures:
        print(f"  {f}")
    sys.exit(1)
print(f"result: PASS: {tot['delivered']} detections messages delivered by {len(cams)} daemons, "
      f"all received ({tot['dup']} duplicates)")
EOF
[ "$report_rc" = 0 ] || exit 1
passed=1
