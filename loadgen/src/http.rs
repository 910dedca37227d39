//! The HTTP client every virtual user shares.
//!
//! Plain `http://` targets (the embedded services, loopback deployments) go through
//! hyper's pooled client directly: no URL re-parsing, no redirect or decompression
//! layers, so the load generator spends its CPU on requests, not on bookkeeping.
//! `https://` targets go through reqwest (rustls). The pool keeps a bounded number of
//! idle connections, so thousands of mostly idle virtual users hold a handful of
//! connections, not one each.

use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as PooledClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// User agent of every request.
pub const USER_AGENT: &str = concat!("athlete-ally-loadgen/", env!("CARGO_PKG_VERSION"));

/// Idle connections kept per host beyond what is in use.
pub const MAX_IDLE_CONNECTIONS: usize = 256;
/// An idle connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(15);
/// Giving up on opening a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    Transport,
}

/// A response: status and the whole body.
pub struct Response {
    pub status: u16,
    pub body: Bytes,
}

/// One request to send.
pub struct Call<'a> {
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: &'a str,
    pub bearer: Option<&'a str>,
    /// A JSON body.
    pub json: Option<Vec<u8>>,
    /// Extra headers (`traceparent`).
    pub traceparent: &'a str,
}

enum Inner {
    Plain(Box<PooledClient<HttpConnector, Full<Bytes>>>),
    Tls(reqwest::Client),
}

/// The shared client, bound to one base URL.
pub struct HttpClient {
    inner: Inner,
    base: String,
    /// The base URL's scheme and authority, parsed once.
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    timeout: Duration,
    user_agent: HeaderValue,
}

impl HttpClient {
    /// A client for `base_url` (`http://host:port` or `https://...`, no trailing slash).
    pub fn new(base_url: &str, timeout: Duration, user_agent: &str) -> Result<HttpClient, String> {
        let base = base_url.trim_end_matches('/').to_string();
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
            let mut connector = HttpConnector::new();
            connector.set_nodelay(true);
            connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
            Inner::Plain(Box::new(
                PooledClient::builder(TokioExecutor::new())
                    .pool_max_idle_per_host(MAX_IDLE_CONNECTIONS)
                    .pool_idle_timeout(IDLE_TIMEOUT)
                    .build(connector),
            ))
        };
        let parsed: Uri = base.parse().map_err(|e| format!("{base}: {e}"))?;
        let parts = parsed.into_parts();
        Ok(HttpClient {
            inner,
            scheme: parts.scheme.ok_or_else(|| format!("{base}: no scheme"))?,
            authority: parts.authority.ok_or_else(|| format!("{base}: no host"))?,
            base,
            timeout,
            user_agent: HeaderValue::from_str(user_agent).map_err(|e| e.to_string())?,
        })
    }

    /// Sends a request and reads the whole body, within the request timeout.
    pub async fn send(&self, call: Call<'_>) -> Result<Response, (Failure, String)> {
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

    /// Over hyper's pooled client (`http://`).
    async fn plain(
        &self,
        client: &PooledClient<HttpConnector, Full<Bytes>>,
        call: Call<'_>,
    ) -> Result<Response, (Failure, String)> {
        let uri = Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(call.path)
            .build()
            .map_err(|e| (Failure::Transport, format!("{}: {e}", self.url(call.path))))?;
        let mut builder = Request::builder()
            .method(call.method)
            .uri(uri)
            .header(http::header::USER_AGENT, self.user_agent.clone())
            .header("traceparent", call.traceparent);
        if let Some(token) = call.bearer {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match call.json {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder
            .body(body)
            .map_err(|e| (Failure::Transport, e.to_string()))?;
        let response = client.request(request).await.map_err(|e| {
            let kind = if e.is_connect() {
                Failure::Connect
            } else {
                Failure::Transport
            };
            (kind, format!("{}: {e}", self.url(call.path)))
        })?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| {
                (
                    Failure::Transport,
                    format!("{}: reading the body: {e}", self.url(call.path)),
                )
            })?
            .to_bytes();
        Ok(Response { status, body })
    }

    /// Over reqwest (`https://`).
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
        if let Some(json) = call.json {
            request = request.header(CONTENT_TYPE, "application/json").body(json);
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
        let body = response.bytes().await.map_err(|e| {
            (
                Failure::Transport,
                format!("{}: reading the body: {e}", self.url(call.path)),
            )
        })?;
        Ok(Response { status, body })
    }
}
