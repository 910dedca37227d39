//! Sending one request the way the flows need it: with a W3C `traceparent` (sampled
//! for a configured share), timed until the whole body has arrived (goose's own
//! figure stops at the headers), classified, checked and recorded.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::context::RunContext;
use crate::recorder::{ErrorKind, Series, Trace, now_unix_ms};

/// A response that passed the HTTP-level checks.
pub struct Reply {
    pub status: u16,
    pub body: bytes::Bytes,
}

/// A failed request, already recorded.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub message: String,
}

/// A `traceparent` header value and, when sampled, its trace id.
fn traceparent(sample: f64) -> (String, Option<String>) {
    let mut rng = rand::rng();
    let trace: u128 = rng.random::<u128>() | 1;
    let span: u64 = rng.random::<u64>() | 1;
    let sampled = sample > 0.0 && rng.random_bool(sample.min(1.0));
    let trace_id = format!("{trace:032x}");
    let header = format!(
        "00-{trace_id}-{span:016x}-{}",
        if sampled { "01" } else { "00" }
    );
    (header, sampled.then_some(trace_id))
}

fn transport_kind(e: &reqwest::Error) -> ErrorKind {
    if e.is_timeout() {
        ErrorKind::Timeout
    } else if e.is_connect() {
        ErrorKind::Connect
    } else {
        ErrorKind::Transport
    }
}

/// Sends `request` as `series`, timing from `from` (the intended start of a paced
/// iteration) or from now; `check` inspects a 2xx/3xx answer and may reject it.
pub async fn send<T>(
    ctx: &RunContext,
    hint: usize,
    series: Series,
    request: reqwest::RequestBuilder,
    from: Option<Instant>,
    check: impl FnOnce(&Reply) -> Result<T, String>,
) -> Result<T, Failure> {
    let (header, sampled) = traceparent(ctx.trace_sample);
    let at_ms = now_unix_ms();
    let start = from.unwrap_or_else(Instant::now);
    let result = request.header("traceparent", header).send().await;
    let (status, body) = match result {
        Err(e) => {
            return Err(record_failure(
                ctx,
                hint,
                series,
                start.elapsed(),
                None,
                transport_kind(&e),
                e.to_string(),
                sampled,
                at_ms,
            ));
        }
        Ok(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(body) => (status, body),
                Err(e) => {
                    return Err(record_failure(
                        ctx,
                        hint,
                        series,
                        start.elapsed(),
                        Some(status),
                        ErrorKind::Transport,
                        e.to_string(),
                        sampled,
                        at_ms,
                    ));
                }
            }
        }
    };
    let latency = start.elapsed();
    if status >= 400 {
        let text = String::from_utf8_lossy(&body);
        let message = format!("HTTP {status}: {}", text.trim());
        return Err(record_failure(
            ctx,
            hint,
            series,
            latency,
            Some(status),
            ErrorKind::of_status(status),
            message,
            sampled,
            at_ms,
        ));
    }
    let reply = Reply { status, body };
    match check(&reply) {
        Ok(value) => {
            let trace = sampled.map(|trace_id| Trace { trace_id, at_ms });
            ctx.recorder
                .request(hint, series, latency, Some(status), None, trace);
            Ok(value)
        }
        Err(message) => Err(record_failure(
            ctx,
            hint,
            series,
            latency,
            Some(status),
            ErrorKind::Body,
            message,
            sampled,
            at_ms,
        )),
    }
}

#[allow(clippy::too_many_arguments)]
fn record_failure(
    ctx: &RunContext,
    hint: usize,
    series: Series,
    latency: Duration,
    status: Option<u16>,
    kind: ErrorKind,
    message: String,
    sampled: Option<String>,
    at_ms: u64,
) -> Failure {
    let trace = sampled.map(|trace_id| Trace { trace_id, at_ms });
    ctx.recorder
        .request(hint, series, latency, status, Some((kind, &message)), trace);
    Failure {
        kind,
        status,
        message,
    }
}

/// Parses a JSON body.
pub fn json(reply: &Reply) -> Result<serde_json::Value, String> {
    serde_json::from_slice(&reply.body).map_err(|e| format!("body is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_w3c_and_sampling_follows_the_share() {
        let (header, id) = traceparent(1.0);
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
        assert_eq!(id.as_deref(), Some(parts[1]));
        let (header, id) = traceparent(0.0);
        assert!(header.ends_with("-00"));
        assert!(id.is_none());
    }
}
