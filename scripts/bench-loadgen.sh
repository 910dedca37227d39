#!/usr/bin/env bash
# The load engine against its peers, in one run on loopback.
#
# 1. throughput: the same trivial endpoint (GET /api/health) served by nginx (one
#    worker) and by a minimal axum server, driven in turn by wrk, oha, plain goose
#    (its defaults) and loadgen (health flow, both latencies recorded; run from
#    its flow file and, side by side, from the Rust journey it replaces), ROUNDS
#    rounds interleaved. Requests are counted at the server; each tool's CPU is
#    measured with /usr/bin/time. Prints req/s, CPU microseconds per request and the
#    ratios (targets: loadgen >= oha and >= 0.85x wrk).
# 2. memory: loadgen's peak resident memory with 1,000, 10,000 and 50,000 virtual
#    users (think time 5-10 s; targets < 150 MB at 10,000, < 500 MB at 50,000).
# 3. arrival: a constant arrival rate of 10,000 iterations/s against nginx: planned,
#    started, dropped, achieved at the server, and the generator's health.
# 4. accuracy: client p95 against a gateway with 500 ms injected (target: within
#    1%), and an arrival rate of 100/s through a 1 s gateway stall: the corrected
#    p99 shows the stall, the service time does not, drops are counted.
#
#   scripts/bench-loadgen.sh                 # DURATION=10 CONNECTIONS=32 ROUNDS=2
#   PARTS="throughput arrival" scripts/bench-loadgen.sh
#   TOOLS="wrk loadgen" SERVERS=axum USERS="1000" RATE=1000 scripts/bench-loadgen.sh
#   PROFILE=debug ...   # the debug builds (the test command's smoke: figures meaningless)
#
# Needs wrk and nginx (Debian: apt-get install wrk nginx); oha is installed from the
# crates registry when missing (a few minutes' build) and TOOLS lists it.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-2}
PARTS=${PARTS:-throughput memory arrival accuracy}
# The peers driven in the throughput part, the servers they drive, the user counts
# of the memory part and the arrival part's rate.
TOOLS=${TOOLS:-wrk oha goose loadgen native}
SERVERS=${SERVERS:-nginx axum}
USERS=${USERS:-1000 10000 50000}
RATE=${RATE:-10000}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
[ -x "$NGINX" ] || { echo "nginx is missing: apt-get install nginx (or set NGINX=path)" >&2; exit 2; }
if [[ " $TOOLS " == *" oha "* ]] && ! command -v oha >/dev/null; then
  echo "installing oha from the crates registry"; cargo install --locked -q oha
fi

# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
build_binaries
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
py() { python3 -c "print($1)"; }

# Requests served so far: the axum server's /count, or nginx's stub_status (less
# the status request itself).
count() { # kind port
  if [ "$1" = nginx ]; then
    curl -s "http://127.0.0.1:$2/count" | awk 'NR==3 {print $3 - 1}'
  else
    curl -s "http://127.0.0.1:$2/count"
  fi
}

start_axum() { # port
  "$target/examples/hello_axum" "$1" & pids+=($!)
  wait_port "$1"
}

start_nginx() { # port
  mkdir -p "$work/nginx"
  cat > "$work/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log error;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $work/nginx;
  proxy_temp_path $work/nginx;
  fastcgi_temp_path $work/nginx;
  uwsgi_temp_path $work/nginx;
  scgi_temp_path $work/nginx;
  keepalive_requests 10000000;
  server {
    listen 127.0.0.1:$1 backlog=4096;
    location = /api/health { default_type application/json; return 200 '{"status":"ok","service":"hello"}'; }
    location = /count { stub_status; }
  }
}
EOF
  "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" & pids+=($!)
  wait_port "$1"
}

stop_last() { kill "${pids[-1]}" 2>/dev/null || true; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'; }

# A loadgen scenario of the health flow alone, against a URL. The flow's own
# lines set its executor (users and duration, or an arrival rate).
scenario() { # name url flow-lines [think_min think_max]
  cat > "$work/$1.toml" <<EOF
name = "$1"
[target]
url = "$2"
[load]
think_time = { min = "${4:-0ms}", max = "${5:-0ms}" }
graceful_stop = "2s"
[[flows]]
name = "health"
$3
[slo]
file = "$PWD/slo/athlete-ally.toml"
only = ["api_error_rate"]
[output]
trace_sample = 0.01
EOF
  echo "$work/$1.toml"
}

# Runs one tool against the server, appends "tool requests cpu_seconds" to $work/tp.
drive() { # tool kind port
  local tool=$1 kind=$2 port=$3 url="http://127.0.0.1:$3/api/health" before after
  before=$(count "$kind" "$port")
  case "$tool" in
    wrk) /usr/bin/time -f '%U %S' -o "$work/cpu" wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$url" >/dev/null ;;
    oha) /usr/bin/time -f '%U %S' -o "$work/cpu" oha --no-tui -z "${DURATION}s" -c "$CONNECTIONS" "$url" >/dev/null ;;
    goose) /usr/bin/time -f '%U %S' -o "$work/cpu" "$target/examples/plain_goose" --host "http://127.0.0.1:$port" \
      --users "$CONNECTIONS" --increase-rate "$CONNECTIONS" --run-time "${DURATION}s" --quiet >/dev/null 2>&1 ;;
    loadgen|native)
      # loadgen: the health flow file (the data engine); native: the Rust
      # journey it replaces (--flow-engine native), side by side.
      local s engine=data
      [ "$tool" = native ] && engine=native
      # Every user from the first instant (a spike stage), as wrk and oha open
      # every connection at once: `users` with `duration` would ramp them up
      # over the first quarter of the run, and count that ramp as slowness.
      s=$(scenario "tp-$kind" "http://127.0.0.1:$port" "stages = [{ kind = \"spike\", users = $CONNECTIONS, duration = \"${DURATION}s\" }]")
      /usr/bin/time -f '%U %S' -o "$work/cpu" "$target/loadgen" run "$s" --results "$work/results" --quiet \
        --flow-engine "$engine" >/dev/null 2>&1 || true ;;
  esac
  after=$(count "$kind" "$port")
  echo "$tool $(( after - before )) $(awk '{print $1 + $2}' "$work/cpu")" >> "$work/tp-$kind"
}

throughput() { # kind
  local kind=$1 port
  port=$(free_port)
  "start_$kind" "$port"
  : > "$work/tp-$kind"
  for _ in $(seq "$ROUNDS"); do
    for tool in $TOOLS; do drive "$tool" "$kind" "$port"; done
  done
  stop_last
  python3 - "$work/tp-$kind" "$kind" "$DURATION" <<'PY'
import sys
from collections import defaultdict
path, kind, duration = sys.argv[1], sys.argv[2], float(sys.argv[3])
runs = defaultdict(list)
for line in open(path):
    tool, requests, cpu = line.split()
    runs[tool].append((int(requests), float(cpu)))
rps = {t: sum(r for r, _ in v) / len(v) / duration for t, v in runs.items()}
cpu = {t: sum(c for _, c in v) * 1e6 / max(1, sum(r for r, _ in v)) for t, v in runs.items()}
print(f"  {kind}: requests counted at the server, mean of {len(next(iter(runs.values())))} interleaved rounds")
names = {"loadgen": "loadgen (flow file)", "native": "loadgen (Rust flow)"}
for t in runs:
    against = f"  {rps[t] / rps['wrk']:.2f}x wrk" if "wrk" in rps else ""
    print(f"    {names.get(t, t):20} {rps[t]:9.0f} req/s  {cpu[t]:6.1f} CPU us/request{against}")
ratios = [("loadgen", "oha", " (target >= 1.0)"), ("loadgen", "wrk", " (target >= 0.85)"),
          ("loadgen", "goose", ""), ("loadgen", "native", "")]
label = {"goose": "plain goose", "native": "Rust flow"}
shown = [f"{'flow file' if b == 'native' else a} / {label.get(b, b)} {rps[a] / rps[b]:.2f}x{note}"
         for a, b, note in ratios if a in rps and b in rps]
if shown:
    print("    " + ", ".join(shown))
PY
}

if [[ " $PARTS " == *" throughput "* ]]; then
  echo "== throughput: GET /api/health, ${DURATION}s, ${CONNECTIONS} connections/users per tool"
  for server in $SERVERS; do throughput "$server"; done
fi

if [[ " $PARTS " == *" memory "* ]]; then
  echo "== memory: peak resident memory of loadgen with many virtual users (think time 5-10 s)"
  port=$(free_port)
  start_nginx "$port"
  for users in $USERS; do
    s=$(scenario "memory-$users" "http://127.0.0.1:$port" "stages = [{ kind = \"ramp\", users = $users, duration = \"5s\" }, { kind = \"steady\", users = $users, duration = \"15s\" }]" 5s 10s)
    for engine in data native; do
      /usr/bin/time -f '%M' -o "$work/rss-$users-$engine" "$target/loadgen" run "$s" \
        --results "$work/results" --quiet --flow-engine "$engine" >/dev/null 2>&1 || true
    done
    printf '  %6d users: %6.1f MB peak resident with the flow file, %6.1f MB with the Rust flow (targets < 150 MB at 10,000, < 500 MB at 50,000)\n' \
      "$users" "$(py "$(cat "$work/rss-$users-data") / 1024")" "$(py "$(cat "$work/rss-$users-native") / 1024")"
  done
  stop_last
fi

if [[ " $PARTS " == *" arrival "* ]]; then
  echo "== arrival: constant arrival rate of $RATE iterations/s for ${DURATION}s against nginx"
  port=$(free_port)
  start_nginx "$port"
  s=$(scenario arrival "http://127.0.0.1:$port" "executor = \"constant-arrival-rate\"
rate = $RATE
duration = \"${DURATION}s\"")
  before=$(count nginx "$port")
  "$target/loadgen" run "$s" --results "$work/arrival" --quiet >/dev/null 2>&1 || true
  served=$(( $(count nginx "$port") - before ))
  stop_last
  python3 - "$work/arrival" "$served" "$DURATION" "$RATE" <<'PY'
import glob, json, sys
s = json.load(open(glob.glob(sys.argv[1] + "/*/summary.json")[0]))
served, duration, rate = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
load = next(f for f in s["integrity"]["flows"] if f["name"] == "health")
g = s["generator"]
print(f"  planned {load['planned']}, started {load['started']} ({load['started'] / load['planned'] * 100:.2f}%), "
      f"dropped {load['dropped']}, served {served} ({served / duration:.0f}/s at the server, "
      f"{(served / duration - rate) / rate * 100:+.2f}% of the plan)")
print(f"  pool: {load['pre_allocated_users']} pre-allocated, peak {load['peak_users']} of {load['max_users']}; "
      f"generator CPU {g['cpu_share_mean'] * 100:.0f}% of the cores, {g['cpu_us_per_request']:.1f} us/request, "
      f"scheduling lag p99 {g['scheduler_lag_p99_ms']:.2f} ms; run valid: {s['integrity']['valid']}")
PY
fi

if [[ " $PARTS " == *" accuracy "* ]]; then
  echo "== accuracy: against gateway-bff with injected faults"
  gw=$(free_port); gwm=$(free_port)
  cat > "$work/faults.toml" <<EOF
[gateway_bff]
routes = [{ route = "/api/health", latency_ms = 500 }]
EOF
  GATEWAY_BFF_PORT=$gw GATEWAY_BFF_METRICS_PORT=$gwm FAULTS_FILE="$work/faults.toml" RUST_LOG=error \
    "$target/gateway-bff" & pids+=($!)
  wait_port "$gw"
  s=$(scenario latency "http://127.0.0.1:$gw" "users = 20
duration = \"${DURATION}s\"")
  "$target/loadgen" run "$s" --results "$work/latency" --quiet >/dev/null 2>&1 || true
  python3 - "$work/latency" <<'PY'
import glob, json, sys
s = json.load(open(glob.glob(sys.argv[1] + "/*/summary.json")[0]))
r = next(r for r in s["requests"] if r["name"] == "health")
p95 = r["latency_ms"]["p95"]
print(f"  injected 500 ms: client p50 {r['latency_ms']['p50']:.2f} ms, p95 {p95:.2f} ms "
      f"({(p95 - 500) / 500 * 100:+.2f}%, target within 1%), service p95 {r['service_ms']['p95']:.2f} ms, "
      f"{r['count']} requests")
PY
  # An arrival rate of 100/s; 4 s in, the gateway stalls for 1 s.
  curl -s -X PUT "http://127.0.0.1:$gw/admin/faults" -H 'authorization: Bearer athlete-ally-admin' \
    -H 'content-type: application/json' -d '{}' >/dev/null
  s=$(scenario stall "http://127.0.0.1:$gw" "executor = \"constant-arrival-rate\"
rate = 100
duration = \"${DURATION}s\"
pre_allocated_users = 10
max_users = 50
max_start_delay = \"5s\"")
  ( sleep 4; curl -s -X PUT "http://127.0.0.1:$gw/admin/faults" -H 'authorization: Bearer athlete-ally-admin' \
      -H 'content-type: application/json' -d '{"stalls": [{"after_ms": 0, "duration_ms": 1000}]}' >/dev/null ) &
  stall=$!
  "$target/loadgen" run "$s" --results "$work/stall" --quiet >/dev/null 2>&1 || true
  wait "$stall"
  python3 - "$work/stall" <<'PY'
import glob, json, sys
s = json.load(open(glob.glob(sys.argv[1] + "/*/summary.json")[0]))
r = next(r for r in s["requests"] if r["name"] == "health")
f = next(f for f in s["flows"] if f["name"] == "health")
lat, svc = r["latency_ms"], r["service_ms"]
print(f"  100/s with a 1 s stall: corrected p99 {lat['p99']:.1f} ms (max {lat['max']:.1f}), "
      f"service p99 {svc['p99']:.1f} ms, start lag p99 {f['schedule_lag_ms']['p99']:.1f} ms, dropped {f['dropped']} "
      f"(the stall shows in the corrected p99: {'yes' if lat['p99'] >= 500 else 'NO'})")
PY
fi
