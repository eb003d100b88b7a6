//! Supervised operation. Under systemd (`deploy/wardwatch.service`,
//! `Type=notify`) the runtime speaks the service notification protocol of
//! sd_notify(3): `READY=1` once its lock is held and its sources started,
//! `STATUS=…` lines, `STOPPING=1`, and `WATCHDOG=1` pings — sent only while
//! the writer thread makes progress, so a stalled writer (not merely a
//! quiet stream: ticks reach the writer every second) is restarted by
//! systemd instead of sitting there silently.
//!
//! Without systemd the same loop writes `heartbeat.json` in the data
//! directory every few seconds (time, PID, writer events, state), which the
//! hospital's monitoring can watch for staleness. It holds no patient data.

use std::future::Future;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wardwatch_core::clock::Clock;

/// The heartbeat file's name inside the data directory.
pub const HEARTBEAT_FILE: &str = "heartbeat.json";
/// How often the heartbeat is written (and, at most, the watchdog pinged).
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);
/// A writer that handled no event for this long is stalled (it receives a
/// tick every second, and bumps its progress on every retry while blocked).
pub const STALLED_AFTER: Duration = Duration::from_secs(20);

/// How far the writer thread has got (bumped at every event it handles),
/// and whether it is waiting for a blocked store.
#[derive(Debug, Clone, Default)]
pub struct Progress(Arc<(AtomicU64, AtomicBool)>);

impl Progress {
    pub fn bump(&self) {
        self.0.0.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.0.load(Ordering::Relaxed)
    }

    /// The writer waits for a store that refuses writes (another process
    /// holds its lock, or the disk is full), or writes again.
    pub fn set_store_blocked(&self, blocked: bool) {
        self.0.1.store(blocked, Ordering::Relaxed);
    }

    pub fn store_blocked(&self) -> bool {
        self.0.1.load(Ordering::Relaxed)
    }
}

/// The service manager's notification socket, when there is one.
#[derive(Debug)]
pub struct Supervisor {
    socket: Option<(UnixDatagram, NotifyAddr)>,
    watchdog: Option<Duration>,
}

#[derive(Debug)]
enum NotifyAddr {
    Path(PathBuf),
    Abstract(Vec<u8>),
}

impl Supervisor {
    /// From `NOTIFY_SOCKET` and `WATCHDOG_USEC` (honoured only when
    /// `WATCHDOG_PID` is unset or names this process), as sd_notify(3) says.
    pub fn from_env() -> Supervisor {
        let addr = std::env::var_os("NOTIFY_SOCKET").and_then(|s| {
            let s = s.to_string_lossy().into_owned();
            if let Some(name) = s.strip_prefix('@') {
                Some(NotifyAddr::Abstract(name.as_bytes().to_vec()))
            } else if s.starts_with('/') {
                Some(NotifyAddr::Path(PathBuf::from(s)))
            } else {
                tracing::warn!("NOTIFY_SOCKET is neither a path nor an abstract name: ignored");
                None
            }
        });
        let socket = addr.and_then(|addr| match UnixDatagram::unbound() {
            Ok(socket) => Some((socket, addr)),
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a socket to the service manager");
                None
            }
        });
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|pid| pid.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&usec| usec > 0 && ours)
            .map(Duration::from_micros);
        Supervisor { socket, watchdog }
    }

    /// Sends `state` (newline-separated `KEY=value` lines); best effort.
    pub fn notify(&self, state: &str) {
        let Some((socket, addr)) = &self.socket else {
            return;
        };
        let sent = match addr {
            NotifyAddr::Path(path) => socket.send_to(state.as_bytes(), path),
            NotifyAddr::Abstract(name) => {
                use std::os::linux::net::SocketAddrExt;
                std::os::unix::net::SocketAddr::from_abstract_name(name)
                    .and_then(|a| socket.send_to_addr(state.as_bytes(), &a))
            }
        };
        if let Err(e) = sent {
            tracing::warn!(error = %e, "cannot notify the service manager");
        }
    }

    /// How often to ping the watchdog: half its timeout.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }
}

/// What `heartbeat.json` holds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Heartbeat {
    pub at: chrono::DateTime<chrono::Utc>,
    pub pid: u32,
    /// `ok`, `store_blocked` or `stalled`.
    pub state: String,
    pub writer_events: u64,
    pub writer_idle_s: u64,
}

/// The last heartbeat written in `data_dir`, if any.
pub fn read_heartbeat(data_dir: &Path) -> Option<Heartbeat> {
    let bytes = std::fs::read(data_dir.join(HEARTBEAT_FILE)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes the heartbeat every tick (its state says whether the writer
/// makes progress) and pings the watchdog while it does or waits out a
/// blocked store, until `shutdown` completes.
pub async fn heartbeat(
    data_dir: &Path,
    progress: Progress,
    supervisor: &Supervisor,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) {
    let every = supervisor
        .watchdog_every()
        .map_or(HEARTBEAT_EVERY, |w| w.min(HEARTBEAT_EVERY));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    let (mut seen, mut moved_at, mut stalled) = (progress.get(), Instant::now(), false);
    let mut last_state = "ok";
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = tick.tick() => {}
        }
        let now = progress.get();
        if now != seen {
            seen = now;
            moved_at = Instant::now();
        }
        let idle = moved_at.elapsed();
        let state = if idle >= STALLED_AFTER {
            "stalled"
        } else if progress.store_blocked() {
            "store_blocked"
        } else {
            "ok"
        };
        if state == "stalled" {
            if !stalled {
                tracing::error!(
                    idle_s = idle.as_secs(),
                    "the writer is stalled: nothing is stored or alarmed"
                );
                supervisor.notify("STATUS=writer stalled: nothing is stored or alarmed");
            }
        } else {
            // Waiting out a blocked store is the writer working as meant: a
            // restart would not help, so the watchdog is still fed.
            supervisor.notify("WATCHDOG=1");
            if state != last_state {
                if stalled {
                    tracing::warn!("the writer moves again");
                }
                supervisor.notify(if state == "ok" {
                    "STATUS=running"
                } else {
                    "STATUS=store blocked (locked by another process, or disk full): waiting"
                });
            }
        }
        stalled = state == "stalled";
        last_state = state;
        let beat = Heartbeat {
            at: clock.now(),
            pid: std::process::id(),
            state: state.to_owned(),
            writer_events: seen,
            writer_idle_s: idle.as_secs(),
        };
        if let Err(e) = write_heartbeat(data_dir, &beat) {
            tracing::warn!(error = %e, "cannot write the heartbeat file");
        }
    }
}

/// Replaces the heartbeat file atomically (write, then rename), owner-only.
fn write_heartbeat(data_dir: &Path, beat: &Heartbeat) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = data_dir.join(format!("{HEARTBEAT_FILE}.tmp"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(&serde_json::to_vec(beat).map_err(std::io::Error::other)?)?;
    file.sync_all()?;
    std::fs::rename(&tmp, data_dir.join(HEARTBEAT_FILE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_reach_a_notify_socket() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).expect("bind");
        let supervisor = Supervisor {
            socket: Some((
                UnixDatagram::unbound().expect("socket"),
                NotifyAddr::Path(path),
            )),
            watchdog: Some(Duration::from_secs(30)),
        };
        supervisor.notify("READY=1\nSTATUS=running");
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..n], b"READY=1\nSTATUS=running");
        assert_eq!(supervisor.watchdog_every(), Some(Duration::from_secs(15)));
    }
}
