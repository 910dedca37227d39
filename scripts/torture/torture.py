#!/usr/bin/env python3
"""The verdict torture harness: randomized runs against the reference services and
real Prometheus servers, each verdict compared with an oracle's truth.

A campaign starts `loadgen services` (its own process, fixed ports), one
Prometheus per scrape interval (1 s, 5 s, 15 s) and a sampler that reads the
services' `/metrics` pages every quarter of a second. Each case, drawn from its
own seed, runs one scenario through `loadgen run --request-log` with a random
load shape and gate, flows under their own or other names, the built-in SLO set
or one with an imported query SLO, faults set at random times through the
services' admin API (error and 429 storms, redirects, stalls, slow databases and
models, CPU burn, `/metrics` outages, a restart of the services), sometimes a
clock offset on loadgen (`faketime`), and sometimes judges the run's window again
later with other traffic in between (`loadgen verify`, or `loadgen merge` of the
run as a worker). The oracle (oracle.py, code of its own) computes each SLO's
true value from the request log and the sampled pages over the true window.

A verdict of PASS on an SLO whose true value misses the objective is a false
pass: the harness prints it with the seed that replays it and stops (exit 1).
False FAILs and inconclusive verdicts are counted too.

    python3 scripts/torture/torture.py --loadgen target/release/loadgen --runs 200
    python3 scripts/torture/torture.py --loadgen ... --case-seed 1234   # replay one case
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import oracle

ADMIN_TOKEN = "athlete-ally-admin"
SERVICES = ["gateway-bff", "profile-onboarding", "planning-engine"]
# The metrics the oracle reads from the services' pages.
SAMPLED = (
    "api_requests_total",
    "api_errors_total",
    "llm_response_time_seconds_bucket",
    "llm_response_time_seconds_count",
    "database_query_duration_seconds_bucket",
    "database_query_duration_seconds_count",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
)
SAMPLE_EVERY = 0.25


def now_ms():
    return time.time() * 1000.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds=20.0):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def http(method, url, body=None, headers=None, timeout=3.0):
    data = None if body is None else body.encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read().decode()


class Services:
    """`loadgen services` on fixed ports, restartable."""

    def __init__(self, loadgen, workdir):
        self.loadgen = loadgen
        self.ports = {k: free_port() for k in (
            "GATEWAY_BFF_PORT", "GATEWAY_BFF_METRICS_PORT",
            "PROFILE_ONBOARDING_PORT", "PROFILE_ONBOARDING_METRICS_PORT",
            "PLANNING_ENGINE_PORT", "PLANNING_ENGINE_METRICS_PORT")}
        self.log = open(os.path.join(workdir, "services.log"), "ab")
        self.proc = None
        self.downs = []  # (start_ms, end_ms) when every service was down

    @property
    def gateway(self):
        return f"http://127.0.0.1:{self.ports['GATEWAY_BFF_PORT']}"

    def metrics(self):
        """(job, host:port) of each service's metrics."""
        return [
            ("gateway-bff", f"127.0.0.1:{self.ports['GATEWAY_BFF_METRICS_PORT']}"),
            ("profile-onboarding", f"127.0.0.1:{self.ports['PROFILE_ONBOARDING_METRICS_PORT']}"),
            ("planning-engine", f"127.0.0.1:{self.ports['PLANNING_ENGINE_METRICS_PORT']}"),
        ]

    def start(self):
        env = dict(os.environ, LLM_LATENCY_P50_MS="150", LLM_LATENCY_P95_MS="500",
                   LLM_FAILURE_RATE="0", RATE_LIMIT_PER_SECOND="0",
                   **{k: str(v) for k, v in self.ports.items()})
        self.proc = subprocess.Popen([self.loadgen, "services"], env=env,
                                     stdout=self.log, stderr=self.log)
        for port in self.ports.values():
            if not wait_port(port):
                raise RuntimeError("the services did not start (see services.log)")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self, down_s):
        """Kills the services, waits `down_s`, starts them again (their counters
        start from zero)."""
        start = now_ms()
        self.stop()
        time.sleep(down_s)
        self.start()
        self.downs.append((start, now_ms()))

    def set_faults(self, job, faults):
        host = dict(self.metrics())[job]
        try:
            http("PUT", f"http://{host}/admin/faults", json.dumps(faults), {
                "authorization": f"Bearer {ADMIN_TOKEN}", "content-type": "application/json"})
        except OSError:
            pass  # the services were down (a restart): the fault is lost with them

    def clear(self):
        for job in SERVICES:
            self.set_faults(job, {})


class Prometheus:
    """A Prometheus scraping the services every `interval` seconds."""

    def __init__(self, binary, services, interval, workdir):
        self.interval = interval
        self.port = free_port()
        self.dir = os.path.join(workdir, f"prom-{interval}s")
        os.makedirs(self.dir, exist_ok=True)
        jobs = "\n".join(
            f"  - job_name: {job}\n    static_configs: [{{targets: ['{addr}']}}]"
            for job, addr in services.metrics())
        config = os.path.join(self.dir, "prometheus.yml")
        with open(config, "w") as f:
            timeout_ms = int(min(interval, 10) * 800)
            f.write(f"global:\n  scrape_interval: {interval}s\n  scrape_timeout: {timeout_ms}ms\n"
                    f"scrape_configs:\n{jobs}\n")
        self.log = open(os.path.join(self.dir, "prometheus.log"), "ab")
        self.proc = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}"], stdout=self.log, stderr=self.log)
        wait_port(self.port)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def wait_up(self, targets=3, seconds=60):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                _, body = http("GET", f"{self.url}/api/v1/query?query=up%3D%3D1")
                if len(json.loads(body)["data"]["result"]) >= targets:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Prometheus {self.url} never saw the services up")

    def stop(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def parse_page(text):
    """(name, labels text) -> value for the sampled metrics of a metrics page."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_end = min((i for i in (line.find("{"), line.find(" ")) if i >= 0), default=-1)
        if name_end < 0:
            continue
        name = line[:name_end]
        if name not in SAMPLED:
            continue
        labels, rest = "", line[name_end:]
        if rest.startswith("{"):
            close = rest.rfind("}")
            labels, rest = rest[1:close], rest[close + 1:]
        try:
            out[(name, labels)] = float(rest.split()[0])
        except (ValueError, IndexError):
            continue
    return out


def label(labels, key):
    """A label's value in a labels text, or None."""
    for part in labels.split(","):
        k, _, v = part.partition("=")
        if k.strip() == key:
            return v.strip().strip('"')
    return None


class Sampler(threading.Thread):
    """Reads every service's metrics page every quarter of a second: the truth of
    the services' counters, and when a page could not be read."""

    def __init__(self, services):
        super().__init__(daemon=True)
        self.services = services
        self.series = {}  # (job, name, labels) -> [(t_ms, value)]
        self.failures = {job: [] for job in SERVICES}  # t_ms of failed reads
        self.lock = threading.Lock()
        self.running = True

    def run(self):
        while self.running:
            for job, addr in self.services.metrics():
                t = now_ms()
                try:
                    _, text = http("GET", f"http://{addr}/metrics", timeout=1.0)
                    page = parse_page(text)
                except OSError:
                    with self.lock:
                        self.failures[job].append(t)
                    continue
                with self.lock:
                    for (name, labels), v in page.items():
                        self.series.setdefault((job, name, labels), []).append((t, v))
            time.sleep(SAMPLE_EVERY)

    def summed_delta(self, window, job=None, name="", pick=lambda labels: True):
        """The sum over matching series of each one's increase over the window."""
        total, found = 0.0, False
        with self.lock:
            items = [(k, list(v)) for k, v in self.series.items()]
        for (j, n, labels), samples in items:
            if n != name or (job and j != job) or not pick(labels):
                continue
            d = oracle.delta(samples, window)
            if d is not None:
                total, found = total + d, True
        return total if found else None

    def gauge(self, job, name):
        with self.lock:
            return [s for (j, n, _), v in self.series.items() if j == job and n == name for s in v]


def le_is(threshold):
    def pick(labels):
        le = label(labels, "le")
        try:
            return le is not None and le != "+Inf" and abs(float(le) - threshold) < 1e-9
        except ValueError:
            return False
    return pick


def server_truth(sampler, slo, window, interval, outages):
    """The true value of a server-side SLO over the window, from the sampled pages."""
    if slo in ("llm_response_time_p95", "database_query_time_p95"):
        name = "llm_response_time_seconds" if slo.startswith("llm") else "database_query_duration_seconds"
        within = sampler.summed_delta(window, None, name + "_bucket", le_is(oracle.THRESHOLDS[slo]))
        count = sampler.summed_delta(window, None, name + "_count")
        return within / count if within is not None and count else None
    if slo == "gateway_errors_query":
        bad = sampler.summed_delta(window, "gateway-bff", "api_errors_total")
        total = sampler.summed_delta(window, "gateway-bff", "api_requests_total")
        return bad / total if bad is not None and total else None
    if slo == "cpu_per_service":
        span = oracle.rate_span(window, interval)
        rates = [oracle.worst_rate(sorted(sampler.gauge(j, "process_cpu_seconds_total")), window, span)
                 for j in SERVICES]
        rates = [r for r in rates if r is not None]
        return max(rates) if rates else None
    if slo == "memory_per_service":
        values = [v for j in SERVICES for t, v in sampler.gauge(j, "process_resident_memory_bytes")
                  if window[0] <= t <= window[1]]
        return max(values) if values else None
    if slo == "service_up":
        return 0.0 if oracle.down_during(outages, window) else 1.0
    return None


def client_truth(log, slo, window, roles):
    """The true value of a client-visible SLO over the window, from the request log."""
    requests, iterations = log
    if slo == "api_error_rate":
        return oracle.error_rate(requests, window)
    if slo == "api_response_time_p95":
        return oracle.latency_share(requests, window, oracle.THRESHOLDS[slo])
    if slo == "onboarding_completion_rate" and roles.get("completion"):
        flow, first, last = roles["completion"]
        return oracle.completion([r for r in requests if r.flow == flow], window, first, last)
    if slo == "plan_generation_failure_rate" and roles.get("job"):
        return oracle.job_failure(iterations, window, roles["job"])
    if slo == "plan_generation_duration_p95" and roles.get("job"):
        return oracle.job_duration_share(iterations, window, roles["job"], oracle.THRESHOLDS[slo])
    return None


def read_log(path, offset_ms):
    """The request log, on the true clock (loadgen's minus its offset)."""
    requests, iterations = [], []
    if not os.path.exists(path):
        return requests, iterations
    with open(path) as f:
        for line in f:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            if e["type"] == "request":
                end = e["at_ms"] - offset_ms + e["service_us"] / 1000.0
                requests.append(oracle.Request(end, e["flow"], e["name"], e["outcome"], e["service_us"] / 1e6))
            else:
                took = e["duration_us"] / 1e6 if e["duration_us"] is not None else None
                end = e["at_ms"] - offset_ms + (took or 0) * 1000.0
                iterations.append(oracle.Iteration(end, e["flow"], e["outcome"], took))
    return requests, iterations


# --- one case ------------------------------------------------------------------

QUERY_SLO = '''
[[slo]]
name = "gateway_errors_query"
description = "Gateway 5xx share, as an imported Sloth or OpenSLO query"
kind = "query"
bad_query = 'sum(rate(api_errors_total{route=~"/.*"}[{{.window}}]))'
total_query = 'sum(rate(api_requests_total{route=~"/.*"}[{{.window}}]))'
objective = "< 0.01"
'''


def draw_case(seed, intervals, faketime):
    """A case's configuration, all from its seed."""
    rng = random.Random(seed)
    interval = rng.choice(intervals)
    length = {1: rng.randint(14, 26), 5: rng.randint(30, 45), 15: rng.randint(60, 80)}[interval]
    case = {
        "seed": seed,
        "interval": interval,
        "length": length,
        "gate": rng.choice(["whole", "steady", "both"]),
        "shape": rng.choice(["flat", "ramps"]),
        "health_rate": rng.choice([0, 20, 40]),
        "onboarding_users": rng.choice([0, 4, 8]),
        "plans_users": rng.choice([0, 3, 6]),
        "rename": rng.random() < 0.4,
        "query_slo": rng.random() < 0.3,
        "pages": rng.random() < 0.5,
        "offset_s": rng.choice([0, 0, 0, -25, -8, 8, 25]) if faketime else 0,
        "mode": rng.choice(["run", "run", "run", "verify", "merge"]),
        "graceful_s": rng.choice([1, 2, 5]),
        "timeout_s": rng.choice([2, 5, 30]),
        "faults": [],
    }
    if case["health_rate"] == 0 and case["onboarding_users"] == 0 and case["plans_users"] == 0:
        case["health_rate"] = 20
    if case["offset_s"]:
        case["mode"] = "run"
    for _ in range(rng.randint(0, 4)):
        case["faults"].append(draw_fault(rng, length + case["graceful_s"], interval))
    return case


def draw_fault(rng, span, interval):
    """One fault: when it starts and ends (seconds after the load starts), on
    which service, what."""
    start = round(rng.uniform(-1, span), 1)
    duration = round(rng.uniform(0.5, max(1.0, span / 3)), 1)
    kind = rng.choice(["errors", "errors", "latency", "stall", "outage", "database", "llm", "cpu", "restart"])
    service, faults = "gateway-bff", {}
    if kind == "errors":
        status = rng.choice([503, 500, 429, 302, 422])
        route = rng.choice(["*", "/api/health", "/api/v1/plans/status", "/api/v1/onboarding"])
        faults = {"routes": [{"route": route, "error_rate": rng.choice([0.02, 0.1, 0.5]), "error_status": status}]}
    elif kind == "latency":
        faults = {"routes": [{"route": "*", "latency_ms": rng.choice([300, 1500, 2500])}]}
    elif kind == "stall":
        faults = {"stalls": [{"after_ms": 0, "duration_ms": int(duration * 1000)}]}
    elif kind == "outage":
        service = rng.choice(SERVICES)
        # Long enough for the slowest scrape interval to see it.
        duration = max(duration, 2.5 * interval)
        faults = {"metrics_outages": [{"after_ms": 0, "duration_ms": int(duration * 1000)}]}
    elif kind == "database":
        service = rng.choice(["profile-onboarding", "planning-engine"])
        faults = {"database": {"latency_ms": rng.choice([200, 1200])}}
    elif kind == "llm":
        service = "planning-engine"
        faults = {"llm": {"extra_latency_ms": rng.choice([0, 11000]), "failure_rate": rng.choice([0.0, 0.3])}}
    elif kind == "cpu":
        faults = {"routes": [{"route": "/api/health", "cpu_burn_ms": rng.choice([5, 20])}]}
    elif kind == "restart":
        duration = rng.choice([1.0, 3.0])
    return {"kind": kind, "start": start, "duration": duration, "service": service, "faults": faults}


def scenario_text(case, services, prometheus, slo_file, root):
    """The case's scenario."""
    metrics = ", ".join(f'"{j}" = "http://{a}/metrics"' for j, a in services.metrics())
    lines = [f'name = "torture-{case["seed"]}"', "[target]", f'url = "{services.gateway}"',
             f'request_timeout = "{case["timeout_s"]}s"']
    if case["pages"]:
        lines.append(f"metrics = {{ {metrics} }}")
    users = max(1, case["onboarding_users"] + case["plans_users"])
    n = case["length"]
    lines += ["[load]", f'graceful_stop = "{case["graceful_s"]}s"',
              'think_time = { min = "50ms", max = "200ms" }']
    if case["shape"] == "ramps":
        ramp = max(2, n // 5)
        lines.append(
            f'stages = [{{ kind = "ramp", users = {users}, duration = "{ramp}s" }}, '
            f'{{ kind = "steady", users = {users}, duration = "{n - 2 * ramp}s" }}, '
            f'{{ kind = "ramp", users = 0, duration = "{ramp}s" }}]')
    else:
        lines += [f"users = {users}", f"hatch_rate = {users}", f'duration = "{n}s"']
    names = {"onboarding": "signup", "plans": "plan_jobs", "health": "probe"} if case["rename"] else {}
    for flow, key in (("onboarding", "onboarding_users"), ("plans", "plans_users")):
        if case[key]:
            lines += ["[[flows]]", f'file = "{root}/scenarios/flows/{flow}.toml"',
                      f'name = "{names.get(flow, flow)}"', f"weight = {case[key]}"]
            if flow == "plans":
                lines.append('params = { poll_interval = "200ms", timeout = "20s" }')
    if case["health_rate"]:
        lines += ["[[flows]]", f'name = "{names.get("health", "health")}"',
                  f'file = "{root}/scenarios/flows/health.toml"',
                  'executor = "constant-arrival-rate"', f"rate = {case['health_rate']}",
                  f"max_users = {case['health_rate'] * 10}"]
    lines += ["[slo]", f'file = "{slo_file}"', f'gate = "{case["gate"]}"',
              "[prometheus]", f'url = "{prometheus.url}"']
    return "\n".join(lines) + "\n", names


def roles(case, names):
    """The flows that declare the client measures (the shipped files' roles)."""
    out = {}
    if case["onboarding_users"]:
        out["completion"] = (names.get("onboarding", "onboarding"), "purpose_selection", "complete")
    if case["plans_users"]:
        out["job"] = names.get("plans", "plans")
    return out


class Schedule(threading.Thread):
    """Applies the case's faults at their times after `t0`."""

    def __init__(self, services, faults, t0, outages):
        super().__init__(daemon=True)
        self.services, self.faults, self.t0, self.outages = services, faults, t0, outages

    def run(self):
        events = []
        for f in self.faults:
            events.append((f["start"], "set", f))
            events.append((f["start"] + f["duration"], "clear", f))
        for at, what, f in sorted(events, key=lambda e: e[0]):
            time.sleep(max(0.0, self.t0 + at - time.time()))
            if f["kind"] == "restart":
                if what == "set":
                    self.services.restart(f["duration"])
                continue
            if what == "set":
                self.services.set_faults(f["service"], f["faults"])
                if f["kind"] == "outage":
                    t = now_ms()
                    self.outages.append((t, t + f["duration"] * 1000.0))
            else:
                self.services.set_faults(f["service"], {})


def background(services, seconds):
    """Healthy traffic on the gateway for `seconds` (a later window's neighbour)."""
    wrk = shutil.which("wrk")
    if wrk:
        subprocess.run([wrk, "-t1", "-c8", f"-d{int(seconds)}s", f"{services.gateway}/api/health"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            http("GET", f"{services.gateway}/api/health", timeout=1.0)
        except OSError:
            pass


def verdicts_of(case, run_dir, work, loadgen, prometheus, slo_file, services):
    """The verdicts to compare: the run's own, or those of a later verify or merge."""
    with open(os.path.join(run_dir, "summary.json")) as f:
        summary = json.load(f)
    if case["mode"] == "run":
        return summary, summary.get("verdicts")
    background(services, random.Random(case["seed"]).uniform(5, 15))
    if case["mode"] == "verify":
        out = os.path.join(work, "verify")
        args = [loadgen, "verify", "--slo", slo_file, "--prometheus", prometheus.url,
                "--from", str(summary["start_ms"]), "--to", str(summary["end_ms"]), "--out", out]
        if summary.get("steady_start_ms"):
            args += ["--steady-from", str(summary["steady_start_ms"]), "--steady-to", str(summary["steady_end_ms"])]
        subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        path = os.path.join(out, "verdicts.json")
        return summary, json.load(open(path)) if os.path.exists(path) else None
    merged = os.path.join(work, "merged")
    subprocess.run([loadgen, "merge", os.path.dirname(run_dir), "--prometheus", prometheus.url,
                    "--out", merged], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = os.path.join(merged, "summary.json")
    return summary, (json.load(open(path)).get("verdicts") if os.path.exists(path) else None)


def windows_of(summary, offset_ms):
    """The run's windows on the true clock, by the verdicts' window kind."""
    out = {"whole": (summary["start_ms"] - offset_ms, summary["end_ms"] - offset_ms)}
    if summary.get("steady_start_ms"):
        out["steady"] = (summary["steady_start_ms"] - offset_ms, summary["steady_end_ms"] - offset_ms)
    return out


def compare(case, summary, verdicts, truth_of):
    """Each verdict against the truth: (false passes, false fails, inconclusive, compared)."""
    tally = {"false_pass": [], "false_fail": [], "inconclusive": 0, "compared": 0}
    offset_ms = case["offset_s"] * 1000.0
    windows = windows_of(summary, offset_ms)
    for kind in ("whole", "steady"):
        for v in (verdicts or {}).get(kind) or []:
            if v["slo"] not in oracle.OBJECTIVES or kind not in windows:
                continue
            truth = truth_of(v["slo"], windows[kind])
            if truth is None:
                continue
            tally["compared"] += 1
            bad = oracle.missed(v["slo"], truth)
            entry = {"slo": v["slo"], "window": kind, "status": v["status"], "truth": truth,
                     "display": v.get("display"), "note": v.get("note")}
            if v["status"] == "pass" and bad:
                tally["false_pass"].append(entry)
            elif v["status"] == "fail" and not bad:
                tally["false_fail"].append(entry)
            elif v["status"] == "inconclusive":
                tally["inconclusive"] += 1
    return tally


class Campaign:
    """The servers a campaign shares, and its cases."""

    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="torture-")
        self.root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
        self.services = Services(args.loadgen, self.work)
        self.services.start()
        self.proms = {i: Prometheus(args.prometheus, self.services, i, self.work) for i in args.intervals}
        for p in self.proms.values():
            p.wait_up()
        self.sampler = Sampler(self.services)
        self.sampler.start()
        self.faketime = shutil.which("faketime") if not args.no_faketime else None
        built_in = open(os.path.join(self.root, "slo", "athlete-ally.toml")).read()
        self.slo_files = {}
        for with_query in (False, True):
            path = os.path.join(self.work, f"slo-{int(with_query)}.toml")
            with open(path, "w") as f:
                f.write(built_in + (QUERY_SLO if with_query else ""))
            self.slo_files[with_query] = path

    def close(self):
        self.sampler.running = False
        for p in self.proms.values():
            p.stop()
        self.services.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def run_case(self, seed):
        case = draw_case(seed, self.args.intervals, self.faketime)
        self.services.clear()
        work = os.path.join(self.work, f"case-{seed}")
        os.makedirs(work, exist_ok=True)
        prometheus = self.proms[case["interval"]]
        slo_file = self.slo_files[case["query_slo"]]
        text, names = scenario_text(case, self.services, prometheus, slo_file, self.root)
        scenario = os.path.join(work, "scenario.toml")
        with open(scenario, "w") as f:
            f.write(text)
        results = os.path.join(work, "results")
        args = [self.args.loadgen, "run", scenario, "--results", results, "--quiet",
                "--no-preflight", "--request-log"]
        if case["mode"] == "merge":
            args += ["--run-id", "shared-run", "--worker", "0/1"]
        if case["offset_s"]:
            args = [self.faketime, "-f", f"{case['offset_s']:+d}s"] + args
        outages = []
        schedule = Schedule(self.services, case["faults"], time.time() + 0.5, outages)
        schedule.start()
        with open(os.path.join(work, "loadgen.log"), "w") as log:
            code = subprocess.run(args, stdout=log, stderr=log, cwd=self.root).returncode
        schedule.join()
        self.services.clear()
        run_dir = find_run(results)
        if run_dir is None:
            return case, code, None
        summary, verdicts = verdicts_of(case, run_dir, work, self.args.loadgen, prometheus,
                                        slo_file, self.services)
        log = read_log(os.path.join(run_dir, "requests.jsonl"), case["offset_s"] * 1000.0)
        downs = outages + self.services.downs

        def truth_of(slo, window):
            value = client_truth(log, slo, window, roles(case, names))
            if value is None:
                value = server_truth(self.sampler, slo, window, case["interval"], downs)
            return value

        return case, code, compare(case, summary, verdicts, truth_of)


def find_run(results):
    """The run directory under `results` (a worker's, for a merge case)."""
    for dirpath, _, files in os.walk(results):
        if "summary.json" in files and "merged" not in dirpath:
            return dirpath
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--prometheus", default="prometheus")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=None, help="the campaign's seed (default: random)")
    p.add_argument("--case-seed", type=int, default=None, help="replay this one case")
    p.add_argument("--intervals", type=lambda s: [int(x) for x in s.split(",")], default=[1, 5, 15])
    p.add_argument("--no-faketime", action="store_true")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--report", default=None, help="write the campaign's figures here (JSON)")
    args = p.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    if args.case_seed is not None:
        seeds = [args.case_seed]
    else:
        draw = random.Random(seed)
        seeds = [draw.randrange(2**31) for _ in range(args.runs)]
    print(f"torture campaign {seed}: {len(seeds)} cases, scrape intervals {args.intervals}", flush=True)
    campaign = Campaign(args)
    totals = {"cases": 0, "compared": 0, "false_pass": 0, "false_fail": 0, "inconclusive": 0, "no_run": 0}
    try:
        for i, case_seed in enumerate(seeds):
            case, code, tally = campaign.run_case(case_seed)
            totals["cases"] += 1
            if tally is None:
                totals["no_run"] += 1
                print(f"case {i} seed {case_seed}: no run directory (exit {code})", flush=True)
                continue
            for k in ("compared", "inconclusive"):
                totals[k] += tally[k]
            totals["false_fail"] += len(tally["false_fail"])
            totals["false_pass"] += len(tally["false_pass"])
            brief = ",".join(f["kind"] for f in case["faults"]) or "none"
            print(f"case {i} seed {case_seed}: {case['interval']}s scrapes, gate {case['gate']}, "
                  f"{case['mode']}, clock {case['offset_s']:+d}s, faults {brief}: exit {code}, "
                  f"{tally['compared']} verdicts, {len(tally['false_pass'])} false pass, "
                  f"{len(tally['false_fail'])} false fail, {tally['inconclusive']} inconclusive", flush=True)
            for f in tally["false_fail"]:
                print(f"  false fail: {f}", flush=True)
            if tally["false_pass"]:
                for f in tally["false_pass"]:
                    print(f"  FALSE PASS: {f}", flush=True)
                print(f"  case: {json.dumps(case)}")
                print(f"  replay: TORTURE_CASE_SEED={case_seed} scripts/torture.sh", flush=True)
                break
    finally:
        campaign.close()
    rate = lambda k: totals[k] / max(1, totals["compared"])
    print(f"\ncampaign {seed}: {totals['cases']} cases, {totals['compared']} verdicts compared, "
          f"{totals['false_pass']} false passes ({rate('false_pass'):.2%}), "
          f"{totals['false_fail']} false fails ({rate('false_fail'):.2%}), "
          f"{totals['inconclusive']} inconclusive ({rate('inconclusive'):.2%})", flush=True)
    if args.report:
        with open(args.report, "w") as f:
            json.dump(dict(totals, seed=seed), f, indent=2)
    return 1 if totals["false_pass"] else 0


if __name__ == "__main__":
    sys.exit(main())
