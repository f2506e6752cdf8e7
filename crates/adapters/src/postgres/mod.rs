//! PostgreSQL adapter: every port over one deadpool pool of diesel-async connections, a
//! [`ChangeListener`] on a session of its own (a `LISTEN`ing session cannot go back to a pool),
//! and a [`ChangeAnnouncer`] that tells the other processes which products' stock this one's
//! orders changed.
//!
//! Repository functions take `&mut AsyncPgConnection` so one use-case can run several inside one
//! transaction; the port implementations check a connection out, run them, and give it back
//! before asking for another. Statement time is bounded by the session's `statement_timeout`,
//! never by wrapping a transaction in a timeout.

mod announcer;
mod audit;
pub(crate) mod connect;
mod error;
mod limits;
mod listener;
mod migrations;
mod models;
mod orders;
mod products;
mod schema;
mod sql;
mod store;

use async_trait::async_trait;
use domain::Error;
use domain::ports::HealthCheck;

pub use announcer::{AnnouncedOrders, ChangeAnnouncer, Origin};
pub use listener::{ChangeEvent, ChangeListener, OnChange};
pub use migrations::run_migrations;
pub use store::{PgStore, PoolSettings, redact_password};

#[async_trait]
impl HealthCheck for PgStore {
    #[tracing::instrument(name = "pg.ping", skip_all)]
    async fn ping(&self) -> Result<(), Error> {
        PgStore::ping(self).await
    }
}
