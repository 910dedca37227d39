#!/usr/bin/env bash
# Records the report fixtures (reports/tests/fixtures/runs/): one real run of each
# breach scenario whose evidence the report tests check, against the embedded
# services, judged from their scraped metrics, cut to what the renderers read
# (summary.json, timeline.json and the two interval logs). Each run takes about
# 40 s; traffic stays on 127.0.0.1.
#
#   scripts/record-fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build -q -p loadgen
bin=${CARGO_TARGET_DIR:-target}/debug/loadgen
out=reports/tests/fixtures/runs
for scenario in breach-api-error-rate breach-onboarding-completion breach-api-response-time breach-plan-failure; do
  tmp=$(mktemp -d)
  code=0
  "$bin" run "scenarios/$scenario.toml" --results "$tmp" --no-prometheus --quiet || code=$?
  [ "$code" = 1 ] || { echo "$scenario: exit $code, not 1 (an SLO failed): not recorded" >&2; exit 1; }
  dir=$(ls -d "$tmp/$scenario"-*)
  rm -rf "${out:?}/$scenario"
  mkdir -p "$out/$scenario"
  cp "$dir"/{summary.json,timeline.json,histograms.hlog,histograms-total.hlog} "$out/$scenario/"
  rm -rf "$tmp"
done
du -sh "$out"/*
