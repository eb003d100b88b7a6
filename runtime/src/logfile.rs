//! The runtime's log file: JSON lines in `logs/wardwatch.log` under the data
//! directory, rotated by size (`wardwatch.log.1` … `.KEEP`, oldest dropped),
//! owner-only. After a clinical incident, what the runtime did and when can
//! be reconstructed from it, also when nobody kept the terminal. Log fields
//! carry counts, codes and pseudonymous identifiers, never patient names,
//! MRNs or credentials (see ARCHITECTURE.md, Invariants).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// The log file's name inside `logs/`.
pub const LOG_FILE: &str = "wardwatch.log";
/// A file is rotated once it passes this size.
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// Rotated files kept besides the current one.
pub const KEEP: usize = 8;

/// A size-rotated, append-only log file; cloned handles share it.
#[derive(Debug, Clone)]
pub struct RotatingFile {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    /// Opens (creating, owner-only) `dir/wardwatch.log` for appending.
    pub fn open(dir: &Path) -> io::Result<RotatingFile> {
        RotatingFile::with_limits(dir, MAX_BYTES, KEEP)
    }

    pub fn with_limits(dir: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir)?;
        let path = dir.join(LOG_FILE);
        let file = open_append(&path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            inner: Arc::new(Mutex::new(Inner {
                path,
                file,
                written,
                max_bytes,
                keep,
            })),
        })
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

impl Inner {
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        let numbered = |n: usize| PathBuf::from(format!("{}.{n}", self.path.display()));
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        if self.keep > 0 {
            std::fs::rename(&self.path, numbered(1))?;
        } else {
            std::fs::remove_file(&self.path)?;
        }
        self.file = open_append(&self.path)?;
        self.written = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.written > 0 && inner.written + buf.len() as u64 > inner.max_bytes {
            inner.rotate()?;
        }
        inner.file.write_all(buf)?;
        inner.written += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .file
            .flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for RotatingFile {
    type Writer = RotatingFile;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_by_size_and_keeps_a_bounded_number_of_files() {
        let dir = tempfile::tempdir().expect("tmp");
        let logs = dir.path().join("logs");
        let mut log = RotatingFile::with_limits(&logs, 100, 2).expect("open");
        for i in 0..20 {
            // One write per line, as the tracing formatter does.
            let line = format!("{{\"line\":{i:02},\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxx\"}}\n");
            log.write_all(line.as_bytes()).expect("write");
        }
        let mut names: Vec<String> = std::fs::read_dir(&logs)
            .expect("ls")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["wardwatch.log", "wardwatch.log.1", "wardwatch.log.2"]
        );
        let current = std::fs::read_to_string(logs.join(LOG_FILE)).expect("read");
        assert!(current.contains("\"line\":19"), "{current}");
        assert!(current.len() <= 100);
        // Every line is whole: rotation happens between writes, not inside one.
        for name in &names {
            for line in std::fs::read_to_string(logs.join(name))
                .expect("read")
                .lines()
            {
                assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
            }
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(logs.join(LOG_FILE))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
