//! Authentication: athlete bearer tokens (JWT, HS256) and signed plan job ids.
//!
//! Tokens are standard JWTs signed with `AUTH_SECRET`, so a load test can obtain one
//! from `POST /api/v1/auth/token` (test athletes, on by default) or mint its own with
//! any JWT library. Job ids carry an HMAC over the job and the athlete, so the
//! gateway can tell a job it issued (and to whom) from an unknown id without a
//! shared store, even before the planning engine has taken the job from NATS.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ApiError;

/// Issuer written into and required from every token.
pub const ISSUER: &str = "athlete-ally";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    /// The athlete id.
    sub: String,
    iss: String,
    iat: u64,
    exp: u64,
}

/// Signs and checks tokens and job ids; cheap to clone.
#[derive(Clone)]
pub struct Auth {
    inner: Arc<AuthInner>,
}

struct AuthInner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    secret: Vec<u8>,
    ttl: Duration,
}

/// Checks an athlete id: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn valid_athlete_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Auth {
    /// Signs with `secret`; tokens live for `ttl`.
    pub fn new(secret: &str, ttl: Duration) -> Auth {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        Auth {
            inner: Arc::new(AuthInner {
                encoding: EncodingKey::from_secret(secret.as_bytes()),
                decoding: DecodingKey::from_secret(secret.as_bytes()),
                validation,
                secret: secret.as_bytes().to_vec(),
                ttl,
            }),
        }
    }

    /// A token for `athlete_id`, valid for the configured lifetime.
    pub fn issue(&self, athlete_id: &str) -> Result<String, ApiError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: athlete_id.to_string(),
            iss: ISSUER.to_string(),
            iat: now,
            exp: now + self.inner.ttl.as_secs(),
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.inner.encoding,
        )
        .map_err(|e| ApiError::internal(format!("cannot sign token: {e}")))
    }

    /// The athlete id of a valid token.
    pub fn verify(&self, token: &str) -> Result<String, ApiError> {
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.inner.decoding, &self.inner.validation)
                .map_err(|e| ApiError::unauthorized(format!("invalid bearer token: {e}")))?;
        if !valid_athlete_id(&data.claims.sub) {
            return Err(ApiError::unauthorized("invalid bearer token: bad subject"));
        }
        Ok(data.claims.sub)
    }

    /// The athlete id from an `Authorization: Bearer <token>` header.
    pub fn athlete_from_headers(&self, headers: &http::HeaderMap) -> Result<String, ApiError> {
        let value = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized(
                "missing Authorization header: send Authorization: Bearer <token>",
            )
        })?;
        let value = value
            .to_str()
            .map_err(|_| ApiError::unauthorized("Authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("Authorization must be: Bearer <token>"))?;
        self.verify(token.trim())
    }

    fn job_signature(&self, job: &str, athlete_id: &str) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.inner.secret).expect("HMAC takes any key length");
        mac.update(job.as_bytes());
        mac.update(b":");
        mac.update(athlete_id.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..8])
    }

    /// A new job id for `athlete_id`: `<32 hex>-<16 hex signature>`.
    pub fn new_job_id(&self, athlete_id: &str) -> String {
        let job = uuid::Uuid::new_v4().simple().to_string();
        let signature = self.job_signature(&job, athlete_id);
        format!("{job}-{signature}")
    }

    /// Whether `job_id` was issued by a gateway with this secret for `athlete_id`.
    pub fn job_belongs_to(&self, job_id: &str, athlete_id: &str) -> bool {
        let Some((job, signature)) = job_id.split_once('-') else {
            return false;
        };
        if job.len() != 32 || signature.len() != 16 {
            return false;
        }
        secrets_match(signature, &self.job_signature(job, athlete_id))
    }
}

/// Whether a given secret equals the expected one, in time that depends on
/// neither: both are hashed first, so not even their lengths leak.
pub fn secrets_match(given: &str, expected: &str) -> bool {
    use sha2::Digest;
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_match_only_when_equal() {
        assert!(secrets_match("athlete-ally-admin", "athlete-ally-admin"));
        assert!(!secrets_match("athlete-ally-admiN", "athlete-ally-admin"));
        assert!(!secrets_match(
            "athlete-ally-admin-and-more",
            "athlete-ally-admin"
        ));
        assert!(!secrets_match("", "athlete-ally-admin"));
    }

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let auth = Auth::new("s3cret", Duration::from_secs(60));
        let token = auth.issue("athlete-1").unwrap();
        assert_eq!(auth.verify(&token).unwrap(), "athlete-1");
        let other = Auth::new("other", Duration::from_secs(60));
        assert!(other.verify(&token).is_err());
        assert!(auth.verify("not.a.token").is_err());
        let mut headers = http::HeaderMap::new();
        assert!(auth.athlete_from_headers(&headers).is_err());
        headers.insert(
            http::header::AUTHORIZATION,
            format!("Bearer {token}").parse().unwrap(),
        );
        assert_eq!(auth.athlete_from_headers(&headers).unwrap(), "athlete-1");
    }

    #[test]
    fn job_ids_are_bound_to_their_athlete() {
        let auth = Auth::new("s3cret", Duration::from_secs(60));
        let id = auth.new_job_id("athlete-1");
        assert!(auth.job_belongs_to(&id, "athlete-1"));
        assert!(!auth.job_belongs_to(&id, "athlete-2"));
        assert!(!auth.job_belongs_to("nonsense", "athlete-1"));
        assert!(!auth.job_belongs_to(&id.replace('a', "b"), "athlete-1") || !id.contains('a'));
    }

    #[test]
    fn athlete_ids_are_checked() {
        assert!(valid_athlete_id("athlete-42_x.y"));
        assert!(!valid_athlete_id(""));
        assert!(!valid_athlete_id("a b"));
        assert!(!valid_athlete_id(&"x".repeat(65)));
    }
}
