//! The schema's migrations, compiled into the binary and applied at start-up.

use anyhow::Context as _;
use diesel::sql_types::BigInt;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness as _, embed_migrations};

use super::connect::Target;

/// Every migration of `migrations/`, as of this build.
pub(crate) const MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations");

/// Session advisory lock key held while migrating ("ecommerce" in ASCII), so processes starting
/// together against one database apply the migrations one after the other instead of racing to
/// create the same tables.
const MIGRATION_LOCK_KEY: i64 = 0x0065_636f_6d6d_6572;

/// Applies the migrations the database lacks; a no-op when it is up to date.
///
/// # Errors
/// When the URL does not parse, the database cannot be reached (TLS settings included) or a
/// migration fails (that migration is rolled back).
pub async fn run_migrations(database_url: &str) -> anyhow::Result<()> {
    let target = Target::parse(database_url)?;
    let mut conn = target.establish().await.context("connecting to the database to migrate it")?;
    diesel::sql_query("SELECT pg_advisory_lock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await
        .context("waiting for the migration lock")?;
    let (conn, applied) = apply_pending(conn).await?;
    // Closing the session would release the lock too; unlocking keeps the intent explicit.
    let mut conn = conn;
    let unlocked = diesel::sql_query("SELECT pg_advisory_unlock($1)")
        .bind::<BigInt, _>(MIGRATION_LOCK_KEY)
        .execute(&mut conn)
        .await
        .context("releasing the migration lock");
    let applied = applied?;
    unlocked?;
    if applied.is_empty() {
        tracing::debug!("database schema is up to date");
    } else {
        tracing::info!(migrations = ?applied, "applied database migrations");
    }
    Ok(())
}

/// Runs diesel's (blocking) migration harness on a blocking thread, and hands the connection back
/// with the versions it applied.
async fn apply_pending(conn: AsyncPgConnection) -> anyhow::Result<(AsyncPgConnection, anyhow::Result<Vec<String>>)> {
    tokio::task::spawn_blocking(move || {
        let mut wrapper: AsyncConnectionWrapper<AsyncPgConnection> = AsyncConnectionWrapper::from(conn);
        let applied = wrapper
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|err| anyhow::anyhow!(err).context("applying database migrations"));
        (wrapper.into_inner(), applied)
    })
    .await
    .context("the migration task failed")
}
