//! A manifest per dataset, written to the lake beside the data so that
//! tools outside Wardwatch discover it too: `_catalog/ZONE/DATASET/
//! vNNNNNN-DIGEST.json` under the target's base (outside the zones'
//! prefixes, so the archival rules never move it and the curated tables'
//! orphan removal never sees it).
//!
//! A manifest holds what describes the dataset and changes seldom — name,
//! description, owner, tags, the Iceberg identifier, location, codec,
//! partitioning and every schema version with its columns and changes —
//! not the totals that grow with every pass. A new one is written only
//! when that content changes; like every lake object it is write-once (the
//! digest in its key makes a key name one content ever), and the newest
//! (highest `v`) is current.

use chrono::{DateTime, Utc};
use serde::Serialize;
use wardwatch_core::store::Store;
use wardwatch_core::store::catalog::{CatalogColumn, CatalogEntry, EntryKind};
use wardwatch_core::store::lake::{md5_hex, sha256_hex};
use wardwatch_sync::Target;

use crate::Error;

/// The manifests' prefix under the target's base.
pub const PREFIX: &str = "_catalog";

#[derive(Debug, Serialize)]
struct SchemaVersion<'a> {
    version: Option<i64>,
    fingerprint: Option<&'a str>,
    changes: &'a [String],
    columns: &'a [CatalogColumn],
}

#[derive(Debug, Serialize)]
struct Manifest<'a> {
    format: &'static str,
    id: &'a str,
    zone: &'a str,
    dataset: &'a str,
    name: &'a str,
    description: &'a str,
    owner: Option<&'a str>,
    tags: &'a [String],
    iceberg: Option<&'a str>,
    location: Option<String>,
    codec: Option<&'a str>,
    partitioning: &'static str,
    current_schema: Option<i64>,
    schemas: Vec<SchemaVersion<'a>>,
}

/// The manifest of `dataset` (a dataset entry) with its `schemas`, as
/// deterministic JSON bytes.
pub fn manifest(dataset: &CatalogEntry, schemas: &[CatalogEntry], base: &str) -> Vec<u8> {
    let m = Manifest {
        format: "wardwatch.dataset-manifest/1",
        id: &dataset.id,
        zone: &dataset.zone,
        dataset: &dataset.dataset,
        name: &dataset.name,
        description: &dataset.description,
        owner: dataset.owner.as_deref(),
        tags: &dataset.tags,
        iceberg: dataset.iceberg.as_deref(),
        // A curated dataset's entry names its current metadata file, which
        // changes with every commit: the manifest names the table's root.
        location: Some(if dataset.zone == "curated" {
            format!("{base}/curated/{}", dataset.dataset)
        } else {
            format!("{base}/{}/{}/", dataset.zone, dataset.dataset)
        }),
        codec: dataset.codec.as_deref(),
        partitioning: match (dataset.zone.as_str(), dataset.dataset.as_str()) {
            ("curated", _) => "Iceberg partition spec: day of the time column",
            ("cleaned", "observations") => "date=YYYY-MM-DD/ward=WARD",
            _ => "date=YYYY-MM-DD/source=SOURCE",
        },
        current_schema: dataset.schema_version,
        schemas: schemas
            .iter()
            .map(|s| SchemaVersion {
                version: s.schema_version,
                fingerprint: s.fingerprint.as_deref(),
                changes: &s.changes,
                columns: &s.columns,
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&m).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Writes a manifest for each dataset whose description or schemas
/// changed since its last one (and for each that has none); the number
/// written. A manifest counts as written once the target acknowledged and
/// verified it.
pub async fn publish(store: &Store, target: &Target, now: DateTime<Utc>) -> Result<usize, Error> {
    let mut datasets = Vec::new();
    let mut schemas = Vec::new();
    store.catalog_each(|e| match e.kind {
        EntryKind::Dataset => datasets.push(e),
        EntryKind::Schema => schemas.push(e),
        _ => {}
    })?;
    let base = target.base_uri();
    let base = base.trim_end_matches('/');
    let mut written = 0;
    for d in &datasets {
        let mine: Vec<CatalogEntry> = schemas
            .iter()
            .filter(|s| s.zone == d.zone && s.dataset == d.dataset)
            .cloned()
            .collect();
        let bytes = manifest(d, &mine, base);
        let digest = sha256_hex(&bytes);
        let (n, newest) = store.catalog_manifests(&d.id)?;
        if newest.as_deref() == Some(digest.as_str()) {
            continue;
        }
        let key = format!(
            "{PREFIX}/{}/{}/v{:06}-{}.json",
            d.zone,
            d.dataset,
            n + 1,
            &digest[..16]
        );
        let md5 = md5_hex(&bytes);
        target
            .put(&key, bytes, &digest, &md5)
            .await
            .map_err(|e| Error::Lake(format!("writing the manifest {key}: {e}")))?;
        store.catalog_manifest_written(&key, &d.id, &digest, now)?;
        written += 1;
    }
    Ok(written)
}
