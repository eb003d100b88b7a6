//! The audit chain's heads in the lake (SECURITY.md). The store seals its
//! audit trail with a key kept outside the data directory; someone who
//! holds both the store and that folder could still rewrite the trail and
//! re-seal it. So the newest entry's sequence number and seal also go to
//! the lake, write-once (`If-None-Match: *` on S3, a hard link on a
//! folder), as `_audit/CHAIN/head-SEQ.json`: a rewritten or shortened trail
//! no longer matches what the lake holds (`wardwatchctl audit verify
//! --lake`). With S3 Object Lock on the bucket nobody can delete them
//! either.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use wardwatch_core::store::lake::{md5_hex, sha256_hex};
use wardwatch_core::store::{AuditHead, Store};

use crate::error::Error;
use crate::target::Target;

/// Where a chain's heads are kept in the lake.
pub const PREFIX: &str = "_audit";

/// A head object's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeadObject {
    pub chain: String,
    pub seq: i64,
    /// The entry's seal, hex.
    pub mac: String,
    pub written: DateTime<Utc>,
}

fn key_of(chain: &str, seq: i64) -> String {
    format!("{PREFIX}/{chain}/head-{seq:012}.json")
}

/// Writes the chain's head to the lake when the trail has grown since the
/// last one written; the sequence number written, if any.
pub async fn publish_head(
    store: &Store,
    target: &Target,
    now: DateTime<Utc>,
) -> Result<Option<i64>, Error> {
    let name = target.name().to_owned();
    let Some((chain, head)) = store.audit_head().map_err(|e| Error::store(&name, &e))? else {
        return Ok(None);
    };
    let published = store
        .audit_head_published()
        .map_err(|e| Error::store(&name, &e))?;
    if published.is_some_and(|p| p >= head.seq) {
        return Ok(None);
    }
    let key = key_of(&chain, head.seq);
    let body = serde_json::to_vec_pretty(&HeadObject {
        chain,
        seq: head.seq,
        mac: head.mac,
        written: now,
    })
    .unwrap_or_default();
    let (sha, md5) = (sha256_hex(&body), md5_hex(&body));
    target.put(&key, body, &sha, &md5).await?;
    store
        .note_audit_head_published(head.seq, &key, now)
        .map_err(|e| Error::store(&name, &e))?;
    Ok(Some(head.seq))
}

/// The newest head the lake holds for `chain`, if any, as
/// `verify_audit_with` takes it.
pub async fn newest_head(target: &Target, chain: &str) -> Result<Option<AuditHead>, Error> {
    let keys = target.list(&format!("{PREFIX}/{chain}")).await?;
    // Zero-padded sequence numbers: the last key is the newest head.
    let Some(newest) = keys.iter().filter(|k| k.ends_with(".json")).max() else {
        return Ok(None);
    };
    let bytes = target.get(newest).await?;
    let head: HeadObject = serde_json::from_slice(&bytes).map_err(|e| {
        Error::new(
            target.name(),
            crate::error::Fault::Conflict,
            format!("{newest} is not an audit head: {e}"),
        )
    })?;
    if head.chain != chain {
        return Err(Error::new(
            target.name(),
            crate::error::Fault::Conflict,
            format!("{newest} names another chain ({})", head.chain),
        ));
    }
    Ok(Some(AuditHead {
        seq: head.seq,
        mac: head.mac,
    }))
}
