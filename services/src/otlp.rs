//! Logging and span export (OTLP over gRPC, to Jaeger or any collector).
//!
//! Logs go to standard error (`RUST_LOG`, default `info`). With an endpoint
//! (`OTEL_EXPORTER_OTLP_ENDPOINT`, else `JAEGER_ENDPOINT`), spans are exported in
//! batches from a bounded queue on the SDK's own thread, so a slow or absent
//! collector costs the request path no more than handing a span over; when the
//! queue is full, spans are dropped, never waited for. Sampling is parent-based: a
//! request arriving with a sampled `traceparent` is always recorded, a new trace with
//! the configured ratio (`OTEL_TRACES_SAMPLER_ARG`).
//!
//! When the three services share a process (the embedded target), each gets its
//! own tracer provider, with its own `service.name`, and a span goes to the provider
//! of the service whose runtime thread created it.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Spans waiting for export; past it new spans are dropped (default queue: 2048,
/// which load tests overflow).
pub const MAX_QUEUE: usize = 65_536;
/// Spans per export request.
pub const MAX_BATCH: usize = 2_048;
/// Longest wait before a partial batch is sent.
pub const EXPORT_DELAY: Duration = Duration::from_millis(500);
/// Names of the three services, as their runtime threads are named when embedded.
pub const SERVICES: [&str; 3] = [
    crate::gateway::SERVICE,
    crate::onboarding::SERVICE,
    crate::planning::SERVICE,
];

/// The tracer providers to flush at exit.
#[derive(Default)]
pub struct Tracing {
    providers: Vec<SdkTracerProvider>,
}

impl Tracing {
    /// Whether spans are exported at all.
    pub fn exporting(&self) -> bool {
        !self.providers.is_empty()
    }

    /// Exports what is queued and stops the exporters (blocking work, run off the
    /// async threads).
    pub async fn shutdown(self) {
        for provider in self.providers {
            let _ = tokio::task::spawn_blocking(move || {
                let _ = provider.force_flush();
                let _ = provider.shutdown();
            })
            .await;
        }
    }

    /// Exports what is queued now.
    pub async fn flush(&self) {
        for provider in &self.providers {
            let provider = provider.clone();
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        }
    }
}

/// A tracer provider exporting `service`'s spans to `endpoint`. Needs a Tokio
/// runtime (the gRPC channel is created on it).
pub fn provider(
    service: &str,
    endpoint: &str,
    sample_ratio: f64,
) -> Result<SdkTracerProvider, String> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| format!("OTLP exporter for {endpoint}: {e}"))?;
    let batch = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_max_queue_size(MAX_QUEUE)
                .with_max_export_batch_size(MAX_BATCH)
                .with_scheduled_delay(EXPORT_DELAY)
                .build(),
        )
        .build();
    Ok(SdkTracerProvider::builder()
        .with_span_processor(batch)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_string())
                .build(),
        )
        .build())
}

fn log_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// Whether the current thread belongs to `service`'s runtime (embedded mode).
fn on_service_thread(service: &str) -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with(service))
}

/// The subscriber of a service binary: logs, and spans to `endpoint` when given.
pub fn init(service: &'static str, endpoint: Option<&str>, sample_ratio: f64) -> Tracing {
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(log_filter())
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_event()
        }));
    let (otel, tracing) = match endpoint.map(|e| provider(service, e, sample_ratio)) {
        Some(Ok(provider)) => {
            let layer = tracing_opentelemetry::layer()
                .with_tracer(provider.tracer(service))
                .with_filter(EnvFilter::new("services=info"));
            (
                Some(layer),
                Tracing {
                    providers: vec![provider],
                },
            )
        }
        Some(Err(e)) => {
            eprintln!("{service}: spans are not exported: {e}");
            (None, Tracing::default())
        }
        None => (None, Tracing::default()),
    };
    crate::telemetry::set_exporting(tracing.exporting());
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(otel)
        .try_init();
    tracing
}

/// The subscriber of a process embedding the three services (the load generator,
/// the tests): logs filtered by `log_filter`, and each service's spans to
/// `endpoint` under its own name, told apart by the runtime thread that made them.
pub fn init_embedded(log_filter: EnvFilter, endpoint: Option<&str>, sample_ratio: f64) -> Tracing {
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(log_filter)
        .with_filter(tracing_subscriber::filter::filter_fn(|meta| {
            meta.is_event()
        }));
    let mut providers = Vec::new();
    let mut layers = Vec::new();
    if let Some(endpoint) = endpoint {
        for service in SERVICES {
            match provider(service, endpoint, sample_ratio) {
                Ok(provider) => {
                    let layer = tracing_opentelemetry::layer()
                        .with_tracer(provider.tracer(service))
                        .with_filter(tracing_subscriber::filter::filter_fn(move |meta| {
                            meta.target().starts_with("services") && on_service_thread(service)
                        }))
                        .boxed();
                    layers.push(layer);
                    providers.push(provider);
                }
                Err(e) => eprintln!("spans of {service} are not exported: {e}"),
            }
        }
    }
    crate::telemetry::set_exporting(!providers.is_empty());
    let _ = tracing_subscriber::registry()
        .with(fmt)
        .with(layers)
        .try_init();
    Tracing { providers }
}

/// Logging only, for a service binary without an exporter.
pub fn init_logging() {
    let _ = init(crate::gateway::SERVICE, None, 1.0);
}
