//! The one place where storage failures become domain errors.
//!
//! Whatever cannot reach PostgreSQL in time is [`Error::Unavailable`] (the api answers 503 and
//! the caller may retry); everything else is [`Error::Unexpected`]. Messages carry context for the
//! log, never SQL: the api prints only a generic message for either.

use anyhow::anyhow;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError as ManagerError;
use diesel_async::pooled_connection::deadpool::PoolError;
use domain::Error;

/// Server messages of the SQLSTATEs that mean "not now" rather than "wrong", mid-session: 57014
/// (statement timeout, cancel) and 57P01-57P03 (shutdown, crash, starting up). diesel's error
/// information carries the server message but not the SQLSTATE, so the (default, English) message
/// is what is left to tell them apart. Connection-class failures (08*) and 3D000 (no such
/// database) arrive while connecting, which the pool reports (see [`pool_error`]), or as a lost
/// connection without any SQLSTATE, which diesel reports as `UnableToSendCommand`.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    "canceling statement due to statement timeout",
    "canceling statement due to user request",
    "terminating connection due to administrator command",
    "terminating connection because of crash of another server process",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
];

/// Maps a failed query; `doing` says what the adapter was doing, for the log.
pub(crate) fn query_error(err: DieselError, doing: &'static str) -> Error {
    if is_unavailable(&err) {
        Error::Unavailable(anyhow::Error::new(err).context(doing))
    } else {
        Error::Unexpected(anyhow::Error::new(err).context(doing))
    }
}

/// Maps a failure to check a connection out of the pool.
pub(crate) fn pool_error(err: PoolError) -> Error {
    match err {
        PoolError::NoRuntimeSpecified => Error::Unexpected(anyhow!("the connection pool has no async runtime")),
        // Timeouts, refused or failed connections, a closed pool and a failed session setup all
        // mean the database cannot serve this request now.
        other => Error::Unavailable(anyhow::Error::new(other).context("getting a database connection")),
    }
}

/// Whether a query failed because the server or the connection to it is not usable now.
fn is_unavailable(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand, _) => {
            true
        }
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            UNAVAILABLE_MESSAGES.iter().any(|known| message.starts_with(known))
                || message.starts_with("database \"") && message.ends_with("\" does not exist")
        }
        DieselError::BrokenTransactionManager => true,
        _ => false,
    }
}

/// What a pool hook returns when setting up a new session fails.
pub(crate) fn setup_error(err: DieselError) -> deadpool::managed::HookError<ManagerError> {
    deadpool::managed::HookError::Backend(ManagerError::QueryError(err))
}

/// The error type of the adapter's transactions: domain errors pass through, and diesel's own
/// (`BEGIN`/`COMMIT` failing) are mapped like any query's.
#[derive(Debug)]
pub(crate) struct TxError(pub(crate) Error);

impl From<Error> for TxError {
    fn from(err: Error) -> Self {
        Self(err)
    }
}

impl From<DieselError> for TxError {
    fn from(err: DieselError) -> Self {
        Self(query_error(err, "running a transaction"))
    }
}

/// `.or_storage("what was being done")` on diesel results.
pub(crate) trait QueryResultExt<T> {
    /// Maps the diesel error of a query with [`query_error`].
    fn or_storage(self, doing: &'static str) -> Result<T, Error>;
}

impl<T> QueryResultExt<T> for Result<T, DieselError> {
    fn or_storage(self, doing: &'static str) -> Result<T, Error> {
        self.map_err(|err| query_error(err, doing))
    }
}
