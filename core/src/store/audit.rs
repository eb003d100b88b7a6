//! The audit trail: who read or changed what, and when. Details hold
//! identifiers (MRNs, counts), never clinical values.
//!
//! The trail is tamper-evident (SECURITY.md). The schema's triggers refuse
//! updates and deletes, but whoever holds the database file can drop them;
//! so every entry is also sealed: it carries a monotonic sequence number,
//! the previous entry's seal, and its own seal, an HMAC-SHA-256 (RFC 2104,
//! FIPS 198-1) over all of its fields and that previous seal, keyed with a
//! key kept outside the database ([`AuditKeys`]). Without the key nobody can
//! make a seal that verifies, so [`Store::verify_audit`] finds an edited,
//! forged, deleted, inserted or reordered entry and says where; the chain's
//! head is also written beside the keys after every committed entry, so that
//! cutting entries off the end, or deleting them all, is found too. Missing
//! triggers are re-created whenever a store opens.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{Store, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub at: chrono::DateTime<chrono::Utc>,
    pub actor: String,
    pub action: String,
    pub target: Option<String>,
    pub detail: serde_json::Value,
}

/// The triggers that make the log append-only, as migration 1 made them.
const TRIGGERS: &[(&str, &str)] = &[
    (
        "audit_log_no_update",
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ),
    (
        "audit_log_no_delete",
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ),
];

/// Re-creates the append-only triggers, and the unique index on the
/// sequence, where someone dropped them; returns the names of those it had
/// to re-create.
pub(crate) fn restore_triggers(conn: &Connection) -> Result<Vec<&'static str>> {
    let mut restored = Vec::new();
    for (name, sql) in TRIGGERS {
        let present: bool = conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'trigger' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .ctx("reading the audit log's triggers")?;
        if !present {
            conn.execute_batch(sql)
                .ctx("re-creating the audit log's triggers")?;
            restored.push(*name);
        }
    }
    // The index that keeps two entries from sharing a place in the chain.
    let indexed: bool = conn
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_schema WHERE type = 'index' AND name = 'audit_log_seq'",
            [],
            |r| r.get(0),
        )
        .ctx("reading the audit log's indexes")?;
    if !indexed {
        // Duplicates (which `verify_audit` reports) keep it from coming
        // back; the store still opens, so that the alarms still run.
        match conn.execute_batch("CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq)") {
            Ok(()) => restored.push("audit_log_seq"),
            Err(_) => {
                restored.push("audit_log_seq (repeated entries keep it from being re-created)")
            }
        }
    }
    Ok(restored)
}

/// The folder of audit keys: one file per key, `KEYID.key`, 32 random
/// bytes, owner-only, and one `head-CHAINID.json` per store (the newest
/// committed entry's sequence number and seal). It must live outside the
/// data directory (by default `$XDG_CONFIG_HOME/wardwatch/keys`, see
/// `wardwatch_runtime::setup::key_dir`): a copy of the store, or of its
/// backups, then holds no key. Core reads and writes these files and knows
/// no keyring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditKeys {
    dir: PathBuf,
}

/// The key that seals new entries.
#[derive(Clone)]
pub(crate) struct Sealer {
    key_id: String,
    key: [u8; 32],
    /// Where the chain's head is written after each committed entry.
    head: PathBuf,
}

impl Sealer {
    /// Records `head` outside the store: call once its entry is committed.
    pub(crate) fn record_head(&self, head: &Head) {
        write_head(&self.head, head);
    }
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Sealer")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// What attaching the keys found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyEvent {
    /// The key of the newest sealed entry was found.
    Found,
    /// No entry was sealed yet: a new key was made.
    New,
    /// The key of the newest sealed entry is gone from the key folder: a
    /// new key was made, and the entries sealed with the lost one can no
    /// longer be verified. The caller audits this and warns.
    Replaced { missing: String },
}

impl AuditKeys {
    pub fn in_dir(dir: impl Into<PathBuf>) -> AuditKeys {
        AuditKeys { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
        let path = path.to_owned();
        move |source| Error::DataDir { path, source }
    }

    /// The key with this id, if the folder has it.
    fn load(&self, key_id: &str) -> Result<Option<[u8; 32]>> {
        if !key_id.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(None);
        }
        let path = self.dir.join(format!("{key_id}.key"));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let key: [u8; 32] = bytes.try_into().map_err(|_| Error::InvalidInput {
                    what: "audit key",
                    reason: format!(
                        "{} is not 32 bytes: the key file is damaged",
                        path.display()
                    ),
                })?;
                if key_id_of(&key) != key_id {
                    return Err(Error::InvalidInput {
                        what: "audit key",
                        reason: format!(
                            "{} does not hold the key its name says: the key file is damaged",
                            path.display()
                        ),
                    });
                }
                Ok(Some(key))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(
                // Kept in the OS keyring instead, where the binaries put it.
                super::cipher::from_vault(super::cipher::KeyKind::Audit, key_id)?
                    .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
                    .filter(|k| key_id_of(k) == key_id),
            ),
            Err(e) => Err(self.io(&path)(e)),
        }
    }

    /// Makes, stores (owner-only, written whole before it is named) and
    /// returns a new key.
    fn create(&self) -> Result<(String, [u8; 32])> {
        super::create_private_dir(&self.dir)?;
        let key: [u8; 32] = crate::auth::random_bytes("audit key")?;
        let key_id = key_id_of(&key);
        let path = self.dir.join(format!("{key_id}.key"));
        super::write_private_file(&path, &key).map_err(self.io(&path))?;
        Ok((key_id, key))
    }

    fn head_path(&self, chain: &str) -> PathBuf {
        self.dir.join(format!("head-{chain}.json"))
    }
}

/// Writes `bytes` to a new owner-only file at `path`, synced.
pub(super) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// A key's public id: the first 16 hex digits of SHA-256 over a label and
/// the key. Names the key without revealing it.
fn key_id_of(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"wardwatch audit key id\0");
    h.update(key);
    hex(&h.finalize()[..8])
}

/// An entry as the log stores it.
#[derive(Debug, Clone)]
struct Row {
    id: i64,
    seq: Option<i64>,
    ts_ms: i64,
    actor: String,
    action: String,
    target: Option<String>,
    detail: String,
    key_id: Option<String>,
    prev_mac: Option<Vec<u8>>,
    mac: Option<Vec<u8>>,
}

/// The seal over an entry: every field, length-prefixed so that no two
/// different entries encode alike, then the previous entry's seal.
fn seal(key: &[u8; 32], row: &Row) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    let mut field = |b: &[u8]| {
        m.update(&(b.len() as u64).to_le_bytes());
        m.update(b);
    };
    field(b"wardwatch audit entry v1");
    field(&row.seq.unwrap_or(0).to_le_bytes());
    field(&row.ts_ms.to_le_bytes());
    field(row.actor.as_bytes());
    field(row.action.as_bytes());
    match &row.target {
        Some(t) => {
            field(b"\x01");
            field(t.as_bytes());
        }
        None => field(b"\x00"),
    }
    field(row.detail.as_bytes());
    field(row.key_id.as_deref().unwrap_or("").as_bytes());
    field(row.prev_mac.as_deref().unwrap_or(&[]));
    m.finalize().into_bytes().to_vec()
}

/// The chain's head as written beside the keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Head {
    pub seq: i64,
    /// The newest entry's seal, hex.
    pub mac: String,
}

pub(super) use crate::text::hex;

/// Appends a sealed entry. Inside the caller's transaction when there is
/// one (it then commits the entry with its own work); otherwise in an
/// immediate transaction of its own, so that two processes appending at
/// once take turns and never fork the chain (the unique index on `seq`
/// would refuse a fork anyway). Returns the new head.
pub(crate) fn append(conn: &Connection, sealer: &Sealer, entry: &AuditEntry) -> Result<Head> {
    let own_tx = conn.is_autocommit();
    if own_tx {
        conn.execute_batch("BEGIN IMMEDIATE")
            .ctx("appending to the audit log")?;
    }
    let r = append_in_tx(conn, sealer, entry);
    if own_tx {
        match &r {
            Ok(_) => conn
                .execute_batch("COMMIT")
                .ctx("appending to the audit log")?,
            Err(_) => {
                let _ = conn.execute_batch("ROLLBACK");
            }
        }
    }
    r
}

fn append_in_tx(conn: &Connection, sealer: &Sealer, entry: &AuditEntry) -> Result<Head> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, mac FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ctx("reading the audit log's newest entry")?;
    let (seq, prev_mac) = match last {
        Some((s, mac)) => (s + 1, Some(mac)),
        None => (1, None),
    };
    let mut row = Row {
        id: 0,
        seq: Some(seq),
        ts_ms: to_ms(entry.at),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        target: entry.target.clone(),
        detail: entry.detail.to_string(),
        key_id: Some(sealer.key_id.clone()),
        prev_mac,
        mac: None,
    };
    let mac = seal(&sealer.key, &row);
    row.mac = Some(mac.clone());
    conn.execute(
        "INSERT INTO audit_log (ts_ms, actor, action, target, detail, seq, key_id, prev_mac, mac)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            row.ts_ms,
            row.actor,
            row.action,
            row.target,
            row.detail,
            seq,
            row.key_id,
            row.prev_mac,
            mac
        ],
    )
    .ctx("appending to the audit log")?;
    Ok(Head {
        seq,
        mac: hex(&mac),
    })
}

/// Records `head` beside the keys unless a newer one is already there
/// (several processes append; the file is a lower bound of the chain's
/// length, never more than what was committed). Best effort: a head that
/// cannot be written is logged, and the entry itself is committed.
fn write_head(path: &Path, head: &Head) {
    let newer_there = std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Head>(&b).ok())
        .is_some_and(|h| h.seq >= head.seq);
    if newer_there {
        return;
    }
    let body = serde_json::to_vec(head).unwrap_or_default();
    if let Err(e) = super::write_private_file(path, &body) {
        tracing::error!(path = %path.display(), error = %e, "could not record the audit chain's head");
    }
}

/// What went wrong at one place in the trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's content no longer matches its seal: edited (or forged
    /// with a made-up seal).
    Edited,
    /// Entries are missing: a gap in the sequence, or the log ends before
    /// the head recorded outside the store.
    Deleted,
    /// An entry that is not part of the chain: no seal after the chain
    /// began, a repeated sequence number, or a seal that links to the wrong
    /// predecessor.
    Inserted,
    /// Entries stand in a different order than they were written.
    Reordered,
    /// The key that sealed the entry is not in the key folder: it cannot be
    /// checked (not proof of tampering, but nothing vouches for it).
    Unverifiable,
    /// The append-only triggers were missing when the store was opened.
    TriggersMissing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub kind: ProblemKind,
    /// The entry's sequence number, where it has one.
    pub seq: Option<i64>,
    /// The entry's row id in the database.
    pub row: Option<i64>,
    pub what: String,
}

/// What [`Store::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub entries: usize,
    /// Entries sealed and verified.
    pub verified: usize,
    /// Entries from before the chain (migration 11): never sealed.
    pub unsealed_before_chain: usize,
    /// The head recorded outside the store, when there is one.
    pub head: Option<Head>,
    pub problems: Vec<Problem>,
}

impl Verification {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Attaches the audit keys: the key of the newest sealed entry, or a new
    /// one. Every entry appended afterwards is sealed with it.
    pub fn attach_audit_keys(&mut self, keys: &AuditKeys) -> Result<KeyEvent> {
        let chain = self.audit_chain_id()?;
        let newest: Option<String> = self
            .conn
            .query_row(
                "SELECT key_id FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
            .ctx("reading the audit log's newest entry")?;
        let head = keys.head_path(&chain);
        let (event, key_id, key) = match newest {
            Some(id) => match keys.load(&id)? {
                Some(key) => (KeyEvent::Found, id, key),
                None => {
                    let (new_id, key) = keys.create()?;
                    (KeyEvent::Replaced { missing: id }, new_id, key)
                }
            },
            None => {
                let (id, key) = keys.create()?;
                (KeyEvent::New, id, key)
            }
        };
        self.sealer = Some(Sealer { key_id, key, head });
        Ok(event)
    }

    /// Attaches the keys (see [`Store::attach_audit_keys`]) and records in
    /// the trail what opening found amiss: a lost key replaced, triggers
    /// re-created. `actor` is who opened the store.
    pub fn seal_with(
        &mut self,
        keys: &AuditKeys,
        actor: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        if self.sealer.is_some() {
            return Ok(());
        }
        if let KeyEvent::Replaced { missing } = self.attach_audit_keys(keys)? {
            tracing::error!(
                missing = %missing,
                dir = %keys.dir().display(),
                "the audit key of the newest entries is missing: a new key seals from now on, and the earlier entries cannot be verified"
            );
            self.append_audit(&AuditEntry {
                at: now,
                actor: actor.to_owned(),
                action: "audit.key_replaced".into(),
                target: None,
                detail: serde_json::json!({
                    "missing_key": missing,
                    "key_dir": keys.dir().display().to_string(),
                }),
            })?;
        }
        if !self.triggers_restored.is_empty() {
            self.append_audit(&AuditEntry {
                at: now,
                actor: actor.to_owned(),
                action: "audit.triggers_restored".into(),
                target: None,
                detail: serde_json::json!({ "triggers": self.triggers_restored }),
            })?;
        }
        Ok(())
    }

    /// The chain's id and its newest sealed entry (as a head, with the id of
    /// the key that sealed it): what the lake keeps a copy of.
    pub fn audit_head(&self) -> Result<Option<(String, Head)>> {
        let chain = self.audit_chain_id()?;
        let newest: Option<(i64, Vec<u8>)> = self
            .conn
            .query_row(
                "SELECT seq, mac FROM audit_log WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("reading the audit log's newest entry")?;
        Ok(newest.map(|(seq, mac)| {
            (
                chain,
                Head {
                    seq,
                    mac: hex(&mac),
                },
            )
        }))
    }

    /// The newest head written to the lake.
    pub fn audit_head_published(&self) -> Result<Option<i64>> {
        self.conn
            .query_row("SELECT max(seq) FROM audit_heads_published", [], |r| {
                r.get(0)
            })
            .ctx("reading the published audit heads")
    }

    /// Records that the lake holds the head of entry `seq` at `object_key`.
    pub fn note_audit_head_published(
        &self,
        seq: i64,
        object_key: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT OR IGNORE INTO audit_heads_published (seq, object_key, written_ms)
                 VALUES (?1, ?2, ?3)",
                params![seq, object_key, to_ms(now)],
            )
            .ctx("recording a published audit head")?;
        Ok(())
    }

    /// The ids of the keys that sealed entries, oldest first.
    pub fn audit_key_ids(&self) -> Result<Vec<String>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT key_id FROM audit_log WHERE key_id IS NOT NULL
                 GROUP BY key_id ORDER BY min(seq)",
            )
            .ctx("reading the audit keys' ids")?;
        st.query_map([], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .ctx("reading the audit keys' ids")
    }

    /// The chain's id (names its head objects and file).
    pub fn audit_chain_id(&self) -> Result<String> {
        self.conn
            .query_row("SELECT id FROM audit_chain LIMIT 1", [], |r| r.get(0))
            .ctx("reading the audit chain's id")
    }

    pub(crate) fn sealer(&self) -> Result<&Sealer> {
        self.sealer.as_ref().ok_or_else(|| Error::InvalidInput {
            what: "audit log",
            reason: "no audit key attached: open the store through `api::Ctx`".into(),
        })
    }

    /// Appends a sealed entry and records the new head outside the store.
    pub fn append_audit(&self, entry: &AuditEntry) -> Result<()> {
        let sealer = self.sealer()?;
        let head = append(&self.conn, sealer, entry)?;
        if self.conn.is_autocommit() {
            sealer.record_head(&head);
        }
        Ok(())
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

    /// Checks the whole trail against its seals, its sequence and the head
    /// recorded outside the store, with the keys in `keys`.
    /// `triggers_restored` (from this open) is reported as a problem too.
    pub fn verify_audit(&self, keys: &AuditKeys) -> Result<Verification> {
        self.verify_audit_with(keys, &[])
    }

    /// [`Store::verify_audit`], also against heads kept elsewhere (the
    /// lake's write-once `_audit/` objects), each named by where it is.
    pub fn verify_audit_with(
        &self,
        keys: &AuditKeys,
        elsewhere: &[(String, Head)],
    ) -> Result<Verification> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, seq, ts_ms, actor, action, target, detail, key_id, prev_mac, mac
                 FROM audit_log ORDER BY id",
            )
            .ctx("reading the audit log")?;
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok(Row {
                    id: r.get(0)?,
                    seq: r.get(1)?,
                    ts_ms: r.get(2)?,
                    actor: r.get(3)?,
                    action: r.get(4)?,
                    target: r.get(5)?,
                    detail: r.get(6)?,
                    key_id: r.get(7)?,
                    prev_mac: r.get(8)?,
                    mac: r.get(9)?,
                })
            })
            .ctx("reading the audit log")?
            .collect::<rusqlite::Result<_>>()
            .ctx("reading the audit log")?;
        let head = std::fs::read(keys.head_path(&self.audit_chain_id()?))
            .ok()
            .and_then(|b| serde_json::from_slice::<Head>(&b).ok());
        let mut heads: Vec<(String, Head)> = head
            .iter()
            .map(|h| ("the key folder".to_owned(), h.clone()))
            .collect();
        heads.extend(elsewhere.iter().cloned());
        let mut v = check(&rows, &heads, |id| keys.load(id).ok().flatten());
        v.head = head;
        for name in &self.triggers_restored {
            v.problems.insert(
                0,
                Problem {
                    kind: ProblemKind::TriggersMissing,
                    seq: None,
                    row: None,
                    what: format!("{name} was missing when the store was opened"),
                },
            );
        }
        Ok(v)
    }
}

/// The checks of [`Store::verify_audit`] over the rows in id order.
fn check(
    rows: &[Row],
    heads: &[(String, Head)],
    key: impl Fn(&str) -> Option<[u8; 32]>,
) -> Verification {
    let mut problems = Vec::new();
    let mut p = |kind, row: &Row, what: String| {
        problems.push(Problem {
            kind,
            seq: row.seq,
            row: Some(row.id),
            what,
        })
    };
    let first_sealed = rows.iter().position(|r| r.seq.is_some());
    let before = first_sealed.unwrap_or(rows.len());
    // In the order they stand: unsealed rows after the chain began, and
    // rows that stand before an entry written earlier than them.
    let mut sealed: Vec<&Row> = Vec::new();
    let mut highest = 0;
    for row in &rows[before..] {
        match row.seq {
            None => p(
                ProblemKind::Inserted,
                row,
                format!("row {} has no seal although the chain had begun", row.id),
            ),
            Some(seq) => {
                if seq < highest {
                    p(
                        ProblemKind::Reordered,
                        row,
                        format!("entry {seq} stands after entry {highest}"),
                    );
                }
                highest = highest.max(seq);
                sealed.push(row);
            }
        }
    }
    // In the order they were written: the sequence, the links, the seals.
    sealed.sort_by_key(|r| r.seq);
    let mut verified = 0;
    let mut keys: std::collections::HashMap<String, Option<[u8; 32]>> = Default::default();
    let mut prev: Option<&Row> = None;
    for row in sealed {
        let seq = row.seq.unwrap_or_default();
        match prev.and_then(|r| r.seq) {
            None if seq != 1 => p(
                ProblemKind::Deleted,
                row,
                format!(
                    "entries 1 to {} are missing: the chain begins at {seq}",
                    seq - 1
                ),
            ),
            None => {}
            Some(ps) if seq == ps => p(
                ProblemKind::Inserted,
                row,
                format!("entry {seq} appears twice"),
            ),
            Some(ps) if seq > ps + 1 => p(
                ProblemKind::Deleted,
                row,
                format!("entries {} to {} are missing", ps + 1, seq - 1),
            ),
            Some(_) if prev.and_then(|r| r.mac.as_deref()) != row.prev_mac.as_deref() => p(
                ProblemKind::Inserted,
                row,
                format!("entry {seq} does not follow the entry before it"),
            ),
            Some(_) => {}
        }
        let id = row.key_id.clone().unwrap_or_default();
        let k = *keys.entry(id.clone()).or_insert_with(|| key(&id));
        match k {
            None => p(
                ProblemKind::Unverifiable,
                row,
                format!("entry {seq} was sealed with key {id}, which is not in the key folder"),
            ),
            Some(k) if row.mac.as_deref() == Some(seal(&k, row).as_slice()) => verified += 1,
            Some(_) => p(
                ProblemKind::Edited,
                row,
                format!(
                    "entry {seq} does not match its seal: it was changed, or forged, after it was written"
                ),
            ),
        }
        prev = Some(row);
    }
    let max = rows.iter().filter_map(|r| r.seq).max().unwrap_or(0);
    for (place, h) in heads {
        let at_head = rows.iter().find(|r| r.seq == Some(h.seq));
        match at_head {
            None if h.seq > max => problems.push(Problem {
                kind: ProblemKind::Deleted,
                seq: Some(h.seq),
                row: None,
                what: format!(
                    "the log ends at entry {max}, but {place} records entry {}: entries {} to {} are gone",
                    h.seq,
                    max + 1,
                    h.seq
                ),
            }),
            Some(r) if r.mac.as_deref().map(hex).as_deref() != Some(h.mac.as_str()) => {
                problems.push(Problem {
                    kind: ProblemKind::Edited,
                    seq: Some(h.seq),
                    row: Some(r.id),
                    what: format!(
                        "entry {} is not the one {place} records: the log was rewritten",
                        h.seq
                    ),
                })
            }
            _ => {}
        }
    }
    Verification {
        entries: rows.len(),
        verified,
        unsealed_before_chain: before,
        head: None,
        problems,
    }
}
