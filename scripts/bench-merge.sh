#!/usr/bin/env bash
# How long `loadgen merge` takes for a distributed run of WORKERS workers, each
# with SECONDS one-second slices of 10 tags in its interval log (default: 8 workers,
# one hour; target: under 5 s), judged from the client's view and reported.
#
#   scripts/bench-merge.sh            # WORKERS=8 SECONDS_=3600
#   PROFILE=debug WORKERS=2 SECONDS_=60 scripts/bench-merge.sh   # the test command's smoke
set -euo pipefail
cd "$(dirname "$0")/.."

WORKERS=${WORKERS:-8}
SECONDS_=${SECONDS_:-3600}
# shellcheck source=scripts/lib/build.sh
. scripts/lib/build.sh
build_binaries
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$target/examples/synthetic_workers" "$work/run" "$WORKERS" "$SECONDS_"
du -sh "$work/run" | awk '{print "  worker directories: " $1}'
/usr/bin/time -f '%e %M' -o "$work/time" "$target/loadgen" merge "$work/run" --out "$work/merged" --quiet \
  >/dev/null 2>"$work/merge.log" || true
read -r wall rss < "$work/time"
grep -q 'merged run' "$work/merge.log" || { cat "$work/merge.log" >&2; exit 1; }
python3 - "$work/merged" "$wall" "$rss" "$WORKERS" "$SECONDS_" <<'PY'
import json, sys
d, wall, rss, workers, seconds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
t = json.load(open(d + "/timeline.json"))
print(f"  loadgen merge of {workers} workers x {seconds} slices x 10 tags: {wall:.2f} s "
      f"(target < 5 s), peak resident {rss / 1024:.0f} MB, {len(t['slices'])} merged slices")
PY
