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
    /// PREFIX_SECRET_ACCESS_KEY; `keyring:NAME` reads them from the OS
    /// keyring); keys are never stored.
    Kinesis {
        name: String,
        endpoint: String,
        stream: String,
        region: String,
        credentials: String,
        /// A PEM file of CA certificates to trust beside the system's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ca_bundle: Option<String>,
    },
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Sse { name, .. } | SourceConfig::Kinesis { name, .. } => name,
        }
    }
}

/// Longest stream sequence (SSE event id) kept as a resume point.
pub const MAX_SEQUENCE_LEN: usize = 256;

/// Whether `sequence` can be sent back to its source to resume the stream.
/// SSE sends it as the `Last-Event-ID` header, and an HTTP header value is
/// visible ASCII and spaces only (RFC 9110 §5.5, less obs-text): one event id
/// with a control character stored as the checkpoint broke its source on
/// every reconnect, for good (issue 9, item 5). An empty sequence is "none".
pub fn resumable(sequence: &str) -> bool {
    !sequence.is_empty()
        && sequence.len() <= MAX_SEQUENCE_LEN
        && sequence.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::resumable;

    #[test]
    fn only_ids_that_can_be_sent_back_as_a_header_are_resume_points() {
        assert!(resumable(
            "49590338271490256608559692538361571095921575989136588898"
        ));
        assert!(resumable("gw-7 2026-11-30T10:00:00Z"));
        for bad in [
            "",
            "7\u{1b}[31m",
            "a\rb",
            "tab\there",
            "caf\u{e9}",
            &"9".repeat(257),
        ] {
            assert!(!resumable(bad), "{bad:?}");
        }
    }
}
