//! Serving one port's connections with the bounds `axum::serve` lacks:
//!
//! - a header-read timeout: a client that trickles its request headers (slowloris)
//!   is dropped instead of holding a socket forever;
//! - a request timeout: a request not answered in time (a body sent byte by byte,
//!   a handler stuck) is answered 503 and its work dropped;
//! - a cap on open connections: past it, new ones wait in the kernel's accept
//!   backlog instead of exhausting file descriptors and memory;
//!
//! and graceful shutdown: stop accepting, let the requests in flight finish.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use futures::FutureExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::time::Timeout;
use tokio::time::error::Elapsed;
use tokio_util::sync::CancellationToken;
use tower::Service;

/// Default longest wait for a request's headers (`HEADER_READ_TIMEOUT_MS`).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default longest time to answer a request (`REQUEST_TIMEOUT_MS`): above the
/// largest injected latency (120 s), so only a stuck request reaches it.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Default most connections a port holds open at once (`MAX_CONNECTIONS`).
pub const MAX_CONNECTIONS: usize = 10_000;
/// Pause after a failed accept (out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// The bounds of a port's connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest wait for a request's headers.
    pub header_read_timeout: Duration,
    /// Longest time to answer a request.
    pub request_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            request_timeout: REQUEST_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

/// Serves `app` on `listener` until `shutdown`, then waits for the requests in
/// flight. Each request carries its peer address (`ConnectInfo<SocketAddr>`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    loop {
        let permit = tokio::select! {
            p = open.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = shutdown.cancelled() => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = PerRequest {
            app: app.clone(),
            peer,
            timeout: limits.request_timeout,
        };
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = watched.await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
}

/// The hyper service of one connection: the router, with the peer address and
/// the request timeout.
#[derive(Clone)]
struct PerRequest {
    app: Router,
    peer: SocketAddr,
    timeout: Duration,
}

/// What a request's future resolves to, timed out or not.
type Answer = Result<Response, Infallible>;

impl hyper::service::Service<http::Request<Incoming>> for PerRequest {
    type Response = Response;
    type Error = Infallible;
    type Future = futures::future::Map<
        Timeout<RouteFuture<Infallible>>,
        fn(Result<Answer, Elapsed>) -> Answer,
    >;

    fn call(&self, mut request: http::Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let mut app = self.app.clone();
        tokio::time::timeout(self.timeout, app.call(request)).map(timed_out)
    }
}

/// A request past its timeout: 503, and its handler dropped.
fn timed_out(answer: Result<Answer, Elapsed>) -> Answer {
    match answer {
        Ok(answered) => answered,
        Err(_) => Ok(crate::error::ApiError::new(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "not answered within the request timeout (REQUEST_TIMEOUT_MS)",
        )
        .into_response()),
    }
}
