//! Sending one request the way the flows need it: with a W3C `traceparent` (sampled
//! for a configured share), timed until the whole body has arrived, both from the
//! actual send (service time) and from the intended start (response time),
//! classified, checked and recorded; cancelled by the run's hard stop.

use std::time::Instant;

use rand::Rng;

use crate::context::RunContext;
use crate::recorder::{Answer, ErrorKind, Series, Timing, Trace, now_unix_ms};

/// A response that passed the HTTP-level checks.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: bytes::Bytes,
}

/// A failed request, already recorded.
#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: ErrorKind,
    pub status: Option<u16>,
    pub message: String,
}

/// A `traceparent` value (`00-<32 hex trace>-<16 hex span>-<flags>`, 55 bytes, built
/// without allocating) and, when sampled, its trace id.
pub(crate) fn traceparent(sample: f64) -> (Traceparent, Option<String>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rng = rand::rng();
    let trace: u128 = rng.random::<u128>() | 1;
    let span: u64 = rng.random::<u64>() | 1;
    let sampled = sample > 0.0 && rng.random_bool(sample.min(1.0));
    let mut b = [0u8; 55];
    b[..3].copy_from_slice(b"00-");
    for i in 0..32 {
        b[3 + i] = HEX[((trace >> (124 - 4 * i)) & 0xf) as usize];
    }
    b[35] = b'-';
    for i in 0..16 {
        b[36 + i] = HEX[((span >> (60 - 4 * i)) & 0xf) as usize];
    }
    b[52..].copy_from_slice(if sampled { b"-01" } else { b"-00" });
    let header = Traceparent(b);
    let id = sampled.then(|| header.as_str()[3..35].to_string());
    (header, id)
}

/// A `traceparent` header value.
pub struct Traceparent([u8; 55]);

impl Traceparent {
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ASCII hex")
    }

    /// Its trace, for the recorder.
    fn trace(&self, at_ms: u64, sampled: bool) -> Trace {
        Trace {
            trace_id: self.as_str()[3..35].to_string(),
            at_ms,
            sampled,
        }
    }
}

/// A request of a flow: method, path (and query), bearer token, more headers, body.
pub struct Req<'a> {
    pub method: http::Method,
    pub path: std::borrow::Cow<'a, str>,
    pub bearer: Option<&'a str>,
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The body and its content type.
    pub body: Option<(Vec<u8>, http::HeaderValue)>,
    /// The statuses that pass (a flow step's `status`); none listed: any 2xx.
    pub accept: &'a [u16],
}

impl<'a> Req<'a> {
    pub fn get(path: impl Into<std::borrow::Cow<'a, str>>) -> Self {
        Req {
            method: http::Method::GET,
            path: path.into(),
            bearer: None,
            headers: Vec::new(),
            body: None,
            accept: &[],
        }
    }

    pub fn post(path: impl Into<std::borrow::Cow<'a, str>>, body: &serde_json::Value) -> Self {
        Req {
            method: http::Method::POST,
            path: path.into(),
            bearer: None,
            headers: Vec::new(),
            body: Some((
                serde_json::to_vec(body).expect("JSON values serialise"),
                crate::http::JSON,
            )),
            accept: &[],
        }
    }

    pub fn bearer(mut self, token: &'a str) -> Self {
        self.bearer = Some(token);
        self
    }
}

fn failure_kind(f: crate::http::Failure) -> ErrorKind {
    match f {
        crate::http::Failure::Connect => ErrorKind::Connect,
        crate::http::Failure::Timeout => ErrorKind::Timeout,
        crate::http::Failure::Transport => ErrorKind::Transport,
    }
}

/// Whether a step accepts `status`: one it lists, or any 2xx when it lists none.
pub fn accepts(accept: &[u16], status: u16) -> bool {
    if accept.is_empty() {
        (200..300).contains(&status)
    } else {
        accept.contains(&status)
    }
}

/// Why a status was refused, as the failure's message.
fn refused(status: u16, accept: &[u16], body: &[u8]) -> String {
    if status >= 400 {
        let text = String::from_utf8_lossy(body);
        return format!("HTTP {status}: {}", text.trim());
    }
    let wanted: Vec<String> = accept.iter().map(u16::to_string).collect();
    match wanted.is_empty() {
        true => format!("expected a 2xx status, got {status}"),
        false => format!("expected status {}, got {status}", wanted.join(" or ")),
    }
}

/// Sends `request` as `series`, timing from `from` (the intended start of a
/// scheduled iteration) or from the send; `check` inspects an accepted answer and
/// may reject it. Every request sent is recorded with exactly one outcome
/// ([`crate::recorder::Outcome`]): accepted, refused by status, failed check,
/// transport error, timeout, or cancelled by the run's hard stop (a bad event
/// too: still unanswered when the run ended).
pub async fn send<T>(
    ctx: &RunContext,
    hint: usize,
    series: Series,
    request: Req<'_>,
    from: Option<Instant>,
    check: impl FnOnce(&Reply) -> Result<T, String>,
) -> Result<T, Failure> {
    let (header, sampled) = traceparent(ctx.trace_sample);
    // The wall clock only where a trace is kept (sampled, or failed below).
    let at_ms = if sampled.is_some() { now_unix_ms() } else { 0 };
    let accept = request.accept;
    let (result, timing, done) = on_the_wire(ctx, hint, request, from, header.as_str()).await;
    let logged = |status: Option<u16>, error: Option<ErrorKind>| {
        if let Some(log) = &ctx.request_log {
            let info = ctx.recorder.table().info(series);
            let outcome = crate::recorder::Outcome::of(error);
            log.request(info, done - timing.service, outcome, status, timing.service);
        }
    };
    // A failure keeps its trace id, sampled or not: the report shows it as an
    // example of its error.
    let failed = |status: Option<u16>, kind: ErrorKind, message: String| {
        let at_ms = if at_ms == 0 { now_unix_ms() } else { at_ms };
        let trace = Some(header.trace(at_ms, sampled.is_some()));
        let answer = Answer {
            status,
            error: Some((kind, &message)),
            trace,
        };
        ctx.recorder.request_at(done, hint, series, timing, answer);
        logged(status, Some(kind));
        Failure {
            kind,
            status,
            message,
        }
    };
    let reply = match result {
        None => {
            let message = "still unanswered at the run's hard stop: cancelled".to_string();
            return Err(failed(None, ErrorKind::Interrupted, message));
        }
        Some(Ok(r)) => Reply {
            status: r.status,
            headers: r.headers,
            body: r.body,
        },
        Some(Err((kind, message))) => return Err(failed(None, failure_kind(kind), message)),
    };
    let status = reply.status;
    if !accepts(accept, status) {
        let message = refused(status, accept, &reply.body);
        return Err(failed(Some(status), ErrorKind::of_status(status), message));
    }
    match check(&reply) {
        Ok(value) => {
            let trace = sampled.map(|_| header.trace(at_ms, true));
            let answer = Answer {
                status: Some(status),
                error: None,
                trace,
            };
            ctx.recorder.request_at(done, hint, series, timing, answer);
            logged(Some(status), None);
            Ok(value)
        }
        Err(message) => Err(failed(Some(status), ErrorKind::Body, message)),
    }
}

/// What came back from the wire (`None`: the run's hard stop cancelled it), its
/// two latencies, and when it came.
async fn on_the_wire(
    ctx: &RunContext,
    hint: usize,
    request: Req<'_>,
    from: Option<Instant>,
    traceparent: &str,
) -> (Option<crate::http::Exchanged>, Timing, Instant) {
    let sent = Instant::now();
    ctx.inflight.start(hint, sent);
    let start = from.unwrap_or(sent).min(sent);
    // Boxed: the exchange's state (the request and response, the body
    // being read) lives only while a request is on the wire, not in every
    // virtual user's task between requests (50,000 mostly idle users).
    let call = Box::pin(ctx.http.send(crate::http::Call {
        method: request.method,
        path: &request.path,
        bearer: request.bearer,
        headers: &request.headers,
        body: request.body,
        traceparent,
    }));
    let result = tokio::select! {
        r = call => Some(r),
        _ = ctx.hard_stop.cancelled() => None,
    };
    ctx.inflight.end(hint);
    let done = Instant::now();
    let timing = Timing {
        service: done - sent,
        response: done - start,
    };
    (result, timing, done)
}

/// Parses a JSON body.
pub fn json(reply: &Reply) -> Result<serde_json::Value, String> {
    serde_json::from_slice(&reply.body).map_err(|e| format!("body is not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_accepts_its_statuses_or_any_2xx() {
        assert!(accepts(&[], 200) && accepts(&[], 204));
        assert!(!accepts(&[], 302) && !accepts(&[], 429) && !accepts(&[], 101));
        assert!(accepts(&[202], 202) && !accepts(&[202], 200));
        assert!(accepts(&[200, 404], 404));
        assert_eq!(refused(302, &[], b""), "expected a 2xx status, got 302");
        assert_eq!(refused(200, &[202], b""), "expected status 202, got 200");
        assert_eq!(refused(503, &[], b" down "), "HTTP 503: down");
    }

    #[test]
    fn traceparent_is_w3c_and_sampling_follows_the_share() {
        let (header, id) = traceparent(1.0);
        let header = header.as_str().to_string();
        let parts: Vec<&str> = header.split('-').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(
            (parts[0], parts[1].len(), parts[2].len(), parts[3]),
            ("00", 32, 16, "01")
        );
        assert_eq!(id.as_deref(), Some(parts[1]));
        let (header, id) = traceparent(0.0);
        assert!(header.as_str().ends_with("-00"));
        assert!(id.is_none());
    }
}
