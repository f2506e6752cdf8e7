//! HTTP routes, one module per surface; each converts wire bodies to domain requests in one
//! place and maps errors with [`crate::errors::ApiError`].

pub mod manager;
pub mod ops;
pub mod orders;
pub mod products;

use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    products::configure(cfg);
    orders::configure(cfg);
    manager::configure(cfg);
    ops::configure(cfg);
}
