//! The catalogue's entries, derived from what the store knows of the lake:
//! the sealed objects of the raw and cleaned zones (`lake_objects`), the
//! curated Iceberg tables (`lake_tables`), their schemas and data files
//! (`lake_table_schemas`, `lake_table_files`), the archival rules and what
//! admins wrote (`catalog_annotations`). A pure function of those: the same
//! lake gives the same entries, so an unchanged dataset writes no version.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use wardwatch_core::store::Store;
use wardwatch_core::store::catalog::{Annotation, CatalogColumn, CatalogEntry, EntryKind};
use wardwatch_core::store::lake::LakeObject;
use wardwatch_sync::archive::Policy;
use wardwatch_sync::curated::{NAMESPACE, TABLES};

use crate::Error;

/// Who owns a dataset unless an admin says otherwise.
pub const DEFAULT_OWNER: &str = "wardwatch";

/// A dataset of the raw or cleaned zone: zone, dataset, description, tags.
const OBJECT_DATASETS: [(&str, &str, &str, &[&str]); 3] = [
    (
        "raw",
        "observations",
        "Every stream record exactly as received (FHIR Observation bytes, one per line), with its source, shard, sequence and arrival time; partitioned by day and source",
        &["fhir", "ndjson", "zstd", "identifiable", "as-received"],
    ),
    (
        "cleaned",
        "observations",
        "Validated, deduplicated observations with standardised units, in FHIR Observation form; partitioned by day and ward",
        &["fhir", "ndjson", "zstd", "identifiable", "validated"],
    ),
    (
        "cleaned",
        "quarantine",
        "Records refused at ingest, as received, each with the code and reason of its refusal; partitioned by day and source",
        &["fhir", "ndjson", "zstd", "identifiable", "quarantine"],
    ),
];

/// The columns of an NDJSON line of the raw zone and the quarantine.
fn received_columns() -> Vec<CatalogColumn> {
    let c = |name: &str, ty: &str, required: bool, doc: &str| CatalogColumn {
        name: name.into(),
        ty: ty.into(),
        required,
        doc: doc.into(),
    };
    vec![
        c("source", "string", true, "the source the record came from"),
        c("shard", "string", true, "the stream's shard"),
        c(
            "sequence",
            "string",
            true,
            "the record's sequence number in its shard",
        ),
        c("received", "timestamptz", true, "arrival (RFC 3339, UTC)"),
        c(
            "code",
            "string",
            false,
            "quarantine: why it was refused (code)",
        ),
        c(
            "reason",
            "string",
            false,
            "quarantine: why it was refused (text)",
        ),
        c("bytes", "long", true, "the record's length as received"),
        c(
            "truncated",
            "boolean",
            false,
            "only the head of the record was kept",
        ),
        c(
            "record",
            "json",
            false,
            "the record, verbatim (one line of JSON)",
        ),
        c(
            "record_base64",
            "binary",
            false,
            "the record's bytes when they are not one line of JSON",
        ),
    ]
}

/// The columns of a cleaned observation line (a FHIR R4 Observation).
fn observation_columns() -> Vec<CatalogColumn> {
    let c = |name: &str, ty: &str, required: bool, doc: &str| CatalogColumn {
        name: name.into(),
        ty: ty.into(),
        required,
        doc: doc.into(),
    };
    vec![
        c("resourceType", "string", true, "always Observation"),
        c("id", "string", true, "the observation's id"),
        c("status", "string", true, "final, amended, ..."),
        c(
            "code",
            "codeable_concept",
            true,
            "LOINC and IEEE 11073 MDC codes of the vital",
        ),
        c("subject", "reference", true, "the patient (Patient/MRN)"),
        c("device", "reference", false, "the device that measured it"),
        c(
            "effectiveDateTime",
            "timestamptz",
            true,
            "when it was measured",
        ),
        c(
            "valueQuantity",
            "quantity",
            false,
            "the value in its standard (UCUM) unit",
        ),
        c(
            "valueSampledData",
            "sampled_data",
            false,
            "a waveform block (ECG)",
        ),
        c(
            "component",
            "list",
            false,
            "parts of a compound vital (blood pressure)",
        ),
    ]
}

/// SHA-256 of the columns' names, types and nullability: 16 hex digits.
pub fn fingerprint(columns: &[CatalogColumn]) -> String {
    let mut h = Sha256::new();
    for c in columns {
        h.update(c.name.as_bytes());
        h.update([0]);
        h.update(c.ty.as_bytes());
        h.update([0, u8::from(c.required), 0xff]);
    }
    wardwatch_core::text::hex(&h.finalize()[..8])
}

/// What changed from `old` to `new`: added, dropped, retyped and
/// nullability changes, by column name.
pub fn diff(old: &[CatalogColumn], new: &[CatalogColumn]) -> Vec<String> {
    let mut out = Vec::new();
    for n in new {
        match old.iter().find(|o| o.name == n.name) {
            None => out.push(format!("added {} {}", n.name, n.ty)),
            Some(o) if o.ty != n.ty => out.push(format!("retyped {} {} -> {}", n.name, o.ty, n.ty)),
            Some(o) if o.required != n.required => out.push(format!(
                "{} {} -> {}",
                n.name,
                if o.required { "required" } else { "optional" },
                if n.required { "required" } else { "optional" }
            )),
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|n| n.name == o.name) {
            out.push(format!("dropped {}", o.name));
        }
    }
    out
}

/// A Hive-style partition value back from its key form (`%XX` escapes).
pub fn key_unescape(value: &str) -> String {
    let b = value.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The `name=value` part of an object key (`ward`, `source`), unescaped.
fn key_part(key: &str, name: &str) -> Option<String> {
    key.split('/')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
        .map(key_unescape)
}

fn day_start(day: &str) -> Option<DateTime<Utc>> {
    NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .ok()?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
}

fn day_end(day: &str) -> Option<DateTime<Utc>> {
    day_start(day).map(|t| t + Duration::days(1) - Duration::milliseconds(1))
}

/// Where things are and how they are kept: the target's base URI, its
/// storage class and the archival rules.
#[derive(Debug, Clone)]
pub struct Context {
    /// `file:///dir` or `s3://bucket/prefix`, no trailing slash.
    pub base: String,
    pub storage_class: String,
    /// The curated tables' Iceberg namespace (the target's REST catalog's,
    /// else `wardwatch`).
    pub namespace: String,
    pub policy: Policy,
    pub now: DateTime<Utc>,
}

impl Context {
    /// From the store's configuration (`data_dir` for the embedded target).
    pub fn from_store(
        store: &Store,
        data_dir: &std::path::Path,
        now: DateTime<Utc>,
    ) -> Result<Context, Error> {
        let targets = store.lake_targets()?;
        let t = wardwatch_sync::configured_target(&targets, data_dir)
            .map_err(|e| Error::Lake(e.to_string()))?;
        Ok(Context {
            base: t.url.trim_end_matches('/').to_owned(),
            storage_class: t.storage_class.unwrap_or_else(|| "STANDARD".into()),
            namespace: t.iceberg_namespace.unwrap_or_else(|| NAMESPACE.into()),
            policy: Policy::from_settings(store)?,
            now,
        })
    }

    /// `hot` or `archived` for data of `day` in an archivable zone: the
    /// bucket's lifecycle moves raw and cleaned objects to the archive
    /// class `after_days` after they were written.
    fn archive_state(&self, zone: &str, day: &str) -> Option<&'static str> {
        if zone == "curated" {
            return Some("hot");
        }
        let start = day_start(day)?;
        Some(
            if self.now - start >= Duration::days(self.policy.after_days as i64) {
                "archived"
            } else {
                "hot"
            },
        )
    }

    fn class(&self, zone: &str, day: &str) -> String {
        match self.archive_state(zone, day) {
            Some("archived") => self.policy.class.clone(),
            _ => self.storage_class.clone(),
        }
    }
}

fn annotate(e: &mut CatalogEntry, notes: &std::collections::HashMap<String, Annotation>) {
    if let Some(a) = notes.get(&e.id) {
        if let Some(d) = &a.description {
            e.description = d.clone();
        }
        if let Some(o) = &a.owner {
            e.owner = Some(o.clone());
        }
        for t in &a.tags {
            if !e.tags.contains(t) {
                e.tags.push(t.clone());
            }
        }
    }
}

/// Running totals of a dataset or partition.
#[derive(Debug, Default)]
struct Totals {
    rows: i64,
    bytes: i64,
    objects: i64,
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    modified: Option<DateTime<Utc>>,
    snapshots: Vec<i64>,
    patients: std::collections::BTreeSet<String>,
    wards: std::collections::BTreeSet<String>,
    synced: bool,
}

impl Totals {
    fn add(
        &mut self,
        rows: i64,
        bytes: i64,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
    ) {
        self.rows += rows;
        self.bytes += bytes;
        self.objects += 1;
        self.first = match (self.first, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last = self.last.max(last);
    }

    fn touch(&mut self, at: DateTime<Utc>) {
        self.modified = self.modified.max(Some(at));
    }

    fn apply(&self, e: &mut CatalogEntry) {
        e.rows = Some(self.rows);
        e.bytes = Some(self.bytes);
        e.objects = Some(self.objects);
        e.first = self.first;
        e.last = self.last;
        e.modified = self.modified;
    }
}

/// Every entry the lake gives, sorted by id.
pub fn harvest(store: &Store, cx: &Context) -> Result<Vec<CatalogEntry>, Error> {
    let notes = store.catalog_annotations()?;
    let mut out = Vec::new();
    objects(store, cx, &mut out)?;
    curated(store, cx, &mut out)?;
    for e in &mut out {
        annotate(e, &notes);
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(out)
}

/// The raw and cleaned zones: datasets, their one schema, partitions (day
/// and ward or source) and objects.
fn objects(store: &Store, cx: &Context, out: &mut Vec<CatalogEntry>) -> Result<(), Error> {
    let all: Vec<LakeObject> = store.lake_objects("")?;
    for (zone, dataset, doc, tags) in OBJECT_DATASETS {
        let id = format!("{zone}/{dataset}");
        let tags: Vec<String> = std::iter::once(zone)
            .chain(tags.iter().copied())
            .map(str::to_owned)
            .collect();
        let columns = if (zone, dataset) == ("cleaned", "observations") {
            observation_columns()
        } else {
            received_columns()
        };
        let mine: Vec<&LakeObject> = all
            .iter()
            .filter(|o| o.zone.as_str() == zone && o.dataset == dataset)
            .collect();
        let mut total = Totals::default();
        let mut parts: BTreeMap<(String, String), (Totals, Option<String>)> = BTreeMap::new();
        for o in &mine {
            let (first, last) = (day_start(&o.day), day_end(&o.day));
            let ward = key_part(&o.key, "ward");
            let part = o.key.split('/').nth(3).unwrap_or_default().to_owned();
            total.add(o.records, o.bytes, first, last);
            total.touch(o.created);
            let p = parts.entry((o.day.clone(), part)).or_insert_with(|| {
                (
                    Totals {
                        synced: true,
                        ..Totals::default()
                    },
                    ward,
                )
            });
            p.0.add(o.records, o.bytes, first, last);
            p.0.touch(o.created);
            p.0.synced &= o.synced;
            out.push(CatalogEntry {
                id: format!("object:{}", o.key),
                kind: EntryKind::Object,
                zone: zone.into(),
                dataset: dataset.into(),
                name: o.key.rsplit('/').next().unwrap_or(&o.key).to_owned(),
                owner: Some(DEFAULT_OWNER.into()),
                tags: tags.clone(),
                location: Some(format!("{}/{}", cx.base, o.key)),
                wards: key_part(&o.key, "ward").into_iter().collect(),
                date: Some(o.day.clone()),
                first,
                last,
                rows: Some(o.records),
                bytes: Some(o.bytes),
                objects: Some(1),
                schema_version: Some(1),
                key: Some(o.key.clone()),
                checksum: Some(format!("sha256:{}", o.sha256)),
                codec: Some("ndjson+zstd".into()),
                storage_class: Some(cx.class(zone, &o.day)),
                archive_state: cx.archive_state(zone, &o.day).map(str::to_owned),
                sync_state: Some(if o.synced { "synced" } else { "pending" }.into()),
                created: Some(o.created),
                modified: Some(o.created),
                description: format!("An object of {zone}/{dataset}: {} records", o.records),
                ..CatalogEntry::default()
            });
        }
        for ((day, part), (t, ward)) in &parts {
            let mut e = CatalogEntry {
                id: format!("partition:{id}/date={day}/{part}"),
                kind: EntryKind::Partition,
                zone: zone.into(),
                dataset: dataset.into(),
                name: format!("{id} {day} {}", key_unescape(part)),
                description: format!("The {zone}/{dataset} data of {day}, {}", key_unescape(part)),
                owner: Some(DEFAULT_OWNER.into()),
                tags: tags.clone(),
                location: Some(format!("{}/{id}/date={day}/{part}/", cx.base)),
                wards: ward.iter().cloned().collect(),
                date: Some(day.clone()),
                schema_version: Some(1),
                storage_class: Some(cx.class(zone, day)),
                archive_state: cx.archive_state(zone, day).map(str::to_owned),
                sync_state: Some(if t.synced { "synced" } else { "pending" }.into()),
                codec: Some("ndjson+zstd".into()),
                ..CatalogEntry::default()
            };
            t.apply(&mut e);
            e.created = e.first;
            out.push(e);
        }
        let fp = fingerprint(&columns);
        out.push(CatalogEntry {
            id: format!("schema:{id}@1"),
            kind: EntryKind::Schema,
            zone: zone.into(),
            dataset: dataset.into(),
            name: format!("{id} schema 1"),
            description: format!("The lines of {id}"),
            owner: Some(DEFAULT_OWNER.into()),
            tags: tags.clone(),
            schema_version: Some(1),
            fingerprint: Some(fp.clone()),
            columns: columns.clone(),
            changes: vec!["first version".into()],
            objects: Some(mine.len() as i64),
            ..CatalogEntry::default()
        });
        let mut e = CatalogEntry {
            id: format!("dataset:{id}"),
            kind: EntryKind::Dataset,
            zone: zone.into(),
            dataset: dataset.into(),
            name: id.clone(),
            description: doc.into(),
            owner: Some(DEFAULT_OWNER.into()),
            tags,
            location: Some(format!("{}/{id}/", cx.base)),
            schema_version: Some(1),
            fingerprint: Some(fp),
            columns,
            codec: Some("ndjson+zstd".into()),
            storage_class: Some(cx.storage_class.clone()),
            ..CatalogEntry::default()
        };
        total.apply(&mut e);
        out.push(e);
    }
    Ok(())
}

/// The curated zone: a dataset per Iceberg table, its schema versions,
/// partitions (days) and data files.
fn curated(store: &Store, cx: &Context, out: &mut Vec<CatalogEntry>) -> Result<(), Error> {
    let tables = store.lake_tables()?;
    let schemas = store.lake_table_schemas()?;
    let files = store.lake_table_files()?;
    for def in TABLES {
        let Some(table) = tables.iter().find(|t| t.name == def.name) else {
            continue;
        };
        let id = format!("curated/{}", def.name);
        let tags: Vec<String> = ["curated", "iceberg", "parquet", "zstd", "pseudonymised"]
            .map(str::to_owned)
            .to_vec();
        let iceberg = format!("{}.{}", cx.namespace, def.name);
        // In the target, or where an Iceberg REST catalog put the table.
        let location = table.location.clone();
        let mine: Vec<_> = files.iter().filter(|f| f.table == def.name).collect();
        // Schema ids in order; the version is the position + 1.
        let versions: Vec<_> = schemas.iter().filter(|s| s.table == def.name).collect();
        let version_of = |schema_id: i32| {
            versions
                .iter()
                .position(|s| s.schema_id == schema_id)
                .map(|i| i as i64 + 1)
        };
        let mut previous: Option<&[CatalogColumn]> = None;
        for (i, s) in versions.iter().enumerate() {
            let written: Vec<_> = mine.iter().filter(|f| f.schema_id == s.schema_id).collect();
            let mut snapshots: Vec<i64> = written.iter().map(|f| f.snapshot_id).collect();
            snapshots.dedup();
            let changes = match previous {
                None => vec!["first version".to_owned()],
                Some(old) => diff(old, &s.columns),
            };
            out.push(CatalogEntry {
                id: format!("schema:{id}@{}", i + 1),
                kind: EntryKind::Schema,
                zone: "curated".into(),
                dataset: def.name.into(),
                name: format!("{id} schema {}", i + 1),
                description: format!(
                    "Iceberg schema {} of {iceberg} ({})",
                    s.schema_id,
                    changes.join("; ")
                ),
                owner: Some(DEFAULT_OWNER.into()),
                tags: tags.clone(),
                iceberg: Some(iceberg.clone()),
                location: Some(location.clone()),
                schema_version: Some(i as i64 + 1),
                fingerprint: Some(fingerprint(&s.columns)),
                columns: s.columns.clone(),
                changes,
                snapshots,
                objects: Some(written.len() as i64),
                rows: Some(written.iter().map(|f| f.file.rows).sum()),
                created: Some(s.created),
                ..CatalogEntry::default()
            });
            previous = Some(&s.columns);
        }
        let mut total = Totals::default();
        let mut parts: BTreeMap<&str, Totals> = BTreeMap::new();
        let mut part_version: BTreeMap<&str, i64> = BTreeMap::new();
        for f in &mine {
            total.add(f.file.rows, f.file.bytes, f.file.first, f.file.last);
            total.touch(f.committed);
            let p = parts.entry(f.file.day.as_str()).or_default();
            p.add(f.file.rows, f.file.bytes, f.file.first, f.file.last);
            p.touch(f.committed);
            p.snapshots.push(f.snapshot_id);
            p.patients.extend(f.file.patients.iter().cloned());
            p.wards.extend(f.file.wards.iter().cloned());
            if let Some(v) = version_of(f.schema_id) {
                let e = part_version.entry(f.file.day.as_str()).or_insert(v);
                *e = (*e).max(v);
            }
            let path = f.file.path.as_str();
            let key = path
                .strip_prefix(&cx.base)
                .map(|k| k.trim_start_matches('/'))
                .unwrap_or(path);
            out.push(CatalogEntry {
                id: format!("object:{key}"),
                kind: EntryKind::Object,
                zone: "curated".into(),
                dataset: def.name.into(),
                name: key.rsplit('/').next().unwrap_or(key).to_owned(),
                description: format!(
                    "A Parquet data file of {iceberg}: {} rows of {}",
                    f.file.rows, f.file.day
                ),
                owner: Some(DEFAULT_OWNER.into()),
                tags: tags.clone(),
                iceberg: Some(iceberg.clone()),
                location: Some(path.to_owned()),
                date: Some(f.file.day.clone()),
                first: f.file.first,
                last: f.file.last,
                rows: Some(f.file.rows),
                bytes: Some(f.file.bytes),
                objects: Some(1),
                schema_version: version_of(f.schema_id),
                snapshots: vec![f.snapshot_id],
                key: Some(key.to_owned()),
                codec: Some("parquet+zstd".into()),
                storage_class: Some(cx.storage_class.clone()),
                archive_state: Some("hot".into()),
                sync_state: Some("synced".into()),
                created: Some(f.committed),
                modified: Some(f.committed),
                ..CatalogEntry::default()
            });
        }
        for (day, t) in &parts {
            let mut e = CatalogEntry {
                id: format!("partition:{id}/date={day}"),
                kind: EntryKind::Partition,
                zone: "curated".into(),
                dataset: def.name.into(),
                name: format!("{id} {day}"),
                description: format!("The {iceberg} rows of {day}"),
                owner: Some(DEFAULT_OWNER.into()),
                tags: tags.clone(),
                iceberg: Some(iceberg.clone()),
                location: Some(location.clone()),
                date: Some((*day).to_owned()),
                schema_version: part_version.get(day).copied(),
                snapshots: t.snapshots.clone(),
                patients: t.patients.iter().cloned().collect(),
                wards: t.wards.iter().cloned().collect(),
                codec: Some("parquet+zstd".into()),
                storage_class: Some(cx.storage_class.clone()),
                archive_state: Some("hot".into()),
                sync_state: Some("synced".into()),
                ..CatalogEntry::default()
            };
            t.apply(&mut e);
            e.created = day_start(day);
            out.push(e);
        }
        let current = versions.last();
        let mut e = CatalogEntry {
            id: format!("dataset:{id}"),
            kind: EntryKind::Dataset,
            zone: "curated".into(),
            dataset: def.name.into(),
            name: id.clone(),
            description: def.doc.into(),
            owner: Some(DEFAULT_OWNER.into()),
            tags,
            iceberg: Some(iceberg),
            location: Some(table.metadata_location.clone()),
            schema_version: current.map(|_| versions.len() as i64),
            fingerprint: current.map(|s| fingerprint(&s.columns)),
            columns: current.map(|s| s.columns.clone()).unwrap_or_default(),
            snapshots: table.snapshot_id.into_iter().collect(),
            codec: Some("parquet+zstd".into()),
            storage_class: Some(cx.storage_class.clone()),
            archive_state: Some("hot".into()),
            ..CatalogEntry::default()
        };
        total.apply(&mut e);
        e.created = versions.first().map(|s| s.created);
        out.push(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, ty: &str, required: bool) -> CatalogColumn {
        CatalogColumn {
            name: name.into(),
            ty: ty.into(),
            required,
            doc: String::new(),
        }
    }

    #[test]
    fn a_schema_diff_names_added_dropped_retyped_and_nullability() {
        let old = [
            col("a", "int", true),
            col("b", "string", false),
            col("c", "int", true),
        ];
        let new = [
            col("a", "long", true),
            col("c", "int", false),
            col("d", "boolean", false),
        ];
        assert_eq!(
            diff(&old, &new),
            [
                "retyped a int -> long",
                "c required -> optional",
                "added d boolean",
                "dropped b"
            ]
        );
        assert_ne!(fingerprint(&old), fingerprint(&new));
        assert_eq!(fingerprint(&old), fingerprint(&old.clone()));
    }

    #[test]
    fn escaped_partition_values_read_back() {
        assert_eq!(key_unescape("Cardio%20A"), "Cardio A");
        assert_eq!(key_unescape("50%"), "50%");
        assert_eq!(key_unescape("%C3%A9"), "é");
        assert_eq!(
            key_part(
                "cleaned/observations/date=2026-03-01/ward=Cardio%20A/part-1",
                "ward"
            ),
            Some("Cardio A".into())
        );
    }
}
