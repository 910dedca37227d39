//! The plain-HTTP path: HTTP/1.1 connections of the generator's own ([`wire`]),
//! kept in one stack of idle connections, most recently used on top.
//!
//! hyper-util's pooled client hashed a pool key, cloned the URI and built (and
//! moved) a connect future for every request, even when an idle connection was
//! waiting; hyper's own connections each ran as a task fed through a channel.
//! Here a request pops an idle connection (or opens one), writes and reads on it
//! from the virtual user's own task, and puts it back once the whole body has
//! been read, so the next request on it never waits behind a body still
//! arriving.
//!
//! A connection the server closed while it was idle is dropped when it is popped:
//! the close has already been seen by the runtime, so telling costs no system
//! call. A request whose write fails on a reused connection (the server's
//! keep-alive timeout racing our reuse: nothing reached the server) is sent
//! again once on a new connection, as hyper's pooled client did, so a keep-alive
//! race is never counted as an error. Idle connections past
//! [`super::IDLE_TIMEOUT`] are closed as others are put back.

use std::collections::VecDeque;
use std::time::Instant;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::wire::{self, Answer, Head, ReadError};
use super::{CONNECT_TIMEOUT, Failure, IDLE_TIMEOUT, MAX_BODY_BYTES, MAX_IDLE_CONNECTIONS};

/// One connection and its buffers.
pub struct Conn {
    stream: TcpStream,
    /// Bytes read and not yet parsed.
    read: BytesMut,
    /// The request being written (kept for its capacity).
    write: Vec<u8>,
}

impl Conn {
    /// Whether the server closed it (or sent bytes nobody asked for) while it
    /// was idle. The runtime tracks readiness: an idle connection with nothing
    /// to read answers without a system call.
    fn closed_while_idle(&self) -> bool {
        let mut probe = [0u8; 1];
        !matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Writes the request in `self.write` and reads its answer.
    async fn exchange(&mut self, method: &http::Method) -> Result<Answer, Exchange> {
        if let Err(e) = self.stream.write_all(&self.write).await {
            return Err(Exchange::Unwritten(e));
        }
        wire::read_answer(&mut self.stream, &mut self.read, method, MAX_BODY_BYTES)
            .await
            .map_err(Exchange::Read)
    }
}

/// How an exchange on one connection failed.
enum Exchange {
    /// The request could not be written: the server never saw it.
    Unwritten(std::io::Error),
    Read(ReadError),
}

/// The idle connections to one `host:port`.
pub struct Pool {
    /// Where connections go.
    authority: String,
    /// Idle connections and since when, oldest first.
    idle: Mutex<VecDeque<(Conn, Instant)>>,
}

impl Pool {
    /// A pool of connections to `authority` (`host:port`).
    pub fn new(authority: String) -> Pool {
        Pool {
            authority,
            idle: Mutex::new(VecDeque::new()),
        }
    }

    /// An idle connection (true: reused), else a new one.
    async fn checkout(&self) -> Result<(Conn, bool), (Failure, String)> {
        loop {
            let popped = self.idle.lock().pop_back();
            match popped {
                Some((c, since)) if since.elapsed() < IDLE_TIMEOUT && !c.closed_while_idle() => {
                    return Ok((c, true));
                }
                Some(_) => continue,
                None => return Ok((self.connect().await?, false)),
            }
        }
    }

    /// Opens a connection, within [`CONNECT_TIMEOUT`].
    async fn connect(&self) -> Result<Conn, (Failure, String)> {
        let failed = |e: String| (Failure::Connect, format!("{}: {e}", self.authority));
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&self.authority))
            .await
            .map_err(|_| failed(format!("no connection within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| failed(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        Ok(Conn {
            stream,
            read: BytesMut::new(),
            write: Vec::new(),
        })
    }

    /// Sends `head` on a pooled connection and reads the whole answer; the
    /// connection goes back to the pool when it may carry another request.
    pub async fn send(&self, head: &Head<'_>) -> Result<Answer, (Failure, String)> {
        let (mut conn, reused) = self.checkout().await?;
        wire::encode(head, &mut conn.write).map_err(|e| (Failure::Transport, e.0))?;
        let result = match conn.exchange(head.method).await {
            // Never reached the server: once more, on a new connection.
            Err(Exchange::Unwritten(_)) if reused => {
                let written = std::mem::take(&mut conn.write);
                conn = self.connect().await?;
                conn.write = written;
                conn.exchange(head.method).await
            }
            other => other,
        };
        match result {
            Ok(answer) => {
                if answer.keep_alive && conn.read.is_empty() {
                    self.give_back(conn);
                }
                Ok(answer)
            }
            Err(Exchange::Unwritten(e)) => Err((Failure::Transport, format!("writing: {e}"))),
            Err(Exchange::Read(e)) => Err((Failure::Transport, e.to_string())),
        }
    }

    /// Puts a connection back for the next request, closing connections idle past
    /// [`IDLE_TIMEOUT`] and any beyond [`MAX_IDLE_CONNECTIONS`].
    fn give_back(&self, conn: Conn) {
        let now = Instant::now();
        let mut idle = self.idle.lock();
        while idle
            .front()
            .is_some_and(|(_, since)| now.duration_since(*since) >= IDLE_TIMEOUT)
        {
            idle.pop_front();
        }
        if idle.len() < MAX_IDLE_CONNECTIONS {
            idle.push_back((conn, now));
        }
    }
}
