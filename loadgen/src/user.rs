//! A virtual user: its number, its token (refreshed before it expires), its
//! flow's variables, and how many iterations it ran.

use std::time::{Duration, Instant};

use base64::Engine as _;

/// Refresh a token this long before it expires (or at 90% of its life, if shorter).
pub const REFRESH_BEFORE: Duration = Duration::from_secs(60);

/// A bearer token and when to get a new one.
#[derive(Debug, Clone)]
pub struct Token {
    /// The token.
    pub value: String,
    /// When it must be renewed; `None` when it does not say it expires.
    pub refresh_at: Option<Instant>,
}

impl Token {
    /// A token read back: its `exp` claim (a JWT's payload is not verified here,
    /// only read) sets when to renew it.
    pub fn new(value: String) -> Token {
        let refresh_at = expires_in(&value).map(|life| {
            let early = REFRESH_BEFORE.min(life / 10);
            Instant::now() + life.saturating_sub(early)
        });
        Token { value, refresh_at }
    }

    /// Whether it should be renewed now.
    pub fn stale(&self) -> bool {
        self.refresh_at.is_some_and(|t| Instant::now() >= t)
    }
}

/// How long a JWT has left, from its `exp` claim.
fn expires_in(jwt: &str) -> Option<Duration> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims["exp"].as_u64()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    Some(Duration::from_secs(exp.saturating_sub(now)))
}

/// One virtual user.
#[derive(Debug)]
pub struct User {
    /// Unique in the run: names its athletes and picks its recorder shard.
    pub id: usize,
    /// Its token, when it keeps one (the Rust plans flow signs in once).
    pub token: Option<Token>,
    /// Iterations it started.
    pub iteration: u64,
    /// Its flow file's variables, by slot (empty until its first iteration).
    pub vars: Vec<serde_json::Value>,
    /// Its flow's setup: `None` until it has run, then when to run it again
    /// (`Some(None)`: never).
    pub setup: Option<Option<Instant>>,
}

impl User {
    /// A new user.
    pub fn new(id: usize) -> User {
        User {
            id,
            token: None,
            iteration: 0,
            vars: Vec::new(),
            setup: None,
        }
    }

    /// Whether its flow's setup must run (first, or before a token goes stale).
    pub fn needs_setup(&self) -> bool {
        match self.setup {
            None => true,
            Some(None) => false,
            Some(Some(at)) => Instant::now() >= at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(exp_in: u64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!("{{\"sub\":\"a\",\"exp\":{}}}", now + exp_in));
        format!("eyJhbGciOiJIUzI1NiJ9.{payload}.sig")
    }

    #[test]
    fn a_token_is_renewed_before_it_expires() {
        let t = Token::new(jwt(3600));
        let at = t.refresh_at.unwrap();
        assert!(at > Instant::now() + Duration::from_secs(3400));
        assert!(at < Instant::now() + Duration::from_secs(3545));
        assert!(!t.stale());
        // A 10 s token: renewed at 9 s, not 60 s before.
        let short = Token::new(jwt(10));
        let at = short.refresh_at.unwrap();
        assert!(at > Instant::now() + Duration::from_secs(8));
        assert!(Token::new("opaque".into()).refresh_at.is_none());
    }
}
