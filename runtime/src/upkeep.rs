//! Keeping the store sound while the runtime runs (issue 9, item 10), on a
//! thread of its own with its own connection, so neither ever holds up the
//! writer or an alarm:
//!
//! - once at start, SQLite's `quick_check`; a problem is the technical
//!   alarm `tech:store_damaged`;
//! - scheduled backups when `backup.dir` is set: every `backup.every_hours`
//!   (default 24; the first at start when the folder holds none), keeping
//!   the newest `backup.keep` (default 7). A failed backup is the technical
//!   alarm `tech:backup` until one succeeds.
//!
//! - the audit trail verified against its seals and the head beside the
//!   keys (`Store::verify_audit`) at start and every hour; anything edited,
//!   forged, deleted, inserted, reordered or unverifiable is the technical
//!   alarm `tech:audit` until the trail verifies again.
//!
//! All report through the pipeline's channel as `SourceEvent::Condition`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use wardwatch_core::clock::Clock;
use wardwatch_core::error::{Error, Result};
use wardwatch_core::store::{AuditKeys, Store};

use crate::helper::Helper;
use crate::pipeline::SourceEvent;

/// The technical condition of a damaged store.
pub const STORE_DAMAGED_KEY: &str = "tech:store_damaged";
/// The technical condition of failing scheduled backups.
pub const BACKUP_KEY: &str = "tech:backup";
/// The technical condition of an audit trail that does not verify.
pub const AUDIT_KEY: &str = "tech:audit";
/// How often the running runtime verifies the audit trail.
const AUDIT_EVERY: Duration = Duration::from_secs(3600);

/// Scheduled backups, from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupPlan {
    pub dir: PathBuf,
    pub every: chrono::Duration,
    pub keep: usize,
}

impl BackupPlan {
    /// `None` when `backup.dir` is unset. A value out of range is an error
    /// at start, never a silent default.
    pub fn from_settings(store: &Store) -> Result<Option<BackupPlan>> {
        let Some(dir) = store.setting("backup.dir")? else {
            return Ok(None);
        };
        use wardwatch_core::settings::{check, stored_number};
        check("backup.dir", &dir)?;
        let dir = PathBuf::from(dir.trim());
        Ok(Some(BackupPlan {
            dir,
            every: chrono::Duration::hours(
                stored_number(store, "backup.every_hours")?.unwrap_or(24) as i64,
            ),
            keep: stored_number(store, "backup.keep")?.unwrap_or(7) as usize,
        }))
    }
}

/// The backups in `dir`, oldest first (their names sort by time).
pub fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("wardwatch-") && n.ends_with(".db"))
        })
        .collect();
    found.sort();
    found
}

/// Starts the upkeep thread. It holds the channel only weakly, so a long
/// check or backup never holds up the writer's shutdown; it stops when
/// `stop` is set or the writer is gone. A backup under way when the process
/// exits leaves only a `.partial` file (renamed once checked).
pub fn start(
    data_dir: PathBuf,
    plan: Option<BackupPlan>,
    audit_keys: Option<AuditKeys>,
    clock: Arc<dyn Clock>,
    tx: mpsc::WeakSender<SourceEvent>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<Helper> {
    Helper::spawn("wardwatch-upkeep", move || {
        run(&data_dir, plan, audit_keys, clock.as_ref(), &tx, &stop)
    })
}

fn run(
    data_dir: &Path,
    plan: Option<BackupPlan>,
    audit_keys: Option<AuditKeys>,
    clock: &dyn Clock,
    tx: &mpsc::WeakSender<SourceEvent>,
    stop: &AtomicBool,
) {
    // The runtime's checkpointer copies the WAL; upkeep's commits do not.
    let store = match Store::open_beside_checkpointer(data_dir) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "upkeep cannot open the store");
            return;
        }
    };
    let send = |key: &str, started: bool, message: String| {
        if let Some(tx) = tx.upgrade() {
            let _ = tx.blocking_send(SourceEvent::Condition {
                key: key.to_owned(),
                started,
                message,
            });
        }
    };
    let gone = || stop.load(Ordering::Relaxed) || tx.strong_count() == 0;
    match store.check(false) {
        Ok(problems) if problems.is_empty() => tracing::info!("store quick_check: ok"),
        Ok(problems) => {
            tracing::error!(problems = problems.len(), "store quick_check found damage");
            send(
                STORE_DAMAGED_KEY,
                true,
                format!(
                    "store damaged: {} problems found by quick_check (first: {}); back it up and run `wardwatchctl store check`",
                    problems.len(),
                    problems[0].chars().take(120).collect::<String>()
                ),
            );
        }
        Err(e) => tracing::error!(error = %e, "store quick_check could not run"),
    }
    release(&store);
    let mut failing = false;
    let mut audit_alarmed = false;
    let mut last_audit: Option<std::time::Instant> = None;
    while !gone() {
        let now = clock.now();
        if let Some(keys) = &audit_keys
            && last_audit.is_none_or(|t| t.elapsed() >= AUDIT_EVERY)
        {
            last_audit = Some(std::time::Instant::now());
            check_audit(&store, keys, &send, &mut audit_alarmed);
            release(&store);
        }
        if let Some(plan) = &plan {
            let newest = backups_in(&plan.dir).last().and_then(|p| {
                std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .map(chrono::DateTime::<chrono::Utc>::from)
            });
            if newest.is_none_or(|t| now - t >= plan.every) {
                let written = backup_once(&store, plan, now);
                release(&store);
                match written {
                    Ok(path) => {
                        tracing::info!(path = %path.display(), "scheduled backup written");
                        if failing {
                            failing = false;
                            send(BACKUP_KEY, false, "scheduled backups work again".into());
                        }
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "scheduled backup failed");
                        if !failing {
                            failing = true;
                            send(BACKUP_KEY, true, format!("scheduled backup failed: {e}"));
                        }
                    }
                }
            }
        }
        for _ in 0..600 {
            if gone() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Upkeep reads the whole store (integrity check, audit chain, backup)
/// then sleeps for minutes: what its scan left in the page cache would only
/// sit there, counted in the runtime's memory.
fn release(store: &Store) {
    if let Err(e) = store.release_memory() {
        tracing::warn!(error = %e, "upkeep could not release its page cache");
    }
}

/// Verifies the audit trail; raises `tech:audit` while it does not verify.
fn check_audit(
    store: &Store,
    keys: &AuditKeys,
    send: &dyn Fn(&str, bool, String),
    alarmed: &mut bool,
) {
    match store.verify_audit(keys) {
        Ok(v) if v.intact() => {
            tracing::info!(entries = v.entries, "audit trail verified");
            if *alarmed {
                *alarmed = false;
                send(AUDIT_KEY, false, "the audit trail verifies again".into());
            }
        }
        Ok(v) => {
            tracing::error!(
                problems = v.problems.len(),
                "the audit trail does not verify"
            );
            if !*alarmed {
                *alarmed = true;
                send(
                    AUDIT_KEY,
                    true,
                    format!(
                        "audit trail: {} problems (first: {}); an admin runs `wardwatchctl audit verify`",
                        v.problems.len(),
                        v.problems[0].what.chars().take(120).collect::<String>()
                    ),
                );
            }
        }
        Err(e) => tracing::error!(error = %e, "the audit trail could not be verified"),
    }
}

/// Writes one backup into the plan's folder and keeps the newest `keep`.
pub fn backup_once(
    store: &Store,
    plan: &BackupPlan,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<PathBuf> {
    let io = |source| Error::DataDir {
        path: plan.dir.clone(),
        source,
    };
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(&plan.dir).map_err(io)?;
    let name = format!("wardwatch-{}.db", now.format("%Y%m%dT%H%M%SZ"));
    let dest = plan.dir.join(&name);
    let partial = plan.dir.join(format!("{name}.partial"));
    let _ = std::fs::remove_file(&partial);
    store.backup_to(&partial)?;
    std::fs::rename(&partial, &dest).map_err(io)?;
    let all = backups_in(&plan.dir);
    for old in all.iter().take(all.len().saturating_sub(plan.keep)) {
        if let Err(e) = std::fs::remove_file(old) {
            tracing::warn!(error = %e, "cannot remove an old backup");
        }
    }
    Ok(dest)
}
