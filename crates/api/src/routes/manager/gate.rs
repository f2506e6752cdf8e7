//! The manager surface's gate, around every `/api` route: the per-manager rate limit and the
//! audit trail.

use std::time::Instant;

use actix_web::HttpMessage;
use actix_web::ResponseError;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use domain::audit::AuditRecord;

use crate::errors::ApiError;
use crate::extract::{BodyLimit, declared_length, is_json, query_pairs, query_value, read_body};
use crate::middleware::{ClientMethod, RequestId};
use crate::state::AppState;

/// The manager surface's gate, around every `/api` route: reads the request's `manager_id`
/// (query for GET, JSON body otherwise), applies the per-manager rate limit, adds the
/// `RateLimit-*` headers, and writes one audit record and one audit log line per request.
///
/// # Errors
/// Those of the inner service; a rate-limit or audit store failure never fails the request.
pub async fn manager_gate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let at = chrono::Utc::now();
    let started = Instant::now();
    let Some(state) = req.app_data::<actix_web::web::Data<AppState>>().cloned() else {
        return Ok(req.into_response(ApiError::internal().error_response()));
    };
    let limit = req.app_data::<BodyLimit>().map_or(1024 * 1024, |l| l.0);
    let method = req.extensions().get::<ClientMethod>().map_or_else(|| req.method().to_string(), |m| m.0.to_string());
    let path = req.path().to_owned();
    let request_id = req.extensions().get::<RequestId>().map(|id| id.0.clone()).unwrap_or_default();

    let manager = match manager_of(&mut req, limit).await {
        Ok(manager) => manager,
        Err(err) => {
            let mut res = req.into_response(err.error_response());
            rate_limit_headers(&mut res, &state, None, at);
            audit(&state, at, started, request_id, None, method, path, res.status().as_u16());
            return Ok(res);
        }
    };
    let decision = match &manager {
        Some(manager) => match state.rate_limiting.check(manager, at).await {
            Ok(decision) => Some(decision),
            Err(err) => {
                // Failing open: a request the store cannot count is still served (and will most
                // likely fail with 503 itself if the store is down).
                tracing::warn!(error = %err, "rate limit not checked");
                None
            }
        },
        None => None,
    };
    let mut res = match decision {
        Some(decision) if !decision.allowed => {
            let limit = state.rate_limiting.limit();
            let err = ApiError::new(
                actix_web::http::StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!("Rate limit of {} requests per window exceeded", decision.limit),
            )
            .detail("limit", decision.limit)
            .detail("window_seconds", limit.window().num_seconds())
            .detail("retry_after_seconds", decision.reset_seconds)
            .retry_after(u64::from(decision.reset_seconds));
            crate::metrics::rate_limited();
            req.into_response(err.error_response())
        }
        _ => next.call(req).await?.map_into_boxed_body(),
    };
    rate_limit_headers(&mut res, &state, decision, at);
    audit(&state, at, started, request_id, manager, method, path, res.status().as_u16());
    Ok(res)
}

/// `RateLimit-Limit`, `-Remaining` and `-Reset`; a request that named no manager was not
/// counted, so it shows the whole allowance.
fn rate_limit_headers(
    res: &mut ServiceResponse<BoxBody>,
    state: &AppState,
    decision: Option<domain::limits::RateDecision>,
    at: chrono::DateTime<chrono::Utc>,
) {
    let decision = decision.unwrap_or_else(|| {
        let uncounted = state.rate_limiting.limit().decide(0, at);
        domain::limits::RateDecision { remaining: uncounted.limit, ..uncounted }
    });
    for (name, value) in [
        ("ratelimit-limit", decision.limit),
        ("ratelimit-remaining", decision.remaining),
        ("ratelimit-reset", decision.reset_seconds),
    ] {
        res.headers_mut().insert(HeaderName::from_static(name), HeaderValue::from(value));
    }
}

/// The `manager_id` a request names, if any; the body is read and put back for the handler.
async fn manager_of(req: &mut ServiceRequest, limit: usize) -> Result<Option<String>, ApiError> {
    let named = |value: Option<&str>| value.map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    if req.method() == actix_web::http::Method::GET {
        // An undecodable query names no manager; the handler answers it with a 400.
        let pairs = query_pairs(req.query_string()).unwrap_or_default();
        return Ok(named(query_value(&pairs, "manager_id")));
    }
    if !is_json(req.headers()) {
        return Ok(None);
    }
    let declared = declared_length(req.headers());
    let mut payload = req.take_payload();
    let body = read_body(&mut payload, declared, limit).await?;
    let value: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    req.set_payload(actix_web::dev::Payload::from(body));
    Ok(named(value.as_ref().and_then(|v| v.get("manager_id")).and_then(serde_json::Value::as_str)))
}

#[allow(clippy::too_many_arguments)]
fn audit(
    state: &AppState,
    at: chrono::DateTime<chrono::Utc>,
    started: Instant,
    request_id: String,
    manager_id: Option<String>,
    method: String,
    path: String,
    status: u16,
) {
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(
        target: "audit",
        request_id = %request_id,
        manager_id = manager_id.as_deref().unwrap_or(""),
        method = %method,
        path = %path,
        status,
        duration_ms,
        "manager request"
    );
    let record = AuditRecord { at, request_id, manager_id, method, path, status, duration_ms };
    let log = state.audit.clone();
    // Recording must not hold up or fail the request it describes.
    tokio::spawn(async move {
        if let Err(err) = log.record(record).await {
            tracing::warn!(error = %err, "audit record not stored");
        }
    });
}
