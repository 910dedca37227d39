#!/usr/bin/env bash
# Prepares one distributed loadgen run on Kubernetes: N workers (the Indexed Job
# loadgen-workers) from one start time, then the merge Job's verdict.
#
#   deploy/kubernetes/launch.sh N [SCENARIO] [--apply | --dry-run]
#
# It rewrites run.env next to it: a fresh run id (<scenario name>-<UTC
# yyyymmdd-hhmmss>), a start time 90 s ahead (unix seconds; LOADGEN_LEAD_SECONDS
# changes the lead, up to 3600) and LOADGEN_WORKERS=N,
# which the kustomization also makes the worker Job's completions and parallelism.
# LOADGEN_TARGET_URL and PROMETHEUS_URL keep their run.env values unless they are
# set in the environment. With SCENARIO (a scenario file with `[slo] file =
# "slo.toml"`) it copies that file over scenario.toml next to it first.
#
# Without --apply it never contacts a cluster: it renders the manifests offline
# (`kubectl kustomize`, when kubectl is installed) and prints the commands to
# apply the run and to read its verdict. --dry-run prints the rendered manifests on
# standard output (and the rest on standard error). --apply deletes the previous
# run's Jobs (a Job's pod template cannot be changed) and applies this one with
# the current kubectl context.
#
# Exit codes: 0 done, 2 bad arguments or input, other: kubectl failed.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
namespace=loadgen
lead_seconds=${LOADGEN_LEAD_SECONDS:-90}
default_target=http://gateway-bff.athlete-ally.svc:4000
default_prometheus=http://prometheus.monitoring.svc:9090

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
}

die() {
  echo "launch.sh: $*" >&2
  exit 2
}

workers=""
scenario=""
apply=0
dry_run=0
for arg in "$@"; do
  case "$arg" in
    --apply) apply=1 ;;
    --dry-run) dry_run=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    -*) die "unknown option $arg (see --help)" ;;
    *)
      if [ -z "$workers" ]; then
        workers=$arg
      elif [ -z "$scenario" ]; then
        scenario=$arg
      else
        die "too many arguments: $arg (usage: launch.sh N [SCENARIO] [--apply | --dry-run])"
      fi
      ;;
  esac
done
[ -n "$workers" ] || die "the worker count N is missing (usage: launch.sh N [SCENARIO] [--apply | --dry-run])"
[[ "$workers" =~ ^[1-9][0-9]{0,3}$ ]] || die "N must be a whole number from 1 to 9999, not \"$workers\""
[ "$apply" = 0 ] || [ "$dry_run" = 0 ] || die "--apply and --dry-run exclude each other"
if ! [[ "$lead_seconds" =~ ^[1-9][0-9]{0,3}$ ]] || [ "$lead_seconds" -gt 3600 ]; then
  die "LOADGEN_LEAD_SECONDS must be 1 to 3600 seconds (loadgen accepts a start up to an hour ahead), not \"$lead_seconds\""
fi

# The value of KEY = "..." in the TOML table SECTION ("" for the top level).
toml_string() {
  awk -v want="$2" -v key="$3" '
    /^[[:space:]]*\[/ {
      s = $0
      sub(/^[[:space:]]*\[+[[:space:]]*/, "", s)
      sub(/[[:space:]]*\]+.*$/, "", s)
      section = s
      next
    }
    section == want && $0 ~ "^[[:space:]]*" key "[[:space:]]*=" {
      v = $0
      sub(/^[^=]*=[[:space:]]*/, "", v)
      if (v ~ /^"/) { sub(/^"/, "", v); sub(/".*$/, "", v) }
      else if (v ~ /^\047/) { sub(/^\047/, "", v); sub(/\047.*$/, "", v) }
      else next
      print v
      exit
    }
  ' "$1"
}

# The scenario: the given file (copied next to this script), else scenario.toml here.
if [ -n "$scenario" ]; then
  [ -f "$scenario" ] || die "scenario file $scenario not found"
  slo_file=$(toml_string "$scenario" slo file)
  [ "$slo_file" = slo.toml ] || die "$scenario: set [slo] file = \"slo.toml\" (found \"${slo_file:-nothing}\"): the ConfigMap mounts the SLO set next to the scenario in /etc/loadgen"
  if ! [ "$scenario" -ef "$here/scenario.toml" ]; then
    cp "$scenario" "$here/scenario.toml"
  fi
fi
name=$(toml_string "$here/scenario.toml" "" name)
[ -n "$name" ] || die "$here/scenario.toml has no top-level name = \"...\""
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "scenario name \"$name\" is not usable in a run id (letters, digits, . _ -)"

# The URLs: the environment, else run.env as it is, else the examples.
env_value() {
  [ -f "$here/run.env" ] || return 0
  sed -n "s/^$1=//p" "$here/run.env" | tail -n 1
}
target_url=${LOADGEN_TARGET_URL:-$(env_value LOADGEN_TARGET_URL)}
target_url=${target_url:-$default_target}
prometheus_url=${PROMETHEUS_URL:-$(env_value PROMETHEUS_URL)}
prometheus_url=${prometheus_url:-$default_prometheus}
for url in "$target_url" "$prometheus_url"; do
  [[ "$url" =~ ^https?://[^[:space:]]+$ ]] || die "\"$url\" is not an http(s) URL"
done

# Unix seconds formatted in UTC (GNU date, else BSD date).
utc() { date -u -d "@$1" "+$2" 2>/dev/null || date -u -r "$1" "+$2"; }
now=$(date -u +%s)
run_id="$name-$(utc "$now" %Y%m%d-%H%M%S)"
start_at=$((now + lead_seconds))
start_text=$(utc "$start_at" %Y-%m-%dT%H:%M:%SZ)

tmp_env=$(mktemp "$here/.run.env.XXXXXX")
trap 'rm -f "$tmp_env"' EXIT
cat >"$tmp_env" <<EOF
# One distributed run, written by deploy/kubernetes/launch.sh $workers${scenario:+ $scenario}
# (a fresh run id, a start $lead_seconds s ahead, N workers; the URLs are kept). The
# kustomization makes it the ConfigMap \`loadgen-run\`, which both Jobs take as
# environment (envFrom), and copies LOADGEN_WORKERS into the worker Job's
# completions and parallelism: the worker count is set here only.
LOADGEN_RUN_ID=$run_id
# Unix seconds (or RFC 3339): when every worker starts its load ($start_text).
LOADGEN_START_AT=$start_at
LOADGEN_WORKERS=$workers
LOADGEN_TARGET_URL=$target_url
PROMETHEUS_URL=$prometheus_url
EOF
chmod 644 "$tmp_env"
mv "$tmp_env" "$here/run.env"
trap - EXIT

# Messages go to standard error when standard output carries the manifests.
if [ "$dry_run" = 1 ]; then exec 3>&2; else exec 3>&1; fi

# Render offline: catches a broken kustomization before anything is applied.
if command -v kubectl >/dev/null; then
  rendered=$(kubectl kustomize "$here") || {
    echo "launch.sh: kubectl kustomize $here failed" >&2
    exit 1
  }
  [ "$dry_run" = 0 ] || printf '%s\n' "$rendered"
elif [ "$dry_run" = 1 ] || [ "$apply" = 1 ]; then
  die "kubectl is not installed"
else
  echo "launch.sh: kubectl is not installed: the manifests were not rendered" >&2
fi

rel=$here
case "$here" in "$PWD"/*) rel=${here#"$PWD"/} ;; esac
results_pod='{"apiVersion":"v1","spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":10001,"runAsGroup":10001,"fsGroup":10001},"containers":[{"name":"loadgen-results","image":"athlete-ally/loadgen:latest","command":["sleep","3600"],"volumeMounts":[{"name":"results","mountPath":"/results"}]}],"volumes":[{"name":"results","persistentVolumeClaim":{"claimName":"loadgen-results"}}]}}'

cat >&3 <<EOF
run $run_id: $workers worker(s) from $start_text (unix $start_at), scenario "$name"
  against $target_url, judged with $prometheus_url
  written: $rel/run.env${scenario:+, $rel/scenario.toml}

Start it within $lead_seconds s: the workers wait for the start time, and one that starts
after it refuses it (exit 2), so the image pull and the volume must be ready by then
(run launch.sh again for a new start; LOADGEN_LEAD_SECONDS=300 for a longer lead):
  kubectl -n $namespace delete job loadgen-workers loadgen-merge --ignore-not-found --cascade=foreground --wait=true
  kubectl apply -k $rel
(or: $rel/launch.sh $workers${scenario:+ SCENARIO} --apply)

Watch it and read the verdict:
  kubectl -n $namespace get pods -l app.kubernetes.io/part-of=loadgen -w
  kubectl -n $namespace logs -f job/loadgen-merge
  kubectl -n $namespace get job loadgen-merge -o jsonpath='{.status.conditions[*].type}{"\n"}'
      # Complete: exit 0 (pass); Failed: a non-zero exit, which is:
  kubectl -n $namespace get pods -l job-name=loadgen-merge \\
      -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.exitCode}{"\n"}'
      # 0 pass, 1 fail, 2 bad input, 3 inconclusive (such as a worker's results missing)
  kubectl -n $namespace logs -l job-name=loadgen-workers --prefix --tail=-1
      # every worker's log, for a failed or inconclusive run

Copy the report (results/$run_id/merged/: report.html, junit.xml, summary.json,
summary.md) from the volume through a helper pod:
  kubectl -n $namespace run loadgen-results --restart=Never --image=athlete-ally/loadgen:latest \\
      --overrides='$results_pod'
  kubectl -n $namespace wait --for=condition=Ready pod/loadgen-results
  kubectl -n $namespace cp loadgen-results:/results/$run_id results/$run_id
  kubectl -n $namespace delete pod loadgen-results
EOF

if [ "$apply" = 1 ]; then
  echo >&3
  echo "applying to kubectl context $(kubectl config current-context 2>/dev/null || echo '(none)')" >&3
  kubectl -n "$namespace" delete job loadgen-workers loadgen-merge --ignore-not-found --cascade=foreground --wait=true
  kubectl apply -k "$here"
fi
