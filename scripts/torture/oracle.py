"""The oracle of the verdict torture harness: each SLO's true value over a window,
computed from raw truth with code of its own (none of the verifier's).

Truth comes from two places:
- the client's request log (`loadgen run --request-log`, `requests.jsonl`): every
  request the generator started with its outcome and service time, and every
  iteration with its outcome and duration;
- the services' own `/metrics` pages, scraped by the harness every quarter of a
  second (`Sampler` in torture.py): counters and gauges at the true edges.

Each function here takes plain lists and numbers and returns the true value (or
None when the window holds no event of that kind); `missed(slo, value)` says
whether that value misses the SLO's objective. Nothing here is statistical: the
truth is the share of the events that happened, and a verifier that says PASS
while the truth misses the objective has passed a bad run.
"""

from dataclasses import dataclass

# The objectives of the Athlete Ally SLO set (slo/athlete-ally.toml, SEED.md),
# written here again on purpose: the oracle shares no code with the verifier.
OBJECTIVES = {
    "onboarding_completion_rate": (">=", 0.80),
    "plan_generation_failure_rate": ("<", 0.05),
    "plan_generation_duration_p95": (">=", 0.95),  # share within 30 s
    "api_error_rate": ("<", 0.01),
    "api_response_time_p95": (">=", 0.95),  # share within 2 s
    "llm_response_time_p95": (">=", 0.95),  # share within 10 s
    "database_query_time_p95": (">=", 0.95),  # share within 1 s
    "service_up": ("==", 1.0),
    "memory_per_service": ("<", 1e9),
    "cpu_per_service": ("<", 0.80),
    "gateway_errors_query": ("<", 0.01),
}

# The thresholds of the latency SLOs, seconds.
THRESHOLDS = {
    "plan_generation_duration_p95": 30.0,
    "api_response_time_p95": 2.0,
    "llm_response_time_p95": 10.0,
    "database_query_time_p95": 1.0,
}


def missed(slo, value):
    """Whether a true value misses the SLO's objective."""
    op, goal = OBJECTIVES[slo]
    if op == ">=":
        return value < goal
    if op == "<":
        return not value < goal
    return value != goal


@dataclass
class Request:
    """One line of the request log."""

    end_ms: float
    flow: str
    name: str
    outcome: str
    service_s: float


@dataclass
class Iteration:
    """One iteration of the request log."""

    end_ms: float
    flow: str
    outcome: str
    duration_s: float


def in_window(t_ms, window):
    """Whether a time lies in [start, end)."""
    return window[0] <= t_ms < window[1]


def error_rate(requests, window):
    """Requests not accepted over every request started, among those that ended
    in the window."""
    seen = [r for r in requests if in_window(r.end_ms, window)]
    if not seen:
        return None
    return sum(1 for r in seen if r.outcome != "accepted") / len(seen)


def latency_share(requests, window, threshold_s):
    """Accepted requests within the threshold over the events that count: every
    accepted request, and every failed one slower than the threshold (a fast
    failure says nothing of latency; a slow one was late)."""
    good, events = 0, 0
    for r in requests:
        if not in_window(r.end_ms, window):
            continue
        if r.outcome == "accepted":
            events += 1
            good += r.service_s <= threshold_s
        elif r.service_s > threshold_s:
            events += 1
    return good / events if events else None


def completion(requests, window, start_step, end_step):
    """Journeys answered at the funnel's last step over those answered at its
    first, among requests that ended in the window."""
    def accepted(name):
        return sum(
            1
            for r in requests
            if r.name == name and r.outcome == "accepted" and in_window(r.end_ms, window)
        )

    started = accepted(start_step)
    return accepted(end_step) / started if started else None


def job_failure(iterations, window, flow):
    """Jobs failed or cut short over jobs that ended in the window (abandoned ones
    are not jobs that ended badly)."""
    ended = [
        i
        for i in iterations
        if i.flow == flow and in_window(i.end_ms, window) and i.outcome != "abandoned"
    ]
    if not ended:
        return None
    return sum(1 for i in ended if i.outcome != "completed") / len(ended)


def job_duration_share(iterations, window, flow, threshold_s):
    """Completed jobs within the threshold over completed jobs and failed or cut
    ones that had run past it."""
    good, events = 0, 0
    for i in iterations:
        if i.flow != flow or not in_window(i.end_ms, window) or i.outcome == "abandoned":
            continue
        if i.outcome == "completed":
            events += 1
            good += i.duration_s <= threshold_s
        elif i.duration_s is not None and i.duration_s > threshold_s:
            events += 1
    return good / events if events else None


def delta(samples, window):
    """A counter's increase over the window from (t_ms, value) samples: from the
    last sample at or before the start to the first at or after the end, a value
    that went down counted as a restart from zero. None without samples on both
    sides."""
    before = [s for s in samples if s[0] <= window[0]]
    after = [s for s in samples if s[0] >= window[1]]
    if not before or not after:
        return None
    start_t, end_t = before[-1][0], after[0][0]
    total, last = 0.0, None
    for t, v in samples:
        if t < start_t or t > end_t:
            continue
        if last is not None:
            total += v - last if v >= last else v
        last = v
    return total


def bucket_share(bucket_samples, count_samples, window):
    """The share of a histogram's events at or under its bucket over the window."""
    within = delta(bucket_samples, window)
    count = delta(count_samples, window)
    if within is None or not count:
        return None
    return within / count


def ratio(bad_samples, total_samples, window):
    """Bad events over all events of two counters over the window."""
    bad = delta(bad_samples, window)
    total = delta(total_samples, window)
    if bad is None or not total:
        return None
    return bad / total


def worst_rate(samples, window, span_s):
    """The highest per-second increase of a counter over any stretch of at least
    `span_s` inside the window (the whole window when it is shorter)."""
    inside = [s for s in samples if window[0] <= s[0] <= window[1]]
    if len(inside) < 2:
        return None
    span_ms = span_s * 1000.0
    if inside[-1][0] - inside[0][0] <= span_ms:
        return rate(inside)
    worst, j = None, 0
    for i in range(len(inside)):
        while j + 1 < i and inside[i][0] - inside[j + 1][0] >= span_ms:
            j += 1
        if inside[i][0] - inside[j][0] >= span_ms:
            r = rate(inside[j : i + 1])
            worst = r if worst is None else max(worst, r)
    return worst


def rate(points):
    """A counter's per-second increase over its points, restarts from zero."""
    total = 0.0
    for (_, a), (_, b) in zip(points, points[1:]):
        total += b - a if b >= a else b
    seconds = (points[-1][0] - points[0][0]) / 1000.0
    return total / seconds if seconds > 0 else 0.0


def rate_span(window, interval_s, alert_window_s=300.0):
    """The stretch a CPU rate is judged over: the SLO's alert window when the
    window holds it, else five scrape intervals (at least 5 s), at most the
    window (the SLO set's definition, restated)."""
    length = (window[1] - window[0]) / 1000.0
    if length >= alert_window_s:
        return alert_window_s
    return min(max(5 * interval_s, 5.0), length)


def down_during(outages, window):
    """Whether any outage (start_ms, end_ms) of a service's metrics or the service
    itself overlaps the window."""
    return any(a < window[1] and b > window[0] for a, b in outages)
