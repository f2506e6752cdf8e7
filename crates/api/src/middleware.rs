//! The request edge: one middleware around every route that gives each request an id, trims
//! trailing slashes, answers `HEAD` like `GET`, turns panics into 500s, wraps framework-made errors in the envelope and
//! writes one access-log line.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use futures_util::FutureExt;
use tracing::Instrument;

use domain::audit::AuditRecord;

use crate::errors::ApiError;
use crate::extract::{BodyLimit, declared_length, is_json, read_body};
use crate::state::AppState;

/// `X-Request-Id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served, in request extensions.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn caller_request_id(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(&REQUEST_ID)?.to_str().ok()?;
    let usable = !value.is_empty() && value.len() <= 200 && value.bytes().all(|b| b.is_ascii_graphic());
    usable.then(|| value.to_owned())
}

/// The method the client sent, in request extensions: routing sees `HEAD` as `GET`.
#[derive(Debug, Clone)]
pub struct ClientMethod(pub Method);

/// `HEAD` gets what `GET` would, headers included. The route runs as `GET`; the HTTP layer read
/// the request as `HEAD` and so leaves the body out of the response.
fn serve_head_as_get(req: &mut ServiceRequest) {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
}

/// `/products/` is `/products`: rewritten in place, never redirected. Swagger UI's own asset
/// paths under `/docs/` are left alone.
fn trim_trailing_slash(req: &mut ServiceRequest) {
    let path = req.path();
    if path.len() <= 1 || !path.ends_with('/') || path.starts_with("/docs/") {
        return;
    }
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    let rewritten = match req.query_string() {
        "" => trimmed.to_owned(),
        query => format!("{trimmed}?{query}"),
    };
    if let Ok(uri) = rewritten.parse::<Uri>() {
        req.match_info_mut().get_mut().update(&uri);
        req.head_mut().uri = uri;
    }
}

fn is_enveloped<B>(res: &ServiceResponse<B>) -> bool {
    res.headers().get(CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"))
}

/// The edge middleware; see the module documentation.
///
/// # Errors
/// Never: every failure becomes a response.
pub async fn edge(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let _in_flight = crate::metrics::in_flight();
    let request_id = caller_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(request_id.clone()));
    trim_trailing_slash(&mut req);
    let method = req.method().clone();
    req.extensions_mut().insert(ClientMethod(method.clone()));
    serve_head_as_get(&mut req);
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.path());

    // No clone of the request may live across the call: routing needs it unshared. So failures
    // that leave no response behind go back as errors, which actix renders with the envelope.
    let outcome = AssertUnwindSafe(async move { next.call(req).await }).catch_unwind().instrument(span.clone()).await;
    let failed = |err: ApiError| {
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(parent: &span, status = err.status_code().as_u16(), duration_ms, "request served");
        Err(err.with_request_id(request_id.clone()).into())
    };
    let mut res = match outcome {
        Ok(Ok(res)) => res.map_into_boxed_body(),
        Ok(Err(err)) => return failed(ApiError::for_status(err.as_response_error().status_code())),
        Err(_) => {
            tracing::error!(parent: &span, "handler panicked");
            return failed(ApiError::internal());
        }
    };
    let status = res.status();
    if (status.is_client_error() || status.is_server_error()) && !is_enveloped(&res) {
        let headers = res.headers().clone();
        res = res.into_response(ApiError::for_status(status).error_response());
        for name in [actix_web::http::header::ALLOW, actix_web::http::header::RETRY_AFTER] {
            if let Some(value) = headers.get(&name) {
                res.headers_mut().insert(name, value.clone());
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
    crate::metrics::record_request(method.as_str(), &route, status.as_u16(), started.elapsed().as_secs_f64());
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    tracing::info!(parent: &span, status = status.as_u16(), duration_ms, "request served");
    Ok(res)
}

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
        let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string()).unwrap_or_default();
        return Ok(named(crate::extract::query_value(&pairs, "manager_id")));
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
