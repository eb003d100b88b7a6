//! The local clinical store: one SQLite database in the data directory, in WAL
//! mode with foreign keys on. All SQL lives under this module; the rest of the
//! code calls typed methods.
//!
//! The data directory is created owner-only (0700) and the database file is
//! 0600: patient data is readable by the account running Wardwatch and nobody
//! else on the machine.

mod audit;
mod migrations;
mod patients;
pub mod rollup;
mod sources;
mod users;
mod vitals;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{Error, Result, SqlContext};

pub use audit::AuditEntry;
pub use patients::UpsertOutcome;
pub use sources::SourceStatus;
pub use users::{Role, User};
pub use vitals::{
    BatchOutcome, EcgStored, IngestBatch, IngestItem, LatestVital, Pruned, Quarantined, Retention,
    ScoreRow, StoredBatch, sequence_after,
};

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "wardwatch.db";

#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, applying migrations.
    pub fn open_dir(data_dir: &Path) -> Result<Store> {
        create_private_dir(data_dir)?;
        Store::open(&data_dir.join(DB_FILE))
    }

    /// Opens (creating if needed) the database at `path`, applying migrations.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path).ctx("opening the database")?;
        restrict_permissions(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .ctx("setting the busy timeout")?;
        // WAL lets the desktop app read while `wardwatchctl serve` writes;
        // synchronous=NORMAL is durable across application crashes in WAL mode.
        conn.pragma_update(None, "journal_mode", "WAL")
            .ctx("enabling WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .ctx("setting synchronous")?;
        let mut store = Store {
            conn,
            path: path.to_owned(),
        };
        store.migrate()?;
        store
            .conn
            .pragma_update(None, "foreign_keys", "ON")
            .ctx("enabling foreign keys")?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
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
            let tx = self.conn.transaction().ctx("starting a migration")?;
            tx.execute_batch(sql).ctx("applying a migration")?;
            check_foreign_keys(&tx, version)?;
            tx.pragma_update(None, "user_version", version)
                .ctx("recording the schema version")?;
            tx.commit().ctx("committing a migration")?;
            tracing::info!(version, "store migrated");
        }
        Ok(())
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

fn create_private_dir(dir: &Path) -> Result<()> {
    let err = |source| Error::DataDir {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(err)?;
    }
    Ok(())
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

    #[test]
    fn reopening_a_migrated_store_keeps_its_version() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::DataDir {
            path: PathBuf::from("tmp"),
            source,
        })?;
        let v1 = Store::open_dir(dir.path())?.schema_version()?;
        let v2 = Store::open_dir(dir.path())?.schema_version()?;
        assert_eq!(v1, migrations::MIGRATIONS.len() as i64);
        assert_eq!(v1, v2);
        Ok(())
    }

    #[test]
    fn database_from_a_newer_build_is_refused_not_touched() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|source| Error::DataDir {
            path: PathBuf::from("tmp"),
            source,
        })?;
        let store = Store::open_dir(dir.path())?;
        store
            .conn
            .pragma_update(None, "user_version", 999)
            .ctx("test")?;
        drop(store);
        let err = Store::open_dir(dir.path()).err();
        assert!(matches!(err, Some(Error::SchemaTooNew { found: 999, .. })));
        Ok(())
    }
}
