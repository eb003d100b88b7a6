//! The dataset catalogue's side of the store (docs/catalog.md): its entries
//! (the truth that the tantivy index in `wardwatch-catalog` is derived
//! from), every version of every entry, what an admin wrote about an entry,
//! and what the curator records per commit (data files and schemas).
//!
//! Invariants:
//! - an entry's body changes only together with a new row of
//!   `catalog_history` (same transaction), numbered by `seq`; an index that
//!   has applied every change up to `seq` holds exactly the entries;
//! - the bodies are deterministic functions of what the lake holds, so an
//!   unchanged dataset writes no new version;
//! - no name, MRN or birth date is in an entry: patients are pseudonyms.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::lake::sha256_hex;
use super::{Store, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};

/// What an entry describes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A table or object family.
    #[default]
    Dataset,
    /// A version of a dataset's schema.
    Schema,
    /// A dataset's day (and ward, where the keys carry one).
    Partition,
    /// One object in the lake.
    Object,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Dataset => "dataset",
            EntryKind::Schema => "schema",
            EntryKind::Partition => "partition",
            EntryKind::Object => "object",
        }
    }
}

/// A column of a schema.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogColumn {
    pub name: String,
    /// Iceberg's type name (`string`, `int`, `timestamptz`, ...).
    #[serde(rename = "type")]
    pub ty: String,
    pub required: bool,
    #[serde(default)]
    pub doc: String,
}

/// One catalogue entry. Fields that do not apply to a kind stay empty.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogEntry {
    /// `dataset:ZONE/DATASET`, `schema:ZONE/DATASET@V`,
    /// `partition:ZONE/DATASET/date=…[/ward=…]`, `object:KEY`.
    pub id: String,
    pub kind: EntryKind,
    /// `raw`, `cleaned` or `curated`.
    pub zone: String,
    pub dataset: String,
    pub name: String,
    pub description: String,
    pub owner: Option<String>,
    pub tags: Vec<String>,
    /// The Iceberg table identifier (`wardwatch.scores`), curated only.
    pub iceberg: Option<String>,
    /// Where the data lives (a URI).
    pub location: Option<String>,
    /// The ward of a partition or object keyed by ward; the wards a curated
    /// partition's rows cover.
    pub wards: Vec<String>,
    /// The partition's or object's day, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// The time range of the rows (partitions, objects, datasets).
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    pub rows: Option<i64>,
    pub bytes: Option<i64>,
    pub objects: Option<i64>,
    /// The schema version (1, 2, ...): of a schema entry, or the current one
    /// of a dataset, or the one a partition's or object's data was written
    /// with.
    pub schema_version: Option<i64>,
    /// SHA-256 of the schema's columns (name, type, required), 16 hex digits.
    pub fingerprint: Option<String>,
    pub columns: Vec<CatalogColumn>,
    /// A schema version's changes against the previous one
    /// (`added x int`, `dropped y`, `retyped z long -> double`).
    pub changes: Vec<String>,
    /// Iceberg snapshots written with this schema or into this partition.
    pub snapshots: Vec<i64>,
    /// Pseudonymised patients a partition covers (never names or MRNs).
    pub patients: Vec<String>,
    pub key: Option<String>,
    /// `sha256:…` of an object's bytes.
    pub checksum: Option<String>,
    pub codec: Option<String>,
    pub storage_class: Option<String>,
    /// `hot` or `archived` (by the archival rules' age), objects and
    /// partitions of raw and cleaned.
    pub archive_state: Option<String>,
    /// `pending` or `synced`.
    pub sync_state: Option<String>,
    pub created: Option<DateTime<Utc>>,
    /// When the entry's data last changed (a commit, a sync).
    pub modified: Option<DateTime<Utc>>,
}

/// What an update of the catalogue changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CatalogUpdate {
    pub created: usize,
    pub updated: usize,
    pub removed: usize,
}

impl CatalogUpdate {
    pub fn changed(&self) -> usize {
        self.created + self.updated + self.removed
    }
}

/// A version of an entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CatalogVersion {
    pub seq: i64,
    pub version: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    /// `created`, `updated` or `removed`.
    pub change: String,
    pub entry: Option<CatalogEntry>,
}

/// What an admin wrote about an entry; it overrides the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Annotation {
    pub description: Option<String>,
    pub owner: Option<String>,
    pub tags: Vec<String>,
}

/// A data file a curated commit added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableFile {
    pub path: String,
    pub day: String,
    pub rows: i64,
    pub bytes: i64,
    pub first: Option<DateTime<Utc>>,
    pub last: Option<DateTime<Utc>>,
    /// Pseudonymised patients in the file, sorted.
    pub patients: Vec<String>,
    /// Wards of the file's rows, sorted.
    pub wards: Vec<String>,
}

/// A data file of a curated table, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableFileRow {
    pub table: String,
    pub file: TableFile,
    pub snapshot_id: i64,
    pub schema_id: i32,
    pub committed: DateTime<Utc>,
}

/// A schema a curated table had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSchema {
    pub table: String,
    pub schema_id: i32,
    pub columns: Vec<CatalogColumn>,
    pub created: DateTime<Utc>,
}

fn body_of(entry: &CatalogEntry) -> Result<String> {
    serde_json::to_string(entry).map_err(|e| Error::InvalidInput {
        what: "a catalogue entry",
        reason: e.to_string(),
    })
}

fn entry_of(body: &str) -> rusqlite::Result<CatalogEntry> {
    serde_json::from_str(body).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Makes the catalogue hold exactly `entries` (by id): new ones are
    /// created, changed ones get a new version, missing ones are removed;
    /// each change is a row of the history, by `actor`, in one transaction.
    pub fn catalog_replace(
        &mut self,
        entries: &[CatalogEntry],
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<CatalogUpdate> {
        let mut wanted = BTreeMap::new();
        for e in entries {
            let body = body_of(e)?;
            let digest = sha256_hex(body.as_bytes())[..16].to_owned();
            if wanted.insert(e.id.as_str(), (e, body, digest)).is_some() {
                return Err(Error::InvalidInput {
                    what: "a catalogue update",
                    reason: format!("entry {} given twice", e.id),
                });
            }
        }
        // Compared by digest: a refresh reads 16 hex digits an entry, not
        // its body. Read without the write lock: a lake's catalogue holds
        // an entry per object (hundreds of thousands), and the runtime's
        // writer must not wait while they are read.
        let mut have: HashMap<String, String> = HashMap::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT id, digest FROM catalog_entries")
                .ctx("reading the catalogue")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .ctx("reading the catalogue")?;
            for row in rows {
                let (id, digest) = row.ctx("reading the catalogue")?;
                have.insert(id, digest);
            }
        }
        let changed: Vec<_> = wanted
            .iter()
            .filter(|(id, (_, _, digest))| have.get(**id) != Some(digest))
            .collect();
        let gone: Vec<&String> = have
            .keys()
            .filter(|id| !wanted.contains_key(id.as_str()))
            .collect();
        let mut done = CatalogUpdate::default();
        if changed.is_empty() && gone.is_empty() {
            return Ok(done);
        }
        // Then the changes alone under the write lock, each entry's version
        // read again there (another refresh may have written it
        // meanwhile). Immediate: the lock first, waited for (the busy
        // handler); a deferred transaction that read first could not take
        // it once another connection had committed since its read began
        // (SQLITE_BUSY_SNAPSHOT, no wait): beside a busy runtime writer
        // every refresh failed. An entry another connection created
        // meanwhile that this refresh would remove waits for the next.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("updating the catalogue")?;
        {
            let mut current = tx
                .prepare("SELECT version, digest FROM catalog_entries WHERE id = ?1")
                .ctx("reading the catalogue")?;
            let mut now_of = |id: &str| -> Result<Option<(i64, String)>> {
                current
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .ctx("reading the catalogue")
            };
            let mut history = tx
                .prepare(
                    "INSERT INTO catalog_history (id, version, at_ms, actor, change, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .ctx("updating the catalogue")?;
            let mut put = tx
                .prepare(
                    "INSERT OR REPLACE INTO catalog_entries
                       (id, kind, body, digest, version, updated_ms, updated_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .ctx("updating the catalogue")?;
            for (id, (e, body, digest)) in changed {
                let (version, change) = match now_of(id)? {
                    Some((_, old)) if &old == digest => continue,
                    Some((v, _)) => (v + 1, "updated"),
                    None => (1, "created"),
                };
                put.execute(params![
                    id,
                    e.kind.as_str(),
                    body,
                    digest,
                    version,
                    to_ms(now),
                    actor
                ])
                .ctx("updating the catalogue")?;
                history
                    .execute(params![id, version, to_ms(now), actor, change, body])
                    .ctx("updating the catalogue")?;
                if version == 1 {
                    done.created += 1;
                } else {
                    done.updated += 1;
                }
            }
            let mut remove = tx
                .prepare("DELETE FROM catalog_entries WHERE id = ?1")
                .ctx("updating the catalogue")?;
            for id in gone {
                let Some((version, _)) = now_of(id)? else {
                    continue;
                };
                remove.execute([id]).ctx("updating the catalogue")?;
                history
                    .execute(params![
                        id,
                        version + 1,
                        to_ms(now),
                        actor,
                        "removed",
                        None::<String>
                    ])
                    .ctx("updating the catalogue")?;
                done.removed += 1;
            }
        }
        tx.commit().ctx("updating the catalogue")?;
        Ok(done)
    }

    /// One entry as it is now.
    pub fn catalog_entry(&self, id: &str) -> Result<Option<CatalogEntry>> {
        self.conn
            .query_row(
                "SELECT body FROM catalog_entries WHERE id = ?1",
                [id],
                |r| entry_of(&r.get::<_, String>(0)?),
            )
            .optional()
            .ctx("reading the catalogue")
    }

    /// The number of entries.
    pub fn catalog_len(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM catalog_entries", [], |r| r.get(0))
            .ctx("reading the catalogue")
    }

    /// Every entry, by id, handed to `each` in order (a reindex reads them
    /// all without holding them all).
    pub fn catalog_each(&self, mut each: impl FnMut(CatalogEntry)) -> Result<()> {
        let mut stmt = self
            .conn
            .prepare("SELECT body FROM catalog_entries ORDER BY id")
            .ctx("reading the catalogue")?;
        let rows = stmt
            .query_map([], |r| entry_of(&r.get::<_, String>(0)?))
            .ctx("reading the catalogue")?;
        for row in rows {
            each(row.ctx("reading the catalogue")?);
        }
        Ok(())
    }

    /// The last change's number (0: none yet).
    pub fn catalog_seq(&self) -> Result<i64> {
        self.conn
            .query_row(
                "SELECT coalesce(max(seq), 0) FROM catalog_history",
                [],
                |r| r.get(0),
            )
            .ctx("reading the catalogue's history")
    }

    /// The ids changed after change `seq`, each once, with the last change's
    /// number.
    pub fn catalog_changed_since(&self, seq: i64) -> Result<(Vec<String>, i64)> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id, max(seq) FROM catalog_history WHERE seq > ?1 GROUP BY id ORDER BY id",
            )
            .ctx("reading the catalogue's history")?;
        let rows = stmt
            .query_map([seq], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
            .ctx("reading the catalogue's history")?;
        let mut ids = Vec::new();
        let mut last = seq;
        for row in rows {
            let (id, s) = row.ctx("reading the catalogue's history")?;
            last = last.max(s);
            ids.push(id);
        }
        Ok((ids, last))
    }

    /// Every version of an entry, oldest first.
    pub fn catalog_history(&self, id: &str) -> Result<Vec<CatalogVersion>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT seq, version, at_ms, actor, change, body FROM catalog_history
                 WHERE id = ?1 ORDER BY seq",
            )
            .ctx("reading the catalogue's history")?;
        let rows = stmt
            .query_map([id], |r| {
                let body: Option<String> = r.get(5)?;
                Ok(CatalogVersion {
                    seq: r.get(0)?,
                    version: r.get(1)?,
                    at: from_ms(r.get(2)?),
                    actor: r.get(3)?,
                    change: r.get(4)?,
                    entry: body.as_deref().map(entry_of).transpose()?,
                })
            })
            .ctx("reading the catalogue's history")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading the catalogue's history")
    }

    /// Sets what an admin says about an entry (`None`: leave as is).
    pub fn catalog_annotate(
        &mut self,
        id: &str,
        description: Option<&str>,
        owner: Option<&str>,
        tags: Option<&[String]>,
        actor: &str,
        now: DateTime<Utc>,
    ) -> Result<Annotation> {
        let mut a = self.catalog_annotations()?.remove(id).unwrap_or_default();
        if let Some(d) = description {
            a.description = Some(d.to_owned()).filter(|d| !d.is_empty());
        }
        if let Some(o) = owner {
            a.owner = Some(o.to_owned()).filter(|o| !o.is_empty());
        }
        if let Some(t) = tags {
            a.tags = t.to_vec();
        }
        let tags = serde_json::to_string(&a.tags).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT OR REPLACE INTO catalog_annotations
                   (id, description, owner, tags, updated_ms, updated_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![id, a.description, a.owner, tags, to_ms(now), actor],
            )
            .ctx("annotating the catalogue")?;
        Ok(a)
    }

    /// What admins wrote, by entry id.
    pub fn catalog_annotations(&self) -> Result<HashMap<String, Annotation>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, description, owner, tags FROM catalog_annotations")
            .ctx("reading the catalogue's annotations")?;
        let rows = stmt
            .query_map([], |r| {
                let tags: String = r.get(3)?;
                Ok((
                    r.get::<_, String>(0)?,
                    Annotation {
                        description: r.get(1)?,
                        owner: r.get(2)?,
                        tags: serde_json::from_str(&tags).unwrap_or_default(),
                    },
                ))
            })
            .ctx("reading the catalogue's annotations")?;
        rows.collect::<rusqlite::Result<HashMap<_, _>>>()
            .ctx("reading the catalogue's annotations")
    }

    /// The manifests written for a dataset entry: how many, and the newest
    /// one's digest.
    pub fn catalog_manifests(&self, dataset: &str) -> Result<(i64, Option<String>)> {
        let n: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM catalog_manifests WHERE dataset = ?1",
                [dataset],
                |r| r.get(0),
            )
            .ctx("reading the catalogue's manifests")?;
        let newest = self
            .conn
            .query_row(
                "SELECT digest FROM catalog_manifests WHERE dataset = ?1
                 ORDER BY written_ms DESC, rowid DESC LIMIT 1",
                [dataset],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading the catalogue's manifests")?;
        Ok((n, newest))
    }

    /// Records a manifest the target acknowledged.
    pub fn catalog_manifest_written(
        &self,
        key: &str,
        dataset: &str,
        digest: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO catalog_manifests (key, dataset, digest, written_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![key, dataset, digest, to_ms(now)],
            )
            .ctx("recording a catalogue manifest")?;
        Ok(())
    }

    /// An entry as it was at `at`: the newest version written by then
    /// (`None`: it did not exist then, or had been removed).
    pub fn catalog_entry_at(&self, id: &str, at: DateTime<Utc>) -> Result<Option<CatalogVersion>> {
        Ok(self
            .catalog_history(id)?
            .into_iter()
            .rev()
            .find(|v| v.at <= at)
            .filter(|v| v.entry.is_some()))
    }

    /// Records a schema of a curated table (a no-op if it is recorded).
    pub fn lake_table_schema(
        &self,
        table: &str,
        schema_id: i32,
        columns: &[CatalogColumn],
        now: DateTime<Utc>,
    ) -> Result<()> {
        let fields = serde_json::to_string(columns).map_err(|e| Error::InvalidInput {
            what: "a table schema",
            reason: e.to_string(),
        })?;
        self.conn
            .execute(
                "INSERT OR IGNORE INTO lake_table_schemas (table_name, schema_id, fields, created_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![table, schema_id, fields, to_ms(now)],
            )
            .ctx("recording a table schema")?;
        Ok(())
    }

    /// Every schema of every curated table, by table and id.
    pub fn lake_table_schemas(&self) -> Result<Vec<TableSchema>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT table_name, schema_id, fields, created_ms FROM lake_table_schemas
                 ORDER BY table_name, schema_id",
            )
            .ctx("reading table schemas")?;
        let rows = stmt
            .query_map([], |r| {
                let fields: String = r.get(2)?;
                Ok(TableSchema {
                    table: r.get(0)?,
                    schema_id: r.get(1)?,
                    columns: serde_json::from_str(&fields).map_err(|e| {
                        rusqlite::Error::FromSqlConversionFailure(
                            2,
                            rusqlite::types::Type::Text,
                            Box::new(e),
                        )
                    })?,
                    created: from_ms(r.get(3)?),
                })
            })
            .ctx("reading table schemas")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading table schemas")
    }

    /// Every data file the curated commits added, by table and day.
    pub fn lake_table_files(&self) -> Result<Vec<TableFileRow>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT table_name, path, day, rows, bytes, first_ms, last_ms, patients,
                        snapshot_id, schema_id, committed_ms, wards
                 FROM lake_table_files ORDER BY table_name, day, committed_ms, path",
            )
            .ctx("reading table files")?;
        let rows = stmt
            .query_map([], |r| {
                let patients: String = r.get(7)?;
                let wards: String = r.get(11)?;
                Ok(TableFileRow {
                    table: r.get(0)?,
                    file: TableFile {
                        path: r.get(1)?,
                        day: r.get(2)?,
                        rows: r.get(3)?,
                        bytes: r.get(4)?,
                        first: r.get::<_, Option<i64>>(5)?.map(from_ms),
                        last: r.get::<_, Option<i64>>(6)?.map(from_ms),
                        patients: serde_json::from_str(&patients).unwrap_or_default(),
                        wards: serde_json::from_str(&wards).unwrap_or_default(),
                    },
                    snapshot_id: r.get(8)?,
                    schema_id: r.get(9)?,
                    committed: from_ms(r.get(10)?),
                })
            })
            .ctx("reading table files")?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading table files")
    }
}

/// Records a commit's data files (inside the commit's transaction).
pub(crate) fn record_files(
    tx: &rusqlite::Transaction<'_>,
    table: &str,
    snapshot_id: i64,
    schema_id: i32,
    files: &[TableFile],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT OR REPLACE INTO lake_table_files
               (path, table_name, day, rows, bytes, snapshot_id, schema_id, first_ms, last_ms,
                patients, committed_ms, wards)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        )
        .ctx("recording a lake commit's files")?;
    for f in files {
        let patients = serde_json::to_string(&f.patients).unwrap_or_else(|_| "[]".into());
        let wards = serde_json::to_string(&f.wards).unwrap_or_else(|_| "[]".into());
        stmt.execute(params![
            f.path,
            table,
            f.day,
            f.rows,
            f.bytes,
            snapshot_id,
            schema_id,
            f.first.map(to_ms),
            f.last.map(to_ms),
            patients,
            to_ms(now),
            wards
        ])
        .ctx("recording a lake commit's files")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, rows: i64) -> CatalogEntry {
        CatalogEntry {
            id: id.to_owned(),
            name: id.to_owned(),
            rows: Some(rows),
            ..CatalogEntry::default()
        }
    }

    #[test]
    fn replacing_keeps_every_version_and_writes_nothing_for_the_unchanged() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = Store::create_dir(&dir.path().join("data")).expect("store");
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("t");
        let a = store
            .catalog_replace(&[entry("a", 1), entry("b", 1)], "sync", t(0))
            .expect("first");
        assert_eq!((a.created, a.updated, a.removed), (2, 0, 0));
        let b = store
            .catalog_replace(&[entry("a", 1), entry("b", 2)], "sync", t(10))
            .expect("second");
        assert_eq!((b.created, b.updated, b.removed), (0, 1, 0));
        let c = store
            .catalog_replace(&[entry("b", 2)], "sync", t(20))
            .expect("third");
        assert_eq!((c.created, c.updated, c.removed), (0, 0, 1));
        assert_eq!(store.catalog_entry("a").expect("a"), None);
        let h = store.catalog_history("b").expect("history");
        let rows: Vec<_> = h
            .iter()
            .map(|v| {
                (
                    v.version,
                    v.change.as_str(),
                    v.entry.as_ref().and_then(|e| e.rows),
                )
            })
            .collect();
        assert_eq!(rows, [(1, "created", Some(1)), (2, "updated", Some(2))]);
        let gone = store.catalog_history("a").expect("history");
        assert_eq!(gone.last().map(|v| v.change.as_str()), Some("removed"));
        let (ids, seq) = store.catalog_changed_since(2).expect("since");
        assert_eq!(ids, ["a", "b"]);
        assert_eq!(seq, store.catalog_seq().expect("seq"));
        assert!(
            store
                .catalog_replace(&[entry("x", 1), entry("x", 2)], "sync", t(30))
                .is_err(),
            "an id given twice is refused"
        );
        assert_eq!(store.catalog_len().expect("len"), 1, "nothing changed");
    }

    /// A refresh that changes nothing never takes the write lock, and one
    /// that changes entries takes it only to write them: the runtime's
    /// writer does not wait while a lake's worth of digests is read.
    #[test]
    fn a_refresh_that_changes_nothing_does_not_wait_for_the_writer() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("data");
        let mut store = Store::create_dir(&path).expect("store");
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("t");
        let entries = [entry("a", 1), entry("b", 1)];
        store
            .catalog_replace(&entries, "sync", t(0))
            .expect("first refresh");
        // Another connection holds the write lock (a writer mid-batch).
        let other = Store::open_dir(&path).expect("another connection");
        other
            .conn
            .execute_batch("BEGIN IMMEDIATE")
            .expect("the write lock");
        let same = store
            .catalog_replace(&entries, "sync", t(10))
            .expect("an unchanged refresh while another connection writes");
        assert_eq!((same.created, same.updated, same.removed), (0, 0, 0));
        other.conn.execute_batch("COMMIT").expect("commit");
        let changed = store
            .catalog_replace(&[entry("a", 2)], "sync", t(20))
            .expect("a changing refresh");
        assert_eq!(
            (changed.created, changed.updated, changed.removed),
            (0, 1, 1)
        );
        let versions: Vec<_> = store
            .catalog_history("b")
            .expect("history")
            .iter()
            .map(|v| (v.version, v.change.clone()))
            .collect();
        assert_eq!(versions, [(1, "created".into()), (2, "removed".into())]);
    }

    /// The runtime's lake thread refreshes the catalogue while its writer
    /// commits batch after batch. A refresh that read the catalogue in a
    /// deferred transaction and then wrote could not take the write lock
    /// once another connection had committed after its read began
    /// (SQLITE_BUSY_SNAPSHOT: no busy handler, no wait): at 5,000 patients
    /// every refresh failed with "database is locked" and raised
    /// `tech:catalog`.
    #[test]
    fn a_refresh_is_not_refused_while_another_connection_keeps_writing() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("data");
        let mut store = Store::create_dir(&path).expect("store");
        let other = Store::open_dir(&path).expect("another connection");
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut commits = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    other
                        .conn
                        .execute(
                            "INSERT OR REPLACE INTO settings (key, value) VALUES ('test.writer', ?1)",
                            [commits.to_string()],
                        )
                        .expect("the other connection writes");
                    commits += 1;
                    // A gap between transactions, as the runtime's writer leaves.
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                commits
            })
        };
        let t = |s: i64| DateTime::from_timestamp(1_700_000_000 + s, 0).expect("t");
        let mut refused = Vec::new();
        for i in 0..300 {
            // Every refresh changes an entry, so every one writes.
            if let Err(e) = store.catalog_replace(&[entry("a", i)], "sync", t(i)) {
                refused.push(e.to_string());
            }
        }
        stop.store(true, Ordering::Relaxed);
        let commits = writer.join().expect("writer");
        assert!(commits > 0, "the other connection wrote");
        assert_eq!(
            refused.len(),
            0,
            "refreshes refused of 300; the first: {:?}",
            refused.first()
        );
        assert_eq!(
            store.catalog_history("a").expect("history").len(),
            300,
            "every refresh recorded its version"
        );
    }
}
