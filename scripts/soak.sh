#!/usr/bin/env bash
# Soak: runs lookoutd for DURATION seconds (default 3600) on the synthetic
# source at the highest rate it can take, with tracking and snapshots on,
# while clients come and go in a loop on loopback only (bounded in number
# and time): lookout/1 clients that connect, subscribe, read, stall (stop
# reading until their queue drops), half-close and leave; HTTP clients that
# fetch /api/status, /metrics, events and snapshots; a few clients that send garbage.
# Every INTERVAL seconds (default 60) it samples the daemon's RSS, open
# descriptors and processed rate (frames processed since the last sample), and at the end prints the table, the RSS
# slope (least squares over the second half, MB per hour), and the checks:
#   RSS flat within 5 % (second half against the first sample after warm-up),
#   descriptors within 5 % plus the clients connected at the moment, processed
#   rate at the end >= 0.97 x the start, the daemon alive, no client ever
#   refused for lack of places. Run it on an otherwise idle machine: the
#   clients share its CPUs with the daemon.
#
#   scripts/soak.sh [BUILD_DIR]            (default build/; env DURATION, INTERVAL, FPS)
#
# Exit 0 when every check holds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
lookoutd="$build/app/lookoutd"
[ -x "$lookoutd" ] || { echo "error: $lookoutd not built" >&2; exit 2; }
duration=${DURATION:-3600}
interval=${INTERVAL:-60}
fps=${FPS:-400}
python=/usr/bin/python3
work=$(mktemp -d /tmp/lookout-soak-XXXXXX)
export STATE_DIRECTORY="$work/state"
daemon_pid=""
cleanup() {
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/lookout.yaml" <<YAML
camera: soak
source:
  type: synthetic
  width: 640
  height: 480
  fps: $fps
  motion: traffic
model:
  path: $root/models/default/shapes.torchscript
publish:
  max_clients: 64
  send_queue: 16
  send_timeout_s: 5
  stats_interval_s: 1
  tcp:
    bind: 127.0.0.1
    port: 0
    allowed_networks: [127.0.0.0/8]
    max_clients_per_host: 64
  unix:
    path: $work/lookoutd.sock
    max_clients: 32
http:
  bind: 127.0.0.1
  port: 0
tracking:
  enabled: true
events:
  max_count: 50
logging:
  level: info
YAML
"$lookoutd" --config "$work/lookout.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 600); do
  grep -q "listening on HTTP" "$work/daemon.log" 2>/dev/null && grep -q "ready:" "$work/daemon.log" && break
  sleep 0.1
done
tcp_port=$(sed -n 's/.*listening on TCP 127.0.0.1:\([0-9]*\).*/\1/p' "$work/daemon.log" | head -n 1)
http_port=$(sed -n 's/.*listening on HTTP 127.0.0.1:\([0-9]*\).*/\1/p' "$work/daemon.log" | head -n 1)
[ -n "$tcp_port" ] && [ -n "$http_port" ] || { cat "$work/daemon.log"; echo "error: lookoutd did not start" >&2; exit 1; }

"$python" - "$daemon_pid" "$tcp_port" "$http_port" "$work/lookoutd.sock" "$duration" "$interval" <<'PY'
import json, os, random, socket, sys, threading, time, urllib.request

pid, tcp_port, http_port, unix_path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
duration, interval = float(sys.argv[5]), float(sys.argv[6])
stop = threading.Event()
counts = {"sessions": 0, "refused": 0, "errors": 0, "http": 0}
lock = threading.Lock()

def bump(key):
    with lock:
        counts[key] += 1

def connect():
    if random.random() < 0.3:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(unix_path)
    else:
        s = socket.create_connection(("127.0.0.1", tcp_port))
    s.settimeout(5)
    return s

def lookout_client(seed):
    rng = random.Random(seed)
    while not stop.is_set():
        try:
            s = connect()
            f = s.makefile("rb")
            first = f.readline()
            if b'"too many' in first:
                bump("refused")
            kind = rng.random()
            if kind < 0.3:
                s.sendall(b'{"type":"subscribe","classes":["star"],"min_score":0.5}\n')
            elif kind < 0.4:
                s.sendall(b'{"type":"ping","id":"x"}\nnot json\n{"type":"nope"}\n')
            elif kind < 0.5:
                s.shutdown(socket.SHUT_WR)  # half-closed: keeps receiving
            end = time.time() + rng.uniform(0.5, 5)
            stall = rng.random() < 0.2
            while time.time() < end and not stop.is_set():
                if stall:
                    time.sleep(0.2)  # reads nothing: its queue drops, then it may be cut off
                elif not f.readline():
                    break
            s.close()
            bump("sessions")
        except OSError:
            bump("errors")
            time.sleep(0.2)

def http_client(seed):
    rng = random.Random(seed)
    paths = ["/api/status", "/metrics", "/healthz", "/api/events?limit=5", "/snapshot.jpg"]
    while not stop.is_set():
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}{rng.choice(paths)}", timeout=5) as r:
                r.read()
            bump("http")
        except Exception:
            bump("errors")
        time.sleep(rng.uniform(0.1, 1))

def sample():
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/api/status", timeout=5) as r:
        stats = json.load(r)["stats"]
    return rss, fds, stats["frames"]["processed"]

threads = [threading.Thread(target=lookout_client, args=(i,), daemon=True) for i in range(24)]
threads += [threading.Thread(target=http_client, args=(100 + i,), daemon=True) for i in range(4)]
for t in threads:
    t.start()
start = time.time()
rows = []
time.sleep(min(interval, 30))  # warm-up: model, allocator, first tracks
# The rate is frames processed over each whole interval (the counter's
# difference), not the daemon's instantaneous figure, which swings with
# whatever else the CPUs did in its last seconds.
last_t, last_processed = time.time() - start, sample()[2]
time.sleep(min(interval, 10))
while True:
    t = time.time() - start
    try:
        rss, fds, processed = sample()
    except (OSError, ValueError, KeyError, StopIteration) as e:
        print(f"{t:8.0f} s  the daemon did not answer: {e}", flush=True)
        break
    rate = (processed - last_processed) / (t - last_t)
    last_t, last_processed = t, processed
    rows.append((t, rss, fds, rate))
    print(f"{t:8.0f} s  RSS {rss:7.1f} MB  fds {fds:4d}  processed {rate:6.1f} fps", flush=True)
    if t >= duration:
        break
    time.sleep(max(0, min(interval, duration - t)))
stop.set()
if not rows:
    print("checks: the daemon answered no sample: FAILED")
    sys.exit(1)
def alive_now():  # a zombie (exited, not yet reaped by the shell) is not alive
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(l.startswith("State:") and ("Z" in l.split()[1] or "X" in l.split()[1]) for l in f)
    except OSError:
        return False
alive = alive_now()
half = [r for r in rows if r[0] >= rows[-1][0] / 2] or rows[-1:]
base_rss, base_fds, base_rate = rows[0][1], rows[0][2], rows[0][3]
n = len(half)
mt = sum(r[0] for r in half) / n
mr = sum(r[1] for r in half) / n
var = sum((r[0] - mt) ** 2 for r in half)
slope = (sum((r[0] - mt) * (r[1] - mr) for r in half) / var * 3600) if var > 0 else 0.0
rss_ok = all(abs(r[1] - base_rss) <= 0.05 * base_rss for r in half)
# Descriptors: the daemon's own, plus one per client connected at that
# moment (up to the 28 client threads); a leak grows past that.
fds_ok = all(r[2] <= base_fds * 1.05 + len(threads) for r in half)
end_rate = sum(r[3] for r in rows[-3:]) / len(rows[-3:])
start_rate = sum(r[3] for r in rows[:3]) / len(rows[:3])
rate_ok = end_rate >= 0.97 * start_rate
print(f"clients: {counts['sessions']} lookout/1 sessions, {counts['http']} HTTP requests, "
      f"{counts['refused']} refused, {counts['errors']} client-side errors")
print(f"RSS {base_rss:.1f} -> {rows[-1][1]:.1f} MB, slope {slope:+.2f} MB/h (second half); "
      f"fds {base_fds} -> {rows[-1][2]}; processed {start_rate:.1f} -> {end_rate:.1f} fps "
      f"({end_rate / start_rate if start_rate else 0:.3f}x)")
checks = {"alive": alive, "RSS flat (5 %)": rss_ok, "fds flat": fds_ok,
          "rate >= 0.97x": rate_ok, "nobody refused": counts["refused"] == 0}
print("checks: " + ", ".join(f"{k} {'ok' if v else 'FAILED'}" for k, v in checks.items()))
sys.exit(0 if all(checks.values()) else 1)
PY
