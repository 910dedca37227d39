//! The system under load: the embedded reference services started in-process on
//! free loopback ports, or a deployment given by URL.
//!
//! Embedded services run on runtimes of their own (see `services::server`), so their
//! CPU metrics are theirs and not the load generator's.

use std::collections::BTreeMap;

use crate::scenario::{Scenario, Target};

/// A target ready to be driven.
pub struct RunningTarget {
    pub kind: &'static str,
    pub base_url: String,
    /// Metrics endpoints by Prometheus job name.
    pub metrics: BTreeMap<String, String>,
    /// Bearer token of `/admin/faults`.
    pub admin_token: Option<String>,
    #[cfg(feature = "embedded")]
    services: Option<services::Services>,
}

#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("the embedded services did not start: {0}")]
    Embedded(String),
    #[error(
        "this loadgen was built without the embedded target (cargo feature `embedded`): use a scenario with [target] url = ..."
    )]
    NotBuiltIn,
    #[error("target {url} is unreachable: {reason} (is the gateway running? check target.url)")]
    Unreachable { url: String, reason: String },
}

/// The embedded services' settings from a scenario.
#[cfg(feature = "embedded")]
pub fn services_config(e: &crate::scenario::Embedded) -> Result<services::ServicesConfig, String> {
    let faults: services::Faults = toml::Value::Table(e.faults.clone())
        .try_into()
        .map_err(|err: toml::de::Error| format!("target.embedded.faults: {}", err.message()))?;
    faults
        .validate()
        .map_err(|err| format!("target.embedded.faults.{err}"))?;
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
    c.gateway.rate_limit_per_second = e.rate_limit_per_second;
    c.gateway.rate_limit_burst = e.rate_limit_burst.max(e.rate_limit_per_second);
    Ok(c)
}

impl RunningTarget {
    /// Starts (embedded) or checks (url) the scenario's target.
    pub async fn start(
        scenario: &Scenario,
        url_override: Option<&str>,
    ) -> Result<RunningTarget, TargetError> {
        if let Some(url) = url_override {
            return Self::remote(url.trim_end_matches('/').to_string(), BTreeMap::new()).await;
        }
        match &scenario.target {
            Target::Url(u) => Self::remote(u.base_url.clone(), u.metrics.clone()).await,
            #[cfg(feature = "embedded")]
            Target::Embedded(e) => {
                let config = services_config(e).map_err(TargetError::Embedded)?;
                let admin_token = config.gateway.common.admin_token.clone();
                let running = services::start_all(
                    config,
                    services::RuntimeMode::Isolated { workers: e.workers },
                )
                .await
                .map_err(|err| TargetError::Embedded(err.to_string()))?;
                Ok(RunningTarget {
                    kind: "embedded",
                    base_url: running.gateway.base_url(),
                    metrics: running
                        .metrics_targets()
                        .into_iter()
                        .map(|(job, url)| (job.to_string(), url))
                        .collect(),
                    admin_token: Some(admin_token),
                    services: Some(running),
                })
            }
            #[cfg(not(feature = "embedded"))]
            Target::Embedded(_) => Err(TargetError::NotBuiltIn),
        }
    }

    async fn remote(
        base_url: String,
        metrics: BTreeMap<String, String>,
    ) -> Result<RunningTarget, TargetError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| TargetError::Unreachable {
                url: base_url.clone(),
                reason: e.to_string(),
            })?;
        client
            .get(format!("{base_url}/api/health"))
            .send()
            .await
            .map_err(|e| TargetError::Unreachable {
                url: base_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(RunningTarget {
            kind: "url",
            base_url,
            metrics,
            admin_token: None,
            #[cfg(feature = "embedded")]
            services: None,
        })
    }

    /// Stops the embedded services (gracefully); nothing for a URL target.
    pub async fn stop(self) {
        #[cfg(feature = "embedded")]
        if let Some(services) = self.services
            && let Err(e) = services.shutdown().await
        {
            tracing::warn!("embedded services stopped with an error: {e}");
        }
    }
}
