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
/// beside it: 262,144 pages of 4 KiB, a 1 GiB WAL before the writer
/// checkpoints itself (SQLite's default is 1,000 pages), should the
/// checkpointer stop or fail to start the WAL over
/// ([`WalCheckpointer::restart`]) for long. At 10,000 patients the WAL
/// grows by ~50 MB a second; past the backstop before (16,384 pages)
/// every commit of every connection ran a checkpoint of its own, with a
/// sync of the database file (13 % of the writer's time), for pages the
/// checkpointer was copying anyway.
pub const WAL_BACKSTOP_PAGES: i64 = 262_144;

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

    /// Opens the store in `data_dir` for a connection that works beside
    /// the runtime's checkpointer, its threshold raised
    /// ([`Store::checkpoint_past_the_backstop`]): the runtime's stage
    /// thread, delivery recorder, lake and upkeep open theirs so, and none
    /// can forget it (the stage thread's did, and its alarms' commits
    /// checkpointed the WAL).
    pub fn open_beside_checkpointer(data_dir: &Path) -> Result<super::Store> {
        let store = super::Store::open_dir(data_dir)?;
        store.checkpoint_past_the_backstop()?;
        Ok(store)
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

    /// A checkpoint that lets the writer start the WAL over from its
    /// beginning (`PRAGMA wal_checkpoint(RESTART)`): it holds off new
    /// writers (readers go on) while it waits, up to `wait`, for the
    /// writer's transaction and then for every reader still inside the WAL.
    /// A passive checkpoint copies the WAL but the WAL restarts only at a
    /// moment with no reader inside it, and a busy runtime's readers, one
    /// after another, may never leave one: at 10,000 patients the WAL grew
    /// past 4 GB in five minutes, all of it copied. `Ok(true)` when the
    /// next write starts the WAL over; `Ok(false)` when a writer or reader
    /// outlasted `wait` (what could be copied is copied).
    pub fn restart(&self, wait: std::time::Duration) -> Result<bool> {
        self.conn
            .busy_timeout(wait)
            .ctx("setting the checkpoint's wait")?;
        let busy: rusqlite::Result<i64> =
            self.conn
                .query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| r.get(0));
        // A passive checkpoint never waits; only this one may.
        self.conn
            .busy_timeout(std::time::Duration::ZERO)
            .ctx("setting the checkpoint's wait")?;
        match busy {
            Ok(busy) => Ok(busy == 0),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                Ok(false)
            }
            Err(e) => Err(e).ctx("restarting the WAL"),
        }
    }
}
