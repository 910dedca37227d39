//! The system under load: the embedded reference services started in-process on
//! free loopback ports, or a deployment given by URL.
//!
//! Embedded services run on runtimes of their own (see `services::server`), so their
//! CPU metrics are theirs and not the load generator's.

use std::collections::BTreeMap;

use crate::scenario::Target;

slo::closed_set! {
    /// What kind of target a run drives.
    pub enum TargetKind ("a target kind") {
        /// The reference services, in this process.
        Embedded = "embedded",
        /// A deployment, by URL.
        Url = "url",
    }
}

/// A target ready to be driven.
pub struct RunningTarget {
    /// What it is.
    pub kind: TargetKind,
    /// The gateway's base URL.
    pub base_url: String,
    /// Metrics endpoints by Prometheus job name.
    pub metrics: BTreeMap<String, String>,
    /// Health endpoints by service: every service's `/health` when embedded, the
    /// gateway's `/api/health` for a URL target (the others sit behind it).
    pub health: BTreeMap<String, String>,
    #[cfg(feature = "embedded")]
    services: Option<services::Services>,
}

/// Why the target cannot be driven.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The embedded services did not start.
    #[error("the embedded services did not start: {0}")]
    Embedded(String),
    /// This build has no embedded services.
    #[cfg(not(feature = "embedded"))]
    #[error(
        "this loadgen was built without the embedded target (cargo feature `embedded`): use a scenario with [target] url = ..."
    )]
    NotBuiltIn,
    /// The deployment does not answer.
    #[error("target {url} is unreachable: {reason} (is the gateway running? check target.url)")]
    Unreachable {
        /// Its base URL.
        url: String,
        /// Why.
        reason: String,
    },
}

impl RunningTarget {
    /// Starts (embedded) or checks (url) the target.
    pub async fn start(target: &Target) -> Result<RunningTarget, TargetError> {
        match target {
            Target::Url(u) => Self::remote(u.base_url.clone(), u.metrics.clone()).await,
            #[cfg(feature = "embedded")]
            Target::Embedded(e) => {
                let config = crate::scenario::embedded::services_config(e)
                    .map_err(|err| TargetError::Embedded(err.message))?;
                let running = services::start_all(
                    config,
                    services::RuntimeMode::Isolated { workers: e.workers },
                )
                .await
                .map_err(|err| TargetError::Embedded(err.to_string()))?;
                Ok(RunningTarget {
                    kind: TargetKind::Embedded,
                    base_url: running.gateway.base_url(),
                    metrics: running
                        .metrics_targets()
                        .into_iter()
                        .map(|(job, url)| (job.to_string(), url))
                        .collect(),
                    health: [&running.gateway, &running.onboarding, &running.planning]
                        .iter()
                        .map(|h| {
                            let url = format!("{}{}", h.base_url(), api::paths::HEALTH);
                            (h.name.to_string(), url)
                        })
                        .collect(),
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
        let health_url = format!("{base_url}{}", api::paths::API_HEALTH);
        client
            .get(&health_url)
            .send()
            .await
            .map_err(|e| TargetError::Unreachable {
                url: base_url.clone(),
                reason: e.to_string(),
            })?;
        Ok(RunningTarget {
            kind: TargetKind::Url,
            health: BTreeMap::from([("gateway-bff".to_string(), health_url)]),
            base_url,
            metrics,
            #[cfg(feature = "embedded")]
            services: None,
        })
    }

    /// A reader of the CPU seconds the embedded services' own runtimes used, to be
    /// told apart from the generator's (`None` for a URL target).
    pub fn embedded_cpu(&self) -> Option<Box<dyn Fn() -> f64 + Send + Sync>> {
        #[cfg(feature = "embedded")]
        if let Some(s) = &self.services {
            return Some(Box::new(s.cpu_reader()));
        }
        None
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
