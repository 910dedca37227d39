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
    Isolated { workers: usize },
}

/// Why a service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{service}: cannot listen on {addr}: {source} (choose another port with {port_var})")]
    Bind {
        service: &'static str,
        addr: SocketAddr,
        port_var: &'static str,
        source: std::io::Error,
    },
    #[error("{service}: {message}")]
    Start {
        service: &'static str,
        message: String,
    },
    #[error("{service}: {message}")]
    Serve {
        service: &'static str,
        message: String,
    },
}

/// What a service's builder hands back: its two routers and the background work
/// to wait for at shutdown.
pub struct Built {
    pub app: Router,
    pub metrics: Router,
    /// Finishes after shutdown is requested, once background work has drained.
    pub drain: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

/// Given to a service's builder.
#[derive(Clone)]
pub struct Context {
    pub cpu_scope: CpuScope,
    pub shutdown: CancellationToken,
}

/// A running service.
pub struct ServiceHandle {
    pub name: &'static str,
    pub http_addr: SocketAddr,
    pub metrics_addr: SocketAddr,
    shutdown: CancellationToken,
    done: Option<JoinHandle<Result<(), ServiceError>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ServiceHandle {
    /// `http://ADDR` of the HTTP API.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.http_addr)
    }

    /// `http://ADDR/metrics`.
    pub fn metrics_url(&self) -> String {
        format!("http://{}/metrics", self.metrics_addr)
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
    let http_addr = http.local_addr().expect("bound socket has an address");
    let metrics_addr = metrics.local_addr().expect("bound socket has an address");
    let shutdown = CancellationToken::new();

    let (runtime, cpu_scope) = match mode {
        RuntimeMode::Current => (None, CpuScope::Process),
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
            (Some(runtime), CpuScope::Threads(threads))
        }
    };
    let spawner = match &runtime {
        Some(rt) => rt.handle().clone(),
        None => tokio::runtime::Handle::current(),
    };

    let context = Context {
        cpu_scope,
        shutdown: shutdown.clone(),
    };
    let (ready_tx, ready_rx) = oneshot::channel::<Result<(), ServiceError>>();
    let token = shutdown.clone();
    let done = spawner.spawn(async move {
        let serve_error = |message: String| ServiceError::Serve {
            service: name,
            message,
        };
        let built = match build(context).await {
            Ok(b) => b,
            Err(e) => {
                let message = e.to_string();
                let _ = ready_tx.send(Err(e));
                return Err(serve_error(message));
            }
        };
        let listeners = tokio::net::TcpListener::from_std(http)
            .and_then(|h| tokio::net::TcpListener::from_std(metrics).map(|m| (h, m)));
        let (http, metrics) = match listeners {
            Ok(l) => l,
            Err(e) => {
                let _ = ready_tx.send(Err(serve_error(format!("cannot register listeners: {e}"))));
                return Err(serve_error(e.to_string()));
            }
        };
        let _ = ready_tx.send(Ok(()));
        let app = axum::serve(
            http,
            built
                .app
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(token.clone().cancelled_owned());
        let metrics = axum::serve(metrics, built.metrics)
            .with_graceful_shutdown(token.clone().cancelled_owned());
        let drain = async {
            if let Some(drain) = built.drain {
                drain.await;
            }
        };
        let (app, metrics, ()) = tokio::join!(app, metrics, drain);
        app.and(metrics).map_err(|e| serve_error(e.to_string()))
    });

    match ready_rx.await {
        Ok(Ok(())) => Ok(ServiceHandle {
            name,
            http_addr,
            metrics_addr,
            shutdown,
            done: Some(done),
            runtime,
        }),
        Ok(Err(e)) => {
            if let Some(rt) = runtime {
                rt.shutdown_background();
            }
            Err(e)
        }
        Err(_) => {
            if let Some(rt) = runtime {
                rt.shutdown_background();
            }
            Err(ServiceError::Start {
                service: name,
                message: "the service stopped while starting".to_string(),
            })
        }
    }
}
