//! HTTP/1.1 on a connection the generator owns: a request written in one piece,
//! the answer read back whole (head by `httparse`, the parser hyper uses; body by
//! `Content-Length`, chunked transfer coding, or the connection's end).
//!
//! Why not hyper's client connection: it runs each connection as a task of its
//! own, fed through a channel, and builds an `http::Request` for every request.
//! Against a trivial endpoint that bookkeeping was a sixth of the generator's CPU
//! per request, and the generator shares the cores with what it measures. Here
//! the virtual user's own task writes and reads: no second task, no channel, no
//! wake-up between them.
//!
//! Only what a load generator's client side needs: no `Expect: 100-continue`, no
//! upgrades, no pipelining. Informational (1xx) answers are skipped; `HEAD`, 204
//! and 304 answers have no body; an answer that says neither its length nor
//! chunked is read to the connection's end, which is then not reused.

use bytes::{Buf, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Headers an answer may carry; more is refused as malformed.
pub const MAX_HEADERS: usize = 100;

/// An answer's head (status line and headers) may be this long at most.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;

/// How much room to make in the read buffer before each read.
const READ_CHUNK: usize = 8 * 1024;

/// A request to write: everything but the body is borrowed.
pub struct Head<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub host: &'a HeaderValue,
    pub user_agent: &'a HeaderValue,
    pub traceparent: &'a str,
    pub bearer: Option<&'a str>,
    pub headers: &'a [(HeaderName, HeaderValue)],
    /// The body and its content type.
    pub body: Option<(&'a [u8], &'a HeaderValue)>,
}

/// Why a request cannot be written as given.
#[derive(Debug, PartialEq, Eq)]
pub struct Unwritable(pub String);

/// Writes `head` and its body into `out` (cleared first), as HTTP/1.1.
pub fn encode(head: &Head<'_>, out: &mut Vec<u8>) -> Result<(), Unwritable> {
    if !head.path.starts_with('/') || !head.path.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Unwritable(format!(
            "the path {:?} is not a valid request target: it must start with / and hold no spaces, control or non-ASCII characters (percent-encode them)",
            head.path
        )));
    }
    if let Some(token) = head.bearer
        && !token.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(Unwritable(
            "the bearer token holds spaces or control characters".into(),
        ));
    }
    out.clear();
    let line = |out: &mut Vec<u8>, name: &[u8], value: &[u8]| {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    };
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    line(out, b"host", head.host.as_bytes());
    line(out, b"user-agent", head.user_agent.as_bytes());
    line(out, b"traceparent", head.traceparent.as_bytes());
    if let Some(token) = head.bearer {
        out.extend_from_slice(b"authorization: Bearer ");
        out.extend_from_slice(token.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in head.headers {
        line(out, name.as_str().as_bytes(), value.as_bytes());
    }
    match head.body {
        Some((bytes, content_type)) => {
            line(out, b"content-type", content_type.as_bytes());
            out.extend_from_slice(b"content-length: ");
            // Writing into a Vec cannot fail.
            let _ = std::io::Write::write_fmt(out, format_args!("{}\r\n", bytes.len()));
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(bytes);
        }
        None if head.method == Method::POST || head.method == Method::PUT => {
            line(out, b"content-length", b"0");
            out.extend_from_slice(b"\r\n");
        }
        None => out.extend_from_slice(b"\r\n"),
    }
    Ok(())
}

/// An answer read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
}

/// Why no answer could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended before the first byte of an answer.
    Closed,
    /// The connection failed, or ended part-way through the answer.
    Io(std::io::Error),
    /// Not an HTTP/1.x answer (what was wrong).
    Malformed(String),
    /// The body is longer than the cap, `limit` bytes.
    TooLarge { limit: usize },
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Closed => write!(f, "connection closed before an answer came"),
            ReadError::Io(e) => write!(f, "reading the answer: {e}"),
            ReadError::Malformed(what) => write!(f, "malformed answer: {what}"),
            ReadError::TooLarge { limit } if limit % (1024 * 1024) == 0 => {
                write!(f, "the body is larger than {} MiB", limit / (1024 * 1024))
            }
            ReadError::TooLarge { limit } => write!(f, "the body is larger than {limit} bytes"),
        }
    }
}

/// Reads more into `buf`; false at the connection's end.
async fn fill<R: AsyncRead + Unpin>(io: &mut R, buf: &mut BytesMut) -> Result<bool, ReadError> {
    buf.reserve(READ_CHUNK);
    match io.read_buf(buf).await {
        Ok(0) => Ok(false),
        Ok(_) => Ok(true),
        Err(e) => Err(ReadError::Io(e)),
    }
}

fn cut_short() -> ReadError {
    ReadError::Io(std::io::ErrorKind::UnexpectedEof.into())
}

/// The parts of a head the body's framing needs.
struct Parsed {
    status: u16,
    headers: HeaderMap,
    keep_alive: bool,
    /// `Some(n)`: a `Content-Length`; `None` with `chunked`: chunked.
    length: Option<usize>,
    chunked: bool,
}

/// Parses a complete head at the start of `buf`, taking it out; `None` when more
/// bytes are needed.
fn parse_head(buf: &mut BytesMut) -> Result<Option<Parsed>, ReadError> {
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut slots);
    let used = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD_BYTES => {
            return Err(ReadError::Malformed(format!(
                "head longer than {MAX_HEAD_BYTES} bytes"
            )));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(ReadError::Malformed(e.to_string())),
    };
    let status = response.code.unwrap_or(0);
    let http10 = response.version == Some(0);
    let base = buf.as_ptr() as usize;
    let spans: Vec<(HeaderName, std::ops::Range<usize>)> = response
        .headers
        .iter()
        .map(|h| {
            let name = HeaderName::from_bytes(h.name.as_bytes())
                .map_err(|_| ReadError::Malformed(format!("header name {:?}", h.name)))?;
            let start = h.value.as_ptr() as usize - base;
            Ok((name, start..start + h.value.len()))
        })
        .collect::<Result<_, ReadError>>()?;
    let head = buf.split_to(used).freeze();
    let mut headers = HeaderMap::with_capacity(spans.len());
    for (name, range) in spans {
        let value = HeaderValue::from_maybe_shared(head.slice(range))
            .map_err(|_| ReadError::Malformed(format!("the value of {name}")))?;
        headers.append(name, value);
    }
    framing(status, http10, headers).map(Some)
}

/// How the body is delimited and whether the connection stays open.
fn framing(status: u16, http10: bool, headers: HeaderMap) -> Result<Parsed, ReadError> {
    let has = |name: http::header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .unwrap_or("")
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    let keep_alive = if http10 {
        has(http::header::CONNECTION, "keep-alive")
    } else {
        !has(http::header::CONNECTION, "close")
    };
    let chunked = has(http::header::TRANSFER_ENCODING, "chunked");
    let mut length = None;
    for value in headers.get_all(http::header::CONTENT_LENGTH) {
        let n = value
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .ok_or_else(|| ReadError::Malformed(format!("content-length {value:?}")))?;
        if length.is_some_and(|m| m != n) {
            return Err(ReadError::Malformed("two different content-lengths".into()));
        }
        length = Some(n);
    }
    Ok(Parsed {
        status,
        headers,
        keep_alive,
        length: if chunked { None } else { length },
        chunked,
    })
}

/// Reads one answer to a request of `method` from `io`, `buf` holding what was
/// read before; the body at most `limit` bytes.
pub async fn read_answer<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    method: &Method,
    limit: usize,
) -> Result<Answer, ReadError> {
    let mut first = true;
    let parsed = loop {
        match parse_head(buf)? {
            // 101 switches protocols: not followed by another head.
            Some(p) if (100..200).contains(&p.status) && p.status != 101 => continue,
            Some(p) => break p,
            None => {
                if !fill(io, buf).await? {
                    return Err(if first && buf.is_empty() {
                        ReadError::Closed
                    } else {
                        cut_short()
                    });
                }
                first = false;
            }
        }
    };
    let bodiless = *method == Method::HEAD || matches!(parsed.status, 101 | 204 | 304);
    let (body, keep_alive) = if bodiless {
        (Bytes::new(), parsed.keep_alive)
    } else if parsed.chunked {
        (read_chunked(io, buf, limit).await?, parsed.keep_alive)
    } else if let Some(n) = parsed.length {
        (read_exact(io, buf, n, limit).await?, parsed.keep_alive)
    } else {
        (read_to_end(io, buf, limit).await?, false)
    };
    Ok(Answer {
        status: parsed.status,
        headers: parsed.headers,
        body,
        keep_alive,
    })
}

/// A body of `n` bytes.
async fn read_exact<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    n: usize,
    limit: usize,
) -> Result<Bytes, ReadError> {
    if n > limit {
        return Err(ReadError::TooLarge { limit });
    }
    while buf.len() < n {
        buf.reserve(n - buf.len());
        if !fill(io, buf).await? {
            return Err(cut_short());
        }
    }
    Ok(buf.split_to(n).freeze())
}

/// A body that ends with the connection.
async fn read_to_end<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    limit: usize,
) -> Result<Bytes, ReadError> {
    loop {
        if buf.len() > limit {
            return Err(ReadError::TooLarge { limit });
        }
        if !fill(io, buf).await? {
            return Ok(buf.split().freeze());
        }
    }
}

/// A chunked body: chunks until the empty one, then trailers (read and dropped).
async fn read_chunked<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
    limit: usize,
) -> Result<Bytes, ReadError> {
    let mut body = BytesMut::new();
    loop {
        let (used, size) = match httparse::parse_chunk_size(buf) {
            Ok(httparse::Status::Complete(c)) => c,
            Ok(httparse::Status::Partial) => {
                if !fill(io, buf).await? {
                    return Err(cut_short());
                }
                continue;
            }
            Err(_) => return Err(ReadError::Malformed("chunk size".into())),
        };
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        if size > limit.saturating_sub(body.len()) {
            return Err(ReadError::TooLarge { limit });
        }
        buf.advance(used);
        if size == 0 {
            skip_trailers(io, buf).await?;
            return Ok(body.freeze());
        }
        while buf.len() < size + 2 {
            if !fill(io, buf).await? {
                return Err(cut_short());
            }
        }
        if &buf[size..size + 2] != b"\r\n" {
            return Err(ReadError::Malformed("a chunk not ended by CRLF".into()));
        }
        body.extend_from_slice(&buf[..size]);
        buf.advance(size + 2);
    }
}

/// Trailer lines up to and including the empty line that ends a chunked body.
async fn skip_trailers<R: AsyncRead + Unpin>(
    io: &mut R,
    buf: &mut BytesMut,
) -> Result<(), ReadError> {
    let mut skipped = 0;
    loop {
        match buf.windows(2).position(|w| w == b"\r\n") {
            Some(0) => {
                buf.advance(2);
                return Ok(());
            }
            Some(end) => {
                skipped += end + 2;
                buf.advance(end + 2);
            }
            None if skipped + buf.len() > MAX_HEAD_BYTES => {
                return Err(ReadError::Malformed("trailers too long".into()));
            }
            None => {
                if !fill(io, buf).await? {
                    return Err(cut_short());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
