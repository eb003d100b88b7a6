//! Stream sources as the admin configured them (the `sources` table). The
//! runtime (`wardwatch-runtime`) reads them; the readers themselves live there.

use serde::{Deserialize, Serialize};

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
