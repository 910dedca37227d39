#!/usr/bin/env bash
# A soak: the three services as their own processes (release builds) under the
# soak scenario's load for DURATION (default 30m), the resident memory of each
# service and of loadgen sampled every INTERVAL seconds (default 10). Prints the
# figures at the start, middle and end, and per process the growth after the
# warm-up (WARMUP seconds, default 600: the services' in-memory stores fill
# until their retentions, PLAN_RETENTION_SECONDS and PROFILE_RETENTION_SECONDS,
# 600 s each, then hold steady) and the slope; the target is flat: under 5%
# growth after warm-up, the median of the last tenth of the samples against the
# median of the first (a single sample can catch a buffer in passing).
# Traffic stays on 127.0.0.1 and stops by itself.
#
#   scripts/soak.sh                 # 30 minutes
#   DURATION=5m WARMUP=60 scripts/soak.sh
#   ALLOCATOR=mimalloc scripts/soak.sh   # the services and loadgen on mimalloc, not the system allocator
#   LOADGEN_BIN=/path/to/loadgen scripts/soak.sh   # soak another build of loadgen
#   PROFILE=debug DURATION=20s WARMUP=10 INTERVAL=2 scripts/soak.sh   # the test command's smoke
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-30m}
INTERVAL=${INTERVAL:-10}
WARMUP=${WARMUP:-600}
out=${SOAK_DIR:-$(mktemp -d /tmp/soak.XXXXXX)}
mkdir -p "$out"

# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
if [ "${ALLOCATOR:-system}" = mimalloc ]; then
  # The binaries on mimalloc (a build of their own).
  build_binaries --features services/mimalloc,loadgen/mimalloc
else
  build_binaries
fi
bin=$target
loadgen_bin=${LOADGEN_BIN:-$bin/loadgen}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; return 1; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

gw=$(free_port); gwm=$(free_port); po=$(free_port); pom=$(free_port); pe=$(free_port); pem=$(free_port)
export RUST_LOG=warn
PROFILE_ONBOARDING_PORT=$po PROFILE_ONBOARDING_METRICS_PORT=$pom "$bin/profile-onboarding" & pids+=($!); onboarding=$!
PLANNING_ENGINE_PORT=$pe PLANNING_ENGINE_METRICS_PORT=$pem "$bin/planning-engine" & pids+=($!); planning=$!
GATEWAY_BFF_PORT=$gw GATEWAY_BFF_METRICS_PORT=$gwm \
  PROFILE_ONBOARDING_URL=http://127.0.0.1:$po PLANNING_ENGINE_URL=http://127.0.0.1:$pe \
  "$bin/gateway-bff" & pids+=($!); gateway=$!
wait_port "$gw"; wait_port "$po"; wait_port "$pe"

# The soak scenario with its soak stage DURATION long, aimed at the gateway.
scenario=$out/soak.toml
sed -e "s/{ name = \"soak\", kind = \"soak\", users = 40, duration = \"1h\" }/{ name = \"soak\", kind = \"soak\", users = 40, duration = \"$DURATION\" }/" \
  -e "s|^\[target.embedded\]\$|[target]\nurl = \"http://127.0.0.1:$gw\"\nmetrics = { \"gateway-bff\" = \"http://127.0.0.1:$gwm/metrics\", \"profile-onboarding\" = \"http://127.0.0.1:$pom/metrics\", \"planning-engine\" = \"http://127.0.0.1:$pem/metrics\" }|" \
  scenarios/soak.toml > "$scenario"
grep -q "duration = \"$DURATION\"" "$scenario" && grep -q "^url = " "$scenario" \
  || { echo "soak.toml's soak stage or target changed: update this script" >&2; exit 2; }

"$loadgen_bin" run "$scenario" --no-prometheus --quiet \
  --results "$out/results" > "$out/loadgen.log" 2>&1 & loadgen=$!

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Beside each RSS sample, what could explain a step: the process's threads and
# open file descriptors (sockets: connections held), in a second file.
threads() { awk '/^Threads/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# Resident memory split: anonymous (heap, stacks) and file-backed (the binary's
# pages, faulted in when a code path first runs).
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
file_kb() { awk '/^RssFile/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
samples=$out/rss.csv
context=$out/context.csv
echo "t_s,gateway_kb,onboarding_kb,planning_kb,loadgen_kb" > "$samples"
header=t_s
for n in gateway onboarding planning loadgen; do header="$header,${n}_threads,${n}_fds,${n}_anon,${n}_file"; done
echo "$header" > "$context"
start=$(date +%s)
while kill -0 "$loadgen" 2>/dev/null; do
  now=$(( $(date +%s) - start ))
  echo "$now,$(rss_kb $gateway),$(rss_kb $onboarding),$(rss_kb $planning),$(rss_kb $loadgen)" >> "$samples"
  row=$now
  for p in $gateway $onboarding $planning $loadgen; do row="$row,$(threads $p),$(fds $p),$(anon_kb $p),$(file_kb $p)"; done
  echo "$row" >> "$context"
  sleep "$INTERVAL"
done
wait "$loadgen" && code=0 || code=$?
tail -n 3 "$out/loadgen.log"

python3 - "$samples" "$WARMUP" "$context" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
warmup = float(sys.argv[2])
context = {r["t_s"]: r for r in csv.DictReader(open(sys.argv[3]))}
rows = [r for r in rows if all(float(v) > 0 for v in r.values())]
if len(rows) < 3:
    sys.exit("too few samples: was the run shorter than three intervals?")
names = [k for k in rows[0] if k != "t_s"]
mid = rows[len(rows) // 2]
print(f"{'':12} {'start':>10} {'middle':>10} {'end':>10} {'after warm-up':>14} {'slope':>12}")
flat = True
for n in names:
    label = n.removesuffix("_kb")
    after = [r for r in rows if float(r["t_s"]) >= warmup] or rows
    # Growth after warm-up: the median of the last tenth of the samples against
    # the median of the first tenth, so one sample caught mid-collection (a
    # generator's slice buffers, an allocator's page) does not decide it.
    tenth = max(3, len(after) // 10)
    med = lambda rs: sorted(float(r[n]) for r in rs)[len(rs) // 2]
    first, last = med(after[:tenth]), med(after[-tenth:])
    growth = (last - first) / first * 100
    ts = [float(r["t_s"]) for r in after]; ys = [float(r[n]) / 1024 for r in after]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    var = sum((t - mt) ** 2 for t in ts) or 1.0
    slope = sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / var * 3600
    flat &= growth < 5
    mb = lambda r: float(r[n]) / 1024
    print(f"{label:12} {mb(rows[0]):8.1f}MB {mb(mid):8.1f}MB {mb(rows[-1]):8.1f}MB {growth:+13.1f}% {slope:+8.1f}MB/h")
print("memory flat after warm-up (under 5% growth): " + ("yes" if flat else "NO"))
# The largest single step after warm-up per process, with its threads, open
# descriptors and anonymous and file-backed memory before and after: a step with
# more sockets open is a connection burst's buffers, one with more threads a new
# thread's stack and heap, a file-backed one code paged in, an anonymous one heap.
print("largest step after warm-up (threads, open fds, anonymous and file-backed MB before -> after):")
for n in names:
    label = n.removesuffix("_kb")
    after = [r for r in rows if float(r["t_s"]) >= warmup] or rows
    steps = [(float(b[n]) - float(a[n]), a, b) for a, b in zip(after, after[1:])]
    if not steps:
        continue
    d, a, b = max(steps, key=lambda s: s[0])
    ca, cb = context.get(a["t_s"], {}), context.get(b["t_s"], {})
    c = lambda r, k: r.get(f"{label}_{k}", "?")
    most = max(int(r.get(f"{label}_fds", 0) or 0) for r in context.values())
    mb = lambda r, k: f"{int(r.get(f'{label}_{k}', 0) or 0) / 1024:.1f}"
    print(f"  {label:12} {d / 1024:+6.1f}MB at {b['t_s']}s: threads {c(ca, 'threads')} -> {c(cb, 'threads')}, "
          f"fds {c(ca, 'fds')} -> {c(cb, 'fds')} (most fds seen {most}), "
          f"anon {mb(ca, 'anon')} -> {mb(cb, 'anon')}, file {mb(ca, 'file')} -> {mb(cb, 'file')}")
PY
echo "samples: $samples; loadgen exit $code; results: $out/results"
