//! What every handler can reach, built once by the composition root.

use std::sync::Arc;

use domain::ports::{AuditLog, HealthCheck, OrderRepository, ProductRepository};
use domain::services::{Catalogue, Orders, RateLimiting};

/// Use-cases and checks, wired to one storage adapter.
#[derive(Clone)]
pub struct AppState {
    /// Product use-cases.
    pub catalogue: Catalogue,
    /// Order use-cases.
    pub orders: Orders,
    /// Storage reachability.
    pub health: Arc<dyn HealthCheck>,
    /// The manager surface's rate limit.
    pub rate_limiting: RateLimiting,
    /// Where audit records go.
    pub audit: Arc<dyn AuditLog>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Wires the use-cases to the given ports.
    pub fn new(
        products: Arc<dyn ProductRepository>,
        orders: Arc<dyn OrderRepository>,
        health: Arc<dyn HealthCheck>,
        rate_limiting: RateLimiting,
        audit: Arc<dyn AuditLog>,
    ) -> Self {
        Self { catalogue: Catalogue::new(products), orders: Orders::new(orders), health, rate_limiting, audit }
    }
}
