//! The WAL checkpoint on a connection of its own (issue 16). SQLite's
//! automatic checkpoint runs inside the commit that crosses its threshold
//! (1,000 pages), on the writer's thread: copying the WAL's pages into the
//! database file and syncing both. On the pipeline benchmark (1,000
//! patients, encrypted) that was 3.1 s of the writer's 19.6 s. A
//! [`WalCheckpointer`] does the same work from another thread, and the
//! writer's own automatic checkpoint is raised to a backstop
//! ([`WAL_BACKSTOP_PAGES`]) so that the WAL stays bounded should the
//! checkpointer fall behind or stop.
//!
//! A passive checkpoint (`PRAGMA wal_checkpoint(PASSIVE)`) neither waits
//! for nor blocks the writer or any reader; once it has copied every frame,
//! the writer's next transaction starts the WAL again from its beginning
//! (SQLite, "Write-Ahead Logging", checkpointing and WAL reset).

use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::error::{Result, SqlContext};

/// The writer's automatic checkpoint threshold while a checkpointer works
/// beside it: 16,384 pages of 4 KiB, a 64 MiB WAL at most before the writer
/// checkpoints itself (SQLite's default is 1,000 pages).
pub const WAL_BACKSTOP_PAGES: i64 = 16_384;

/// What a checkpoint found and did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpointed {
    /// Frames in the WAL.
    pub frames: i64,
    /// Frames of it now in the database file (all of them unless a reader
    /// still needs older pages).
    pub copied: i64,
}

/// A connection that only checkpoints the store's WAL.
pub struct WalCheckpointer {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for WalCheckpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalCheckpointer")
            .field("path", &self.path)
            .finish()
    }
}

impl super::Store {
    /// Opens a checkpointer for this store (keyed as the store is) and
    /// raises this connection's automatic checkpoint to the backstop: the
    /// caller runs [`WalCheckpointer::checkpoint`] from another thread.
    pub fn wal_checkpointer(&self) -> Result<WalCheckpointer> {
        let data_dir = self.path.parent().unwrap_or(Path::new("."));
        let (conn, _) = super::cipher::open(data_dir, &self.path)?;
        self.checkpoint_past_the_backstop()?;
        Ok(WalCheckpointer {
            conn,
            path: self.path.clone(),
        })
    }

    /// Raises this connection's automatic checkpoint to the backstop: for
    /// the other connections of a runtime whose checkpointer runs (the
    /// stage's, the lake's, upkeep's). SQLite's automatic checkpoint runs
    /// in any connection's commit once the WAL is past its threshold
    /// (1,000 pages by default), and a WAL a busy ward keeps past it for
    /// minutes (readers always inside a transaction keep the writer from
    /// starting it over) made every commit of the lake's seals a
    /// checkpoint (a ninth of that thread's time at 10,000 patients), as
    /// it would the commit of each alarm the stage raises.
    pub fn checkpoint_past_the_backstop(&self) -> Result<()> {
        self.conn
            .pragma_update(None, "wal_autocheckpoint", WAL_BACKSTOP_PAGES)
            .ctx("raising the connection's checkpoint threshold")
    }
}

impl WalCheckpointer {
    /// One passive checkpoint.
    pub fn checkpoint(&self) -> Result<Checkpointed> {
        let (busy, frames, copied): (i64, i64, i64) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .ctx("checkpointing the WAL")?;
        // PASSIVE never reports busy; the store not in WAL mode reports -1.
        let _ = busy;
        Ok(Checkpointed { frames, copied })
    }
}
