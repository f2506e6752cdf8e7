//! The request edge: one middleware around every route that gives each request an id, trims
//! trailing slashes, answers `HEAD` like `GET`, drains ([`crate::drain`]), applies the request
//! deadline ([`crate::deadline`]), turns panics into 500s, wraps framework-made errors in the
//! envelope, counts the request in the metrics and writes one access-log line. One middleware
//! rather than one per concern: each layer costs the request boxed futures and a poll.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use actix_web::http::{Method, Uri};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError};
use futures_util::FutureExt;
use tracing::Instrument;

use crate::errors::ApiError;

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

/// The method the client sent, in request extensions when routing sees another: `HEAD` is
/// served as `GET`. Absent, it is the request's method.
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

/// A duration in whole microseconds, for the access log: an integer is cheaper to format than a
/// float and reads the same in every line.
fn whole_micros(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX)
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
    if method == Method::HEAD {
        req.extensions_mut().insert(ClientMethod(method.clone()));
    }
    serve_head_as_get(&mut req);
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.path());

    // No clone of the request may live across the call: routing needs it unshared. So failures
    // that leave no response behind go back as errors, which actix renders with the envelope.
    let served = crate::drain::drain(req, move |req| crate::deadline::deadline(req, next));
    let outcome = AssertUnwindSafe(served).catch_unwind().instrument(span.clone()).await;
    let failed = |err: ApiError| {
        let duration_us = whole_micros(started.elapsed());
        tracing::info!(parent: &span, status = err.status_code().as_u16(), duration_us, "request served");
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
    let elapsed = started.elapsed();
    crate::metrics::record_request(method.as_str(), &route, status.as_u16(), elapsed.as_secs_f64());
    let duration_us = whole_micros(elapsed);
    tracing::info!(parent: &span, status = status.as_u16(), duration_us, "request served");
    Ok(res)
}
