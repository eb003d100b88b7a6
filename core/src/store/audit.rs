//! The audit trail: who read or changed what, and when. Rows are append-only
//! (the schema's triggers refuse updates and deletes). Details hold identifiers
//! (MRNs, counts), never clinical values.

use rusqlite::{Connection, params};
use serde::Serialize;

use super::{Store, from_ms, to_ms};
use crate::error::{Result, SqlContext};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
}

pub(crate) fn append(conn: &Connection, entry: &AuditEntry) -> Result<()> {
    conn.execute(
        "INSERT INTO audit_log (ts_ms, actor, action, target, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            to_ms(entry.at),
            entry.actor,
            entry.action,
            entry.target,
            entry.detail.to_string()
        ],
    )
    .ctx("appending to the audit log")?;
    Ok(())
}

impl Store {
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        append(&self.conn, entry)
    }

    /// The newest `limit` entries, newest first.
    pub fn recent_audit(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT ts_ms, actor, action, target, detail FROM audit_log
                 ORDER BY id DESC LIMIT ?1",
            )
            .ctx("reading the audit log")?;
        let rows = stmt
            .query_map([limit as i64], |r| {
                let detail: String = r.get(4)?;
                Ok(AuditEntry {
                    at: from_ms(r.get(0)?),
                    actor: r.get(1)?,
                    action: r.get(2)?,
                    target: r.get(3)?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                })
            })
            .ctx("reading the audit log")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading the audit log")
    }
}
