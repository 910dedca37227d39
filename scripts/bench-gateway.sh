#!/usr/bin/env bash
# Gateway speed against a minimal axum hello-world, measured in the same run.
#
# Drives GET /api/health on each with wrk (32 connections, 2 threads, 10 s by
# default) on loopback, alternating the two servers ROUNDS times, and prints each
# figure and the ratio gateway / hello-world (target: >= 0.7).
#
# Then, when PyPI's rotel is installed, the cost of exporting spans: the gateway
# again, exporting every request's span (and 10% of them) over OTLP to a rotel
# collector that discards them, against the gateway without an exporter.
#
#   scripts/bench-gateway.sh            # DURATION=10s ROUNDS=1 CONNECTIONS=32 TRACING=1
#   ALLOCATOR=mimalloc scripts/bench-gateway.sh   # the gateway on mimalloc instead of the system allocator
#   PROFILE=debug DURATION=2s scripts/bench-gateway.sh   # the test command's smoke (figures meaningless)
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-1}
CONNECTIONS=${CONNECTIONS:-32}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
if [ "${ALLOCATOR:-system}" = mimalloc ]; then build_binaries --features services/mimalloc; else build_binaries; fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

hello_port=$(free_port)
"$target/examples/hello_axum" "$hello_port" & pids+=($!)
gw_port=$(free_port); gw_metrics=$(free_port)
GATEWAY_BFF_PORT=$gw_port GATEWAY_BFF_METRICS_PORT=$gw_metrics RUST_LOG=warn \
  "$target/gateway-bff" & pids+=($!)
wait_port "$hello_port"; wait_port "$gw_port"

rps() { wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$1/api/health" | awk '/Requests\/sec/ {print $2}'; }

hello_total=0; gw_total=0
for round in $(seq "$ROUNDS"); do
  h=$(rps "$hello_port"); g=$(rps "$gw_port")
  printf 'round %d: hello-world %10.0f req/s   gateway-bff %10.0f req/s\n' "$round" "$h" "$g"
  hello_total=$(python3 -c "print($hello_total+$h)"); gw_total=$(python3 -c "print($gw_total+$g)")
done
python3 - "$hello_total" "$gw_total" "$ROUNDS" <<'PY'
import sys
h, g, n = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"hello-world (axum) : {h/n:10.0f} req/s")
print(f"gateway-bff        : {g/n:10.0f} req/s")
print(f"ratio gateway/hello: {g/h:10.2f}x  (target >= 0.70)")
PY

# The cost of span export.
rotel=$(python3 -c "import rotel, os; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))" 2>/dev/null || true)
if [ "${TRACING:-1}" = 1 ] && [ -x "$rotel" ]; then
  otlp=$(free_port)
  "$rotel" start --otlp-grpc-endpoint "127.0.0.1:$otlp" --otlp-http-endpoint "127.0.0.1:$(free_port)" \
    --exporter blackhole >/dev/null 2>&1 & pids+=($!)
  wait_port "$otlp"
  for ratio in 1.0 0.1; do
    port=$(free_port)
    GATEWAY_BFF_PORT=$port GATEWAY_BFF_METRICS_PORT=$(free_port) RUST_LOG=warn \
      OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$otlp" OTEL_TRACES_SAMPLER_ARG=$ratio \
      "$target/gateway-bff" & traced=$!
    wait_port "$port"
    t=$(rps "$port")
    kill "$traced"; wait "$traced" 2>/dev/null || true
    python3 -c "print(f'gateway-bff exporting spans (sampling {float($ratio):.0%}): {$t:10.0f} req/s = {$t/($gw_total/$ROUNDS):.2f}x the gateway without export')"
  done
fi
