#!/usr/bin/env bash
# How fast the report renders and how big it is, for a synthetic one-hour run at
# 5,000 requests per second (targets: < 3 s and < 2 MB), with 5 s slices (the
# default past 15 minutes) and with 1 s slices.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p reports --example synthetic_report
target=${CARGO_TARGET_DIR:-target}/release
"$target/examples/synthetic_report" 3600 5000 5
"$target/examples/synthetic_report" 3600 5000 1
