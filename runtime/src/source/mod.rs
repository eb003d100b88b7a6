//! Stream sources: where records come from and how to resume. Each source
//! reads in order per shard, sends `SourceEvent::Batch`es to the writer, and
//! reconnects with capped exponential backoff and full jitter after errors.

pub mod backoff;
pub mod charted;
pub mod kinesis;
pub mod sse;

use std::collections::HashMap;

use tokio::sync::{mpsc, watch};

pub use wardwatch_core::ingest::source::SourceConfig;

use crate::pipeline::SourceEvent;

/// Runs one source until `stop` turns true. `checkpoints` are the stored
/// sequences by shard.
pub async fn run(
    config: SourceConfig,
    checkpoints: HashMap<String, String>,
    tx: mpsc::Sender<SourceEvent>,
    stop: watch::Receiver<bool>,
) {
    match config {
        SourceConfig::Sse { name, url } => {
            let last = checkpoints.get(sse::SHARD).cloned();
            sse::run(&name, &url, last, tx, stop).await;
        }
        SourceConfig::Kinesis {
            name,
            endpoint,
            stream,
            region,
            credentials,
            ca_bundle,
        } => {
            let source = kinesis::KinesisSource {
                name,
                endpoint,
                stream,
                region,
                credentials,
                ca_bundle,
            };
            kinesis::run(source, checkpoints, tx, stop).await;
        }
    }
}
