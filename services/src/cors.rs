//! The gateway's CORS allowlist (`CORS_ALLOWED_ORIGINS`).
//!
//! A request without `Origin` (a server, a load generator) passes. An allowed origin
//! gets the CORS headers, and a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) is answered 204 here. Any other origin is refused
//! with 403 and a JSON error naming the origin, which is easier to diagnose than the
//! silent missing header browsers report ("CORS origins" is a known failure cause).
//!
//! A listed origin is echoed back with `Access-Control-Allow-Credentials: true`. The
//! wildcard `*` answers a literal `*` and no credentials flag: reflecting any origin
//! with credentials would let every site read an athlete's data with their cookies.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use crate::error::ApiError;

/// Methods announced to browsers.
const ALLOWED_METHODS: &str = "GET, POST, PUT, OPTIONS";
/// Request headers announced to browsers.
const ALLOWED_HEADERS: &str = "authorization, content-type, traceparent, tracestate";
/// Response headers a browser script may read.
const EXPOSED_HEADERS: &str = "retry-after";
/// How long a browser may cache a preflight, in seconds.
const MAX_AGE_SECONDS: &str = "600";

/// The allowlist; `*` allows any origin.
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Arc<Vec<String>>,
    any: bool,
}

impl Cors {
    /// The allowlist; `*` allows any origin.
    pub fn new(origins: &[String]) -> Cors {
        Cors {
            any: origins.iter().any(|o| o == "*"),
            origins: Arc::new(
                origins
                    .iter()
                    .map(|o| o.trim_end_matches('/').to_string())
                    .collect(),
            ),
        }
    }

    /// Whether an origin is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.any || self.listed(origin)
    }

    /// Whether an origin is listed by name (not only by the wildcard).
    fn listed(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    /// The headers an allowed origin gets.
    fn grant(&self, origin: &HeaderValue) -> Grant {
        if self.listed(origin.to_str().unwrap_or("")) {
            Grant {
                allow_origin: origin.clone(),
                credentials: true,
            }
        } else {
            Grant {
                allow_origin: HeaderValue::from_static("*"),
                credentials: false,
            }
        }
    }
}

/// The CORS headers of an allowed origin.
#[derive(Debug, Clone)]
pub struct Grant {
    /// `Access-Control-Allow-Origin`: the origin itself, or `*` for the wildcard.
    allow_origin: HeaderValue,
    /// Whether `Access-Control-Allow-Credentials: true` is sent (listed origins only).
    credentials: bool,
}

/// What the edge does with a request.
pub enum Decision {
    /// No `Origin`: nothing to do.
    Pass,
    /// An allowed origin: handle the request, then add the CORS headers.
    Allowed(Grant),
    /// Answer now: a preflight (204) or a refused origin (403).
    Answer(Response),
}

impl Cors {
    /// What to do with a request: pass it, allow it with CORS headers, or answer it here.
    pub fn check(&self, request: &Request) -> Decision {
        let Some(origin) = request.headers().get(header::ORIGIN) else {
            return Decision::Pass;
        };
        let origin_text = origin.to_str().unwrap_or("");
        if !self.allows(origin_text) {
            return Decision::Answer(
                ApiError::new(
                    StatusCode::FORBIDDEN,
                    "cors_origin_not_allowed",
                    format!("origin {origin_text:?} is not in CORS_ALLOWED_ORIGINS"),
                )
                .into_response(),
            );
        }
        let preflight = request.method() == Method::OPTIONS
            && request
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        if preflight {
            let mut r = StatusCode::NO_CONTENT.into_response();
            let h = r.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOWED_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECONDS),
            );
            decorate(&mut r, &self.grant(origin));
            return Decision::Answer(r);
        }
        Decision::Allowed(self.grant(origin))
    }
}

/// Adds the headers of an allowed origin to a response.
pub fn decorate(response: &mut Response, grant: &Grant) {
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        grant.allow_origin.clone(),
    );
    if grant.credentials {
        h.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSED_HEADERS),
    );
    h.append(header::VARY, HeaderValue::from_static("origin"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_and_wildcard() {
        let cors = Cors::new(&["https://app.example/".to_string()]);
        assert!(cors.allows("https://app.example"));
        assert!(!cors.allows("https://evil.example"));
        assert!(Cors::new(&["*".to_string()]).allows("https://anything.example"));
    }

    #[test]
    fn the_wildcard_answers_a_literal_star_without_credentials() {
        let origin = HeaderValue::from_static("https://evil.example");
        let mut r = StatusCode::OK.into_response();
        decorate(&mut r, &Cors::new(&["*".to_string()]).grant(&origin));
        let h = r.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert!(!h.contains_key(header::ACCESS_CONTROL_ALLOW_CREDENTIALS));
        // A listed origin, even beside the wildcard, is echoed with credentials.
        let app = HeaderValue::from_static("https://app.example");
        let both = Cors::new(&["*".to_string(), "https://app.example".to_string()]);
        let mut r = StatusCode::OK.into_response();
        decorate(&mut r, &both.grant(&app));
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://app.example"
        );
        assert_eq!(
            r.headers()[header::ACCESS_CONTROL_ALLOW_CREDENTIALS],
            "true"
        );
    }
}
