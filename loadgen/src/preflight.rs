//! The runbook's release check (SEED.md), before any load: the gateway and every
//! service healthy, each metrics endpoint exposed, every metric the SLO set needs
//! present, every Prometheus job of the set UP, spans reaching their exporter or
//! Jaeger when one is given, and NATS monitoring healthy when NATS carries the plans.
//! A run that would be judged on missing data is better stopped before it starts:
//! each failed check says what to fix, and the run exits 3 (inconclusive) without
//! driving load. `loadgen preflight SCENARIO` runs it alone; `loadgen run` runs it
//! first unless `--no-preflight`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use slo::definition::{Kind, SloSet};
use slo::prometheus::Prometheus;
use slo::promql::Scope;

use crate::exit::Exit;

/// Timeout of each HTTP request a check sends.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long Prometheus may take to scrape every job once (a managed Prometheus
/// scrapes first about a second after it starts; a 15 s scrape needs longer).
const PROMETHEUS_WAIT: Duration = Duration::from_secs(20);
/// How long a test span may take to show in Jaeger (exporters batch for ~5 s).
const TRACE_WAIT: Duration = Duration::from_secs(15);

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Ready.
    Ok,
    /// Not ready: the run would be judged on missing data.
    Failed,
    /// Not applicable here (no Prometheus, no tracing, no NATS).
    Skipped,
}

/// One line of the check.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// How it came out.
    pub outcome: Outcome,
    /// What was found.
    pub detail: String,
    /// What to do when it failed.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn failed(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Failed,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn skipped(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            name: name.into(),
            outcome: Outcome::Skipped,
            detail: detail.into(),
            fix: None,
        }
    }
}

/// What the check looks at.
pub struct Inputs<'a> {
    /// The gateway's base URL.
    pub base_url: &'a str,
    /// Health endpoints by service (the gateway's `/api/health` at least).
    pub health: BTreeMap<String, String>,
    /// Metrics endpoints by Prometheus job.
    pub metrics: &'a BTreeMap<String, String>,
    /// The SLO set judged.
    pub set: &'a SloSet,
    /// The Prometheus judging, with the run's matchers.
    pub prometheus: Option<(Prometheus, Scope)>,
    /// Jaeger's UI (its query API is under it).
    pub jaeger_url: Option<&'a str>,
    /// Where the embedded services export spans (OTLP gRPC).
    pub otlp_endpoint: Option<&'a str>,
    /// NATS's monitoring endpoint, when NATS carries the plans.
    pub nats_monitoring: Option<String>,
}

/// Runs every check, in the runbook's order.
pub async fn run(inputs: &Inputs<'_>) -> Vec<Check> {
    let http = match reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build() {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::failed(
                "http client",
                e.to_string(),
                "report this as a bug",
            )];
        }
    };
    let mut checks = Vec::new();
    for (service, url) in &inputs.health {
        checks.push(health(&http, service, url).await);
    }
    let (exposed, pages) = metrics_endpoints(&http, inputs.metrics).await;
    checks.extend(exposed);
    checks.push(match &inputs.prometheus {
        Some((p, scope)) => prometheus_targets(p, scope).await,
        None => Check::skipped(
            "prometheus targets",
            "no Prometheus: judged from the services' own /metrics",
        ),
    });
    // After the targets check: by then Prometheus has scraped every job once.
    let needed = needed_metrics(inputs.set);
    let present = if !inputs.metrics.is_empty() {
        let names = pages.values().flatten().map(|s| s.name.clone()).collect();
        Some(("the services' pages", Ok(names)))
    } else if let Some((p, scope)) = &inputs.prometheus {
        Some(("Prometheus", present_in_prometheus(p, scope, &needed).await))
    } else {
        None
    };
    checks.push(slo_metrics(&needed, present));
    checks.push(traces(&http, inputs).await);
    checks.push(match &inputs.nats_monitoring {
        Some(url) => nats(&http, url).await,
        None => Check::skipped("nats", "the plans go through the in-process queue"),
    });
    checks
}

/// Exit 0 when nothing failed, else 3: the run could not be judged.
pub fn exit(checks: &[Check]) -> Exit {
    if checks.iter().any(|c| c.outcome == Outcome::Failed) {
        Exit::Inconclusive
    } else {
        Exit::Pass
    }
}

/// One line per check, with the fix under a failed one.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::from("preflight (the runbook's release check):\n");
    for c in checks {
        let mark = match c.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Failed => "FAIL",
            Outcome::Skipped => "skip",
        };
        out.push_str(&format!("  {mark} {:<26} {}\n", c.name, c.detail));
        if let Some(fix) = &c.fix {
            out.push_str(&format!("       fix: {fix}\n"));
        }
    }
    out
}

async fn get(http: &reqwest::Client, url: &str) -> Result<(u16, String), String> {
    let response = http.get(url).send().await.map_err(|e| without_url(&e))?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| without_url(&e))?;
    Ok((status, body))
}

/// reqwest's error text without the URL (the check's line already names it).
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    let mut source = std::error::Error::source(e);
    let mut deepest = None;
    while let Some(s) = source {
        deepest = Some(s.to_string());
        source = s.source();
    }
    deepest.unwrap_or(text)
}

async fn health(http: &reqwest::Client, service: &str, url: &str) -> Check {
    let name = format!("{service} health");
    match get(http, url).await {
        Ok((200, _)) => Check::ok(name, format!("{url}: 200")),
        Ok((status, _)) => Check::failed(
            name,
            format!("{url}: {status}"),
            format!("{service} answers but is not healthy: read its log"),
        ),
        Err(e) => Check::failed(
            name,
            format!("{url}: {e}"),
            format!(
                "start {service}, or point the scenario's [target] url (or --target-url) at it"
            ),
        ),
    }
}

/// Each metrics endpoint answers with a page that parses; the pages by job.
async fn metrics_endpoints(
    http: &reqwest::Client,
    endpoints: &BTreeMap<String, String>,
) -> (Vec<Check>, BTreeMap<String, Vec<slo::exposition::Sample>>) {
    let mut checks = Vec::new();
    let mut pages = BTreeMap::new();
    for (job, url) in endpoints {
        let name = format!("{job} metrics");
        let fix = format!(
            "expose {job}'s /metrics (its METRICS_PORT) and check [target.metrics] of the scenario"
        );
        match get(http, url).await {
            Ok((200, body)) => match slo::exposition::parse(&body) {
                Ok(samples) => {
                    checks.push(Check::ok(name, format!("{url}: {} samples", samples.len())));
                    pages.insert(job.clone(), samples);
                }
                Err(e) => checks.push(Check::failed(name, format!("{url}: {e}"), fix)),
            },
            Ok((status, _)) => checks.push(Check::failed(name, format!("{url}: {status}"), fix)),
            Err(e) => checks.push(Check::failed(name, format!("{url}: {e}"), fix)),
        }
    }
    (checks, pages)
}

/// The series names an SLO set reads (from the services' pages; `up` is Prometheus's own).
pub fn needed_metrics(set: &SloSet) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for slo in &set.slos {
        match &slo.kind {
            Kind::Ratio(r) => {
                names.extend(r.numerator.iter().chain(&r.total).map(|s| s.name.clone()))
            }
            Kind::Latency(l) => {
                names.insert(format!("{}_bucket", l.histogram.name));
                names.insert(format!("{}_count", l.histogram.name));
            }
            Kind::Gauge(g) if g.metric.name != "up" => {
                names.insert(g.metric.name.clone());
            }
            Kind::Gauge(_) => {}
            Kind::Query(q) => {
                for query in [&q.numerator, &q.total] {
                    names.extend(slo::definition::metric_names(&query.template));
                }
            }
        }
    }
    names
}

/// The needed series names Prometheus holds for the scope's jobs.
async fn present_in_prometheus(
    prometheus: &Prometheus,
    scope: &Scope,
    needed: &BTreeSet<String>,
) -> Result<BTreeSet<String>, String> {
    let names: Vec<&str> = needed.iter().map(String::as_str).collect();
    let query = slo::promql::names_present(&names, scope);
    let rows = prometheus.query(&query).await.map_err(|e| e.to_string())?;
    Ok(rows
        .into_iter()
        .filter_map(|(labels, _)| labels.get("__name__").cloned())
        .collect())
}

/// Every series name the SLO set reads, among those `present` (and where from).
fn slo_metrics(
    needed: &BTreeSet<String>,
    present: Option<(&str, Result<BTreeSet<String>, String>)>,
) -> Check {
    let name = "slo metrics";
    let (from, present) = match present {
        None => {
            return Check::skipped(
                name,
                "no metrics endpoints ([target.metrics]) and no Prometheus to ask",
            );
        }
        Some((from, Err(e))) => {
            return Check::failed(
                name,
                format!("{from}: {e}"),
                "make Prometheus answer queries, or give [target.metrics]",
            );
        }
        Some((from, Ok(p))) => (from, p),
    };
    let missing: Vec<&str> = needed
        .iter()
        .filter(|n| !present.contains(n.as_str()))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Check::ok(
            name,
            format!(
                "all {} series names the SLO set reads are in {from}",
                needed.len()
            ),
        );
    }
    Check::failed(
        name,
        format!("not in {from}: {}", missing.join(", ")),
        "an SLO on a missing metric is inconclusive: deploy a build that exports it, or judge a subset with [slo] only",
    )
}

/// Every job of the set has an `up` series at 1, waiting for the first scrapes.
async fn prometheus_targets(prometheus: &Prometheus, scope: &Scope) -> Check {
    let name = "prometheus targets";
    let query = slo::promql::up(scope);
    let started = Instant::now();
    loop {
        let rows = prometheus.query(&query).await;
        let (up, down, missing) = match &rows {
            Ok(rows) => classify_up(rows, &scope.jobs),
            Err(_) => (Vec::new(), Vec::new(), scope.jobs.clone()),
        };
        if down.is_empty() && missing.is_empty() {
            return Check::ok(
                name,
                format!("{} up at {}", up.join(", "), prometheus.url()),
            );
        }
        if started.elapsed() >= PROMETHEUS_WAIT {
            let detail = match rows {
                Err(e) => format!("{}: {e}", prometheus.url()),
                Ok(_) => format!(
                    "down: [{}], never scraped: [{}]",
                    down.join(", "),
                    missing.join(", ")
                ),
            };
            return Check::failed(
                name,
                detail,
                "give Prometheus a scrape job per service, named as the SLO set's services (monitoring/prometheus.yml), and make each metrics port reachable from it",
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Jobs up, down (a target at 0) and without a series.
fn classify_up(
    rows: &slo::prometheus::Rows,
    jobs: &[String],
) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut up, mut down, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for job in jobs {
        let values: Vec<f64> = rows
            .iter()
            .filter(|(labels, _)| labels.get("job") == Some(job))
            .map(|(_, v)| *v)
            .collect();
        if values.is_empty() {
            missing.push(job.clone());
        } else if values.iter().all(|v| *v == 1.0) {
            up.push(job.clone());
        } else {
            down.push(job.clone());
        }
    }
    (up, down, missing)
}

/// Spans: a sampled request's trace found in Jaeger, else the OTLP endpoint accepting
/// connections.
async fn traces(http: &reqwest::Client, inputs: &Inputs<'_>) -> Check {
    let name = "traces";
    if let Some(jaeger) = inputs.jaeger_url {
        return jaeger_trace(http, inputs.base_url, jaeger).await;
    }
    let Some(endpoint) = inputs.otlp_endpoint else {
        return Check::skipped(name, "no OTLP endpoint or Jaeger URL given");
    };
    let address = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    match tokio::time::timeout(REQUEST_TIMEOUT, tokio::net::TcpStream::connect(&address)).await {
        Ok(Ok(_)) => Check::ok(
            name,
            format!("the OTLP endpoint {endpoint} accepts connections"),
        ),
        Ok(Err(e)) => Check::failed(
            name,
            format!("OTLP endpoint {endpoint}: {e}"),
            "start the collector or Jaeger (OTLP gRPC, 4317), or fix --otlp-endpoint / OTEL_EXPORTER_OTLP_ENDPOINT",
        ),
        Err(_) => Check::failed(
            name,
            format!(
                "OTLP endpoint {endpoint}: no answer in {}s",
                REQUEST_TIMEOUT.as_secs()
            ),
            "check the exporter endpoint's host and port",
        ),
    }
}

/// Sends a sampled request with a fresh trace id and waits for Jaeger to know it.
async fn jaeger_trace(http: &reqwest::Client, base_url: &str, jaeger: &str) -> Check {
    let name = "traces";
    let (header, id) = crate::client::traceparent(1.0);
    let trace_id = id.unwrap_or_default();
    let sent = http
        .get(format!("{base_url}{}", api::paths::API_HEALTH))
        .header("traceparent", header.as_str())
        .send()
        .await;
    if let Err(e) = sent {
        return Check::failed(
            name,
            format!("the traced request failed: {}", without_url(&e)),
            "the gateway must answer first",
        );
    }
    let url = format!("{}/api/traces/{trace_id}", jaeger.trim_end_matches('/'));
    let started = Instant::now();
    while started.elapsed() < TRACE_WAIT {
        if let Ok((200, body)) = get(http, &url).await
            && body.contains(&trace_id)
        {
            return Check::ok(
                name,
                format!(
                    "trace {trace_id} visible in Jaeger after {:.1}s",
                    started.elapsed().as_secs_f64()
                ),
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Check::failed(
        name,
        format!(
            "trace {trace_id} not in {jaeger} after {}s",
            TRACE_WAIT.as_secs()
        ),
        "check that the services export spans (JAEGER_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT) to the Jaeger behind --jaeger-url",
    )
}

/// NATS's `/healthz` (JetStream included) answers `{"status":"ok"}`.
async fn nats(http: &reqwest::Client, monitoring: &str) -> Check {
    let name = "nats";
    let url = format!("{}/healthz", monitoring.trim_end_matches('/'));
    match get(http, &url).await {
        Ok((200, body)) if body.contains("ok") => Check::ok(name, format!("{url}: ok")),
        Ok((status, body)) => Check::failed(
            name,
            format!("{url}: {status} {}", body.trim()),
            "NATS is up but unhealthy (JetStream?): read its log",
        ),
        Err(e) => Check::failed(
            name,
            format!("{url}: {e}"),
            "start NATS with monitoring (-m 8222) or give its monitoring URL with --nats-monitoring-url; check NATS_URL",
        ),
    }
}
