//! Checking the store and keeping copies of it (issue 9, item 10).
//!
//! - At open, a cheap sanity check (SQLite reads the header and the schema;
//!   a file that is not a database, or whose schema is damaged, is refused
//!   as [`Error::StoreDamaged`]). It costs the same on 1 MB and on 100 GB, so
//!   it never delays alarms.
//! - Once running, `PRAGMA quick_check` on its own connection, off the
//!   writer (the runtime does it in the background and raises
//!   `tech:store_damaged` on a problem); `integrity_check` on demand
//!   (`wardwatchctl store check`).
//! - Backups with `VACUUM INTO`: one read transaction, so a consistent copy
//!   of a store that the runtime keeps writing (SQLite's page-by-page backup
//!   API restarts whenever another connection writes, which a live ward
//!   does several times a second). The copy is created owner-only.
//! - Restore replaces the database with a checked backup and keeps the
//!   replaced files beside it.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;

use super::{AuditEntry, AuditKeys, DB_FILE, Store, migrations, restrict_permissions};
use crate::error::{Error, Result, SqlContext};

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backup {
    pub path: PathBuf,
    pub bytes: u64,
}

impl Store {
    /// The store's problems as SQLite's `quick_check` (`thorough`: the full
    /// `integrity_check`, which also compares every index with its table)
    /// reports them; empty when the store is sound.
    pub fn check(&self, thorough: bool) -> Result<Vec<String>> {
        problems(&self.conn, thorough)
    }

    /// Writes a consistent copy of the store to `dest`, a new file created
    /// owner-only (an existing file is never overwritten), and checks it.
    pub fn backup_to(&self, dest: &Path) -> Result<Backup> {
        if dest.exists() {
            return Err(Error::InvalidInput {
                what: "backup destination",
                reason: format!(
                    "`{}` already exists: a backup never overwrites a file; choose a new name",
                    dest.display()
                ),
            });
        }
        let io = |source| Error::DataDir {
            path: dest.to_owned(),
            source,
        };
        // Created empty and owner-only first: VACUUM INTO would create it
        // with the process umask, and the copy holds patient data.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(dest).map_err(io)?;
        let written = self
            .conn
            .execute("VACUUM INTO ?1", [dest.to_string_lossy()])
            .ctx("writing a backup");
        if let Err(e) = written {
            let _ = std::fs::remove_file(dest);
            return Err(e);
        }
        // An encrypted store's copy is encrypted with the same key.
        let data_dir = self.path.parent().unwrap_or(Path::new("."));
        let (copy, key) =
            super::cipher::open_copy(dest, data_dir, None, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
        if key.as_ref().map(|(k, _)| k.id()).as_deref() != self.key_id() {
            return Err(Error::StoreDamaged {
                path: dest.to_owned(),
                problems: "the backup does not open with the store's key".into(),
            });
        }
        let found = problems(&copy, false)?;
        if !found.is_empty() {
            return Err(Error::StoreDamaged {
                path: dest.to_owned(),
                problems: found.join("; "),
            });
        }
        Ok(Backup {
            path: dest.to_owned(),
            bytes: std::fs::metadata(dest).map_err(io)?.len(),
        })
    }
}

fn problems(conn: &Connection, thorough: bool) -> Result<Vec<String>> {
    let pragma = if thorough {
        "PRAGMA integrity_check"
    } else {
        "PRAGMA quick_check"
    };
    let rows: rusqlite::Result<Vec<String>> = conn
        .prepare(pragma)
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect());
    match rows {
        Ok(rows) if rows == ["ok"] => Ok(Vec::new()),
        Ok(rows) => Ok(rows),
        // A page too damaged to walk is itself the finding.
        Err(rusqlite::Error::SqliteFailure(f, msg))
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ) =>
        {
            Ok(vec![msg.unwrap_or_else(|| f.to_string())])
        }
        // In an encrypted store, a page whose authentication code fails
        // (changed on disk) cannot be decrypted: SQLCipher reports a plain
        // SQLITE_ERROR, which a read-only check can have no other cause for.
        Err(rusqlite::Error::SqliteFailure(f, msg)) if f.code == rusqlite::ErrorCode::Unknown => {
            Ok(vec![format!(
                "a page fails its authentication check (damaged or changed on disk): {}",
                msg.unwrap_or_else(|| f.to_string())
            )])
        }
        Err(e) => Err(e).ctx("checking the store"),
    }
}

/// Replaces the store in `data_dir` with `backup` after checking it in full;
/// the replaced database (and its `-wal`, `-shm`) is kept beside it as
/// `wardwatch.db.replaced-TIMESTAMP`, whose path is returned. The caller
/// must hold the runtime lock: no runtime may write meanwhile.
pub fn restore(
    data_dir: &Path,
    keys: &AuditKeys,
    backup: &Path,
    user: &str,
    now: DateTime<Utc>,
) -> Result<PathBuf> {
    let (copy, key) = super::cipher::open_copy(
        backup,
        data_dir,
        Some(keys.dir()),
        OpenFlags::SQLITE_OPEN_READ_ONLY,
    )?;
    let found = problems(&copy, true).map_err(|e| match e {
        Error::Sqlite { source, .. } => damaged(backup, source),
        e => e,
    })?;
    if !found.is_empty() {
        return Err(Error::StoreDamaged {
            path: backup.to_owned(),
            problems: found.join("; "),
        });
    }
    let version: i64 = copy
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| damaged(backup, e))?;
    let known = migrations::MIGRATIONS.len() as i64;
    if version == 0 || version > known {
        return Err(Error::InvalidFile {
            path: backup.to_owned(),
            format: "Wardwatch store backup",
            reason: format!("schema version {version}; this build reads 1 to {known}"),
        });
    }
    drop(copy);
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::DataDir { path, source }
    };
    let db = data_dir.join(DB_FILE);
    let stamp = now.format("%Y%m%dT%H%M%SZ");
    let aside = data_dir.join(format!("{DB_FILE}.replaced-{stamp}"));
    // The new database goes in beside the old one first, complete and
    // synced; only then is the old one moved aside and the new one renamed
    // into place, so a crash leaves one whole store or the other.
    let incoming = data_dir.join(format!("{DB_FILE}.restoring"));
    let _ = std::fs::remove_file(&incoming);
    std::fs::copy(backup, &incoming).map_err(io(&incoming))?;
    restrict_permissions(&incoming)?;
    std::fs::File::open(&incoming)
        .and_then(|f| f.sync_all())
        .map_err(io(&incoming))?;
    let key = key.as_ref().map(|(k, hmac)| (k, *hmac));
    super::cipher::name_key(data_dir, key, keys.dir(), true)?;
    for suffix in ["-wal", "-shm"] {
        let from = data_dir.join(format!("{DB_FILE}{suffix}"));
        if from.exists() {
            let to = data_dir.join(format!("{DB_FILE}.replaced-{stamp}{suffix}"));
            std::fs::rename(&from, &to).map_err(io(&from))?;
        }
    }
    if db.exists() {
        std::fs::rename(&db, &aside).map_err(io(&db))?;
    }
    std::fs::rename(&incoming, &db).map_err(io(&db))?;
    // The restored database keeps the key it was written with.
    super::cipher::name_key(data_dir, key, keys.dir(), false)?;
    let mut store = Store::open_dir(data_dir)?;
    store.seal_with(keys, user, now)?;
    store.append_audit(&AuditEntry {
        at: now,
        actor: user.to_owned(),
        action: "store.restore".into(),
        target: None,
        detail: serde_json::json!({
            "from": backup.display().to_string(),
            "replaced": aside.display().to_string(),
        }),
    })?;
    Ok(aside)
}

pub(super) fn damaged(path: &Path, e: rusqlite::Error) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
            ) =>
        {
            Error::StoreDamaged {
                path: path.to_owned(),
                problems: e.to_string(),
            }
        }
        _ => Error::Sqlite {
            context: "opening the database",
            source: e,
        },
    }
}
