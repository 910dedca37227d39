//! The embedded target's section as the reference services' configuration: checked
//! when the scenario is read (so a bad fault is an error at its key), used again
//! when the services start.

use super::Embedded;

/// A fault table the services refuse.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultsError {
    /// The key of the scenario file it is about.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

/// The embedded services' settings from a scenario.
pub fn services_config(e: &Embedded) -> Result<services::ServicesConfig, FaultsError> {
    let key = "target.embedded.faults".to_string();
    let faults: services::Faults =
        toml::Value::Table(e.faults.clone())
            .try_into()
            .map_err(|err: toml::de::Error| FaultsError {
                key: key.clone(),
                message: format!("{key}: {}", err.message()),
            })?;
    faults.validate().map_err(|err| FaultsError {
        key: key.clone(),
        message: format!("{key}.{err}"),
    })?;
    let mut c = services::ServicesConfig::ephemeral()
        .with_faults(faults)
        .with_nats(e.nats_url.clone());
    let llm = &mut c.planning.llm;
    if let Some(v) = e.llm_latency_p50 {
        llm.latency_p50 = v;
        llm.latency_p95 = llm.latency_p95.max(v);
    }
    if let Some(v) = e.llm_latency_p95 {
        llm.latency_p95 = v;
    }
    if let Some(v) = e.llm_failure_rate {
        llm.failure_rate = v;
    }
    if let Some(v) = e.llm_completion_tokens {
        llm.completion_tokens = v;
    }
    if let Some(v) = e.plan_concurrency {
        c.planning.concurrency = v;
    }
    if let Some(v) = e.plan_max_deliveries {
        c.planning.max_deliveries = v;
    }
    if let Some(ttl) = e.token_ttl {
        c.gateway.token_ttl = ttl;
    }
    // One generator is every client of the embedded gateway, all from 127.0.0.1:
    // only the per-athlete limit the scenario asks for applies (0: none).
    c.gateway.rate_limits = services::rate_limit::RateLimits {
        per_athlete: services::rate_limit::Quota {
            per_second: e.rate_limit_per_second,
            burst: e.rate_limit_burst.max(e.rate_limit_per_second),
        },
        ..services::rate_limit::RateLimits::off()
    };
    Ok(c)
}
