//! Starting, serving and stopping one service: its HTTP port and its metrics port,
//! on the caller's runtime or on a runtime of its own.
//!
//! A service on its own runtime ([`RuntimeMode::Isolated`]) reports the CPU time of
//! that runtime's threads as its `process_cpu_seconds_total`; this is how the load
//! generator embeds the services without charging its own work to them.
//!
//! Shutdown is graceful: the listeners stop accepting, requests in flight finish,
//! then the service's background work (the planning engine's consumer) drains.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::Listen;
use crate::process::{CpuScope, ThreadSet};

/// Where a service's tasks run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeMode {
    /// On the caller's runtime; process metrics cover the whole process.
    Current,
    /// On a new runtime with this many worker threads; CPU metrics cover its threads.
    Isolated {
        /// Worker threads of the runtime.
        workers: usize,
    },
}

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{service}: cannot listen on {addr}: {source} (choose another port with {port_var})")]
    /// A port cannot be bound.
    Bind {
        /// The service.
        service: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The variable that sets the port.
        port_var: &'static str,
        /// Why.
        source: std::io::Error,
    },
    #[error("{service}: {message}")]
    /// The service could not start.
    Start {
        /// The service.
        service: &'static str,
        /// Why.
        message: String,
    },
    #[error("{service}: {message}")]
    /// The service stopped with an error.
    Serve {
        /// The service.
        service: &'static str,
        /// Why.
        message: String,
    },
}

/// What a service's builder hands back: its two routers and the background work
/// to wait for at shutdown.
pub struct Built {
    /// The API.
    pub app: Router,
    /// `/metrics` and `/health` on the metrics port.
    pub metrics: Router,
    /// Finishes after shutdown is requested, once background work has drained.
    pub drain: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// Given to a service's builder.
#[derive(Clone)]
pub struct Context {
    /// Whose CPU the service's metrics count.
    pub cpu_scope: CpuScope,
    /// Cancelled when the service must stop.
    pub shutdown: CancellationToken,
}

/// A running service.
pub struct ServiceHandle {
    /// Its name.
    pub name: &'static str,
    /// Where its API listens.
    pub http_addr: SocketAddr,
    /// Where its metrics listen.
    pub metrics_addr: SocketAddr,
    shutdown: CancellationToken,
    done: Option<JoinHandle<Result<(), ServiceError>>>,
    runtime: Option<tokio::runtime::Runtime>,
    cpu_scope: CpuScope,
}

impl ServiceHandle {
    /// CPU seconds its runtime's threads used, when it has a runtime of its own
    /// (`None` when it shares the caller's).
    pub fn cpu_seconds(&self) -> Option<f64> {
        match &self.cpu_scope {
            CpuScope::Threads(set) => Some(set.cpu_seconds()),
            CpuScope::Process => None,
        }
    }

    /// Whose CPU time it reports.
    pub fn cpu_scope(&self) -> CpuScope {
        self.cpu_scope.clone()
    }

    /// `http://ADDR` of the HTTP API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// `http://ADDR/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_addr)
    }

    /// URL of `/admin/faults`, on the metrics port.
    pub fn admin_url(&self) -> String {
        format!("http://{}{}", self.metrics_addr, api::paths::ADMIN_FAULTS)
    }

    /// A token that stops the service when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops gracefully and waits until everything in flight has finished.
    pub async fn shutdown(mut self) -> Result<(), ServiceError> {
        self.shutdown.cancel();
        self.wait_inner().await
    }

    /// Waits until the service stops (after its token is cancelled).
    pub async fn wait(mut self) -> Result<(), ServiceError> {
        self.wait_inner().await
    }

    async fn wait_inner(&mut self) -> Result<(), ServiceError> {
        let result = match self.done.take() {
            Some(done) => done.await.unwrap_or_else(|e| {
                Err(ServiceError::Serve {
                    service: self.name,
                    message: format!("service task ended abnormally: {e}"),
                })
            }),
            None => Ok(()),
        };
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        result
    }
}

impl Drop for ServiceHandle {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn bind(
    service: &'static str,
    addr: SocketAddr,
    port_var: &'static str,
) -> Result<std::net::TcpListener, ServiceError> {
    let listener = std::net::TcpListener::bind(addr).map_err(|source| ServiceError::Bind {
        service,
        addr,
        port_var,
        source,
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServiceError::Bind {
            service,
            addr,
            port_var,
            source,
        })?;
    Ok(listener)
}

/// The runtime a service runs on (`None`: the caller's) and the scope of its CPU metric.
fn runtime_for(
    name: &'static str,
    mode: RuntimeMode,
) -> Result<(Option<tokio::runtime::Runtime>, CpuScope), ServiceError> {
    match mode {
        RuntimeMode::Current => Ok((None, CpuScope::Process)),
        RuntimeMode::Isolated { workers } => {
            let threads = Arc::new(ThreadSet::default());
            let (on_start, on_stop) = (threads.clone(), threads.clone());
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers.max(1))
                .thread_name(name)
                .on_thread_start(move || on_start.register_current())
                .on_thread_stop(move || on_stop.unregister_current())
                .enable_all()
                .build()
                .map_err(|e| ServiceError::Start {
                    service: name,
                    message: format!("cannot start a runtime: {e}"),
                })?;
            Ok((Some(runtime), CpuScope::Threads(threads)))
        }
    }
}

/// Builds the service, says it is ready, and serves both ports until `token` is
/// cancelled and its background work has drained.
async fn serve<F, Fut>(
    name: &'static str,
    listeners: (std::net::TcpListener, std::net::TcpListener),
    limits: crate::connections::ConnectionLimits,
    build: F,
    context: Context,
    ready: oneshot::Sender<Result<(), ServiceError>>,
) -> Result<(), ServiceError>
where
    F: FnOnce(Context) -> Fut,
    Fut: Future<Output = Result<Built, ServiceError>>,
{
    let serve_error = |message: String| ServiceError::Serve {
        service: name,
        message,
    };
    let token = context.shutdown.clone();
    let built = match build(context).await {
        Ok(b) => b,
        Err(e) => {
            let message = e.to_string();
            let _ = ready.send(Err(e));
            return Err(serve_error(message));
        }
    };
    let (http, metrics) = match tokio::net::TcpListener::from_std(listeners.0)
        .and_then(|h| tokio::net::TcpListener::from_std(listeners.1).map(|m| (h, m)))
    {
        Ok(l) => l,
        Err(e) => {
            let _ = ready.send(Err(serve_error(format!("cannot register listeners: {e}"))));
            return Err(serve_error(e.to_string()));
        }
    };
    let _ = ready.send(Ok(()));
    let app = crate::connections::serve(http, built.app, limits, token.clone());
    let metrics = crate::connections::serve(metrics, built.metrics, limits, token.clone());
    let drain = async {
        if let Some(drain) = built.drain {
            drain.await;
        }
    };
    tokio::join!(app, metrics, drain);
    Ok(())
}

/// Binds both ports, builds the service and serves it until shutdown.
pub async fn launch<F, Fut>(
    name: &'static str,
    listen: Listen,
    port_vars: (&'static str, &'static str),
    mode: RuntimeMode,
    build: F,
) -> Result<ServiceHandle, ServiceError>
where
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Built, ServiceError>> + Send + 'static,
{
    let http = bind(name, listen.http, port_vars.0)?;
    let metrics = bind(name, listen.metrics, port_vars.1)?;
    let address = |l: &std::net::TcpListener| {
        l.local_addr().map_err(|e| ServiceError::Start {
            service: name,
            message: format!("no local address: {e}"),
        })
    };
    let (http_addr, metrics_addr) = (address(&http)?, address(&metrics)?);
    let shutdown = CancellationToken::new();
    let (runtime, cpu_scope) = runtime_for(name, mode)?;
    let spawner = match &runtime {
        Some(rt) => rt.handle().clone(),
        None => tokio::runtime::Handle::current(),
    };
    let context = Context {
        cpu_scope: cpu_scope.clone(),
        shutdown: shutdown.clone(),
    };
    let (ready_tx, ready_rx) = oneshot::channel::<Result<(), ServiceError>>();
    let done = spawner.spawn(serve(
        name,
        (http, metrics),
        listen.limits,
        build,
        context,
        ready_tx,
    ));
    let failed = |runtime: Option<tokio::runtime::Runtime>, e: ServiceError| {
        if let Some(rt) = runtime {
            rt.shutdown_background();
        }
        Err(e)
    };
    match ready_rx.await {
        Ok(Ok(())) => Ok(ServiceHandle {
            name,
            http_addr,
            metrics_addr,
            shutdown,
            done: Some(done),
            runtime,
            cpu_scope,
        }),
        Ok(Err(e)) => failed(runtime, e),
        Err(_) => failed(
            runtime,
            ServiceError::Start {
                service: name,
                message: "the service stopped while starting".to_string(),
            },
        ),
    }
}
