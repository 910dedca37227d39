#!/usr/bin/env bash
# The load engine against its peers, in one run on loopback.
#
# 1. Throughput against the same trivial endpoint (GET /api/health of a minimal
#    axum server), counted at the server: wrk, plain goose with its defaults, and
#    loadgen (health flow). Prints req/s and the ratios (targets: loadgen >= 0.65x
#    wrk and >= 1.1x plain goose).
# 2. Memory: loadgen's peak resident memory with 1,000 and 10,000 virtual users
#    (target: <= 300 MB at 10,000).
# 3. Accuracy: client P95 against a gateway with a known injected latency (target:
#    within 1%), and the P99 of a paced run during which the gateway stalls for 1 s
#    (the stall must show).
#
#   scripts/bench-loadgen.sh           # DURATION=10 CONNECTIONS=32
#   PARTS="throughput memory accuracy" scripts/bench-loadgen.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
PARTS=${PARTS:-throughput memory accuracy}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

cargo build --release -q -p loadgen --bin loadgen --example plain_goose
cargo build --release -q -p services --bin gateway-bff --example hello_axum
target=${CARGO_TARGET_DIR:-target}/release
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }
count() { curl -s "http://127.0.0.1:$1/count"; }
ratio() { python3 -c "print(f'{$1/$2:.2f}')"; }

# A loadgen scenario against a URL: health flow, N users, started within a second.
scenario() { # name url users duration think_min think_max [extra flow lines]
  cat > "$work/$1.toml" <<EOF
name = "$1"
[target]
url = "$2"
[load]
users = $3
hatch_rate = $(( $3 > 1 ? $3 : 1 ))
duration = "$(( $4 + 1 ))s"
think_time = { min = "$5", max = "$6" }
graceful_stop = "2s"
[[flows]]
name = "health"
${7:-}
[slo]
file = "$PWD/slo/athlete-ally.toml"
only = ["api_error_rate"]
[output]
trace_sample = 0.01
EOF
  echo "$work/$1.toml"
}

if [[ " $PARTS " == *" throughput "* ]]; then
  echo "== throughput: GET /api/health on a minimal axum server, ${DURATION}s, ${CONNECTIONS} connections/users"
  port=$(free_port)
  "$target/examples/hello_axum" "$port" & pids+=($!)
  wait_port "$port"

  before=$(count "$port")
  wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$port/api/health" >/dev/null
  wrk_rps=$(python3 -c "print(($(count "$port") - $before) / $DURATION)")

  before=$(count "$port")
  "$target/examples/plain_goose" --host "http://127.0.0.1:$port" --users "$CONNECTIONS" \
    --increase-rate "$CONNECTIONS" --run-time "${DURATION}s" --quiet >/dev/null 2>&1
  goose_rps=$(python3 -c "print(($(count "$port") - $before) / ($DURATION + 1))")

  s=$(scenario throughput "http://127.0.0.1:$port" "$CONNECTIONS" "$DURATION" 0ms 0ms)
  before=$(count "$port")
  "$target/loadgen" run "$s" --results "$work/results" --quiet >/dev/null 2>&1 || true
  loadgen_rps=$(python3 -c "print(($(count "$port") - $before) / ($DURATION + 1))")

  printf '  wrk          %10.0f req/s\n' "$wrk_rps"
  printf '  plain goose  %10.0f req/s   (%sx wrk)\n' "$goose_rps" "$(ratio "$goose_rps" "$wrk_rps")"
  printf '  loadgen      %10.0f req/s   (%sx wrk, %sx plain goose; targets 0.65x and 1.1x)\n' \
    "$loadgen_rps" "$(ratio "$loadgen_rps" "$wrk_rps")" "$(ratio "$loadgen_rps" "$goose_rps")"
  kill "${pids[-1]}"; unset 'pids[-1]'
fi

if [[ " $PARTS " == *" memory "* ]]; then
  echo "== memory: peak resident memory of loadgen with many virtual users (think time 5-10 s)"
  port=$(free_port)
  "$target/examples/hello_axum" "$port" & pids+=($!)
  wait_port "$port"
  for users in 1000 10000; do
    cat > "$work/memory-$users.toml" <<EOF
name = "memory-$users"
[target]
url = "http://127.0.0.1:$port"
[load]
users = $users
hatch_rate = $(( users / 5 ))
duration = "20s"
think_time = { min = "5s", max = "10s" }
graceful_stop = "1s"
[[flows]]
name = "health"
[slo]
file = "$PWD/slo/athlete-ally.toml"
only = ["api_error_rate"]
EOF
    /usr/bin/time -f '%M' -o "$work/rss-$users" "$target/loadgen" run "$work/memory-$users.toml" \
      --results "$work/results" --quiet >/dev/null 2>&1 || true
    printf '  %6d users: %6.1f MB peak resident (target <= 300 MB at 10,000)\n' "$users" \
      "$(python3 -c "print($(cat "$work/rss-$users") / 1024)")"
  done
  kill "${pids[-1]}"; unset 'pids[-1]'
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
  s=$(scenario latency "http://127.0.0.1:$gw" 20 "$DURATION" 0ms 0ms)
  "$target/loadgen" run "$s" --results "$work/latency" --quiet >/dev/null 2>&1 || true
  python3 - "$work/latency" <<'PY'
import glob, json, sys
s = json.load(open(glob.glob(sys.argv[1] + "/*/summary.json")[0]))
r = next(r for r in s["requests"] if r["name"] == "health")
p95 = r["latency_ms"]["p95"]
print(f"  injected 500 ms: client p50 {r['latency_ms']['p50']:.2f} ms, p95 {p95:.2f} ms "
      f"({(p95 - 500) / 500 * 100:+.2f}%, target within 1%), {r['count']} requests")
PY
  # Paced run: 100 iterations/s; 3 s in, the gateway stalls for 1 s.
  curl -s -X PUT "http://127.0.0.1:$gw/admin/faults" -H 'authorization: Bearer athlete-ally-admin' \
    -H 'content-type: application/json' -d '{}' >/dev/null
  s=$(scenario stall "http://127.0.0.1:$gw" 60 "$DURATION" 0ms 0ms 'pace = 100
max_start_delay = "5s"')
  ( sleep 4; curl -s -X PUT "http://127.0.0.1:$gw/admin/faults" -H 'authorization: Bearer athlete-ally-admin' \
      -H 'content-type: application/json' -d '{"stalls": [{"after_ms": 0, "duration_ms": 1000}]}' >/dev/null ) &
  stall=$!
  "$target/loadgen" run "$s" --results "$work/stall" --quiet >/dev/null 2>&1 || true
  wait "$stall"
  python3 - "$work/stall" <<'PY'
import glob, json, sys
s = json.load(open(glob.glob(sys.argv[1] + "/*/summary.json")[0]))
r = next(r for r in s["requests"] if r["name"] == "health")["latency_ms"]
f = next(f for f in s["flows"] if f["name"] == "health")
print(f"  paced 100/s with a 1 s stall: p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms, "
      f"dropped {f['dropped']} (the stall shows in p99: {'yes' if r['p99'] >= 500 else 'NO'})")
PY
fi
