//! The stream sources the admin configured, and what the runtime reports
//! about them (`ingest_stats`).

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::Serialize;

use super::{Store, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};
use crate::ingest::source::SourceConfig;

/// A source's counters and health, for `wardwatchctl ingest status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    pub enabled: bool,
    pub stored: i64,
    pub quarantined: i64,
    pub duplicates: i64,
    /// Records that contradicted stored ones (quarantined with both).
    pub conflicts: i64,
    /// Quarantine entries of this source dropped for the quarantine's budget.
    pub quarantine_dropped: i64,
    pub reconnects: i64,
    /// The source's notices that records were gone before they were read
    /// (an SSE gateway's `gap` events).
    pub gaps: i64,
    /// The records those notices named: never stored, never scored.
    pub lost: i64,
    pub last_sequence: Option<String>,
    /// Time of the newest stored observation.
    pub last_stored: Option<DateTime<Utc>>,
    /// How far behind the newest observation was when stored, or the stream's
    /// own "behind latest" figure (Kinesis).
    pub lag_ms: Option<i64>,
    /// How long the newest stored batch waited in Wardwatch before it was
    /// stored (the age of the oldest unprocessed record then).
    pub oldest_pending_ms: Option<i64>,
    pub last_error: Option<String>,
    pub updated: Option<DateTime<Utc>>,
}

impl Store {
    /// Adds or replaces a source. When a name is pointed at another endpoint
    /// or stream, its checkpoints are dropped: they belong to the old one.
    pub fn put_source(&self, config: &SourceConfig, now: DateTime<Utc>) -> Result<()> {
        if let Some(old) = self
            .sources()?
            .into_iter()
            .find(|s| s.name() == config.name())
            && old != *config
        {
            self.conn
                .execute(
                    "DELETE FROM source_checkpoints WHERE source = ?1",
                    [config.name()],
                )
                .ctx("resetting a source's checkpoints")?;
        }
        let (kind, endpoint, stream, region, credentials, ca_bundle) = match config {
            SourceConfig::Sse { url, .. } => ("sse", url.as_str(), None, None, None, None),
            SourceConfig::Kinesis {
                endpoint,
                stream,
                region,
                credentials,
                ca_bundle,
                ..
            } => (
                "kinesis",
                endpoint.as_str(),
                Some(stream.as_str()),
                Some(region.as_str()),
                Some(credentials.as_str()),
                ca_bundle.as_deref(),
            ),
        };
        self.conn
            .execute(
                "INSERT INTO sources (name, kind, endpoint, stream, region, credentials, enabled, created_ms, ca_bundle)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, endpoint = excluded.endpoint,
                   stream = excluded.stream, region = excluded.region, credentials = excluded.credentials,
                   ca_bundle = excluded.ca_bundle, enabled = 1",
                params![config.name(), kind, endpoint, stream, region, credentials, to_ms(now), ca_bundle],
            )
            .ctx("writing a source")?;
        Ok(())
    }

    /// Removes a source; its checkpoints go too (a source re-added later
    /// starts from the beginning of its stream).
    pub fn remove_source(&self, name: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM sources WHERE name = ?1", [name])
            .ctx("removing a source")?;
        self.conn
            .execute("DELETE FROM source_checkpoints WHERE source = ?1", [name])
            .ctx("removing a source")?;
        Ok(n > 0)
    }

    pub fn sources(&self) -> Result<Vec<SourceConfig>> {
        let mut stmt = self
            .conn
            .prepare("SELECT name, kind, endpoint, stream, region, credentials, ca_bundle FROM sources WHERE enabled = 1 ORDER BY name")
            .ctx("listing sources")?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .ctx("listing sources")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing sources")?;
        rows.into_iter()
            .map(
                |(name, kind, endpoint, stream, region, credentials, ca_bundle)| match kind.as_str()
                {
                    "sse" => Ok(SourceConfig::Sse {
                        name,
                        url: endpoint,
                    }),
                    "kinesis" => Ok(SourceConfig::Kinesis {
                        name,
                        endpoint,
                        stream: stream.unwrap_or_default(),
                        region: region.unwrap_or_default(),
                        credentials: credentials.unwrap_or_default(),
                        ca_bundle,
                    }),
                    other => Err(Error::InvalidInput {
                        what: "stored source",
                        reason: format!("unknown kind `{other}`"),
                    }),
                },
            )
            .collect()
    }

    pub fn note_reconnect(&self, source: &str, error: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO ingest_stats (source, reconnects, last_error, updated_ms) VALUES (?1, 1, ?2, ?3)
                 ON CONFLICT (source) DO UPDATE SET reconnects = reconnects + 1,
                   last_error = excluded.last_error, updated_ms = excluded.updated_ms",
                params![source, error, to_ms(now)],
            )
            .ctx("recording a reconnect")?;
        Ok(())
    }

    /// `source` said records were gone before they were read (`records` of
    /// them, when it said how many; `what` describes them, for the status):
    /// counted, and its `shard` resumes after them (`resume`, the sequence
    /// the source gave the notice) so a restart does not count them twice.
    pub fn note_lost(
        &self,
        source: &str,
        shard: &str,
        records: Option<u64>,
        what: &str,
        resume: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .ctx("recording lost records")?;
        tx.execute(
            "INSERT INTO ingest_stats (source, gaps, lost, last_error, updated_ms) VALUES (?1, 1, ?2, ?3, ?4)
             ON CONFLICT (source) DO UPDATE SET gaps = gaps + 1, lost = lost + excluded.lost,
               last_error = excluded.last_error, updated_ms = excluded.updated_ms",
            params![
                source,
                records.map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX)),
                what,
                to_ms(now)
            ],
        )
        .ctx("recording lost records")?;
        if let Some(seq) = resume {
            set_checkpoint(&tx, source, shard, seq, now)?;
        }
        tx.commit().ctx("recording lost records")
    }

    /// How long the batch just stored waited between its source and the
    /// store: the age of the oldest record not yet processed, as of then.
    pub fn note_pending(&self, source: &str, waited_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE ingest_stats SET oldest_pending_ms = ?2 WHERE source = ?1",
                params![source, waited_ms],
            )
            .ctx("recording queue age")?;
        Ok(())
    }

    pub fn note_lag(&self, source: &str, millis_behind: i64, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO ingest_stats (source, lag_ms, updated_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (source) DO UPDATE SET lag_ms = excluded.lag_ms, updated_ms = excluded.updated_ms",
                params![source, millis_behind, to_ms(now)],
            )
            .ctx("recording lag")?;
        Ok(())
    }

    /// Every configured source with its counters (sources that stored
    /// something but were removed since are listed too).
    pub fn source_status(&self) -> Result<Vec<SourceStatus>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT n.name, coalesce(s.kind, 'removed'), coalesce(s.enabled, 0),
                   coalesce(i.stored, 0), coalesce(i.quarantined, 0), coalesce(i.duplicates, 0),
                   coalesce(i.reconnects, 0), i.last_sequence, i.last_stored_ms, i.lag_ms,
                   i.last_error, i.updated_ms, i.oldest_pending_ms,
                   coalesce(i.conflicts, 0), coalesce(i.quarantine_dropped, 0),
                   coalesce(i.gaps, 0), coalesce(i.lost, 0)
                 FROM (SELECT name FROM sources UNION SELECT source FROM ingest_stats) n
                 LEFT JOIN sources s ON s.name = n.name
                 LEFT JOIN ingest_stats i ON i.source = n.name
                 ORDER BY n.name",
            )
            .ctx("reading source status")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(SourceStatus {
                    name: r.get(0)?,
                    kind: r.get(1)?,
                    enabled: r.get(2)?,
                    stored: r.get(3)?,
                    quarantined: r.get(4)?,
                    duplicates: r.get(5)?,
                    reconnects: r.get(6)?,
                    last_sequence: r.get(7)?,
                    last_stored: r.get::<_, Option<i64>>(8)?.map(from_ms),
                    lag_ms: r.get(9)?,
                    last_error: r.get(10)?,
                    updated: r.get::<_, Option<i64>>(11)?.map(from_ms),
                    oldest_pending_ms: r.get(12)?,
                    conflicts: r.get(13)?,
                    quarantine_dropped: r.get(14)?,
                    gaps: r.get(15)?,
                    lost: r.get(16)?,
                })
            })
            .ctx("reading source status")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading source status")
    }
}

/// Moves `source`'s `shard` checkpoint to `sequence`, in the caller's
/// transaction (with the batch it follows, or past records a source lost).
pub(crate) fn set_checkpoint(
    tx: &rusqlite::Transaction<'_>,
    source: &str,
    shard: &str,
    sequence: &str,
    now: DateTime<Utc>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO source_checkpoints (source, shard, sequence, updated_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (source, shard) DO UPDATE SET sequence = excluded.sequence, updated_ms = excluded.updated_ms",
    )
    .and_then(|mut s| s.execute(params![source, shard, sequence, to_ms(now)]))
    .ctx("advancing a checkpoint")?;
    Ok(())
}
