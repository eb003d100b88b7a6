//! The local clinical store: one SQLite database in the data directory, in WAL
//! mode with foreign keys on. All SQL lives under this module; the rest of the
//! code calls typed methods.
//!
//! The data directory is created owner-only (0700) and the database file is
//! 0600: patient data is readable by the account running Wardwatch and nobody
//! else on the machine.

mod audit;
pub mod backup;
pub mod catalog;
pub mod charted;
pub mod cipher;
pub mod curated;
mod dedup;
pub mod devices;
pub mod history;
pub mod lake;
mod migrations;
pub mod numerics;
mod patients;
mod quarantine;
pub mod rollup;
pub mod rollup_journal;
mod sources;
mod users;
mod vitals;
mod wal;

pub use dedup::{DEDUP_MAX_IDS, DEDUP_WINDOW};

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{Error, Result, SqlContext};

pub use audit::{
    AuditEntry, AuditKeys, Head as AuditHead, KeyEvent, Problem as AuditProblem,
    ProblemKind as AuditProblemKind, Verification as AuditVerification,
};
pub use cipher::{Rekeyed, StoreKey};
pub use patients::UpsertOutcome;
pub use quarantine::{QUARANTINE_RAW_MAX, QuarantineBudget, Quarantined, Trimmed};
pub use sources::SourceStatus;
pub use users::{Role, User};
pub use vitals::{
    ADMISSION_SLACK, BatchOutcome, EcgStored, IngestBatch, IngestItem, LatestVital, Pruned,
    Retention, ScoreRow, Space, StoredBatch, TableSpace, sequence_after,
};
pub use wal::{Checkpointed, WAL_BACKSTOP_PAGES, WalCheckpointer};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "wardwatch.db";

/// What SQLite may hold in memory across every connection of the process
/// before its page caches recycle their own pages instead of growing
/// (`PRAGMA soft_heap_limit`, <https://sqlite.org/pragma.html#pragma_soft_heap_limit>).
/// Each connection's cache is 32 MiB at most, and a runtime holds several
/// (the writer, the live scorer's reads, upkeep, the lake): without a
/// process-wide bound their sum grows with every connection a feature adds.
/// A soft limit never fails a statement; it only stops caches growing.
pub const SQLITE_HEAP_LIMIT: i64 = 160 << 20;

#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
    /// The key that seals audit entries, once attached (see `audit`).
    sealer: Option<audit::Sealer>,
    /// The audit log's triggers this open had to re-create.
    triggers_restored: Vec<&'static str>,
    /// The id of the SQLCipher key the store opened with; None in clear.
    key_id: Option<String>,
    /// Observation ids seen lately (`dedup`).
    recent_ids: dedup::RecentIds,
    /// Patient records read before (see `patients::PatientCache`).
    patient_cache: std::cell::RefCell<patients::PatientCache>,
    /// The writer's open numeric blocks, kept between batches (see
    /// `numerics::BlockCache`).
    numeric_blocks: numerics::BlockCache,
    /// Batches add their minutes to the rollup journal (`rollup_journal`).
    rollups_deferred: bool,
    /// The journal's parts this connection appended to since it merged
    /// them, as bits (`rollup_journal::PARTS`).
    journal_dirty: u32,
    /// The part it merged last (`Store::merge_rollup_journal_part`).
    journal_last_part: i64,
}

/// How long a statement waits for a lock another connection holds before
/// it fails as busy ([`ErrorKind::Busy`](crate::error::ErrorKind)).
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How often a waiting statement tries the lock again.
const BUSY_POLL: std::time::Duration = std::time::Duration::from_millis(1);

thread_local! {
    /// When this thread's statement first found the store busy.
    static BUSY_SINCE: std::cell::Cell<Option<std::time::Instant>> =
        const { std::cell::Cell::new(None) };
}

/// SQLite's busy handler for every store connection: tries again every
/// millisecond for up to [`BUSY_TIMEOUT`]. SQLite's own (`busy_timeout`)
/// backs off to one try every 100 ms, and SQLite has no queue for the write
/// lock: a runtime writer that has fallen behind frees the lock only for
/// the short gaps it leaves between its transactions (the pipeline's
/// `LOCK_GAP`), which a try every 100 ms mostly misses. At 10,000 patients a
/// `wardwatchctl` command's audit entry failed as busy after 10 s that way.
fn wait_for_the_write_lock(attempt: i32) -> bool {
    let now = std::time::Instant::now();
    let since = BUSY_SINCE.with(|s| {
        let since = if attempt == 0 {
            now
        } else {
            s.get().unwrap_or(now)
        };
        s.set(Some(since));
        since
    });
    if now.duration_since(since) >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_POLL);
    true
}

/// The SQL functions the store's own statements use, on each connection.
fn register_functions(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    use rusqlite::types::ValueRef;
    conn.create_scalar_function(
        rollup::MERGE_FUNCTION,
        2,
        FunctionFlags::SQLITE_UTF8
            | FunctionFlags::SQLITE_DETERMINISTIC
            | FunctionFlags::SQLITE_DIRECTONLY,
        |ctx| {
            let blob = |i: usize| match ctx.get_raw(i) {
                ValueRef::Blob(b) => b,
                _ => &[],
            };
            Ok(rollup::Hour::merge_blobs(blob(0), blob(1)))
        },
    )
    .ctx("registering the store's SQL functions")
}

impl Store {
    /// Opens the existing store in `data_dir`, applying migrations. A folder
    /// without a store is an error ([`Error::NoStore`]), never an empty new
    /// store: a mistyped path must not answer "no alarms". Only
    /// [`Store::create_dir`] makes a store.
    pub fn open_dir(data_dir: &Path) -> Result<Store> {
        let path = data_dir.join(DB_FILE);
        if !path.is_file() {
            return Err(Error::NoStore {
                path: data_dir.to_owned(),
            });
        }
        warn_if_shared(data_dir);
        Store::open_file(&path)
    }

    /// Creates the store in `data_dir` (and the folder, owner-only, when it
    /// does not exist), or opens it when it already exists. An existing
    /// folder that other users can read is refused, not silently changed.
    pub fn create_dir(data_dir: &Path) -> Result<Store> {
        create_private_dir(data_dir)?;
        Store::open_file(&data_dir.join(DB_FILE))
    }

    /// Like [`Store::create_dir`], but a new store is encrypted
    /// ([`cipher`]) with a new key saved in `key_dir`. An existing store is
    /// opened as it is (`wardwatchctl store encrypt` encrypts one in clear).
    pub fn create_dir_encrypted(data_dir: &Path, key_dir: &Path) -> Result<Store> {
        create_private_dir(data_dir)?;
        let db = data_dir.join(DB_FILE);
        let fresh = std::fs::metadata(&db).map(|m| m.len() == 0).unwrap_or(true);
        if fresh && cipher::marker(data_dir)?.is_none() {
            cipher::prepare_new(data_dir, key_dir)?;
        }
        Store::open_file(&db)
    }

    /// Whether `data_dir` holds a store.
    pub fn exists_in(data_dir: &Path) -> bool {
        data_dir.join(DB_FILE).is_file()
    }

    /// Opens (creating if needed) the database file at `path`.
    fn open_file(path: &Path) -> Result<Store> {
        let data_dir = path.parent().unwrap_or(Path::new("."));
        let (conn, key_id) = cipher::open(data_dir, path)?;
        restrict_permissions(path)?;
        conn.busy_handler(Some(wait_for_the_write_lock))
            .ctx("setting the busy handler")?;
        register_functions(&conn)?;
        // The cheap sanity check: SQLite reads the header and parses the
        // schema, whatever the store's size. A file that is not a database,
        // or whose schema is damaged, is refused here and left untouched.
        conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(|e| backup::damaged(path, e))?;
        // WAL lets the desktop app read while `wardwatchctl serve` writes;
        // synchronous=NORMAL is durable across application crashes in WAL mode.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| backup::damaged(path, e))?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx("setting synchronous")?;
        // A 32 MiB page cache (SQLite's default is 2 MiB): an encrypted
        // page is decrypted and authenticated each time it enters the
        // cache, so hot index pages should stay there. On the pipeline
        // benchmark (1,000 patients) it took the cost of encryption from
        // 48 % to 28 % of wall time; 64 MiB gained nothing more.
        conn.execute_batch("PRAGMA cache_size = -32768")
            .ctx("setting the page cache")?;
        // Process-wide; setting it again on each open is harmless.
        conn.pragma_update(None, "soft_heap_limit", SQLITE_HEAP_LIMIT)
            .ctx("setting the soft heap limit")?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
            sealer: None,
            triggers_restored: Vec::new(),
            key_id,
            patient_cache: Default::default(),
            numeric_blocks: Default::default(),
            recent_ids: Default::default(),
            rollups_deferred: false,
            journal_dirty: 0,
            journal_last_part: 0,
        };
        store.migrate()?;
        numerics::count_block_writes(&store.conn)?;
        store.triggers_restored = audit::restore_triggers(&store.conn)?;
        if !store.triggers_restored.is_empty() {
            tracing::error!(
                triggers = ?store.triggers_restored,
                "the audit log's append-only triggers were missing and have been re-created: run `wardwatchctl audit verify`"
            );
        }
        store
            .conn
            .pragma_update(None, "foreign_keys", "ON")
            .ctx("enabling foreign keys")?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Frees what this connection's page cache holds. For connections that
    /// scan the whole store now and then (upkeep's integrity and audit
    /// checks, backups): the pages they read are not read again soon.
    pub fn release_memory(&self) -> Result<()> {
        self.conn.release_memory().ctx("releasing the page cache")
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .ctx("reading the schema version")
    }

    /// Brings the schema up to date. Foreign keys stay off meanwhile (and
    /// `open` turns them on after): a migration may rebuild a table, and
    /// dropping the old one must neither cascade nor fail. SQLite ignores the
    /// pragma inside a transaction, so it is set here; instead each migration
    /// runs `foreign_key_check` before it commits.
    fn migrate(&mut self) -> Result<()> {
        self.conn
            .pragma_update(None, "foreign_keys", "OFF")
            .ctx("disabling foreign keys to migrate")?;
        let known = migrations::MIGRATIONS.len() as i64;
        let mut found = self.schema_version()?;
        if found > known {
            return Err(Error::SchemaTooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        if found == 1 {
            let actual =
                migrations::actual_version_of_v1_store(&self.conn).ctx("reading the schema")?;
            if actual > found {
                self.conn
                    .pragma_update(None, "user_version", actual)
                    .ctx("recording the schema version")?;
                tracing::info!(
                    version = actual,
                    "store made by a build that edited migration 1: version recorded"
                );
                found = actual;
            }
        }
        for (index, sql) in migrations::MIGRATIONS
            .iter()
            .enumerate()
            .skip(found as usize)
        {
            let version = index as i64 + 1;
            // Immediate: the write lock is taken first, so two processes
            // opening an old store at once take turns; the second then sees
            // the version the first recorded and skips what is done.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .ctx("starting a migration")?;
            let current: i64 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .ctx("reading the schema version")?;
            if current >= version {
                continue;
            }
            tx.execute_batch(sql).ctx("applying a migration")?;
            migrations::after_sql(version, &tx)?;
            check_foreign_keys(&tx, version)?;
            tx.pragma_update(None, "user_version", version)
                .ctx("recording the schema version")?;
            tx.commit().ctx("committing a migration")?;
            tracing::info!(version, "store migrated");
        }
        Ok(())
    }

    /// Makes this connection the runtime's writer of numeric blocks: it
    /// keeps its patients' open blocks from one batch to the
    /// next, and its own writes to them are no longer counted in
    /// `block_changes` (which would make it read them all again at the next
    /// commit of anyone else). Every other connection's writes are, so its
    /// blocks are read again only when another wrote to them. One
    /// connection of a store at a time (the single runtime).
    pub fn sole_block_writer(&mut self) -> Result<()> {
        numerics::uncount_block_writes(&self.conn)
    }

    /// Numeric blocks this connection read from the store to add to them
    /// (a counter: its cache keeps the open ones between batches).
    pub fn numeric_blocks_read(&self) -> u64 {
        self.numeric_blocks.reads()
    }

    /// SQLite's `data_version`: it changes when another connection commits
    /// to the database, so a watcher can tell "something changed" without
    /// reading any data.
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .pragma_query_value(None, "data_version", |r| r.get(0))
            .ctx("reading the data version")
    }

    /// Reads a setting; `None` when unset.
    pub fn setting(&self, key: &str) -> Result<Option<String>> {
        use rusqlite::OptionalExtension;
        self.conn
            .query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .ctx("reading a setting")
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )
            .ctx("writing a setting")?;
        Ok(())
    }

    /// Removes a setting (back to its default); whether it was set.
    pub fn unset_setting(&self, key: &str) -> Result<bool> {
        let n = self
            .conn
            .execute("DELETE FROM settings WHERE key = ?1", [key])
            .ctx("removing a setting")?;
        Ok(n > 0)
    }
}

/// Fails (so the migration rolls back) when a migration left a row whose
/// foreign key points at nothing, which foreign keys, had they been on, would
/// have refused.
fn check_foreign_keys(tx: &rusqlite::Transaction<'_>, version: i64) -> Result<()> {
    use rusqlite::OptionalExtension;
    let broken: Option<(String, String)> = tx
        .query_row(
            "SELECT \"table\", parent FROM pragma_foreign_key_check LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .ctx("checking foreign keys after a migration")?;
    match broken {
        None => Ok(()),
        Some((table, parent)) => Err(Error::Sqlite {
            context: "checking foreign keys after a migration",
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY),
                Some(format!(
                    "migration {version} left rows in `{table}` that refer to missing rows of `{parent}`"
                )),
            ),
        }),
    }
}

/// Group or other permission bits on a folder holding patient data.
#[cfg(unix)]
fn shared_mode(dir: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn shared_mode(_: &Path) -> Option<u32> {
    None
}

fn warn_if_shared(dir: &Path) {
    if let Some(mode) = shared_mode(dir) {
        tracing::warn!(
            mode = format!("{mode:o}"),
            "the data directory is readable by other users: chmod 700 it"
        );
    }
}

/// Creates `dir` owner-only, or accepts an existing owner-only folder. The
/// mode of an existing folder is never changed: a folder others can read
/// is refused with the fix, so an admin decides.
fn create_private_dir(dir: &Path) -> Result<()> {
    let err = |source| Error::DataDir {
        path: dir.to_owned(),
        source,
    };
    if dir.is_dir() {
        if let Some(mode) = shared_mode(dir) {
            return Err(Error::UnsafeDataDir {
                path: dir.to_owned(),
                reason: format!("other users can reach (mode {mode:o}) the folder"),
                fix: "run `chmod 700` on it, or choose a new folder for the store",
            });
        }
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(err)?;
    Ok(())
}

/// Writes `bytes` to `path` whole or not at all: to an owner-only (0600)
/// temporary file beside it, named with this process's id so that two
/// writers never share one, synced, then renamed over `path`. For keys, key
/// lists, chain heads and sessions.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = audit::write_private(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

fn restrict_permissions(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(
            |source| Error::DataDir {
                path: path.to_owned(),
                source,
            },
        )?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

pub(crate) fn to_ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An owner-only temporary folder, its failure as the store's error.
    fn private_tempdir() -> Result<tempfile::TempDir> {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .map_err(|source| Error::DataDir {
                path: PathBuf::from("tmp"),
                source,
            })
    }

    #[test]
    fn reopening_a_migrated_store_keeps_its_version() -> Result<()> {
        let dir = private_tempdir()?;
        let v1 = Store::create_dir(dir.path())?.schema_version()?;
        let v2 = Store::open_dir(dir.path())?.schema_version()?;
        assert_eq!(v1, migrations::MIGRATIONS.len() as i64);
        assert_eq!(v1, v2);
        Ok(())
    }

    #[test]
    fn every_open_store_bounds_sqlites_memory_and_can_give_its_cache_back() -> Result<()> {
        let dir = private_tempdir()?;
        let store = Store::create_dir(dir.path())?;
        let limit: i64 = store
            .conn
            .pragma_query_value(None, "soft_heap_limit", |r| r.get(0))
            .ctx("reading the soft heap limit")?;
        assert_eq!(limit, SQLITE_HEAP_LIMIT);
        store.release_memory()?;
        // The store still answers after giving its cache back.
        assert_eq!(store.schema_version()?, migrations::MIGRATIONS.len() as i64);
        Ok(())
    }

    /// The plan of each query of `ecg_blocks`, one line per step.
    fn plan(store: &Store, sql: &str) -> Vec<String> {
        let mut stmt = store
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("a query of ecg_blocks prepares");
        // Unbound: a plan does not depend on the values.
        let mut rows = stmt.raw_query();
        let mut steps = Vec::new();
        while let Some(row) = rows.next().expect("its plan is read") {
            steps.push(row.get::<_, String>(3).expect("a step's detail"));
        }
        steps
    }

    /// Every query of the ECG blocks seeks `ecg_blocks_key` (migration 28):
    /// at 10,000 patients a scan of them would hold the writer for minutes.
    /// Whether SQLite can use an index on an expression depends on how a
    /// query names it and on SQLite's version (3.40 scans for `start_ms /
    /// 1000 = ?3 / 1000 AND start_ms = ?3`), so each query is checked
    /// against the SQLite this build bundles.
    #[test]
    fn every_query_of_the_ecg_blocks_seeks_their_key() -> Result<()> {
        let dir = private_tempdir()?;
        let store = Store::create_dir(dir.path())?;
        let queries = [
            ("a block at a start", vitals::ECG_BLOCK_AT),
            ("a lead from a time on", vitals::ECG_FROM),
            ("pruning", vitals::ECG_PRUNE),
            ("a device move's clashes", devices::ECG_MOVE_CLASHES),
            ("a device move", devices::ECG_MOVE),
        ];
        for (what, sql) in queries {
            let plan = plan(&store, sql);
            // What is scanned is a table the query made, never a stored one.
            let scans: Vec<_> = plan
                .iter()
                .filter(|step| step.starts_with("SCAN "))
                .filter(|step| {
                    !["SCAN ecg_seconds", "SCAN moving_ecg", "SCAN CONSTANT ROW"]
                        .iter()
                        .any(|ok| step.starts_with(ok))
                })
                .collect();
            assert!(scans.is_empty(), "{what} scans: {plan:#?}");
            let seeks = plan
                .iter()
                .filter(|step| {
                    step.starts_with("SEARCH ") && step.contains("INDEX ecg_blocks_key (<expr>")
                })
                .count();
            assert!(seeks >= 1, "{what} does not seek ecg_blocks_key: {plan:#?}");
        }
        // A patient's blocks are found by patient within each second.
        for sql in [vitals::ECG_BLOCK_AT, vitals::ECG_FROM, devices::ECG_MOVE] {
            assert!(
                plan(&store, sql)
                    .iter()
                    .any(|step| step.contains("(<expr>=? AND patient_id=?")),
                "{sql}"
            );
        }
        Ok(())
    }

    #[test]
    fn database_from_a_newer_build_is_refused_not_touched() -> Result<()> {
        let dir = private_tempdir()?;
        let store = Store::create_dir(dir.path())?;
        store
            .conn
            .pragma_update(None, "user_version", 999)
            .ctx("test")?;
        drop(store);
        let err = Store::open_dir(dir.path()).err();
        assert!(matches!(err, Some(Error::SchemaTooNew { found: 999, .. })));
        Ok(())
    }

    #[test]
    fn a_mistyped_data_dir_is_an_error_and_creates_nothing() -> Result<()> {
        let dir = private_tempdir()?;
        let typo = dir.path().join("wardwach");
        let err = Store::open_dir(&typo).err();
        assert!(
            matches!(&err, Some(Error::NoStore { path }) if path == &typo),
            "{err:?}"
        );
        assert!(!typo.exists());
        // An existing, empty folder is no store either.
        let err = Store::open_dir(dir.path()).err();
        assert!(matches!(err, Some(Error::NoStore { .. })), "{err:?}");
        assert!(!dir.path().join(DB_FILE).exists());
        Ok(())
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_folder_others_can_read_is_refused_and_its_mode_kept() -> Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = private_tempdir()?;
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).map_err(|source| Error::DataDir {
            path: shared.clone(),
            source,
        })?;
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).map_err(
            |source| Error::DataDir {
                path: shared.clone(),
                source,
            },
        )?;
        let err = Store::create_dir(&shared).err();
        assert!(matches!(err, Some(Error::UnsafeDataDir { .. })), "{err:?}");
        let mode = std::fs::metadata(&shared)
            .map_err(|source| Error::DataDir {
                path: shared.clone(),
                source,
            })?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert!(!shared.join(DB_FILE).exists());
        // A new folder is made owner-only.
        let fresh = dir.path().join("a/b");
        Store::create_dir(&fresh)?;
        let mode = std::fs::metadata(&fresh)
            .map_err(|source| Error::DataDir {
                path: fresh.clone(),
                source,
            })?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        Ok(())
    }
}
