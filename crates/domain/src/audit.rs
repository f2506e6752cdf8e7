//! The audit trail of the manager surface: one record per request.

use chrono::{DateTime, Utc};

/// What was asked, by whom, and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// The request's `X-Request-Id`.
    pub request_id: String,
    /// The manager named by the request, when it named one.
    pub manager_id: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path, without the query string.
    pub path: String,
    /// HTTP status answered.
    pub status: u16,
    /// Time taken to answer, in milliseconds.
    pub duration_ms: f64,
}
