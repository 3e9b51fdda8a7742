//! The operations endpoint: `/healthz`, Prometheus `/metrics` and the
//! `/status` table as JSON (what `sentinel serve status` prints). It binds
//! where the operator says (loopback by default) and serves nothing else.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::watch;

use super::board::Board;
use crate::runtime::ConnectorHost;

#[derive(Clone)]
struct Ops {
    board: Arc<Board>,
    host: Arc<ConnectorHost>,
    stopping: watch::Receiver<bool>,
}

/// Serves the endpoint until `closed` turns true (`/healthz` answers 503
/// from when `stopping` does); returns the bound address (the port may
/// have been 0).
pub async fn start(
    addr: SocketAddr,
    board: Arc<Board>,
    host: Arc<ConnectorHost>,
    stopping: watch::Receiver<bool>,
    mut closed: watch::Receiver<bool>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), String> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} for /healthz and /metrics: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(Ops { board, host, stopping });
    let server = tokio::spawn(async move {
        let shutdown = async move {
            let _ = closed.wait_for(|closed| *closed).await;
        };
        let _ = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;
    });
    Ok((bound, server))
}

/// 200 while the service runs; 503 once it is stopping, so a load balancer
/// or an orchestrator stops counting on it.
async fn healthz(State(ops): State<Ops>) -> impl IntoResponse {
    if *ops.stopping.borrow() {
        (StatusCode::SERVICE_UNAVAILABLE, "stopping\n")
    } else {
        (StatusCode::OK, "ok\n")
    }
}

async fn metrics(State(ops): State<Ops>) -> impl IntoResponse {
    let text = ops.board.render_metrics(ops.host.live_sessions());
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
}

async fn status(State(ops): State<Ops>) -> impl IntoResponse {
    Json(ops.board.snapshot())
}
