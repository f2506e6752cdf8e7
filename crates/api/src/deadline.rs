//! The request deadline (`server.request_timeout`): no request runs longer, whatever the database
//! does (a commit waiting on a synchronous standby that is gone, a lock held elsewhere, a host
//! that stopped answering without closing its sockets). When it passes, the handler's future is
//! dropped and the client gets 503 `SERVICE_UNAVAILABLE` with `Retry-After`.
//!
//! Dropping the future is safe for the store: a pooled connection dropped inside a transaction
//! is closed instead of being pooled again (see the PostgreSQL adapter's `PooledConnection`), so
//! the server rolls back whatever had not committed.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use crate::errors::ApiError;

/// The longest a request may take, in app data.
#[derive(Debug, Clone, Copy)]
pub struct RequestDeadline(pub Duration);

/// Runs the rest of the chain under the configured deadline; called by the request edge.
///
/// # Errors
/// 503 when the deadline passes; otherwise those of the inner service.
pub async fn deadline(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let Some(RequestDeadline(limit)) = req.app_data::<RequestDeadline>().copied() else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let deadline = tokio::time::Instant::now() + limit;
    let path = req.path().to_owned();
    let mut served = std::pin::pin!(next.call(req));
    // A request that is answered on its first poll (most, on the memory store) needs no timer.
    if let Some(outcome) = futures_util::FutureExt::now_or_never(served.as_mut()) {
        return outcome.map(ServiceResponse::map_into_boxed_body);
    }
    match tokio::time::timeout_at(deadline, served).await {
        Ok(outcome) => outcome.map(ServiceResponse::map_into_boxed_body),
        Err(_) => {
            let timeout_ms = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
            tracing::warn!(path, timeout_ms, "request deadline passed; answering 503");
            metrics::counter!("request_deadline_passed_total").increment(1);
            Err(ApiError::unavailable().into())
        }
    }
}
