//! The operational routes: liveness (`/health`), readiness (`/ready`), Prometheus metrics
//! (`/metrics`), and the OpenAPI document (`/openapi.json`) with Swagger UI (`/docs`), both
//! built from the code.

use actix_web::{HttpResponse, web};
use serde_json::json;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{manager, orders, products};
use crate::errors::{ApiError, ErrorBody, ErrorDetail, method_not_allowed};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/health").route(web::get().to(health)).default_service(method_not_allowed("GET, HEAD")))
        .service(web::resource("/ready").route(web::get().to(ready)).default_service(method_not_allowed("GET, HEAD")))
        .service(
            web::resource("/metrics").route(web::get().to(metrics)).default_service(method_not_allowed("GET, HEAD")),
        )
        // Swagger UI's page loads its assets relative to `/docs/`.
        .route(
            "/docs",
            web::get().to(|| async { HttpResponse::Found().insert_header(("Location", "/docs/")).finish() }),
        )
        .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
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

/// The metrics in Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
pub async fn metrics() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(crate::metrics::render())
}

/// The whole API, as OpenAPI 3.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "ecommerce-api",
        description = "Catalogue, inventory and orders of a store. Every error body is \
            `{\"error\": {\"code\", \"message\", \"details\"}}`; every response carries `X-Request-Id`.",
    ),
    paths(
        products::list_products, products::create_product, products::get_product, products::update_product,
        products::set_quantity, products::delete_product,
        orders::place_order, orders::list_orders, orders::get_order, orders::update_order,
        manager::load_inventory, manager::list_inventory, manager::discontinue, manager::process_order,
        health, ready, metrics,
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    tags(
        (name = "storefront", description = "Products and orders, integer ids"),
        (name = "manager", description = "A store manager's inventory and orders: string ids (`prod_001`, `ord_789`), \
            every request scoped by `manager_id`, rate limited per manager (`RateLimit-Limit`, `RateLimit-Remaining`, \
            `RateLimit-Reset` headers; 429 `RATE_LIMITED` with `Retry-After`) and audited"),
        (name = "operations", description = "Health, readiness and metrics"),
    )
)]
pub struct ApiDoc;

/// The OpenAPI document as pretty JSON.
///
/// # Errors
/// When the document cannot be serialised.
pub fn openapi_json() -> Result<String, serde_json::Error> {
    ApiDoc::openapi().to_pretty_json()
}
