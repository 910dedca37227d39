//! The peer of the gateway benchmark: the smallest axum server answering
//! `GET /api/health` with a JSON body of the same shape, on the port given as the
//! first argument (loopback only).

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let app = Router::new().route(
        "/api/health",
        get(|| async { axum::Json(serde_json::json!({ "status": "ok", "service": "hello" })) }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("port is free");
    axum::serve(listener, app).await.expect("server runs");
}
