//! The OpenAPI document (`/openapi.json`) and Swagger UI (`/docs`), both built from the code.

use actix_web::{HttpResponse, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use super::{health, manager, orders, products};
use crate::errors::{ErrorBody, ErrorDetail};

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
        health::health, health::ready, crate::metrics::render,
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
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_else(|_| "{}".to_owned())
}

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    // Swagger UI's page loads its assets relative to `/docs/`.
    cfg.route(
        "/docs",
        web::get().to(|| async { HttpResponse::Found().insert_header(("Location", "/docs/")).finish() }),
    )
    .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()));
}
