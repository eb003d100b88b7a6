//! The built-in source `charted`: observations nurses chart by hand
//! (`api::chart_observations`, migration 17). Each row of
//! `charted_observations` is a FHIR Observation; this source reads the rows
//! past its checkpoint (row ids are its strictly increasing sequence) and
//! hands them to the writer like any stream's records, so a charted value
//! is stored, scored (NEWS2), synced to the lake and checkpointed exactly
//! once through the same path.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::pipeline::{MAX_BATCH, RawRecord, SourceEvent};
use wardwatch_core::store::Store;
use wardwatch_core::store::charted::{CHARTED_SHARD, CHARTED_SOURCE};

/// How often the table is read: a nurse sees the NEWS2 move within it.
const POLL: Duration = Duration::from_millis(500);

/// Reads charted rows after `checkpoint` until `stop` turns true. Runs on a
/// blocking thread of its own (the store is synchronous).
pub fn run(
    data_dir: PathBuf,
    checkpoint: Option<String>,
    tx: mpsc::Sender<SourceEvent>,
    stop: watch::Receiver<bool>,
) {
    let mut last: i64 = checkpoint.and_then(|c| c.parse().ok()).unwrap_or(0);
    let mut store: Option<Store> = None;
    let mut failing = false;
    while !*stop.borrow() {
        let read = match store.as_ref() {
            Some(s) => s.charted_after(last, MAX_BATCH),
            None => Store::open_dir(&data_dir).and_then(|s| {
                let rows = s.charted_after(last, MAX_BATCH);
                store = Some(s);
                rows
            }),
        };
        match read {
            Ok(rows) if !rows.is_empty() => {
                failing = false;
                last = rows.last().map_or(last, |r| r.id);
                let records = rows
                    .into_iter()
                    .map(|r| RawRecord::new(r.id.to_string(), r.fhir.into_bytes()))
                    .collect();
                let batch = SourceEvent::Batch {
                    source: CHARTED_SOURCE.to_owned(),
                    shard: CHARTED_SHARD.to_owned(),
                    records,
                    read_at: std::time::Instant::now(),
                };
                if tx.blocking_send(batch).is_err() {
                    return; // the writer is gone: the pipeline is ending
                }
                continue; // more may be waiting
            }
            Ok(_) => failing = false,
            Err(e) => {
                // Loud once per failure run: the source's status shows it.
                if !failing {
                    tracing::error!(error = %e, "cannot read charted observations");
                    let event = SourceEvent::Reconnect {
                        source: CHARTED_SOURCE.to_owned(),
                        error: e.to_string(),
                    };
                    if tx.blocking_send(event).is_err() {
                        return;
                    }
                }
                failing = true;
                store = None;
            }
        }
        std::thread::sleep(POLL);
    }
}
