//! What every handler can reach, built once by the composition root.

use std::sync::Arc;

use adapters::cache::CacheControl;
use adapters::postgres::ChangeListener;
use domain::ports::{AuditLog, HealthCheck, OrderRepository, ProductRepository};
use domain::services::{Catalogue, Ordering, RateLimiting};

/// Use-cases and checks, wired to one storage adapter.
#[derive(Clone)]
pub struct AppState {
    /// Product use-cases.
    pub catalogue: Catalogue,
    /// Order use-cases.
    pub ordering: Ordering,
    /// Storage reachability.
    pub health: Arc<dyn HealthCheck>,
    /// The manager surface's rate limit.
    pub rate_limiting: RateLimiting,
    /// Where audit records go.
    pub audit: Arc<dyn AuditLog>,
    /// The product cache, when enabled.
    pub cache: Option<CacheControl>,
    /// Keeps the cross-process cache invalidation running as long as the state lives.
    pub listener: Option<Arc<ChangeListener>>,
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
        Self {
            catalogue: Catalogue::new(products),
            ordering: Ordering::new(orders),
            health,
            rate_limiting,
            audit,
            cache: None,
            listener: None,
        }
    }
}
