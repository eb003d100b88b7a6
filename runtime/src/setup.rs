//! What both binaries (`wardwatchctl` and the desktop app) resolve the same
//! way at start-up: the data directory, the acting user's name, and logging.
//! One resolver, so the app and the tool never disagree about which store
//! they mean.

use std::path::PathBuf;

use wardwatch_core::{Error, Result};

/// The data directory: the one given (`--data-dir`, `WARDWATCH_DATA_DIR`),
/// else `$XDG_DATA_HOME/wardwatch`, else `~/.local/share/wardwatch`.
pub fn data_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|base| base.join("wardwatch"))
        .ok_or_else(|| Error::InvalidInput {
            what: "data directory",
            reason:
                "neither XDG_DATA_HOME nor HOME is set: pass --data-dir or set WARDWATCH_DATA_DIR"
                    .into(),
        })
}

/// The folder of audit keys (`wardwatch_core::store::AuditKeys`): the one
/// given (`--key-dir`, `WARDWATCH_KEY_DIR`), else
/// `$XDG_CONFIG_HOME/wardwatch/keys`, else `~/.config/wardwatch/keys`.
/// Outside the data directory on purpose: a copy of the store or of its
/// backups then holds no key to re-seal an edited audit trail with.
pub fn key_dir(explicit: Option<PathBuf>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir);
    }
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|base| base.join("wardwatch").join("keys"))
        .ok_or_else(|| Error::InvalidInput {
            what: "key directory",
            reason:
                "neither XDG_CONFIG_HOME nor HOME is set: pass --key-dir or set WARDWATCH_KEY_DIR"
                    .into(),
        })
}

/// Hands the store key over to core (`wardwatch_core::store::cipher`) when
/// it is kept outside the key folder (and the passphrase in the file named
/// by `WARDWATCH_STORE_PASSPHRASE_FILE`, its first line, for a store whose
/// key is derived from one): the file named by
/// `WARDWATCH_STORE_KEY_FILE`, else the systemd credential
/// `wardwatch-store-key` (`LoadCredential=`/`LoadCredentialEncrypted=`,
/// read from `$CREDENTIALS_DIRECTORY`). Returns the key's id; None when
/// neither is set (the key folder's key files are used). A named file that
/// cannot be read, or holds no key, is an error, never a silent fallback.
pub fn provide_store_key() -> Result<Option<String>> {
    // An admin's passphrase, for a store whose key is derived from one.
    if let Some(p) = std::env::var_os("WARDWATCH_STORE_PASSPHRASE_FILE").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(p);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadFile {
            path: path.clone(),
            source,
        })?;
        let first = text.lines().next().unwrap_or("");
        wardwatch_core::store::cipher::provide_passphrase(first);
    }
    let path = match std::env::var_os("WARDWATCH_STORE_KEY_FILE").filter(|v| !v.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => match std::env::var_os("CREDENTIALS_DIRECTORY").filter(|v| !v.is_empty()) {
            Some(d) if PathBuf::from(&d).join("wardwatch-store-key").is_file() => {
                PathBuf::from(d).join("wardwatch-store-key")
            }
            _ => return Ok(None),
        },
    };
    let bytes = std::fs::read(&path).map_err(|source| Error::ReadFile {
        path: path.clone(),
        source,
    })?;
    let key = wardwatch_core::store::StoreKey::from_bytes(&bytes)?;
    Ok(Some(wardwatch_core::store::cipher::provide(key)))
}

/// The acting user's name: the one given (`--user`, `WARDWATCH_USER`), else
/// the login name (`USER`, `LOGNAME`, else the account this process runs as).
pub fn username(explicit: Option<String>) -> Result<String> {
    explicit
        .or_else(|| std::env::var("USER").ok())
        .or_else(|| std::env::var("LOGNAME").ok())
        .filter(|u| !u.is_empty())
        .or_else(account_name)
        .ok_or_else(|| Error::InvalidInput {
            what: "user",
            reason: "no login name found: pass --user or set WARDWATCH_USER".into(),
        })
}

/// Initialises OpenSSL's libcrypto, which SQLCipher and TLS use, without
/// its clean-up at process exit (`OPENSSL_INIT_NO_ATEXIT`, which
/// `openssl::init` asks for). By default the first use of libcrypto
/// registers an `atexit` handler that frees its locks and tables; a thread
/// still inside SQLCipher at exit — a helper past its drain
/// (`helper::DRAIN`), the notifier recording a delivery — then crashed
/// the process (`bench/scale.sh 5000 3600`: `serve` ended by a segmentation
/// fault in `pthread_rwlock_rdlock` on the lake's sync thread after printing
/// its report; the notifier thread the same way once before). Must run
/// before anything else touches libcrypto (the first store opened does):
/// first thing in `main`. The OS frees what the handler would have.
pub fn crypto_without_exit_cleanup() {
    openssl::init();
}

/// Asks Linux for no transparent huge pages in this process (and the
/// processes it starts): `prctl(PR_SET_THP_DISABLE)`, for the whole process
/// whichever thread asks. mimalloc advises its arenas for 2 MiB pages, and
/// the kernel zeroes a whole one at the first touch of any of it: at
/// 10,000 patients the lake's spool thread spent a quarter of its samples
/// in `clear_page_erms`. Without them (`bench/scale.sh 10000 60`, two runs
/// A/B) `serve`'s peak RSS fell from 925–954 MB to 890–894, its CPU by
/// ~1 %, the simulator's (the same program) by 12 %: 0.93–0.95× → 0.99–1.00×
/// real time as fast as taken. A kernel that refuses is left as it is:
/// only speed and memory are at stake.
pub fn small_pages() {
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        tracing::debug!(error = %e, "transparent huge pages stay on");
    }
}

/// Logs to standard error, filtered by `WARDWATCH_LOG` (default `warn`);
/// with `log_dir` (a runtime-hosting process: `serve`, the desktop app),
/// also as JSON lines to the rotated `log_dir/wardwatch.log` at `info` and
/// above (or `WARDWATCH_LOG` when set). A log file that cannot be opened is
/// reported on standard error, and logging goes on there.
pub fn init_tracing(log_dir: Option<&std::path::Path>) {
    use tracing_subscriber::prelude::*;
    let filter = |default: &str| {
        tracing_subscriber::EnvFilter::try_from_env("WARDWATCH_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default))
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(filter("warn"));
    let (file, failed) = match log_dir.map(crate::logfile::RotatingFile::open) {
        Some(Ok(writer)) => (
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .with_writer(writer)
                    .with_filter(filter("info")),
            ),
            None,
        ),
        Some(Err(e)) => (None, Some(e)),
        None => (None, None),
    };
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
    if let Some(e) = failed {
        tracing::error!(error = %e, "cannot open the log file: logging to standard error only");
    }
}

/// Where a runtime-hosting process keeps its log files.
pub fn log_dir(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("logs")
}

/// The name of the account this process runs as, from `/etc/passwd`.
#[cfg(unix)]
fn account_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    std::fs::read_to_string("/etc/passwd")
        .ok()?
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let id: u32 = fields.nth(1)?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_owned())
        })
}

#[cfg(not(unix))]
fn account_name() -> Option<String> {
    None
}
