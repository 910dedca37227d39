//! The gateway's rate limits (GCRA, from `governor`), three of them:
//!
//! - per athlete: the athlete of a valid bearer token;
//! - per client IP: every request from one peer address, whatever its token, so a
//!   client minting a fresh token per burst (tokens for new athletes are free) is
//!   still held to a rate;
//! - tokens per client IP: `POST /api/v1/auth/token` on its own, tighter quota.
//!
//! Past a limit the gateway answers 429 with `Retry-After` (whole seconds, at least
//! 1). Each limiter remembers at most [`RateLimits::max_clients`] clients: past it
//! new ones share one overflow bucket until idle clients are forgotten, so a flood
//! of distinct ids cannot grow the gateway's memory without bound.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota as GovernorQuota, RateLimiter as Governor};
use http::StatusCode;

use crate::auth::Auth;
use crate::error::ApiError;

/// How often idle clients are forgotten.
const RETAIN_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest pause between two early cleanups of a full limiter.
const FULL_RETAIN_INTERVAL: Duration = Duration::from_secs(1);
/// The key that clients past a full limiter share.
const OVERFLOW_KEY: &str = "overflow";

/// A sustained rate and the requests allowed at once above it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests per second, sustained; 0 turns this limit off.
    pub per_second: u32,
    /// Requests at once (at least `per_second`).
    pub burst: u32,
}

/// The gateway's limits; see the module overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Per athlete (`RATE_LIMIT_PER_SECOND` / `RATE_LIMIT_BURST`, 20 / 40). A rate
    /// of 0 turns every limit off (tests and trusted load generators).
    pub per_athlete: Quota,
    /// Per client IP, all limited routes and the token endpoint
    /// (`RATE_LIMIT_PER_IP_PER_SECOND` / `RATE_LIMIT_PER_IP_BURST`, 1000 / 2000).
    pub per_ip: Quota,
    /// Tokens issued per client IP (`TOKEN_RATE_LIMIT_PER_SECOND` /
    /// `TOKEN_RATE_LIMIT_BURST`, 50 / 200).
    pub tokens_per_ip: Quota,
    /// Clients each limiter remembers (`RATE_LIMIT_MAX_CLIENTS`, 100000).
    pub max_clients: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            per_athlete: Quota {
                per_second: 20,
                burst: 40,
            },
            per_ip: Quota {
                per_second: 1000,
                burst: 2000,
            },
            tokens_per_ip: Quota {
                per_second: 50,
                burst: 200,
            },
            max_clients: 100_000,
        }
    }
}

impl RateLimits {
    /// No limits at all.
    pub fn off() -> RateLimits {
        let off = Quota {
            per_second: 0,
            burst: 0,
        };
        RateLimits {
            per_athlete: off,
            per_ip: off,
            tokens_per_ip: off,
            ..RateLimits::default()
        }
    }
}

/// One keyed limiter with its cap on remembered clients.
struct Keyed {
    limiter: DefaultKeyedRateLimiter<String>,
    max_clients: usize,
    /// Milliseconds since `born` of the last early cleanup.
    last_retain_ms: AtomicU64,
    born: Instant,
}

impl Keyed {
    fn new(quota: Quota, max_clients: usize) -> Option<Arc<Keyed>> {
        let rate = NonZeroU32::new(quota.per_second)?;
        let burst = NonZeroU32::new(quota.burst.max(quota.per_second)).unwrap_or(rate);
        Some(Arc::new(Keyed {
            limiter: Governor::keyed(GovernorQuota::per_second(rate).allow_burst(burst)),
            max_clients: max_clients.max(1),
            last_retain_ms: AtomicU64::new(0),
            born: Instant::now(),
        }))
    }

    /// The key to count `key` under: itself, or the shared overflow key while the
    /// limiter is full (after forgetting idle clients, at most once a second).
    fn bucket<'k>(&self, key: &'k str) -> &'k str {
        if self.limiter.len() < self.max_clients {
            return key;
        }
        let now = self.born.elapsed().as_millis() as u64;
        let last = self.last_retain_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= FULL_RETAIN_INTERVAL.as_millis() as u64
            && self
                .last_retain_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        if self.limiter.len() < self.max_clients {
            key
        } else {
            OVERFLOW_KEY
        }
    }

    fn check(&self, key: &str, what: &str) -> Result<(), ApiError> {
        let bucket = self.bucket(key).to_string();
        self.limiter.check_key(&bucket).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs_f64().ceil().max(1.0) as u64;
            ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many {what}: retry after {seconds} s"),
            )
            .with_retry_after(seconds)
        })
    }
}

/// The gateway's three limiters, each absent when its rate is 0.
#[derive(Clone)]
pub struct RateLimiter {
    athletes: Option<Arc<Keyed>>,
    ips: Option<Arc<Keyed>>,
    tokens: Option<Arc<Keyed>>,
    auth: Auth,
}

impl RateLimiter {
    /// The limiters of `limits`; none at all when the per-athlete rate is 0.
    pub fn new(limits: RateLimits, auth: Auth) -> RateLimiter {
        let on = limits.per_athlete.per_second > 0;
        let keyed = |q: Quota| Keyed::new(q, limits.max_clients).filter(|_| on);
        RateLimiter {
            athletes: keyed(limits.per_athlete),
            ips: keyed(limits.per_ip),
            tokens: keyed(limits.tokens_per_ip),
            auth,
        }
    }

    fn all(&self) -> impl Iterator<Item = &Arc<Keyed>> {
        [&self.athletes, &self.ips, &self.tokens]
            .into_iter()
            .flatten()
    }

    /// How many clients each limiter remembers (athletes, IPs, token IPs).
    pub fn remembered(&self) -> [usize; 3] {
        [&self.athletes, &self.ips, &self.tokens].map(|k| k.as_ref().map_or(0, |k| k.limiter.len()))
    }

    /// Forgets idle clients periodically so memory stays bounded; stops with `shutdown`.
    pub fn spawn_cleanup(&self, shutdown: tokio_util::sync::CancellationToken) {
        let limiters: Vec<Arc<Keyed>> = self.all().cloned().collect();
        if limiters.is_empty() {
            return;
        }
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(RETAIN_INTERVAL);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => for k in &limiters {
                        k.limiter.retain_recent();
                        k.limiter.shrink_to_fit();
                    },
                }
            }
        });
    }

    /// `Ok` if athlete `athlete` may go on, else the 429 to answer.
    pub fn check_athlete(&self, athlete: &str) -> Result<(), ApiError> {
        match &self.athletes {
            Some(k) => k.check(
                &format!("athlete:{athlete}"),
                "requests for this athlete (RATE_LIMIT_PER_SECOND)",
            ),
            None => Ok(()),
        }
    }

    /// `Ok` if peer `ip` may go on, else the 429 to answer.
    pub fn check_ip(&self, ip: &str) -> Result<(), ApiError> {
        match &self.ips {
            Some(k) => k.check(
                ip,
                "requests from this address (RATE_LIMIT_PER_IP_PER_SECOND)",
            ),
            None => Ok(()),
        }
    }

    /// `Ok` if peer `ip` may have another token, else the 429 to answer.
    pub fn check_token(&self, ip: &str) -> Result<(), ApiError> {
        match &self.tokens {
            Some(k) => k.check(ip, "tokens for this address (TOKEN_RATE_LIMIT_PER_SECOND)"),
            None => Ok(()),
        }
    }

    fn is_off(&self) -> bool {
        self.athletes.is_none() && self.ips.is_none() && self.tokens.is_none()
    }
}

/// The athlete of a token already checked by the limiter, kept in the request's
/// extensions so the handler does not check the signature twice.
#[derive(Debug, Clone)]
pub struct VerifiedAthlete(pub String);

/// The peer address of a request, as a limiter key.
fn peer(request: &Request) -> String {
    match request.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => addr.ip().to_string(),
        None => "unknown".to_string(),
    }
}

/// Middleware of the limited routes: the peer's rate, then the athlete's when the
/// token is valid; 429 with `Retry-After` past either.
pub async fn middleware(
    State(limiter): State<RateLimiter>,
    mut request: Request,
    next: Next,
) -> Response {
    if limiter.is_off() {
        return next.run(request).await;
    }
    if let Err(e) = limiter.check_ip(&peer(&request)) {
        return e.into_response();
    }
    if let Ok(athlete) = limiter.auth.athlete_from_headers(request.headers()) {
        if let Err(e) = limiter.check_athlete(&athlete) {
            return e.into_response();
        }
        request.extensions_mut().insert(VerifiedAthlete(athlete));
    }
    next.run(request).await
}

/// Middleware of the token endpoint: the peer's rate and its token rate.
pub async fn token_middleware(
    State(limiter): State<RateLimiter>,
    request: Request,
    next: Next,
) -> Response {
    if !limiter.is_off() {
        let ip = peer(&request);
        if let Err(e) = limiter.check_ip(&ip).and_then(|_| limiter.check_token(&ip)) {
            return e.into_response();
        }
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> Auth {
        Auth::new("s", Duration::from_secs(60))
    }

    fn limits(athlete: u32, ip: u32, clients: usize) -> RateLimits {
        RateLimits {
            per_athlete: Quota {
                per_second: athlete,
                burst: athlete,
            },
            per_ip: Quota {
                per_second: ip,
                burst: ip,
            },
            tokens_per_ip: Quota {
                per_second: 1,
                burst: 1,
            },
            max_clients: clients,
        }
    }

    #[test]
    fn limits_per_key_with_retry_after() {
        let limiter = RateLimiter::new(limits(1, 100, 100), auth());
        assert!(limiter.check_athlete("a").is_ok());
        let err = limiter.check_athlete("a").unwrap_err();
        assert_eq!(err.status, StatusCode::TOO_MANY_REQUESTS);
        assert!(err.retry_after.unwrap() >= 1);
        assert!(
            limiter.check_athlete("b").is_ok(),
            "clients are limited separately"
        );
        assert!(limiter.check_token("127.0.0.2").is_ok());
        assert!(
            limiter.check_token("127.0.0.2").is_err(),
            "tokens have their own quota"
        );
        let off = RateLimiter::new(RateLimits::off(), auth());
        for _ in 0..1000 {
            assert!(off.check_athlete("a").is_ok());
            assert!(off.check_ip("a").is_ok());
            assert!(off.check_token("a").is_ok());
        }
    }

    #[test]
    fn a_new_athlete_per_request_is_still_held_by_its_address() {
        let limiter = RateLimiter::new(limits(5, 10, 1000), auth());
        let passed = (0..50)
            .filter(|i| {
                limiter.check_ip("127.0.0.3").is_ok()
                    && limiter.check_athlete(&format!("new-{i}")).is_ok()
            })
            .count();
        assert_eq!(
            passed, 10,
            "the address's burst, not 50 fresh athletes' bursts"
        );
    }

    #[test]
    fn past_the_cap_new_clients_share_one_bucket_and_memory_stays_bounded() {
        let limiter = RateLimiter::new(limits(1, 1000, 100), auth());
        let passed = (0..10_000)
            .filter(|i| limiter.check_athlete(&format!("flood-{i}")).is_ok())
            .count();
        let [athletes, _, _] = limiter.remembered();
        assert!(
            athletes <= 101,
            "{athletes} athletes remembered, cap 100 and the overflow"
        );
        // The first hundred got their own bucket, the rest shared one.
        assert!((100..=102).contains(&passed), "{passed} passed");
    }
}
