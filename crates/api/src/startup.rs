//! The composition root: picks the storage adapter, wires the use-cases and starts the server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use adapters::cache::{CacheControl, CachedStore};
use adapters::memory::MemoryStore;
use adapters::postgres::{AnnouncedOrders, ChangeAnnouncer, ChangeEvent, ChangeListener, PgStore, run_migrations};
use anyhow::Context;
use domain::limits::RateLimit;
use domain::ports::{AuditLog, HealthCheck, OrderRepository, ProductRepository, RateCounter};
use domain::services::RateLimiting;

use crate::config::{Backend, Settings};
use crate::deadline::RequestDeadline;
use crate::drain::Draining;
use crate::extract::BodyLimit;
use crate::middleware::edge;
use crate::routes;
use crate::state::AppState;

/// Extra routes mounted next to the real ones (tests use it for a panicking route).
pub type ExtraRoutes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

/// What the composition root builds from the settings before it binds: the handlers' state,
/// and the helpers that keep that state coherent for as long as the application runs.
pub struct Components {
    /// What every handler can reach.
    pub state: AppState,
    /// Hears other processes' catalogue changes and keeps the product cache coherent (PostgreSQL
    /// with the cache on).
    listener: Option<ChangeListener>,
    /// Tells the other processes which products' stock this one's orders changed (PostgreSQL,
    /// cache on or off: the other processes may cache).
    announcer: Option<Arc<ChangeAnnouncer>>,
}

impl std::fmt::Debug for Components {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Components")
            .field("listening", &self.listener.is_some())
            .field("announcing", &self.announcer.is_some())
            .finish_non_exhaustive()
    }
}

/// Builds the components for the configured backend; with PostgreSQL, applies pending
/// migrations and starts listening for other processes' catalogue changes.
///
/// # Errors
/// When the migrations cannot be applied or the pool cannot be configured.
pub async fn build_components(settings: &Settings) -> anyhow::Result<Components> {
    let limit = RateLimit::new(settings.rate_limit.requests, settings.rate_limit.window_seconds)
        .map_err(|e| anyhow::anyhow!("rate_limit: {e}"))?;
    let ttl = Duration::from_secs(settings.cache.ttl_seconds);
    Ok(match settings.storage.backend {
        Backend::Memory => {
            let store = Arc::new(MemoryStore::new());
            // One process owns the memory store: every write passes through the cache.
            let (state, _) = wire_state(store.clone(), store.clone(), store.clone(), store, limit, ttl, true);
            Components { state, listener: None, announcer: None }
        }
        Backend::Postgres => {
            run_migrations(&settings.database.url).await.context("applying database migrations")?;
            let store = PgStore::new(&settings.database.pool()).context("configuring the database pool")?;
            let announcer = Arc::new(ChangeAnnouncer::spawn(store.clone())?);
            let store = Arc::new(store);
            let orders = Arc::new(AnnouncedOrders::new(store.clone(), announcer.clone()));
            let (state, cache) = wire_state(store.clone(), orders, store.clone(), store, limit, ttl, false);
            let listener = cache.map(|cache| {
                let on_change = Arc::new(move |event: ChangeEvent| match event {
                    ChangeEvent::Changed => cache.invalidate(),
                    ChangeEvent::StockChanged(ids) => cache.invalidate_stock(&ids),
                    ChangeEvent::Disconnected => cache.set_synced(false),
                    ChangeEvent::Resynced => cache.set_synced(true),
                });
                ChangeListener::spawn_ignoring(&settings.database.url, announcer.origin(), on_change)
            });
            Components { state, listener, announcer: Some(announcer) }
        }
    })
}

/// Wires the use-cases to the ports, with product queries cached unless `ttl` is zero, and
/// returns the cache's control when there is one. `synced` says whether the cache hears every
/// write from the start.
fn wire_state<S>(
    products: Arc<dyn ProductRepository>,
    orders: Arc<dyn OrderRepository>,
    health: Arc<dyn HealthCheck>,
    ops: Arc<S>,
    limit: RateLimit,
    ttl: Duration,
    synced: bool,
) -> (AppState, Option<CacheControl>)
where
    S: RateCounter + AuditLog,
{
    let rate_limiting = RateLimiting::new(ops.clone(), limit);
    if ttl.is_zero() {
        return (AppState::new(products, orders, health, rate_limiting, ops), None);
    }
    let cached = Arc::new(CachedStore::new(products, orders, ttl, synced));
    let control = cached.control();
    (AppState::new(cached.clone(), cached, health, rate_limiting, ops), Some(control))
}

/// A bound, not yet running, server.
pub struct Application {
    port: u16,
    server: Server,
    /// Runs as long as the application does.
    _listener: Option<ChangeListener>,
    /// Flushed once the server has stopped.
    announcer: Option<Arc<ChangeAnnouncer>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("port", &self.port).finish_non_exhaustive()
    }
}

impl Application {
    /// Builds the components from `settings` and binds the address.
    ///
    /// # Errors
    /// When the components cannot be built or the address cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let components = build_components(&settings).await?;
        Self::bind(&settings, components, Arc::new(|_| {}))
    }

    /// Binds the address for already built components, with extra routes; serving starts with
    /// [`Application::run_until_stopped`].
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub fn bind(settings: &Settings, components: Components, extra: ExtraRoutes) -> anyhow::Result<Self> {
        let Components { state, listener, announcer } = components;
        let address = (settings.server.host.as_str(), settings.server.port);
        let tcp = TcpListener::bind(address)
            .with_context(|| format!("binding {}:{}", settings.server.host, settings.server.port))?;
        let port = tcp.local_addr()?.port();
        if crate::metrics::handle().is_none() {
            tracing::warn!("another metrics recorder is installed: /metrics will be empty");
        }
        let state = web::Data::new(state);
        let limit = BodyLimit(settings.server.max_body_bytes);
        let request_deadline = RequestDeadline(settings.server.request_deadline());
        let draining = Draining::default();
        let app_draining = draining.clone();
        let mut server = HttpServer::new(move || {
            let extra = extra.clone();
            App::new()
                .app_data(state.clone())
                .app_data(limit)
                .app_data(request_deadline)
                .app_data(app_draining.clone())
                .wrap(from_fn(edge))
                .configure(routes::configure)
                .configure(move |cfg| extra(cfg))
        })
        .on_connect(send_without_delay)
        .shutdown_timeout(settings.server.shutdown_timeout_seconds)
        // SIGTERM/SIGINT are handled by `drain::stop_on_signal`, which drains first.
        .disable_signals()
        .client_request_timeout(Duration::from_secs(10));
        if settings.server.workers > 0 {
            server = server.workers(settings.server.workers);
        }
        let server = server.listen(tcp)?.run();
        tokio::spawn(crate::drain::stop_on_signal(server.handle(), draining, settings.server.drain_period()));
        Ok(Self { port, server, _listener: listener, announcer })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests and announces the stock
    /// changes of the last orders.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(announcer) = self.announcer
            && let Err(err) = announcer.flush().await
        {
            tracing::warn!(error = format!("{err:#}"), "the stock changes of the last orders were not announced");
        }
        served
    }
}

/// Sets `TCP_NODELAY` on every accepted connection, so each write goes out at once. A body of
/// more than one write (`json::respond_with` hands large ones over in slices) otherwise ends
/// with a short segment that Nagle's algorithm holds until the client acknowledges the previous
/// one, and clients delay that acknowledgement by up to 40 ms: measured, the 74 KB inventory
/// took 44 ms at any load.
fn send_without_delay(connection: &dyn std::any::Any, _: &mut actix_web::dev::Extensions) {
    if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>()
        && let Err(error) = tcp.set_nodelay(true)
    {
        tracing::debug!(%error, "TCP_NODELAY not set on a connection");
    }
}
