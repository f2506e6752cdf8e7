//! Request counters shared by every process using the database: the repository function and the
//! [`RateCounter`] port over it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::Error;
use domain::ports::RateCounter;

use super::PgStore;
use super::error::QueryResultExt as _;
use super::schema::rate_limit_counters;
use super::sql::greatest_timestamptz;

/// Counts one request of `key` in the window starting at `window_start` and returns the count of
/// that window so far, this request included.
pub(crate) async fn count_hit(
    conn: &mut AsyncPgConnection,
    key: &str,
    window_start: DateTime<Utc>,
) -> Result<u32, Error> {
    use rate_limit_counters::{count, window_start as stored_start};

    // One statement, so concurrent hits of a key from any number of processes queue on its row
    // and each sees the count its own increment made. A window older than the stored one comes
    // from a process whose clock lags: it counts in the newer window rather than resetting it, so
    // processes that disagree on the time cannot hand a key a fresh window over and over.
    // diesel never caches an `ON CONFLICT DO UPDATE`, so this is prepared on every hit: one extra
    // round trip, the price of a count that is exact across processes without a transaction.
    let counted: i32 = diesel::insert_into(rate_limit_counters::table)
        .values((rate_limit_counters::key.eq(key), stored_start.eq(window_start), count.eq(1)))
        .on_conflict(rate_limit_counters::key)
        .do_update()
        .set((
            count.eq(case_when(excluded(stored_start).le(stored_start), count + 1).otherwise(1)),
            stored_start.eq(greatest_timestamptz(stored_start, excluded(stored_start))),
        ))
        .returning(count)
        .get_result(conn)
        .await
        .or_storage("counting a request")?;
    u32::try_from(counted).map_err(|_| Error::Unexpected(anyhow::anyhow!("request count {counted} is not positive")))
}

#[async_trait]
impl RateCounter for PgStore {
    // The key names a client (an address, a manager): it stays out of the trace.
    #[tracing::instrument(name = "pg.rate_limits.hit", skip_all)]
    async fn hit(&self, key: &str, window_start: DateTime<Utc>) -> Result<u32, Error> {
        let mut conn = self.connection().await?;
        count_hit(&mut conn, key, window_start).await
    }
}
