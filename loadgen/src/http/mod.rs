//! The HTTP client every virtual user shares.
//!
//! Plain `http://` targets (the embedded services, loopback deployments) go over
//! HTTP/1.1 connections of the generator's own ([`wire`]) from [`pool`]: written
//! and read by the virtual user's task, no URL re-parsing, no redirect or
//! decompression layers, no per-request pool key, so the load generator spends its
//! CPU on requests, not on bookkeeping. `https://` targets go through reqwest
//! (rustls). Both keep a bounded number of idle connections, so thousands of
//! mostly idle virtual users hold a handful of connections, not one each.

mod pool;
mod wire;

use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, Uri};

/// User agent of every request.
pub const USER_AGENT: &str = concat!("athlete-ally-loadgen/", env!("CARGO_PKG_VERSION"));

/// Idle connections kept per host beyond what is in use.
pub const MAX_IDLE_CONNECTIONS: usize = 256;
/// An idle connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Giving up on opening a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read: a target answering more (a misrouted download,
/// a hostile server) fails the request instead of filling the generator's memory.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The failure of a body past [`MAX_BODY_BYTES`].
fn too_large(url: String) -> (Failure, String) {
    (
        Failure::Transport,
        format!(
            "{url}: {}",
            wire::ReadError::TooLarge {
                limit: MAX_BODY_BYTES
            }
        ),
    )
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    Transport,
}

/// A response: status, headers and the whole body.
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// A request's outcome: the response, or why none came and what was seen.
pub type Exchanged = Result<Response, (Failure, String)>;

/// `application/json`, the content type of a JSON body.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// One request to send.
pub struct Call<'a> {
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: &'a str,
    pub bearer: Option<&'a str>,
    /// More headers (a flow file's).
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// A body and its content type.
    pub body: Option<(Vec<u8>, HeaderValue)>,
    /// The W3C trace context.
    pub traceparent: &'a str,
}

enum Inner {
    Plain(pool::Pool),
    Tls(reqwest::Client),
}

/// The shared client, bound to one base URL.
pub struct HttpClient {
    inner: Inner,
    base: String,
    /// The base URL's authority, as the `Host` header.
    host: HeaderValue,
    timeout: Duration,
    user_agent: HeaderValue,
}

impl HttpClient {
    /// A client for `base_url` (`http://host:port` or `https://...`, no trailing slash).
    pub fn new(base_url: &str, timeout: Duration, user_agent: &str) -> Result<HttpClient, String> {
        let base = base_url.trim_end_matches('/').to_string();
        let parsed: Uri = base.parse().map_err(|e| format!("{base}: {e}"))?;
        let authority = parsed
            .authority()
            .ok_or_else(|| format!("{base}: no host"))?
            .clone();
        let inner = if base.starts_with("https://") {
            Inner::Tls(
                reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(CONNECT_TIMEOUT)
                    .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
                    .pool_idle_timeout(IDLE_TIMEOUT)
                    .build()
                    .map_err(|e| format!("HTTPS client: {e}"))?,
            )
        } else {
            let port = authority.port_u16().unwrap_or(80);
            Inner::Plain(pool::Pool::new(format!("{}:{port}", authority.host())))
        };
        Ok(HttpClient {
            inner,
            host: HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?,
            base,
            timeout,
            user_agent: HeaderValue::from_str(user_agent).map_err(|e| e.to_string())?,
        })
    }

    /// Sends a request and reads the whole body, within the request timeout.
    pub async fn send(&self, call: Call<'_>) -> Exchanged {
        match tokio::time::timeout(self.timeout, self.exchange(call)).await {
            Ok(result) => result,
            Err(_) => Err((
                Failure::Timeout,
                format!("no complete answer within {:?}", self.timeout),
            )),
        }
    }

    async fn exchange(&self, call: Call<'_>) -> Result<Response, (Failure, String)> {
        match &self.inner {
            Inner::Plain(client) => self.plain(client, call).await,
            Inner::Tls(client) => self.tls(client, call).await,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Over a pooled connection of our own (`http://`).
    async fn plain(
        &self,
        pool: &pool::Pool,
        call: Call<'_>,
    ) -> Result<Response, (Failure, String)> {
        let head = wire::Head {
            method: &call.method,
            path: call.path,
            host: &self.host,
            user_agent: &self.user_agent,
            traceparent: call.traceparent,
            bearer: call.bearer,
            headers: call.headers,
            body: call.body.as_ref().map(|(b, t)| (b.as_slice(), t)),
        };
        let answer = pool
            .send(&head)
            .await
            .map_err(|(kind, e)| (kind, format!("{}: {e}", self.url(call.path))))?;
        Ok(Response {
            status: answer.status,
            headers: answer.headers,
            body: answer.body,
        })
    }

    async fn tls(
        &self,
        client: &reqwest::Client,
        call: Call<'_>,
    ) -> Result<Response, (Failure, String)> {
        let mut request = client
            .request(call.method, self.url(call.path))
            .header(http::header::USER_AGENT, self.user_agent.clone())
            .header("traceparent", call.traceparent);
        if let Some(token) = call.bearer {
            request = request.bearer_auth(token);
        }
        for (name, value) in call.headers {
            request = request.header(name, value);
        }
        if let Some((bytes, content_type)) = call.body {
            request = request.header(CONTENT_TYPE, content_type).body(bytes);
        }
        let response = request.send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                Failure::Timeout
            } else if e.is_connect() {
                Failure::Connect
            } else {
                Failure::Transport
            };
            (kind, e.to_string())
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut response = response;
        let mut body = bytes::BytesMut::new();
        loop {
            let chunk = response.chunk().await.map_err(|e| {
                (
                    Failure::Transport,
                    format!("{}: reading the body: {e}", self.url(call.path)),
                )
            })?;
            let Some(chunk) = chunk else { break };
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large(self.url(call.path)));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            headers,
            body: body.freeze(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-connection server answering each request with `len` bytes.
    async fn server(len: usize) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
                    let _ = s.write_all(head.as_bytes()).await;
                    let chunk = vec![b'x'; 64 * 1024];
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(chunk.len());
                        if s.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        left -= n;
                    }
                });
            }
        });
        format!("http://{addr}")
    }

    fn call() -> Call<'static> {
        Call {
            method: Method::GET,
            path: "/",
            bearer: None,
            headers: &[],
            body: None,
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        }
    }

    /// The test server closes each connection after one answer, without saying
    /// so: a pooled connection the server closed is never reused, and costs a
    /// new connection, not an error.
    #[tokio::test]
    async fn a_connection_closed_under_a_request_is_not_an_error() {
        let url = server(10).await;
        let client = HttpClient::new(&url, Duration::from_secs(10), USER_AGENT).unwrap();
        for i in 0..200 {
            let r = client.send(call()).await;
            assert!(r.is_ok(), "request {i}: {:?}", r.err());
            tokio::task::yield_now().await;
        }
    }

    /// A keep-alive server counting its connections; answers `close` when the
    /// request's path says so.
    async fn keep_alive_server() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        let close = buf[..n].starts_with(b"GET /close ");
                        let head = if close { "connection: close\r\n" } else { "" };
                        let answer =
                            format!("HTTP/1.1 200 OK\r\n{head}content-length: 2\r\n\r\nok");
                        if s.write_all(answer.as_bytes()).await.is_err() || close {
                            return;
                        }
                    }
                });
            }
        });
        (format!("http://{addr}"), accepted)
    }

    /// What the server sees must be what a client with keep-alive does: one
    /// connection for a user's sequential requests, a new one after `close`.
    #[tokio::test]
    async fn connections_are_kept_alive_unless_the_server_closes_them() {
        use std::sync::atomic::Ordering;
        let (url, accepted) = keep_alive_server().await;
        let client = HttpClient::new(&url, Duration::from_secs(10), USER_AGENT).unwrap();
        for _ in 0..100 {
            let r = client.send(call()).await.unwrap();
            assert_eq!((r.status, &r.body[..]), (200, &b"ok"[..]));
        }
        assert_eq!(accepted.load(Ordering::Relaxed), 1);
        let close = Call {
            path: "/close",
            ..call()
        };
        client.send(close).await.unwrap();
        client.send(call()).await.unwrap();
        assert_eq!(accepted.load(Ordering::Relaxed), 2);
    }

    /// A server that dies with a request in hand (it read the request, then its
    /// connection ended without an answer) must fail that request: sent again
    /// on a new connection, it could pass, and a crash mid-request would never
    /// show in the run. Both on a fresh connection and on a reused one.
    #[tokio::test]
    async fn a_request_the_server_read_and_never_answered_fails_and_is_not_sent_again() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 {
                            return;
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                        // Answers `/ok`; dies on anything else.
                        if !buf[..n].starts_with(b"GET /ok ") {
                            return;
                        }
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if s.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let client = HttpClient::new(
            &format!("http://{addr}"),
            Duration::from_secs(10),
            USER_AGENT,
        )
        .unwrap();
        let die = || Call {
            path: "/die",
            ..call()
        };
        let Err((kind, message)) = client.send(die()).await else {
            panic!("a request the server never answered passed");
        };
        assert_eq!(kind, Failure::Transport);
        assert!(message.contains("/die"), "{message}");
        assert_eq!(seen.load(Ordering::Relaxed), 1, "sent again");
        // On a kept-alive connection: the same.
        client
            .send(Call {
                path: "/ok",
                ..call()
            })
            .await
            .unwrap();
        assert!(
            client.send(die()).await.is_err(),
            "passed on a reused connection"
        );
        assert_eq!(seen.load(Ordering::Relaxed), 3, "sent again");
    }

    #[tokio::test]
    async fn a_body_past_the_cap_fails_the_request() {
        let big = server(MAX_BODY_BYTES + 1).await;
        let client = HttpClient::new(&big, Duration::from_secs(10), USER_AGENT).unwrap();
        let Err((kind, message)) = client.send(call()).await else {
            panic!("a 16 MiB + 1 body was read whole");
        };
        assert_eq!(kind, Failure::Transport);
        assert!(message.contains("larger than 16 MiB"), "{message}");
        let small = server(1000).await;
        let client = HttpClient::new(&small, Duration::from_secs(10), USER_AGENT).unwrap();
        assert_eq!(client.send(call()).await.ok().unwrap().body.len(), 1000);
    }
}
