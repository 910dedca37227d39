//! The gateway's per-client rate limiter (GCRA, from `governor`): a client is the
//! athlete of a valid bearer token, else the peer IP address. Past the limit the
//! gateway answers 429 with `Retry-After` (whole seconds, at least 1).

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter as Governor};
use http::StatusCode;

use crate::auth::Auth;
use crate::error::ApiError;

/// How often idle clients are forgotten.
const RETAIN_INTERVAL: Duration = Duration::from_secs(60);

/// A keyed limiter, or none when the rate is 0.
#[derive(Clone)]
pub struct RateLimiter {
    limiter: Option<Arc<DefaultKeyedRateLimiter<String>>>,
    auth: Auth,
}

impl RateLimiter {
    /// `per_second` sustained, `burst` at once; `per_second == 0` turns it off.
    pub fn new(per_second: u32, burst: u32, auth: Auth) -> RateLimiter {
        let limiter = NonZeroU32::new(per_second).map(|rate| {
            let burst = NonZeroU32::new(burst.max(per_second)).unwrap_or(rate);
            Arc::new(Governor::keyed(Quota::per_second(rate).allow_burst(burst)))
        });
        RateLimiter { limiter, auth }
    }

    /// Forgets idle clients periodically so memory stays bounded; stops with `shutdown`.
    pub fn spawn_cleanup(&self, shutdown: tokio_util::sync::CancellationToken) {
        if let Some(limiter) = self.limiter.clone() {
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(RETAIN_INTERVAL);
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tick.tick() => limiter.retain_recent(),
                    }
                }
            });
        }
    }

    /// `Ok` if the client may go on, else the 429 to answer.
    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from this client: retry after {seconds} s (RATE_LIMIT_PER_SECOND)"),
            )
            .with_retry_after(seconds)
        })
    }
}

/// Middleware: limits each client; the key is the athlete when the token is valid.
/// The athlete of a token already checked by the limiter, kept in the request's
/// extensions so the handler does not check the signature twice.
#[derive(Debug, Clone)]
pub struct VerifiedAthlete(pub String);

/// Refuses a client past its rate with 429 and `Retry-After`.
pub async fn middleware(
    State(limiter): State<RateLimiter>,
    mut request: Request,
    next: Next,
) -> Response {
    if limiter.limiter.is_some() {
        let key = match limiter.auth.athlete_from_headers(request.headers()) {
            Ok(athlete) => {
                let key = format!("athlete:{athlete}");
                request.extensions_mut().insert(VerifiedAthlete(athlete));
                key
            }
            Err(_) => match request.extensions().get::<ConnectInfo<SocketAddr>>() {
                Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
                None => "ip:unknown".to_string(),
            },
        };
        if let Err(e) = limiter.check(&key) {
            return e.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_key_with_retry_after() {
        let limiter = RateLimiter::new(1, 2, Auth::new("s", Duration::from_secs(60)));
        assert!(limiter.check("a").is_ok());
        assert!(limiter.check("a").is_ok());
        let err = limiter.check("a").unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(err.retry_after.unwrap() >= 1);
        assert!(limiter.check("b").is_ok(), "clients are limited separately");
        let off = RateLimiter::new(0, 0, Auth::new("s", Duration::from_secs(60)));
        for _ in 0..1000 {
            assert!(off.check("a").is_ok());
        }
    }
}
