//! The one place where storage failures become domain errors.
//!
//! Whatever cannot reach PostgreSQL in time is [`Error::Unavailable`] (the api answers 503 and
//! the caller may retry); everything else is [`Error::Unexpected`]. Messages carry context for the
//! log, never SQL: the api prints only a generic message for either.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::anyhow;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::PoolError as ManagerError;
use diesel_async::pooled_connection::deadpool::PoolError;
use domain::Error;

/// Starts of the server messages of the SQLSTATEs that mean "not now" rather than "wrong",
/// mid-session. diesel's error information carries the server message but not the SQLSTATE, so
/// the (default, English: `lc_messages = 'C'`) message is what is left to tell them apart:
///
/// * 57P01 (admin shutdown: `pg_terminate_backend`, a fast shutdown, and "terminating connection
///   due to unexpected postmaster exit" when the postmaster was killed under its backends: the
///   500 seen during failovers), 57P02 (crash of another backend), 57P04 and 25P03 also start
///   with "terminating connection";
/// * 57P03 (cannot connect now: starting up, shutting down, in recovery, not yet accepting);
/// * 57014 (statement timeout, cancel request);
/// * 53300 (too many connections) and 53xxx resource shortages;
/// * 25006 as a message, for statements that reach a server that became read-only (diesel
///   also reports it as [`DatabaseErrorKind::ReadOnlyTransaction`]).
///
/// Connection-class failures (08*) arrive while connecting, which the pool reports (see
/// [`pool_error`]), or as a lost connection without any SQLSTATE, which diesel reports as
/// `UnableToSendCommand`.
const UNAVAILABLE_MESSAGES: &[&str] = &[
    "terminating connection",
    "canceling statement due to",
    "the database system is",
    "sorry, too many clients already",
    "remaining connection slots are reserved",
    "out of shared memory",
    "could not resize shared memory",
    "cannot execute",
];

/// Until when (milliseconds on [`clock_ms`]) pooled connections are checked before reuse: set
/// when an error said the server is read-only, shutting down or cancelling, which a connection
/// can survive while no longer being usable for writes.
static CHECK_CONNECTIONS_UNTIL_MS: AtomicU64 = AtomicU64::new(0);

/// How long after such an error pooled connections are checked before reuse.
const CHECK_WINDOW_MS: u64 = 10_000;

fn clock_ms() -> u64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    u64::try_from(START.get_or_init(std::time::Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Whether connections leaving the pool should be checked (a server recently said "not now").
pub(crate) fn connections_suspect() -> bool {
    clock_ms() < CHECK_CONNECTIONS_UNTIL_MS.load(Ordering::Relaxed)
}

/// Maps a failed query; `doing` says what the adapter was doing, for the log.
pub(crate) fn query_error(err: DieselError, doing: &'static str) -> Error {
    if is_unavailable(&err) {
        if matches!(err, DieselError::DatabaseError(kind, _) if !matches!(kind, DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand))
        {
            CHECK_CONNECTIONS_UNTIL_MS.store(clock_ms() + CHECK_WINDOW_MS, Ordering::Relaxed);
        }
        Error::Unavailable(anyhow::Error::new(err).context(doing))
    } else {
        Error::Unexpected(anyhow::Error::new(err).context(doing))
    }
}

/// Maps a failure to check a connection out of the pool.
pub(crate) fn pool_error(err: PoolError) -> Error {
    match err {
        PoolError::NoRuntimeSpecified => Error::Unexpected(anyhow!("the connection pool has no async runtime")),
        // Timeouts, refused or failed connections (53300 too many clients included), a closed
        // pool and a failed session setup all mean the database cannot serve this request now.
        other => Error::Unavailable(anyhow::Error::new(other).context("getting a database connection")),
    }
}

/// Whether a query failed because the server or the connection to it is not usable now.
fn is_unavailable(err: &DieselError) -> bool {
    match err {
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection
            | DatabaseErrorKind::UnableToSendCommand
            | DatabaseErrorKind::ReadOnlyTransaction,
            _,
        ) => true,
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            UNAVAILABLE_MESSAGES.iter().any(|known| message.starts_with(known))
                && (!message.starts_with("cannot execute") || message.ends_with("in a read-only transaction"))
                || message.starts_with("database \"") && message.ends_with("\" does not exist")
        }
        // A COMMIT that failed, then a ROLLBACK that failed too: the connection is gone.
        DieselError::RollbackErrorOnCommit { rollback_error, commit_error } => {
            is_unavailable(commit_error) || is_unavailable(rollback_error)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn server_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    fn unavailable(err: DieselError) -> bool {
        matches!(query_error(err, "testing"), Error::Unavailable(_))
    }

    #[test]
    fn a_server_going_away_mid_session_is_unavailable_not_unexpected() {
        // What backends say when the postmaster was SIGKILLed under them: the failover 500.
        for message in [
            "terminating connection due to unexpected postmaster exit",
            "terminating connection due to administrator command",
            "terminating connection because of crash of another server process",
            "terminating connection due to conflict with recovery",
            "the database system is not yet accepting connections",
            "the database system is in recovery mode",
            "canceling statement due to statement timeout",
            "sorry, too many clients already",
            "cannot execute INSERT in a read-only transaction",
        ] {
            assert!(unavailable(server_error(DatabaseErrorKind::Unknown, message)), "{message}");
        }
        assert!(unavailable(server_error(
            DatabaseErrorKind::ReadOnlyTransaction,
            "cannot execute UPDATE in a read-only transaction"
        )));
        assert!(unavailable(server_error(DatabaseErrorKind::UnableToSendCommand, "connection closed")));
        assert!(unavailable(DieselError::RollbackErrorOnCommit {
            rollback_error: Box::new(server_error(DatabaseErrorKind::UnableToSendCommand, "connection closed")),
            commit_error: Box::new(server_error(DatabaseErrorKind::UnableToSendCommand, "connection closed")),
        }));
    }

    #[test]
    fn mistakes_stay_unexpected() {
        assert!(!unavailable(server_error(DatabaseErrorKind::Unknown, "syntax error at or near \"SELEC\"")));
        assert!(!unavailable(server_error(DatabaseErrorKind::Unknown, "cannot execute this on a Tuesday")));
        assert!(!unavailable(DieselError::NotFound));
    }
}
