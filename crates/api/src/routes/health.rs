//! Liveness and readiness.

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::not_allowed;
use crate::errors::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health)).default_service(not_allowed("GET, HEAD")))
        .service(web::resource("/ready").route(web::get().to(ready)).default_service(not_allowed("GET, HEAD")));
}

/// The process is alive.
#[utoipa::path(get, path = "/health", tag = "operations", responses((status = 200, description = "Alive", body = Object, example = json!({"status": "ok"}))))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The storage answers.
#[utoipa::path(
    get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "Storage reachable", body = Object, example = json!({"status": "ready"})),
        (status = 503, description = "`SERVICE_UNAVAILABLE`: storage unreachable", body = ErrorBody),
    )
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.health.ping().await?;
    Ok(HttpResponse::Ok().json(json!({"status": "ready"})))
}
