//! One runtime per store. The runtime holds an exclusive advisory lock
//! (`flock`) on `runtime.lock` in the data directory for as long as it runs,
//! and writes who holds it (PID, host, since when) into the file. A second
//! runtime on the same store would score only the batches it happened to
//! store — half of every ECG, false alarms, missed ones — so it refuses at
//! once and names the holder. The kernel drops the lock when the holder's
//! process ends, however it ends, so a crashed runtime never blocks the next.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use wardwatch_core::store::Store;
use wardwatch_core::{Error, Result};

/// The lock file's name inside the data directory.
pub const LOCK_FILE: &str = "runtime.lock";

/// Held while the runtime runs; dropping it releases the lock.
#[derive(Debug)]
pub struct RuntimeLock {
    file: File,
    path: PathBuf,
}

impl RuntimeLock {
    /// Takes the store's runtime lock, or says who holds it.
    pub fn acquire(data_dir: &Path, now: DateTime<Utc>) -> Result<RuntimeLock> {
        if !Store::exists_in(data_dir) {
            return Err(Error::NoStore {
                path: data_dir.to_owned(),
            });
        }
        let path = data_dir.join(LOCK_FILE);
        let io = |source| Error::DataDir {
            path: path.clone(),
            source,
        };
        let mut file = open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(Error::RuntimeRunning {
                    path: data_dir.to_owned(),
                    holder: holder_text(&mut file),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        let holder = format!(
            "held by PID {} on {} since {}",
            std::process::id(),
            hostname(),
            now.format("%Y-%m-%d %H:%M:%S UTC")
        );
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        file.write_all(holder.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(RuntimeLock { file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Who holds the runtime lock of `data_dir`, if anyone: what a desktop app
/// shows when it watches a store another process runs.
pub fn holder(data_dir: &Path) -> Option<String> {
    // Read-only and never created: asking must not leave a file behind.
    let mut file = File::open(data_dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => Some(holder_text(&mut file)),
        Err(TryLockError::Error(_)) => None,
    }
}

impl Drop for RuntimeLock {
    fn drop(&mut self) {
        // Clear the holder text first, so nobody reads a stale holder.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

fn holder_text(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.seek(SeekFrom::Start(0));
    let _ = file.take(512).read_to_string(&mut text);
    let text: String = text.chars().filter(|c| !c.is_control()).collect();
    if text.trim().is_empty() {
        "held by another process (it has not said which yet)".to_owned()
    } else {
        format!(
            "{}: stop it first, or run against another --data-dir",
            text.trim()
        )
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "this host".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_core::store::DB_FILE;

    #[test]
    fn a_second_runtime_on_the_same_store_is_refused_and_told_who_holds_it() {
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("tmp");
        std::fs::write(dir.path().join(DB_FILE), b"").expect("db");
        let now = Utc::now();
        let first = RuntimeLock::acquire(dir.path(), now).expect("first");
        let err = RuntimeLock::acquire(dir.path(), now).expect_err("second must fail");
        assert_eq!(err.kind(), wardwatch_core::ErrorKind::RuntimeRunning);
        let text = err.to_string();
        assert!(
            text.contains(&format!("PID {}", std::process::id())),
            "{text}"
        );
        assert!(holder(dir.path()).is_some());
        drop(first);
        assert!(holder(dir.path()).is_none());
        RuntimeLock::acquire(dir.path(), now).expect("free again after the holder ends");
    }

    #[test]
    fn a_runtime_lock_needs_an_existing_store() {
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("tmp");
        let err = RuntimeLock::acquire(&dir.path().join("typo"), Utc::now()).expect_err("no store");
        assert_eq!(err.kind(), wardwatch_core::ErrorKind::NoStore);
        assert!(!dir.path().join("typo").exists());
    }
}
