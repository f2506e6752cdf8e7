//! Leaving the load balancer without failing a request. On SIGTERM or SIGINT the server keeps
//! its listener open for `server.drain_seconds` while `/ready` answers 503 and every response
//! carries `Connection: close`, so the balancer stops reusing its connections to this process
//! and opens new ones elsewhere; only then does the listener close and in-flight requests drain
//! (`server.shutdown_timeout_seconds`). Closing the listener at once instead left the balancer
//! writing requests on kept-alive connections that were closing under them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::ResponseError as _;
use actix_web::body::BoxBody;
use actix_web::dev::{ServerHandle, ServiceRequest, ServiceResponse};
use actix_web::http::ConnectionType;

use crate::errors::ApiError;

/// Whether the process is on its way out, in app data.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// Whether SIGTERM (or SIGINT) was received.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn start(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// While draining: `/ready` is 503 and every response closes its connection. `inner` serves the
/// request otherwise; called by the request edge.
///
/// # Errors
/// Those of `inner`.
pub async fn drain<F, Fut>(req: ServiceRequest, inner: F) -> Result<ServiceResponse<BoxBody>, actix_web::Error>
where
    F: FnOnce(ServiceRequest) -> Fut,
    Fut: Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>>,
{
    let draining = req.app_data::<Draining>().is_some_and(Draining::is_draining);
    if !draining {
        return inner(req).await;
    }
    let mut res = if req.path() == "/ready" {
        req.into_response(ApiError::unavailable().error_response())
    } else {
        inner(req).await?
    };
    res.response_mut().head_mut().set_connection_type(ConnectionType::Close);
    Ok(res)
}

/// Waits for SIGTERM or SIGINT, drains for `period`, then stops the server gracefully.
pub async fn stop_on_signal(handle: ServerHandle, draining: Draining, period: Duration) {
    wait_for_signal().await;
    tracing::info!(drain_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX), "stopping: draining");
    draining.start();
    tokio::time::sleep(period).await;
    handle.stop(true).await;
}

#[cfg(unix)]
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            tracing::warn!("cannot listen for SIGTERM; stopping on Ctrl-C only");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
