//! The connection pool behind every PostgreSQL port.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use diesel::ConnectionError;
use diesel::IntoSql as _;
use diesel::sql_types::Integer;
use diesel_async::pooled_connection::deadpool::{Hook, Object, Pool};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, PoolableConnection, RecyclingMethod,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _, SimpleAsyncConnection as _};
use domain::Error;

use super::connect::Target;
use super::error::{QueryResultExt as _, connections_suspect, pool_error, setup_error};

/// Name every session reports in `pg_stat_activity`.
const APPLICATION_NAME: &str = "ecommerce-api";

/// How often, in milliseconds, the server checks that the client of a running statement is still
/// connected.
const CLIENT_CHECK_MS: u32 = 100;

/// How to reach PostgreSQL and how patiently.
#[derive(Clone)]
pub struct PoolSettings {
    /// `postgres://user:password@host:port/database`, with libpq's `sslmode` and `sslrootcert`
    /// among its parameters if need be.
    pub url: String,
    /// Most connections open at once.
    pub pool_size: usize,
    /// Longest wait for a free connection before answering "unavailable".
    pub wait_timeout: Duration,
    /// Longest wait for a new connection to open (and for a pooled one to be checked).
    pub connect_timeout: Duration,
    /// Longest run of one statement, waiting for locks included; PostgreSQL cancels it after that
    /// and the port answers "unavailable". Zero means no limit.
    pub statement_timeout: Duration,
}

impl fmt::Debug for PoolSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolSettings")
            .field("url", &redact_password(&self.url))
            .field("pool_size", &self.pool_size)
            .field("wait_timeout", &self.wait_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .finish()
    }
}

/// The URL with its password, if any, replaced, so settings can be logged: the password of the
/// authority (`user:secret@host`) and any `password=` parameter of the query string.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => match authority[..at].split_once(':') {
            Some((user, _)) => format!("{user}:***{}", &authority[at..]),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The PostgreSQL store: implements every port over one pool. Cloning shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool<AsyncPgConnection>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.pool.status();
        f.debug_struct("PgStore")
            .field("max_size", &status.max_size)
            .field("size", &status.size)
            .field("available", &status.available)
            .finish()
    }
}

impl PgStore {
    /// Builds the pool without connecting: connections open on first use, so the process starts
    /// (and answers "unavailable") while the database is down, and recovers once it is back.
    ///
    /// # Errors
    /// When the settings cannot make a pool: a pool size of zero, a URL that does not parse, or
    /// TLS settings that cannot be honoured (an `sslrootcert` that cannot be read).
    pub fn new(settings: &PoolSettings) -> anyhow::Result<PgStore> {
        anyhow::ensure!(settings.pool_size > 0, "the database pool size must be at least 1");
        let target = Target::parse(&settings.url)?;
        // `client_connection_check_interval` (PostgreSQL 14 and later; older servers skip it)
        // makes the server poll the socket while a statement runs or waits for a lock, so a
        // statement whose connection the service closed (see `PooledConnection`) stops instead of
        // committing behind the client's back.
        let session_setup = format!(
            "SET statement_timeout = {}; SET application_name = '{APPLICATION_NAME}'; \
             SELECT set_config('client_connection_check_interval', '{CLIENT_CHECK_MS}', false) \
             WHERE current_setting('server_version_num')::integer >= 140000",
            settings.statement_timeout.as_millis()
        );
        // No test query on checkout: a connection the server closed is already known to be
        // closed (and discarded) when recycled, and one closing in the instant between costs one
        // "unavailable" answer instead of an extra round trip on every request. Only for a while
        // after a server said it is read-only, shutting down or cancelling (which an open
        // connection survives) is each connection checked before it is reused.
        let mut manager_config = ManagerConfig::default();
        manager_config.recycling_method = RecyclingMethod::CustomFunction(Box::new(|conn: &mut AsyncPgConnection| {
            Box::pin(async move {
                if !connections_suspect() {
                    return Ok(());
                }
                let writable: bool = diesel::dsl::sql::<diesel::sql_types::Bool>(
                    "NOT pg_is_in_recovery() AND current_setting('transaction_read_only') = 'off'",
                )
                .get_result(conn)
                .await?;
                if writable { Ok(()) } else { Err(diesel::result::Error::NotFound) }
            })
        }));
        // Every pooled session opens with the URL's TLS settings, which diesel-async's own
        // `establish` would ignore. Each connection is driven by a task of the runtime that
        // builds the store (the main one), not of the HTTP worker that happened to open it: a
        // worker's runtime stops with the worker at shutdown and took with it connections that
        // other workers were still using, failing their in-flight requests with "connection
        // closed" (the one failed request of each rolling restart).
        let runtime = tokio::runtime::Handle::try_current().ok();
        manager_config.custom_setup = Box::new(move |_url| {
            let target = target.clone();
            let runtime = runtime.clone();
            Box::pin(async move {
                match runtime {
                    Some(runtime) => runtime
                        .spawn(async move { target.establish().await })
                        .await
                        .map_err(|err| ConnectionError::BadConnection(format!("opening a connection: {err}")))?,
                    None => target.establish().await,
                }
            })
        });
        let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(&settings.url, manager_config);
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(deadpool::Runtime::Tokio1)
            .wait_timeout(Some(settings.wait_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .post_create(Hook::async_fn(move |conn: &mut AsyncPgConnection, _| {
                let setup = session_setup.clone();
                Box::pin(async move { conn.batch_execute(&setup).await.map_err(setup_error) })
            }))
            .build()
            .context("building the database connection pool")?;
        Ok(PgStore { pool })
    }

    /// A connection of the pool. Callers hold at most one at a time.
    pub(crate) async fn connection(&self) -> Result<PooledConnection, Error> {
        self.pool
            .get()
            .await
            .map(|conn| PooledConnection { conn: Some(conn), autocommit_running: false })
            .map_err(pool_error)
    }

    /// Checks that a connection can be had and answers.
    pub(crate) async fn ping(&self) -> Result<(), Error> {
        let mut conn = self.connection().await?;
        diesel::select(1.into_sql::<Integer>())
            .get_result::<i32>(&mut **conn)
            .await
            .or_storage("pinging the database")?;
        Ok(())
    }
}

/// A pooled connection that leaves the pool, closed, instead of going back to it when it is
/// dropped in a state nobody may reuse: a transaction still open or a transaction statement cut
/// short, which is what remains when a request deadline drops the future that was using it, or a
/// statement that commits on its own ([`Self::autocommit`]) still running. Closing it at once
/// (rather than when the pool next recycles it) ends the server's transaction and releases its
/// row locks now, instead of leaving them to block other processes' orders, and stops a running
/// statement within `client_connection_check_interval`.
pub(crate) struct PooledConnection {
    conn: Option<Object<AsyncPgConnection>>,
    autocommit_running: bool,
}

impl PooledConnection {
    /// Runs `work`, which sends statements that commit on their own, and closes the connection
    /// instead of pooling it if the future is dropped before `work` finishes: the server then
    /// stops the statement rather than committing it after the client gave up (an order cut by
    /// the request deadline must not be placed).
    pub(crate) async fn autocommit<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut AsyncPgConnection) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.autocommit_running = true;
        let outcome = work(&mut **self).await;
        self.autocommit_running = false;
        outcome
    }
}

impl std::ops::Deref for PooledConnection {
    type Target = Object<AsyncPgConnection>;

    fn deref(&self) -> &Self::Target {
        // Only `drop` takes the connection out.
        self.conn.as_ref().unwrap_or_else(|| unreachable!("a pooled connection is used after drop"))
    }
}

impl std::ops::DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("a pooled connection is used after drop"))
    }
}

impl Drop for PooledConnection {
    fn drop(&mut self) {
        if let Some(mut conn) = self.conn.take()
            && (self.autocommit_running || PoolableConnection::is_broken(&mut *conn))
        {
            tracing::debug!("closing a connection left in a transaction or a statement instead of pooling it");
            drop(Object::take(conn));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_logged_settings() {
        assert_eq!(redact_password("postgres://app:s3cret@db:5432/shop"), "postgres://app:***@db:5432/shop");
        assert_eq!(redact_password("postgres://postgres@localhost/postgres"), "postgres://postgres@localhost/postgres");
        assert_eq!(redact_password("postgres://localhost/x?user=a"), "postgres://localhost/x?user=a");
        assert_eq!(
            redact_password("postgres://localhost/x?user=a&password=s3cret&sslmode=disable"),
            "postgres://localhost/x?user=a&password=***&sslmode=disable"
        );
        assert_eq!(redact_password("postgres://app:s3cret@db?password=again"), "postgres://app:***@db?password=***");
    }
}
