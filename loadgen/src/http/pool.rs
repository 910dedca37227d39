//! The plain-HTTP path: HTTP/1.1 connections of hyper's own (`client::conn`),
//! kept in one stack of idle connections, most recently used on top.
//!
//! hyper-util's pooled client hashed a pool key, cloned the URI and built (and
//! moved) a connect future for every request, even when an idle connection was
//! waiting: about a tenth of the generator's own CPU per request against a
//! trivial endpoint. Here a request pops an idle connection (or opens one), sends
//! on it, and puts it back once the whole body has been read, so the next
//! request on it never waits behind a body still arriving.
//!
//! A connection the server closed is dropped when it is popped. A request that
//! found its connection closed before being written (the server's keep-alive
//! timeout racing our reuse) is sent again once on a new connection, as hyper's
//! pooled client did, so a keep-alive race is never counted as an error. Idle
//! connections past [`super::IDLE_TIMEOUT`] are closed as others are put back.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;

use super::{CONNECT_TIMEOUT, Failure, IDLE_TIMEOUT, MAX_IDLE_CONNECTIONS};

/// A connection's request half.
type Sender = SendRequest<Full<Bytes>>;

/// The idle connections to one `host:port`.
pub struct Pool {
    /// Where connections go.
    authority: String,
    /// Idle connections and since when, oldest first.
    idle: Mutex<VecDeque<(Sender, Instant)>>,
}

/// A connection lent to one request; [`Pool::give_back`] returns it.
pub struct Lent(Sender);

impl Pool {
    /// A pool of connections to `authority` (`host:port`).
    pub fn new(authority: String) -> Pool {
        Pool {
            authority,
            idle: Mutex::new(VecDeque::new()),
        }
    }

    /// An idle connection, else a new one.
    async fn checkout(&self) -> Result<Lent, (Failure, String)> {
        loop {
            let popped = self.idle.lock().pop_back();
            match popped {
                Some((s, since)) if s.is_ready() && since.elapsed() < IDLE_TIMEOUT => {
                    return Ok(Lent(s));
                }
                Some(_) => continue,
                None => return self.connect().await,
            }
        }
    }

    /// Opens a connection, within [`CONNECT_TIMEOUT`].
    async fn connect(&self) -> Result<Lent, (Failure, String)> {
        let failed = |e: String| (Failure::Connect, format!("{}: {e}", self.authority));
        let stream = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect(&self.authority),
        )
        .await
        .map_err(|_| failed(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| failed(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(e.to_string()))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Lent(sender))
    }

    /// Sends `request` on a pooled connection: the response and the connection
    /// it came on (give it back once its body is read).
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(http::Response<hyper::body::Incoming>, Lent), (Failure, String)> {
        let mut lent = self.checkout().await?;
        match lent.0.try_send_request(request).await {
            Ok(response) => Ok((response, lent)),
            Err(mut e) => match e.take_message() {
                // Never written: the connection closed under it. Once more, on a
                // new connection.
                Some(request) => {
                    let mut fresh = self.connect().await?;
                    match fresh.0.send_request(request).await {
                        Ok(response) => Ok((response, fresh)),
                        Err(e) => Err((Failure::Transport, e.to_string())),
                    }
                }
                None => Err((Failure::Transport, e.into_error().to_string())),
            },
        }
    }

    /// Puts a connection back for the next request, closing connections idle past
    /// [`IDLE_TIMEOUT`] and any beyond [`MAX_IDLE_CONNECTIONS`].
    pub fn give_back(&self, lent: Lent) {
        if !lent.0.is_ready() {
            return;
        }
        let now = Instant::now();
        let mut idle = self.idle.lock();
        while idle
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) >= IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push_back((lent.0, now));
        }
    }
}
