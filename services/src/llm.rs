//! The language model the planning engine calls: a simulation by default, or a real
//! OpenAI-compatible endpoint (`LLM_BASE_URL`).
//!
//! The simulation draws each call's latency from a log-normal distribution through
//! the configured median and 95th percentile, so the latency SLO sees a realistic
//! tail; token counts follow the prompt length and a configured mean; calls fail with
//! a transient error at the configured rate. Injected faults add latency and failures.

use std::time::{Duration, Instant};

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde_json::json;

use crate::config::LlmConfig;
use crate::faults::FaultState;
use crate::metrics::{LlmMetrics, ModelLabels, ModelStatusLabels, TokenLabels, observe};

/// z-score of the 95th percentile of a standard normal distribution.
const Z_95: f64 = 1.644_853_626_951_472_2;
/// Words of the simulated model's output.
const VOCABULARY: [&str; 16] = [
    "tempo",
    "recovery",
    "strength",
    "mobility",
    "interval",
    "aerobic",
    "threshold",
    "rest",
    "squat",
    "deadlift",
    "row",
    "plank",
    "stride",
    "cadence",
    "volume",
    "deload",
];

/// A model's answer.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The completion.
    pub text: String,
    /// Tokens of the prompt.
    pub prompt_tokens: u64,
    /// Tokens of the completion.
    pub completion_tokens: u64,
}

/// A failed call. Transient failures are worth retrying (the job is redelivered).
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("language model call failed (transient): {0}")]
    /// Worth retrying (a timeout, a 5xx, a simulated failure).
    Transient(String),
    #[error("language model call failed: {0}")]
    /// Not worth retrying.
    Permanent(String),
}

/// The configured model, simulated or remote.
#[derive(Clone)]
pub struct Llm {
    config: LlmConfig,
    latency: LogNormal<f64>,
    metrics: LlmMetrics,
    faults: FaultState,
    http: Option<reqwest::Client>,
}

/// Log-normal distribution (in seconds) through a median and a 95th percentile.
pub fn latency_distribution(p50: Duration, p95: Duration) -> LogNormal<f64> {
    let p50 = p50.as_secs_f64().max(1e-6);
    let p95 = p95.as_secs_f64().max(p50);
    let sigma = (p95.ln() - p50.ln()) / Z_95;
    LogNormal::new(p50.ln(), sigma).expect("sigma is finite and non-negative")
}

impl Llm {
    /// The simulated model, or a real one when `base_url` is set.
    pub fn new(config: LlmConfig, metrics: LlmMetrics, faults: FaultState) -> Llm {
        let http = config.base_url.as_ref().map(|_| {
            reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("TLS backend available")
        });
        Llm {
            latency: latency_distribution(config.latency_p50, config.latency_p95),
            config,
            metrics,
            faults,
            http,
        }
    }

    /// The model's name.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// One call, timed and counted in the `llm_*` metrics.
    pub async fn complete(&self, prompt: &str, athlete_id: &str) -> Result<Completion, LlmError> {
        let span = tracing::info_span!(
            "llm.call",
            otel.name = "llm call",
            llm.model = %self.config.model,
            llm.prompt_length = prompt.len(),
            llm.tokens.prompt = tracing::field::Empty,
            llm.tokens.completion = tracing::field::Empty,
            user.id = athlete_id,
        );
        let start = Instant::now();
        let (extra, fault_rate) = self.faults.with(|f| {
            (
                Duration::from_millis(f.llm.extra_latency_ms),
                f.llm.failure_rate,
            )
        });
        let result = tracing::Instrument::instrument(
            async {
                if !extra.is_zero() {
                    tokio::time::sleep(extra).await;
                }
                match &self.http {
                    Some(client) => self.call_remote(client, prompt).await,
                    None => self.simulate(prompt, fault_rate).await,
                }
            },
            span.clone(),
        )
        .await;
        let model = self.config.model.clone();
        let status = if result.is_ok() { "success" } else { "error" };
        self.metrics
            .requests
            .get_or_create(&ModelStatusLabels {
                model: model.clone(),
                status,
            })
            .inc();
        let _entered = span.enter();
        observe(
            &self.metrics.response_time.get_or_create(&ModelLabels {
                model: model.clone(),
            }),
            start.elapsed().as_secs_f64(),
        );
        match &result {
            Ok(c) => {
                span.record("llm.tokens.prompt", c.prompt_tokens);
                span.record("llm.tokens.completion", c.completion_tokens);
                for (kind, n) in [
                    ("prompt", c.prompt_tokens),
                    ("completion", c.completion_tokens),
                ] {
                    self.metrics
                        .tokens
                        .get_or_create(&TokenLabels {
                            model: model.clone(),
                            kind,
                        })
                        .inc_by(n);
                }
            }
            Err(e) => crate::telemetry::mark_error(&span, &e.to_string()),
        }
        result
    }

    async fn simulate(&self, prompt: &str, fault_rate: f64) -> Result<Completion, LlmError> {
        let (latency, fails, completion_tokens) = {
            let mut rng = rand::rng();
            let latency = Duration::from_secs_f64(self.latency.sample(&mut rng).min(600.0));
            let p_fail = 1.0 - (1.0 - self.config.failure_rate) * (1.0 - fault_rate);
            let fails = p_fail > 0.0 && rng.random_bool(p_fail.min(1.0));
            let mean = f64::from(self.config.completion_tokens.max(1));
            let tokens = Normal::new(mean, mean * 0.2)
                .map(|n| n.sample(&mut rng))
                .unwrap_or(mean)
                .round()
                .max(1.0) as u64;
            (latency, fails, tokens)
        };
        tokio::time::sleep(latency).await;
        if fails {
            return Err(LlmError::Transient(
                "simulated model overloaded (HTTP 503)".to_string(),
            ));
        }
        let text: String = {
            let mut rng = rand::rng();
            let mut text = String::with_capacity(completion_tokens as usize * 8);
            for i in 0..completion_tokens {
                if i > 0 {
                    text.push(' ');
                }
                text.push_str(VOCABULARY[rng.random_range(0..VOCABULARY.len())]);
            }
            text
        };
        Ok(Completion {
            text,
            prompt_tokens: (prompt.len() as u64).div_ceil(4).max(1),
            completion_tokens,
        })
    }

    async fn call_remote(
        &self,
        client: &reqwest::Client,
        prompt: &str,
    ) -> Result<Completion, LlmError> {
        let base = self
            .config
            .base_url
            .as_deref()
            .unwrap_or_default()
            .trim_end_matches('/');
        let url = if base.ends_with("/v1") {
            format!("{base}/chat/completions")
        } else {
            format!("{base}/v1/chat/completions")
        };
        let mut request = client.post(&url).json(&json!({
            "model": self.config.model,
            "messages": [
                {"role": "system", "content": "You are a strength and conditioning coach. Answer with a weekly training plan."},
                {"role": "user", "content": prompt}
            ]
        }));
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| LlmError::Transient(format!("{url}: {e}")))?;
        let status = response.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(LlmError::Transient(format!("{url} answered {status}")));
        }
        if !status.is_success() {
            return Err(LlmError::Permanent(format!("{url} answered {status}")));
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| LlmError::Transient(format!("{url}: unreadable answer: {e}")))?;
        let text = body["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| {
                LlmError::Permanent(format!("{url}: answer has no choices[0].message.content"))
            })?
            .to_string();
        Ok(Completion {
            prompt_tokens: body["usage"]["prompt_tokens"]
                .as_u64()
                .unwrap_or((prompt.len() as u64).div_ceil(4)),
            completion_tokens: body["usage"]["completion_tokens"]
                .as_u64()
                .unwrap_or((text.len() as u64).div_ceil(4)),
            text,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_distribution_hits_the_configured_percentiles() {
        let d = latency_distribution(Duration::from_millis(800), Duration::from_millis(2500));
        let mut rng = rand::rng();
        let mut samples: Vec<f64> = (0..200_000).map(|_| d.sample(&mut rng)).collect();
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p50 = samples[samples.len() / 2];
        let p95 = samples[samples.len() * 95 / 100];
        assert!((p50 - 0.8).abs() < 0.02, "p50 {p50}");
        assert!((p95 - 2.5).abs() < 0.08, "p95 {p95}");
    }

    #[test]
    fn degenerate_distribution_is_constant() {
        let d = latency_distribution(Duration::from_millis(100), Duration::from_millis(100));
        let v = d.sample(&mut rand::rng());
        assert!((v - 0.1).abs() < 1e-9);
    }
}
