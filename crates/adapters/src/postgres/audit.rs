//! The audit trail of the manager surface: the repository functions and the [`AuditLog`] port
//! over them.

use async_trait::async_trait;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use domain::Error;
use domain::audit::AuditRecord;
use domain::ports::AuditLog;

use super::PgStore;
use super::error::QueryResultExt as _;
use super::models::{AuditRow, NewAuditRow};
use super::schema::audit_log;

/// Stores one record.
pub(crate) async fn insert_audit_record(conn: &mut AsyncPgConnection, record: &AuditRecord) -> Result<(), Error> {
    diesel::insert_into(audit_log::table)
        .values(&NewAuditRow::from_record(record)?)
        .execute(conn)
        .await
        .or_storage("recording an audit record")?;
    Ok(())
}

/// At most `limit` records, newest first; records of the same instant in the order they were
/// stored, newest first too.
pub(crate) async fn recent_audit_records(conn: &mut AsyncPgConnection, limit: u32) -> Result<Vec<AuditRecord>, Error> {
    audit_log::table
        .select(AuditRow::as_select())
        .order((audit_log::at.desc(), audit_log::id.desc()))
        .limit(i64::from(limit))
        .load(conn)
        .await
        .or_storage("loading recent audit records")?
        .into_iter()
        .map(AuditRecord::try_from)
        .collect()
}

#[async_trait]
impl AuditLog for PgStore {
    #[tracing::instrument(name = "pg.audit.record", skip_all, fields(http.status = record.status))]
    async fn record(&self, record: AuditRecord) -> Result<(), Error> {
        let mut conn = self.connection().await?;
        insert_audit_record(&mut conn, &record).await
    }

    #[tracing::instrument(name = "pg.audit.recent", skip_all, fields(limit = limit))]
    async fn recent(&self, limit: u32) -> Result<Vec<AuditRecord>, Error> {
        let mut conn = self.connection().await?;
        recent_audit_records(&mut conn, limit).await
    }
}
