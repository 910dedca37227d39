use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use super::*;

/// A connection that hands over `data` `step` bytes per read, then ends.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    step: usize,
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self
            .step
            .min(self.data.len() - self.at)
            .min(buf.remaining());
        let at = self.at;
        buf.put_slice(&self.data[at..at + n]);
        self.at += n;
        Poll::Ready(Ok(()))
    }
}

/// Reads one answer from `raw`, byte by byte and all at once: both must agree.
async fn read(raw: &[u8], method: Method, limit: usize) -> Result<Answer, ReadError> {
    let mut whole = Trickle {
        data: raw.to_vec(),
        at: 0,
        step: usize::MAX,
    };
    let mut buf = BytesMut::new();
    let at_once = read_answer(&mut whole, &mut buf, &method, limit).await;
    let mut slow = Trickle {
        data: raw.to_vec(),
        at: 0,
        step: 1,
    };
    let mut buf = BytesMut::new();
    let trickled = read_answer(&mut slow, &mut buf, &method, limit).await;
    assert_eq!(format!("{at_once:?}"), format!("{trickled:?}"), "{raw:?}");
    trickled
}

fn head<'a>(method: &'a Method, path: &'a str, values: &'a [HeaderValue; 3]) -> Head<'a> {
    Head {
        method,
        path,
        host: &values[0],
        user_agent: &values[1],
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        bearer: None,
        headers: &[],
        body: None,
    }
}

fn values() -> [HeaderValue; 3] {
    [
        HeaderValue::from_static("127.0.0.1:8080"),
        HeaderValue::from_static("loadgen-test"),
        HeaderValue::from_static("application/json"),
    ]
}

#[test]
fn a_request_is_written_as_http_1_1() {
    let v = values();
    let mut out = Vec::new();
    let get = Method::GET;
    let mut h = head(&get, "/api/health?x=1", &v);
    h.bearer = Some("abc.def");
    let extra = [(
        HeaderName::from_static("x-run"),
        HeaderValue::from_static("r1"),
    )];
    h.headers = &extra;
    encode(&h, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out.clone()).unwrap(),
        "GET /api/health?x=1 HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nuser-agent: loadgen-test\r\n\
         traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\
         authorization: Bearer abc.def\r\nx-run: r1\r\n\r\n"
    );
    let post = Method::POST;
    let mut h = head(&post, "/api/plans", &v);
    h.body = Some((b"{\"a\":1}", &v[2]));
    encode(&h, &mut out).unwrap();
    let text = String::from_utf8(out.clone()).unwrap();
    assert!(text.starts_with("POST /api/plans HTTP/1.1\r\n"), "{text}");
    assert!(
        text.ends_with("content-type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}"),
        "{text}"
    );
    // A POST without a body still says its length, or the server waits for one.
    encode(&head(&post, "/x", &v), &mut out).unwrap();
    assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
}

#[test]
fn a_request_that_cannot_be_written_is_refused_with_the_fix() {
    let v = values();
    let get = Method::GET;
    let mut out = Vec::new();
    for path in ["/a b", "/a\r\nx: y", "api/health", "/é"] {
        let e = encode(&head(&get, path, &v), &mut out).unwrap_err();
        assert!(e.0.contains("percent-encode"), "{path}: {}", e.0);
    }
    let mut h = head(&get, "/", &v);
    h.bearer = Some("a\r\nx-injected: 1");
    assert!(encode(&h, &mut out).unwrap_err().0.contains("bearer"));
}

#[tokio::test]
async fn a_body_is_read_by_its_length_by_chunks_or_to_the_end() {
    let a = read(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Id: 7\r\n\r\nhello",
        Method::GET,
        100,
    )
    .await
    .unwrap();
    assert_eq!(
        (a.status, &a.body[..], a.keep_alive),
        (200, &b"hello"[..], true)
    );
    assert_eq!(a.headers.get("x-id").unwrap(), "7");
    let raw = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n\
                4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: t\r\n\r\n";
    let a = read(raw, Method::POST, 100).await.unwrap();
    assert_eq!(
        (a.status, &a.body[..], a.keep_alive),
        (201, &b"Wikipedia"[..], true)
    );
    let a = read(b"HTTP/1.1 200 OK\r\n\r\nuntil the end", Method::GET, 100)
        .await
        .unwrap();
    assert_eq!((&a.body[..], a.keep_alive), (&b"until the end"[..], false));
}

#[tokio::test]
async fn informational_and_bodiless_answers_are_framed_right() {
    let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n\
                HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
    let a = read(raw, Method::GET, 100).await.unwrap();
    assert_eq!((a.status, &a.body[..]), (200, &b"ok"[..]));
    assert!(a.headers.get("link").is_none());
    for (raw, method) in [
        (&b"HTTP/1.1 204 No Content\r\n\r\n"[..], Method::DELETE),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", Method::GET),
        (
            b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n",
            Method::HEAD,
        ),
    ] {
        let a = read(raw, method, 100).await.unwrap();
        assert!(a.body.is_empty() && a.keep_alive, "{raw:?}");
    }
}

#[tokio::test]
async fn the_connection_is_kept_only_when_the_answer_allows_it() {
    let close = b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 0\r\n\r\n";
    assert!(!read(close, Method::GET, 9).await.unwrap().keep_alive);
    let old = b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n";
    assert!(!read(old, Method::GET, 9).await.unwrap().keep_alive);
    let old_kept = b"HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\ncontent-length: 0\r\n\r\n";
    assert!(read(old_kept, Method::GET, 9).await.unwrap().keep_alive);
}

#[tokio::test]
async fn broken_answers_fail_and_say_how() {
    let closed = read(b"", Method::GET, 9).await.unwrap_err();
    assert!(matches!(closed, ReadError::Closed), "{closed}");
    for cut in [
        &b"HTTP/1.1 200 OK\r\ncontent-le"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhel",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhel",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n0\r\n",
    ] {
        let e = read(cut, Method::GET, 99).await.unwrap_err();
        assert!(matches!(e, ReadError::Io(_)), "{cut:?}: {e}");
    }
    for bad in [
        &b"SSH-2.0-OpenSSH\r\n\r\n"[..],
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\ncontent-length: five\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
    ] {
        let e = read(bad, Method::GET, 99).await.unwrap_err();
        assert!(matches!(e, ReadError::Malformed(_)), "{bad:?}: {e}");
    }
}

#[tokio::test]
async fn a_body_past_the_limit_is_refused_before_it_is_read() {
    let e = read(
        b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n",
        Method::GET,
        10,
    )
    .await;
    assert!(matches!(e, Err(ReadError::TooLarge { .. })));
    let chunks = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\n";
    assert!(matches!(
        read(chunks, Method::GET, 10).await,
        Err(ReadError::TooLarge { .. })
    ));
    let endless = b"HTTP/1.1 200 OK\r\n\r\n0123456789abcdef";
    assert!(matches!(
        read(endless, Method::GET, 10).await,
        Err(ReadError::TooLarge { .. })
    ));
}

#[tokio::test]
async fn bytes_after_an_answer_stay_for_the_next_one() {
    let raw = b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\ncontent-length: 1\r\n\r\nb";
    let mut io = Trickle {
        data: raw.to_vec(),
        at: 0,
        step: usize::MAX,
    };
    let mut buf = BytesMut::new();
    let first = read_answer(&mut io, &mut buf, &Method::GET, 9)
        .await
        .unwrap();
    assert!(!buf.is_empty());
    let second = read_answer(&mut io, &mut buf, &Method::GET, 9)
        .await
        .unwrap();
    assert_eq!((first.status, &first.body[..]), (200, &b"a"[..]));
    assert_eq!((second.status, &second.body[..]), (404, &b"b"[..]));
}
