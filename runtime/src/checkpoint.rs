//! The store's WAL checkpointed on a thread of its own, beside the writer
//! (`wardwatch_core::store::WalCheckpointer`): SQLite's automatic checkpoint
//! ran inside the writer's commits, 3.1 s of its 19.6 s on the pipeline
//! benchmark (issue 16). The writer says when it has committed; the
//! checkpointer copies what piled up at most every `CHECKPOINT_EVERY`, and
//! once more when the writer is done.

use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use wardwatch_core::store::{Store, WAL_BACKSTOP_PAGES, WalCheckpointer};

/// Commits pile up this long before a checkpoint copies them: a few
/// megabytes of WAL at a hospital's rate, one sync of each file for all.
pub const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// A WAL this long (64 MiB), all of it copied, is started over
/// (`WalCheckpointer::restart`): readers one after another can otherwise
/// keep it growing (past 4 GB in five minutes at 10,000 patients).
pub const RESTART_PAST_PAGES: i64 = 16_384;
/// How long a restart may hold off the writer waiting for the readers
/// inside the WAL (an alarm's batch waits as long), and how often at most
/// one is tried: the writer is held off 2 % of the time at most.
pub const RESTART_WAIT: Duration = Duration::from_millis(50);
pub const RESTART_EVERY: Duration = Duration::from_millis(2500);

/// The checkpointer thread; dropping it checkpoints once more and joins.
#[derive(Debug)]
pub struct Checkpointer {
    tx: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing `store`'s WAL. `None`, with a warning, when its
    /// connection or thread cannot be had: the writer then checkpoints
    /// itself, as SQLite does by default.
    pub fn start(store: &Store) -> Option<Checkpointer> {
        let checkpointer = match store.wal_checkpointer() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cannot open a connection to checkpoint the store; the writer checkpoints itself");
                return None;
            }
        };
        let (tx, rx) = sync_channel(1);
        match std::thread::Builder::new()
            .name("wardwatch-checkpoint".into())
            .spawn(move || run(checkpointer, rx))
        {
            Ok(thread) => Some(Checkpointer {
                tx: Some(tx),
                thread: Some(thread),
            }),
            Err(e) => {
                // The writer's threshold stays raised: bounded at the
                // backstop, the WAL is checkpointed by the writer itself.
                tracing::warn!(error = %e, "cannot start the checkpoint thread; the writer checkpoints the store itself past the backstop");
                None
            }
        }
    }

    /// The writer has committed: never waits.
    pub fn committed(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the checkpoint thread panicked");
        }
    }
}

fn run(checkpointer: WalCheckpointer, rx: Receiver<()>) {
    let mut failures: u64 = 0;
    let mut last_restart: Option<Instant> = None;
    // Restarts that started the WAL over, and those readers outlasted.
    let mut restarts: (u64, u64) = (0, 0);
    loop {
        // A commit, or the writer gone.
        let mut done = rx.recv().is_err();
        let due = Instant::now() + CHECKPOINT_EVERY;
        while !done {
            match rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                Ok(()) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => done = true,
            }
        }
        match checkpointer.checkpoint() {
            Ok(c)
                if c.frames > RESTART_PAST_PAGES
                    && c.copied == c.frames
                    && last_restart.is_none_or(|t| t.elapsed() >= RESTART_EVERY) =>
            {
                last_restart = Some(Instant::now());
                match checkpointer.restart(RESTART_WAIT) {
                    Ok(true) => restarts.0 += 1,
                    Ok(false) => restarts.1 += 1,
                    Err(e) => tracing::warn!(error = %e, "cannot start the store's WAL over"),
                }
                if c.frames > WAL_BACKSTOP_PAGES {
                    tracing::warn!(
                        frames = c.frames,
                        restarted = restarts.0,
                        readers_stayed = restarts.1,
                        "the store's WAL is past the backstop, all of it copied: readers kept it from starting over"
                    );
                }
            }
            Ok(c) if c.frames > WAL_BACKSTOP_PAGES && c.copied < c.frames => tracing::warn!(
                frames = c.frames,
                copied = c.copied,
                "the store's WAL is past the backstop: a reader needs pages the checkpoint cannot copy yet"
            ),
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, failures, "cannot checkpoint the store's WAL; the writer checkpoints itself past the backstop");
            }
        }
        if done {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the writer commits while the thread runs is in the database
    /// file when it stops: the writer's next commit starts the WAL over
    /// (it would only grow, the writer's own threshold being raised).
    #[test]
    fn the_thread_checkpoints_what_the_writer_committed() {
        let dir = tempfile::Builder::new()
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()
            .expect("tmp");
        let store = Store::create_dir(&dir.path().join("data")).expect("store");
        let checkpointer = Checkpointer::start(&store).expect("checkpointer");
        for i in 0..60 {
            store
                .set_setting(&format!("test.key{i}"), &"x".repeat(2000))
                .expect("setting");
            checkpointer.committed();
        }
        drop(checkpointer);
        store.set_setting("test.last", "y").expect("setting");
        let after = store
            .wal_checkpointer()
            .expect("another")
            .checkpoint()
            .expect("checkpoint");
        assert!(after.frames < 60, "the WAL grew on: {after:?}");
        assert_eq!(after.copied, after.frames);
    }
}
