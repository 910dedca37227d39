#!/usr/bin/env bash
# How long judging takes: the smoke scenario against the embedded services, judged
# by a managed Prometheus (1 s scrapes), ROUNDS times; prints the time spent judging
# all ten SLOs over both windows (exact edges, bounds, cross-check excluded) and the
# time the run waited for Prometheus's first scrape after the end.
# Target: judging under 1 s.
#
#   scripts/bench-verify.sh            # ROUNDS=3
#   PROFILE=debug ROUNDS=1 scripts/bench-verify.sh   # the test command's smoke
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-3}
command -v prometheus >/dev/null || { echo "prometheus is missing: apt-get install prometheus" >&2; exit 2; }
# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
build_binaries
loadgen=$target/loadgen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== judging the smoke run against a managed Prometheus, $ROUNDS rounds"
for i in $(seq "$ROUNDS"); do
  "$loadgen" run scenarios/smoke.toml --managed-prometheus --results "$work/$i" --quiet >/dev/null 2>"$work/err-$i" || true
  python3 - "$work/$i" <<'PY'
import json, pathlib, sys
run = next(pathlib.Path(sys.argv[1]).iterdir())
s = json.loads((run / "summary.json").read_text())
v = s["verdicts"]
n = len(v["whole"]) + len(v.get("steady") or [])
statuses = [x["status"] for x in v["whole"]]
print(f"  judged {n} verdicts ({len(v['whole'])} SLOs x 2 windows) in {v['evaluation_ms']:.0f} ms "
      f"(target < 1000 ms): {statuses.count('pass')} pass, {statuses.count('fail')} fail, "
      f"{statuses.count('inconclusive')} inconclusive; exit {s['exit_code']}")
PY
done
