//! Stream sources: where records come from and how to resume. Each source
//! reads in order per shard, sends `SourceEvent::Batch`es to the writer, and
//! reconnects with capped exponential backoff and full jitter after errors.

pub mod backoff;
pub mod kinesis;
pub mod sse;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use super::pipeline::SourceEvent;

/// A source as the admin configured it (stored in the `sources` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SourceConfig {
    /// An HTTP Server-Sent Events gateway: one record per event, `id:` is the
    /// sequence, resumed with `Last-Event-ID`.
    Sse { name: String, url: String },
    /// An AWS Kinesis Data Streams stream, every shard, resumed with
    /// AFTER_SEQUENCE_NUMBER from the stored checkpoints. `credentials` says
    /// where the keys are (`env:PREFIX` reads PREFIX_ACCESS_KEY_ID and
    /// PREFIX_SECRET_ACCESS_KEY); keys are never stored.
    Kinesis {
        name: String,
        endpoint: String,
        stream: String,
        region: String,
        credentials: String,
    },
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Sse { name, .. } | SourceConfig::Kinesis { name, .. } => name,
        }
    }
}

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
        } => {
            let source = kinesis::KinesisSource {
                name,
                endpoint,
                stream,
                region,
                credentials,
            };
            kinesis::run(source, checkpoints, tx, stop).await;
        }
    }
}
