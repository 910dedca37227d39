//! The trivial endpoint of the benchmarks: the smallest axum server answering
//! `GET /api/health` with a small JSON body, on the port given as the first argument
//! (loopback only). `GET /count` answers how many health requests it served, so a
//! benchmark counts requests at the server, the same way for every tool.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::State;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let served = Arc::new(AtomicU64::new(0));
    let app =
        Router::new()
            .route(
                "/api/health",
                get(|State(n): State<Arc<AtomicU64>>| async move {
                    n.fetch_add(1, Ordering::Relaxed);
                    axum::Json(serde_json::json!({ "status": "ok", "service": "hello" }))
                }),
            )
            .route(
                "/count",
                get(|State(n): State<Arc<AtomicU64>>| async move {
                    n.load(Ordering::Relaxed).to_string()
                }),
            )
            .with_state(served);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("port is free");
    axum::serve(listener, app).await.expect("server runs");
}
