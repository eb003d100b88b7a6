//! The curated zone: analysis-ready Apache Iceberg tables (format v2,
//! Parquet data files with zstd), written into the same target as the raw
//! and cleaned zones (docs/data-lake.md).
//!
//! - Tables: `vitals_minute`, `scores`, `rhythm_findings`, `alarms` (a row
//!   per change of an alarm's life cycle) and `patients` (the pseudonymised
//!   dimension); each partitioned by day of its time column.
//! - The store is the catalog: it holds each table's current metadata file
//!   and the watermark up to which the store's rows are in the table, and
//!   changes both in one transaction after the new metadata file is written.
//!   Readers without a catalog open that metadata file (DuckDB's
//!   `iceberg_scan`); `wardwatchctl sync status` shows it.
//! - A commit appends at most one UTC day of rows (one partition) with
//!   `fast_append`; an intent recorded before its first file marks it, so a
//!   commit a crash interrupted is found at the next pass and the files no
//!   table references (data, manifests, metadata) are removed and counted.
//! - Compaction and snapshot expiry are left to the engines that run
//!   against the bucket (e.g. AWS Glue's table optimizers, Spark's
//!   `rewrite_data_files` and `expire_snapshots`): iceberg-rust 0.10 cannot
//!   rewrite or delete.

use std::collections::{BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Duration, DurationRound, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::spec::{
    DataFileFormat, FormatVersion, Literal, ManifestList, NestedField, PartitionKey, PrimitiveType,
    Schema, SnapshotRef, Struct, TableMetadata, TableMetadataBuilder, Transform, Type,
    UnboundPartitionSpec,
};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{
    Catalog, MetadataLocation, Namespace, NamespaceIdent, TableCommit, TableCreation, TableIdent,
    TableRequirement, TableUpdate,
};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use wardwatch_core::store::Store;
use wardwatch_core::store::catalog::{CatalogColumn, TableFile};
use wardwatch_core::store::curated::{CuratedTable, Pseudonymizer};
use wardwatch_core::store::lake::{md5_hex, sha256_hex};

use crate::error::{Error, Fault};
use crate::rest::{RemoteTable, RestCatalog};
use crate::target::Target;

/// The Iceberg namespace of the curated tables.
pub const NAMESPACE: &str = "wardwatch";
/// Where the tables live, under the target's base.
pub const CURATED_PREFIX: &str = "curated";

/// A column's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    I32,
    I64,
    F64,
    Bool,
    /// `timestamptz`, microseconds.
    Ts,
}

/// A column: name, type, required, description.
type Field = (&'static str, Kind, bool, &'static str);

/// A curated table's definition.
#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub doc: &'static str,
    fields: &'static [Field],
    /// The time column the table is partitioned by day of.
    time: &'static str,
}

const VITALS: TableDef = TableDef {
    name: "vitals_minute",
    doc: "Per-minute vital signs of each patient: count, minimum, maximum and mean of the samples stored in the minute",
    fields: &[
        (
            "patient",
            Kind::Str,
            true,
            "pseudonymised patient: keyed hash (HMAC-SHA256) of the MRN",
        ),
        ("ward", Kind::Str, false, "the patient's ward when exported"),
        (
            "vital",
            Kind::Str,
            true,
            "hr, rr, spo2, sbp, dbp, temp, acvpu, o2",
        ),
        ("unit", Kind::Str, true, "UCUM-style unit of min/max/mean"),
        ("minute", Kind::Ts, true, "start of the minute (UTC)"),
        ("count", Kind::I32, true, "samples in the minute"),
        ("min", Kind::F64, true, "lowest sample"),
        ("max", Kind::F64, true, "highest sample"),
        ("mean", Kind::F64, true, "mean of the samples"),
    ],
    time: "minute",
};

const SCORES: TableDef = TableDef {
    name: "scores",
    doc: "Scores computed by Wardwatch: NEWS2 (RCP 2017) with its sub-scores, cardiac risk with its contributors, ECG heart rate",
    fields: &[
        ("patient", Kind::Str, true, "pseudonymised patient"),
        ("ward", Kind::Str, false, "the patient's ward when exported"),
        ("kind", Kind::Str, true, "news2, cardiac_risk, ecg_hr"),
        ("at", Kind::Ts, true, "when the score was computed (UTC)"),
        (
            "value",
            Kind::F64,
            true,
            "the aggregate score (NEWS2 0-20, cardiac risk 0-100, HR /min)",
        ),
        (
            "detail",
            Kind::Str,
            true,
            "JSON: sub-scores, contributors, what was missing",
        ),
        // Schema 2 (an optional column added: Iceberg schema evolution).
        (
            "complete",
            Kind::Bool,
            false,
            "NEWS2: false when a parameter was missing (a partial score, never scored 0); NULL for other kinds",
        ),
    ],
    time: "at",
};

const FINDINGS: TableDef = TableDef {
    name: "rhythm_findings",
    doc: "Onsets and ends of ECG rhythm findings (e.g. atrial fibrillation, asystole, extreme tachycardia)",
    fields: &[
        ("patient", Kind::Str, true, "pseudonymised patient"),
        ("ward", Kind::Str, false, "the patient's ward when exported"),
        ("at", Kind::Ts, true, "onset or end (UTC)"),
        ("event", Kind::Str, true, "onset or end"),
        ("finding", Kind::Str, true, "the finding's kind"),
        (
            "lead",
            Kind::I64,
            false,
            "the ECG lead's IEEE 11073 MDC code",
        ),
        ("detail", Kind::Str, true, "JSON: the finding as analysed"),
    ],
    time: "at",
};

const ALARMS: TableDef = TableDef {
    name: "alarms",
    doc: "Alarms with their life cycle (IEC 60601-1-8 priorities): a row per change; the newest row per alarm_id is its latest state",
    fields: &[
        ("alarm_id", Kind::I64, true, "the alarm episode"),
        (
            "patient",
            Kind::Str,
            false,
            "pseudonymised patient; NULL for a technical alarm of no patient",
        ),
        ("ward", Kind::Str, false, "the patient's ward when exported"),
        (
            "key",
            Kind::Str,
            true,
            "the condition (hr_high, asystole, tech:stream_stalled, ...)",
        ),
        ("priority", Kind::Str, true, "high, medium, low, technical"),
        ("state", Kind::Str, true, "active, acknowledged, resolved"),
        ("latched", Kind::Bool, true, "stays until acknowledged"),
        ("raised", Kind::Ts, true, "when the alarm was raised (UTC)"),
        ("updated", Kind::Ts, true, "when this state began (UTC)"),
        (
            "condition_ended",
            Kind::Ts,
            false,
            "when the condition ended",
        ),
        ("acked_by", Kind::Str, false, "the user who acknowledged it"),
        ("acked", Kind::Ts, false, "when it was acknowledged"),
        ("escalated", Kind::Ts, false, "when it was escalated"),
        ("escalated_to", Kind::Str, false, "to whom"),
        ("notify_count", Kind::I32, true, "notifications sent"),
        (
            "annotation",
            Kind::Str,
            false,
            "true, false or non_actionable, as a clinician annotated it",
        ),
        ("annotated_by", Kind::Str, false, "who annotated it"),
    ],
    time: "updated",
};

const PATIENTS: TableDef = TableDef {
    name: "patients",
    doc: "The patient dimension, pseudonymised (no name, no MRN, birth year only): a row per change of the record",
    fields: &[
        ("patient", Kind::Str, true, "pseudonymised patient"),
        ("ward", Kind::Str, false, "ward"),
        ("sex", Kind::Str, true, "female, male, other, unknown"),
        ("birth_year", Kind::I32, false, "year of birth"),
        ("spo2_scale", Kind::I32, true, "NEWS2 SpO2 scale (1 or 2)"),
        (
            "conditions",
            Kind::I32,
            true,
            "number of recorded conditions",
        ),
        (
            "medications",
            Kind::I32,
            true,
            "number of recorded medications",
        ),
        ("admitted", Kind::Ts, false, "admission"),
        ("discharged", Kind::Ts, false, "discharge"),
        ("updated", Kind::Ts, true, "when the record changed (UTC)"),
    ],
    time: "updated",
};

/// Every curated table.
pub const TABLES: [&TableDef; 5] = [&VITALS, &SCORES, &FINDINGS, &ALARMS, &PATIENTS];

impl TableDef {
    /// The Iceberg schema: field ids 1.. in order.
    pub fn schema(&self) -> iceberg::Result<Schema> {
        let fields = self
            .fields
            .iter()
            .enumerate()
            .map(|(i, (name, kind, required, doc))| {
                let ty = Type::Primitive(match kind {
                    Kind::Str => PrimitiveType::String,
                    Kind::I32 => PrimitiveType::Int,
                    Kind::I64 => PrimitiveType::Long,
                    Kind::F64 => PrimitiveType::Double,
                    Kind::Bool => PrimitiveType::Boolean,
                    Kind::Ts => PrimitiveType::Timestamptz,
                });
                let id = i as i32 + 1;
                let f = if *required {
                    NestedField::required(id, *name, ty)
                } else {
                    NestedField::optional(id, *name, ty)
                };
                Arc::new(f.with_doc(*doc))
            })
            .collect::<Vec<_>>();
        Schema::builder().with_fields(fields).build()
    }

    /// The definition with its first `n` columns only: the table as an
    /// older version of Wardwatch defined it (for tests of schema
    /// evolution: columns are only ever added at the end).
    #[doc(hidden)]
    pub fn first_columns(&self, n: usize) -> TableDef {
        TableDef {
            name: self.name,
            doc: self.doc,
            fields: &self.fields[..n.min(self.fields.len())],
            time: self.time,
        }
    }

    /// The number of columns.
    pub fn width(&self) -> usize {
        self.fields.len()
    }

    fn time_field_id(&self) -> i32 {
        self.fields
            .iter()
            .position(|f| f.0 == self.time)
            .map_or(0, |i| i as i32 + 1)
    }

    /// The rows of the store in `[from, end)`, as columns, and `end`: `to`,
    /// or earlier where the minutes, scores or findings pass `max_rows`
    /// (a commit's rows are held in memory; a catch-up of a day of a large
    /// ward goes in several commits). Alarms and patients are one row per
    /// alarm or patient that changed, never that many.
    fn rows(
        &self,
        store: &Store,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        p: &Pseudonymizer,
        max_rows: usize,
    ) -> wardwatch_core::error::Result<(usize, Vec<Col>, DateTime<Utc>)> {
        let mut cols = Cols::new(self.fields);
        match self.name {
            "vitals_minute" => {
                let (rows, end) = store.curated_minutes(from, to, p, max_rows)?;
                for r in &rows {
                    cols.s(Some(&r.patient))
                        .s(r.ward.as_deref())
                        .s(Some(r.vital))
                        .s(Some(r.unit))
                        .t(Some(r.minute))
                        .i(Some(r.count))
                        .f(Some(r.min))
                        .f(Some(r.max))
                        .f(Some(r.mean))
                        .end();
                }
                Ok((rows.len(), cols.cols, end))
            }
            "scores" => {
                let (rows, end) = store.curated_scores(from, to, p, max_rows)?;
                for r in &rows {
                    cols.s(Some(&r.patient))
                        .s(r.ward.as_deref())
                        .s(Some(&r.kind))
                        .t(Some(r.at))
                        .f(Some(r.value))
                        .s(Some(&r.detail))
                        .b(r.complete)
                        .end();
                }
                Ok((rows.len(), cols.cols, end))
            }
            "rhythm_findings" => {
                let (rows, end) = store.curated_findings(from, to, p, max_rows)?;
                for r in &rows {
                    cols.s(Some(&r.patient))
                        .s(r.ward.as_deref())
                        .t(Some(r.at))
                        .s(Some(&r.event))
                        .s(Some(&r.finding))
                        .l(r.lead)
                        .s(Some(&r.detail))
                        .end();
                }
                Ok((rows.len(), cols.cols, end))
            }
            "alarms" => {
                let rows = store.curated_alarms(from, to, p)?;
                for r in &rows {
                    cols.l(Some(r.alarm_id))
                        .s(r.patient.as_deref())
                        .s(r.ward.as_deref())
                        .s(Some(&r.key))
                        .s(Some(&r.priority))
                        .s(Some(&r.state))
                        .b(Some(r.latched))
                        .t(Some(r.raised))
                        .t(Some(r.updated))
                        .t(r.condition_ended)
                        .s(r.acked_by.as_deref())
                        .t(r.acked)
                        .t(r.escalated)
                        .s(r.escalated_to.as_deref())
                        .i(Some(r.notify_count))
                        .s(r.annotation.as_deref())
                        .s(r.annotated_by.as_deref())
                        .end();
                }
                Ok((rows.len(), cols.cols, to))
            }
            _ => {
                let rows = store.curated_patients(from, to, p)?;
                for r in &rows {
                    cols.s(Some(&r.patient))
                        .s(r.ward.as_deref())
                        .s(Some(&r.sex))
                        .i(r.birth_year)
                        .i(Some(r.spo2_scale))
                        .i(Some(r.conditions))
                        .i(Some(r.medications))
                        .t(r.admitted)
                        .t(r.discharged)
                        .t(Some(r.updated))
                        .end();
                }
                Ok((rows.len(), cols.cols, to))
            }
        }
    }
}

/// A column's values.
#[derive(Debug)]
enum Col {
    Str(Vec<Option<String>>),
    I32(Vec<Option<i32>>),
    I64(Vec<Option<i64>>),
    F64(Vec<Option<f64>>),
    Bool(Vec<Option<bool>>),
    Ts(Vec<Option<i64>>),
}

/// Rows appended column by column, in the table's field order.
struct Cols {
    cols: Vec<Col>,
    at: usize,
}

impl Cols {
    fn new(fields: &[Field]) -> Cols {
        Cols {
            cols: fields
                .iter()
                .map(|f| match f.1 {
                    Kind::Str => Col::Str(Vec::new()),
                    Kind::I32 => Col::I32(Vec::new()),
                    Kind::I64 => Col::I64(Vec::new()),
                    Kind::F64 => Col::F64(Vec::new()),
                    Kind::Bool => Col::Bool(Vec::new()),
                    Kind::Ts => Col::Ts(Vec::new()),
                })
                .collect(),
            at: 0,
        }
    }

    /// The next column; `None` past the last (a table defined with fewer
    /// columns, as an older version of Wardwatch made it).
    fn next(&mut self) -> Option<&mut Col> {
        let i = self.at;
        self.at += 1;
        self.cols.get_mut(i)
    }

    fn s(&mut self, v: Option<&str>) -> &mut Cols {
        if let Some(Col::Str(c)) = self.next() {
            c.push(v.map(str::to_owned));
        }
        self
    }
    fn i(&mut self, v: Option<i32>) -> &mut Cols {
        if let Some(Col::I32(c)) = self.next() {
            c.push(v);
        }
        self
    }
    fn l(&mut self, v: Option<i64>) -> &mut Cols {
        if let Some(Col::I64(c)) = self.next() {
            c.push(v);
        }
        self
    }
    fn f(&mut self, v: Option<f64>) -> &mut Cols {
        if let Some(Col::F64(c)) = self.next() {
            c.push(v);
        }
        self
    }
    fn b(&mut self, v: Option<bool>) -> &mut Cols {
        if let Some(Col::Bool(c)) = self.next() {
            c.push(v);
        }
        self
    }
    fn t(&mut self, v: Option<DateTime<Utc>>) -> &mut Cols {
        if let Some(Col::Ts(c)) = self.next() {
            c.push(v.map(|t| t.timestamp_micros()));
        }
        self
    }
    fn end(&mut self) {
        self.at = 0;
    }
}

fn batch(schema: &Schema, cols: Vec<Col>) -> iceberg::Result<RecordBatch> {
    let arrow = Arc::new(iceberg::arrow::schema_to_arrow_schema(schema)?);
    let arrays: Vec<ArrayRef> = cols
        .into_iter()
        .zip(arrow.fields())
        .map(|(c, f)| -> ArrayRef {
            match c {
                Col::Str(v) => Arc::new(StringArray::from(v)),
                Col::I32(v) => Arc::new(Int32Array::from(v)),
                Col::I64(v) => Arc::new(Int64Array::from(v)),
                Col::F64(v) => Arc::new(Float64Array::from(v)),
                Col::Bool(v) => Arc::new(BooleanArray::from(v)),
                Col::Ts(v) => Arc::new(
                    TimestampMicrosecondArray::from(v).with_data_type(f.data_type().clone()),
                ),
            }
        })
        .collect();
    RecordBatch::try_new(arrow, arrays).map_err(|e| {
        iceberg::Error::new(iceberg::ErrorKind::DataInvalid, "building a record batch")
            .with_source(e)
    })
}

// ---------------------------------------------------------------------------
// Iceberg storage over the lake's target.

/// iceberg's file I/O over a [`Target`]: paths are the target's base URI
/// followed by a key. Writes are create-only, like every lake object.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeStorage {
    base: String,
    #[serde(skip)]
    target: Option<Arc<Target>>,
}

fn io_error(e: Error) -> iceberg::Error {
    let kind = match e.fault {
        Fault::Missing => iceberg::ErrorKind::DataInvalid,
        _ => iceberg::ErrorKind::Unexpected,
    };
    let retryable = e.fault == Fault::Transient;
    let err = iceberg::Error::new(kind, e.to_string());
    if retryable {
        err.with_retryable(true)
    } else {
        err
    }
}

impl LakeStorage {
    fn target(&self) -> iceberg::Result<&Arc<Target>> {
        self.target.as_ref().ok_or_else(|| {
            iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                "the lake storage was deserialised without its target",
            )
        })
    }

    fn key<'a>(&self, path: &'a str) -> iceberg::Result<&'a str> {
        path.strip_prefix(&self.base)
            .and_then(|k| k.strip_prefix('/'))
            .ok_or_else(|| {
                iceberg::Error::new(
                    iceberg::ErrorKind::DataInvalid,
                    format!("{path} is outside the lake ({})", self.base),
                )
            })
    }

    async fn put(&self, path: &str, data: Vec<u8>) -> iceberg::Result<()> {
        let key = self.key(path)?;
        let (sha, md5) = (sha256_hex(&data), md5_hex(&data));
        self.target()?
            .put(key, data, &sha, &md5)
            .await
            .map(|_| ())
            .map_err(io_error)
    }
}

#[async_trait]
#[typetag::serde(name = "wardwatch-lake")]
impl Storage for LakeStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        let key = self.key(path)?;
        Ok(self.target()?.size(key).await.map_err(io_error)?.is_some())
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let key = self.key(path)?;
        match self.target()?.size(key).await.map_err(io_error)? {
            Some(size) => Ok(FileMetadata { size }),
            None => Err(iceberg::Error::new(
                iceberg::ErrorKind::DataInvalid,
                format!("{path} does not exist"),
            )),
        }
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        let key = self.key(path)?;
        Ok(Bytes::from(
            self.target()?.get(key).await.map_err(io_error)?,
        ))
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        Ok(Box::new(WholeFile(self.read(path).await?)))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        self.put(path, bs.to_vec()).await
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        Ok(Box::new(BufferedWrite {
            storage: self.clone(),
            path: path.to_owned(),
            buf: Vec::new(),
            closed: false,
        }))
    }

    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        let key = self.key(path)?;
        self.target()?.delete(key).await.map_err(io_error)
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        let key = self.key(path)?.to_owned();
        let target = self.target()?;
        for k in target.list(&key).await.map_err(io_error)? {
            target.delete(&k).await.map_err(io_error)?;
        }
        Ok(())
    }

    async fn delete_stream(&self, mut paths: BoxStream<'static, String>) -> iceberg::Result<()> {
        while let Some(p) = paths.next().await {
            self.delete(&p).await?;
        }
        Ok(())
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_owned()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_owned()))
    }
}

/// Builds [`LakeStorage`] for iceberg's `FileIO`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LakeStorageFactory {
    storage: LakeStorage,
}

#[typetag::serde(name = "wardwatch-lake-factory")]
impl StorageFactory for LakeStorageFactory {
    fn build(&self, _config: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.storage.clone()))
    }
}

/// A file read whole (curated files are small: a day of one table).
struct WholeFile(Bytes);

#[async_trait]
impl FileRead for WholeFile {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        let len = self.0.len() as u64;
        if range.start > range.end || range.end > len {
            return Err(iceberg::Error::new(
                iceberg::ErrorKind::DataInvalid,
                format!("range {range:?} is outside a file of {len} bytes"),
            ));
        }
        Ok(self.0.slice(range.start as usize..range.end as usize))
    }
}

/// A file written at close, in one create-only put.
struct BufferedWrite {
    storage: LakeStorage,
    path: String,
    buf: Vec<u8>,
    closed: bool,
}

#[async_trait]
impl FileWrite for BufferedWrite {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        self.buf.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        if self.closed {
            return Err(iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                format!("{} is already closed", self.path),
            ));
        }
        self.closed = true;
        self.storage
            .put(&self.path, std::mem::take(&mut self.buf))
            .await
    }
}

/// The file I/O of `target`.
pub fn file_io(target: Arc<Target>) -> FileIO {
    let storage = LakeStorage {
        base: target.base_uri(),
        target: Some(target),
    };
    FileIOBuilder::new(Arc::new(LakeStorageFactory { storage })).build()
}

// ---------------------------------------------------------------------------
// The store as the tables' catalog, for one commit.

/// Where a commit goes, as iceberg's transactions want it: the store's own
/// catalog (one table held for the commit: this writes the next metadata
/// file, and the store's pointer moves afterwards,
/// [`Store::lake_table_committed`]) or an Iceberg REST catalog (the commit
/// is sent as requirements and updates, and the catalog writes the
/// metadata).
#[derive(Debug)]
enum Committer {
    Store(tokio::sync::Mutex<Table>),
    Rest { rest: Arc<RestCatalog>, io: FileIO },
}

fn unsupported(what: &str) -> iceberg::Error {
    iceberg::Error::new(
        iceberg::ErrorKind::FeatureUnsupported,
        format!("the curator's catalog does not {what}"),
    )
}

/// A table as a catalog gave it.
fn table_of(io: &FileIO, name: &str, remote: RemoteTable) -> iceberg::Result<Table> {
    Table::builder()
        .file_io(io.clone())
        .metadata_location(remote.metadata_location)
        .metadata(remote.metadata)
        .identifier(ident(name))
        .runtime(iceberg::Runtime::current())
        .build()
}

fn catalog_error(e: Error) -> iceberg::Error {
    iceberg::Error::new(iceberg::ErrorKind::Unexpected, e.to_string())
}

#[async_trait]
impl Catalog for Committer {
    async fn list_namespaces(
        &self,
        _parent: Option<&NamespaceIdent>,
    ) -> iceberg::Result<Vec<NamespaceIdent>> {
        Err(unsupported("list namespaces"))
    }
    async fn create_namespace(
        &self,
        _namespace: &NamespaceIdent,
        _properties: HashMap<String, String>,
    ) -> iceberg::Result<Namespace> {
        Err(unsupported("create namespaces"))
    }
    async fn get_namespace(&self, _namespace: &NamespaceIdent) -> iceberg::Result<Namespace> {
        Err(unsupported("get namespaces"))
    }
    async fn namespace_exists(&self, _namespace: &NamespaceIdent) -> iceberg::Result<bool> {
        Err(unsupported("check namespaces"))
    }
    async fn update_namespace(
        &self,
        _namespace: &NamespaceIdent,
        _properties: HashMap<String, String>,
    ) -> iceberg::Result<()> {
        Err(unsupported("update namespaces"))
    }
    async fn drop_namespace(&self, _namespace: &NamespaceIdent) -> iceberg::Result<()> {
        Err(unsupported("drop namespaces"))
    }
    async fn list_tables(&self, _namespace: &NamespaceIdent) -> iceberg::Result<Vec<TableIdent>> {
        Err(unsupported("list tables"))
    }
    async fn create_table(
        &self,
        _namespace: &NamespaceIdent,
        _creation: TableCreation,
    ) -> iceberg::Result<Table> {
        Err(unsupported("create tables"))
    }
    async fn load_table(&self, table: &TableIdent) -> iceberg::Result<Table> {
        match self {
            Committer::Store(held) => Ok(held.lock().await.clone()),
            Committer::Rest { rest, io } => {
                let remote = rest.load(table.name()).await.map_err(catalog_error)?;
                let remote = remote.ok_or_else(|| {
                    iceberg::Error::new(
                        iceberg::ErrorKind::TableNotFound,
                        format!("table {} is not in the Iceberg catalog", table.name()),
                    )
                })?;
                table_of(io, table.name(), remote)
            }
        }
    }
    async fn drop_table(&self, _table: &TableIdent) -> iceberg::Result<()> {
        Err(unsupported("drop tables"))
    }
    async fn purge_table(&self, _table: &TableIdent) -> iceberg::Result<()> {
        Err(unsupported("purge tables"))
    }
    async fn table_exists(&self, table: &TableIdent) -> iceberg::Result<bool> {
        match self {
            Committer::Store(held) => Ok(held.lock().await.identifier() == table),
            Committer::Rest { rest, .. } => Ok(rest
                .load(table.name())
                .await
                .map_err(catalog_error)?
                .is_some()),
        }
    }
    async fn rename_table(&self, _src: &TableIdent, _dest: &TableIdent) -> iceberg::Result<()> {
        Err(unsupported("rename tables"))
    }
    async fn register_table(
        &self,
        _table: &TableIdent,
        _metadata_location: String,
    ) -> iceberg::Result<Table> {
        Err(unsupported("register tables"))
    }
    async fn update_table(&self, mut commit: TableCommit) -> iceberg::Result<Table> {
        match self {
            Committer::Store(held) => {
                let mut held = held.lock().await;
                let staged = commit.apply(held.clone())?;
                let location = staged
                    .metadata_location_result()?
                    .parse::<MetadataLocation>()?;
                staged
                    .metadata()
                    .write_to(staged.file_io(), &location)
                    .await?;
                *held = staged.clone();
                Ok(staged)
            }
            Committer::Rest { rest, io } => {
                let name = commit.identifier().name().to_owned();
                let requirements = commit.take_requirements();
                let updates = commit.take_updates();
                match rest
                    .commit(&name, &requirements, &updates)
                    .await
                    .map_err(catalog_error)?
                {
                    Some(remote) => table_of(io, &name, remote),
                    // Not retried here: a retry would append the rows on
                    // top of whatever moved the table. The next pass
                    // adopts a commit of ours and appends anew otherwise.
                    None => Err(iceberg::Error::new(
                        iceberg::ErrorKind::CatalogCommitConflicts,
                        format!("table {name} moved in the Iceberg catalog during the commit"),
                    )),
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Curating.

/// What a curating pass did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Curated {
    /// Iceberg commits (snapshots) made.
    pub commits: usize,
    /// Rows appended.
    pub rows: usize,
    /// Files of interrupted commits removed.
    pub orphans_removed: usize,
}

/// Commits made per table per pass at most (a day each, or less: see
/// [`ROWS_PER_COMMIT`]); the next pass goes on.
const COMMITS_PER_PASS: usize = 31;
/// The most minutes, scores or findings one commit holds (each commit's
/// rows are built in memory): about 100 MB of rows. At 2,000 patients the
/// first pass over a store with 2 h of back-filled history held 1.4
/// million minutes at once and took `serve` from 367 to 889 MB
/// (`bench/scale.sh` with `WARDWATCH_SCALE_RAW_HOURS=2`); a day of 10,000
/// patients is 86 million.
pub const ROWS_PER_COMMIT: usize = 250_000;

fn ice(table: &str, e: iceberg::Error) -> Error {
    let fault = if e.retryable() {
        Fault::Transient
    } else {
        match e.kind() {
            iceberg::ErrorKind::DataInvalid => Fault::Refused,
            _ => Fault::Transient,
        }
    };
    Error::new("curated", fault, format!("table {table}: {e}"))
}

fn store_err(e: wardwatch_core::error::Error) -> Error {
    Error::store("curated", &e)
}

fn ident(name: &str) -> TableIdent {
    TableIdent::new(NamespaceIdent::new(NAMESPACE.to_owned()), name.to_owned())
}

/// The curated tables of `target`, kept current from `store`.
/// What a commit wrote.
#[derive(Debug)]
struct Commit {
    location: String,
    snapshot: i64,
    schema_id: i32,
    columns: Vec<CatalogColumn>,
    files: Vec<TableFile>,
}

/// What the catalogue records of a commit's rows: their time range and the
/// pseudonymised patients they cover.
#[derive(Debug, Default)]
struct Summary {
    first: Option<DateTime<Utc>>,
    last: Option<DateTime<Utc>>,
    patients: Vec<String>,
    wards: Vec<String>,
}

impl Summary {
    fn of(def: &TableDef, cols: &[Col]) -> Summary {
        let at = |name: &str| def.fields.iter().position(|f| f.0 == name);
        let mut s = Summary::default();
        if let Some(Col::Ts(times)) = at(def.time).and_then(|i| cols.get(i)) {
            let micros = times.iter().flatten();
            s.first = micros
                .clone()
                .min()
                .and_then(|&m| DateTime::from_timestamp_micros(m));
            s.last = micros
                .max()
                .and_then(|&m| DateTime::from_timestamp_micros(m));
        }
        if let Some(Col::Str(patients)) = at("patient").and_then(|i| cols.get(i)) {
            let set: BTreeSet<&String> = patients.iter().flatten().collect();
            s.patients = set.into_iter().cloned().collect();
        }
        if let Some(Col::Str(wards)) = at("ward").and_then(|i| cols.get(i)) {
            let set: BTreeSet<&String> = wards.iter().flatten().collect();
            s.wards = set.into_iter().cloned().collect();
        }
        s
    }
}

/// A schema's columns as the catalogue shows them.
pub fn columns_of(schema: &Schema) -> Vec<CatalogColumn> {
    schema
        .as_struct()
        .fields()
        .iter()
        .map(|f| CatalogColumn {
            name: f.name.clone(),
            ty: f.field_type.to_string(),
            required: f.required,
            doc: f.doc.clone().unwrap_or_default(),
        })
        .collect()
}

/// Where the curated tables live: in the target, with the store as their
/// catalog; or where an Iceberg REST catalog put them (with the file I/O of
/// that place).
enum Home {
    Store,
    Rest(Arc<RestCatalog>, FileIO),
}

fn gone(table: &str) -> Error {
    Error::new(
        "curated",
        Fault::Transient,
        format!("table {table} vanished from the Iceberg catalog during the pass"),
    )
}

/// Wardwatch's commits in `metadata`'s current history, newest first:
/// snapshots whose summary names the end of their rows (`wardwatch.to`),
/// with that end. Snapshots other engines made (compaction) carry no such
/// mark and are passed over.
fn wardwatch_commits(metadata: &TableMetadata) -> Vec<(DateTime<Utc>, &SnapshotRef)> {
    let mut found = Vec::new();
    let mut at = metadata.current_snapshot();
    while let Some(snapshot) = at {
        let to = snapshot
            .summary()
            .additional_properties
            .get("wardwatch.to")
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok());
        if let Some(to) = to {
            found.push((to.with_timezone(&Utc), snapshot));
        }
        at = snapshot
            .parent_snapshot_id()
            .and_then(|id| metadata.snapshot_by_id(id));
    }
    found
}

/// The table properties Wardwatch keeps on a curated table: its
/// description (an admin's annotation, else the definition's), owner and
/// tags (annotations), and how it is written.
fn table_properties(store: &Store, def: &TableDef) -> Result<HashMap<String, String>, Error> {
    let annotation = store
        .catalog_annotations()
        .map_err(store_err)?
        .remove(&format!("dataset:{CURATED_PREFIX}/{}", def.name))
        .unwrap_or_default();
    let mut p = HashMap::from([
        (
            "comment".to_owned(),
            annotation.description.unwrap_or_else(|| def.doc.to_owned()),
        ),
        (
            "write.parquet.compression-codec".to_owned(),
            "zstd".to_owned(),
        ),
        (
            "wardwatch.partitioned-by".to_owned(),
            format!("day({})", def.time),
        ),
    ]);
    if let Some(owner) = annotation.owner {
        p.insert("owner".to_owned(), owner);
    }
    if !annotation.tags.is_empty() {
        p.insert("wardwatch.tags".to_owned(), annotation.tags.join(","));
    }
    Ok(p)
}

/// The properties annotations set, which a change may also remove.
const ANNOTATED_PROPERTIES: [&str; 3] = ["comment", "owner", "wardwatch.tags"];

fn partition_spec(def: &TableDef) -> iceberg::Result<UnboundPartitionSpec> {
    Ok(UnboundPartitionSpec::builder()
        .add_partition_field(def.time_field_id(), "day", Transform::Day)?
        .build())
}

/// Every file `metadata` references: itself and the metadata before it,
/// manifest lists, manifests and data files.
async fn referenced_files(
    io: &FileIO,
    metadata_location: &str,
    metadata: &TableMetadata,
) -> iceberg::Result<BTreeSet<String>> {
    let mut referenced = BTreeSet::new();
    referenced.insert(metadata_location.to_owned());
    for log in metadata.metadata_log() {
        referenced.insert(log.metadata_file.clone());
    }
    for snapshot in metadata.snapshots() {
        referenced.insert(snapshot.manifest_list().to_owned());
        let bytes = io.new_input(snapshot.manifest_list())?.read().await?;
        let list = ManifestList::parse_with_version(&bytes, metadata.format_version())?;
        for m in list.entries() {
            referenced.insert(m.manifest_path.clone());
            let manifest = m.load_manifest(io).await?;
            for entry in manifest.entries() {
                referenced.insert(entry.file_path().to_owned());
            }
        }
    }
    Ok(referenced)
}

/// Removes the objects under `prefix` of `target` that `referenced` (full
/// URIs) does not name and `keep` does not spare: what an interrupted
/// commit of `table` left. The number removed.
async fn remove_unreferenced(
    target: &Target,
    prefix: &str,
    referenced: &BTreeSet<String>,
    table: &str,
    keep: impl Fn(&str) -> bool,
) -> Result<usize, Error> {
    let base = target.base_uri();
    let mut removed = 0;
    for key in target.list(prefix).await? {
        if !keep(&key) && !referenced.contains(&format!("{base}/{key}")) {
            target.delete(&key).await?;
            removed += 1;
        }
    }
    // The parts of the files it was writing when it was killed: their
    // uniquely named keys are never asked for again.
    let parts = target.remove_parts(prefix).await?;
    if removed > 0 || parts > 0 {
        tracing::warn!(
            table,
            removed,
            parts,
            "removed the files of an interrupted curated commit"
        );
    }
    Ok(removed)
}

/// The data files `snapshot` added, as the catalogue records them (for a
/// commit adopted from the catalog: no time range or patients, which only
/// the rows had).
async fn added_files(
    io: &FileIO,
    metadata: &TableMetadata,
    snapshot: &SnapshotRef,
    day: &str,
) -> iceberg::Result<Vec<TableFile>> {
    let bytes = io.new_input(snapshot.manifest_list())?.read().await?;
    let list = ManifestList::parse_with_version(&bytes, metadata.format_version())?;
    let mut files = Vec::new();
    for m in list.entries() {
        if m.added_snapshot_id != snapshot.snapshot_id() {
            continue;
        }
        let manifest = m.load_manifest(io).await?;
        for entry in manifest.entries() {
            let f = entry.data_file();
            files.push(TableFile {
                path: f.file_path().to_owned(),
                day: day.to_owned(),
                rows: f.record_count() as i64,
                bytes: f.file_size_in_bytes() as i64,
                first: None,
                last: None,
                patients: Vec::new(),
                wards: Vec::new(),
            });
        }
    }
    Ok(files)
}

#[derive(Debug)]
pub struct Curator {
    target: Arc<Target>,
    io: FileIO,
    /// [`ROWS_PER_COMMIT`], or another bound (tests).
    rows_per_commit: usize,
    /// The target's Iceberg REST catalog, opened at the first pass that
    /// needs it (`None` inside: the target names none).
    rest: tokio::sync::OnceCell<Option<Arc<RestCatalog>>>,
}

impl Curator {
    pub fn new(target: Arc<Target>) -> Curator {
        Curator {
            io: file_io(target.clone()),
            target,
            rows_per_commit: ROWS_PER_COMMIT,
            rest: tokio::sync::OnceCell::new(),
        }
    }

    /// Commits of at most `rows` minutes, scores or findings each (at least
    /// one minute's or instant's rows) instead of [`ROWS_PER_COMMIT`].
    pub fn with_rows_per_commit(mut self, rows: usize) -> Curator {
        self.rows_per_commit = rows.max(1);
        self
    }

    /// The Iceberg REST catalog of the target, if it names one (opened
    /// once; an error is retried at the next pass).
    async fn catalog(&self) -> Result<Option<Arc<RestCatalog>>, Error> {
        self.rest
            .get_or_try_init(|| async {
                Ok(RestCatalog::open(&self.target, NAMESPACE)
                    .await?
                    .map(Arc::new))
            })
            .await
            .cloned()
    }

    /// Makes the store agree with the REST catalog on `def`'s table before
    /// a pass appends to it: creates the table in the catalog when it has
    /// none (the catalog chooses its location), adopts a table the store
    /// does not know (a new workstation, a rebuilt store) from the mark of
    /// its newest commit, and adopts a commit of ours whose record the
    /// store lost (a crash or an unknown answer between the catalog's
    /// commit and the store's transaction), so that no rows are appended
    /// twice. The file I/O of the table's location, and the table's
    /// properties in the catalog.
    async fn take_over(
        &self,
        store: &mut Store,
        rest: &RestCatalog,
        def: &TableDef,
        now: DateTime<Utc>,
    ) -> Result<(FileIO, HashMap<String, String>), Error> {
        let e = |e| ice(def.name, e);
        let remote = match rest.load(def.name).await? {
            Some(r) => r,
            None => {
                let properties = table_properties(store, def)?;
                let schema = def.schema().map_err(e)?;
                let spec = partition_spec(def).map_err(e)?;
                let created = rest.create(def.name, &schema, &spec, &properties).await?;
                tracing::info!(
                    table = def.name,
                    location = created.metadata.location(),
                    "curated table created in the Iceberg catalog"
                );
                created
            }
        };
        let location = remote.metadata.location().to_owned();
        let io = file_io(Arc::new(self.target.rebased(&location)?));
        let commits = wardwatch_commits(&remote.metadata);
        let schema = remote.metadata.current_schema();
        match store.lake_table(def.name).map_err(store_err)? {
            Some(entry) if entry.location == location => {
                // Oldest first, each as its own record: the catalogue sees
                // every file, and the watermark moves as it would have.
                let missed = commits.iter().rev().filter(|(to, _)| *to > entry.watermark);
                for (to, snapshot) in missed {
                    let from = snapshot
                        .summary()
                        .additional_properties
                        .get("wardwatch.from")
                        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                        .map(|t| t.with_timezone(&Utc))
                        .unwrap_or(entry.watermark);
                    let day = from.format("%Y-%m-%d").to_string();
                    let files = added_files(&io, &remote.metadata, snapshot, &day)
                        .await
                        .map_err(e)?;
                    let rows = files.iter().map(|f| f.rows).sum();
                    store
                        .lake_table_committed(
                            def.name,
                            &remote.metadata_location,
                            *to,
                            Some(snapshot.snapshot_id()),
                            rows,
                            &files,
                            snapshot.schema_id().unwrap_or(schema.schema_id()),
                            now,
                        )
                        .map_err(store_err)?;
                    tracing::warn!(
                        table = def.name,
                        rows,
                        "adopted a curated commit the store had not recorded"
                    );
                }
            }
            stale => {
                if stale.is_some() {
                    store.lake_table_forget(def.name).map_err(store_err)?;
                }
                let watermark = match commits.first() {
                    Some((to, _)) => *to,
                    None => {
                        let origin = store.curated_origin().map_err(store_err)?.unwrap_or(now);
                        origin.duration_trunc(Duration::days(1)).unwrap_or(origin)
                    }
                };
                store
                    .lake_table_created(
                        def.name,
                        &location,
                        &remote.metadata_location,
                        watermark,
                        now,
                    )
                    .map_err(store_err)?;
                store
                    .lake_table_schema(def.name, schema.schema_id(), &columns_of(schema), now)
                    .map_err(store_err)?;
            }
        }
        Ok((io, remote.metadata.properties().clone()))
    }

    /// [`Curator::evolve`] through the REST catalog: the new schema is
    /// added and made current in one commit, if the table's current schema
    /// is still the one it was.
    async fn evolve_remote(
        &self,
        rest: &RestCatalog,
        io: &FileIO,
        table: Table,
        def: &TableDef,
    ) -> Result<Table, Error> {
        let e = |e| ice(def.name, e);
        let Some(wanted) = evolution(&table, def)? else {
            return Ok(table);
        };
        let current = table.metadata().current_schema_id();
        let remote = rest
            .commit(
                def.name,
                &[TableRequirement::CurrentSchemaIdMatch {
                    current_schema_id: current,
                }],
                &[
                    TableUpdate::AddSchema { schema: wanted },
                    TableUpdate::SetCurrentSchema { schema_id: -1 },
                ],
            )
            .await?
            .ok_or_else(|| {
                Error::new(
                    "curated",
                    Fault::Transient,
                    format!(
                        "table {} changed schema in the Iceberg catalog meanwhile",
                        def.name
                    ),
                )
            })?;
        tracing::info!(
            table = def.name,
            schema = remote.metadata.current_schema_id(),
            "curated table schema evolved in the Iceberg catalog"
        );
        table_of(io, def.name, remote).map_err(e)
    }

    /// [`Curator::recover`] for a table in a REST catalog: the files under
    /// its location that the catalog's metadata does not reference are
    /// removed, except metadata files, which the catalog writes itself
    /// under names of its own choosing (tiny, and never read unless a
    /// pointer names them).
    async fn recover_remote(
        &self,
        store: &mut Store,
        rest: &RestCatalog,
        io: &FileIO,
        def: &TableDef,
    ) -> Result<usize, Error> {
        let e = |e| ice(def.name, e);
        let remote = rest.load(def.name).await?.ok_or_else(|| gone(def.name))?;
        let referenced = referenced_files(io, &remote.metadata_location, &remote.metadata)
            .await
            .map_err(e)?;
        let target = self.target.rebased(remote.metadata.location())?;
        let removed = remove_unreferenced(&target, "", &referenced, def.name, |key| {
            key.ends_with(".metadata.json")
        })
        .await?;
        store
            .lake_table_recovered(def.name, removed as i64)
            .map_err(store_err)?;
        Ok(removed)
    }

    /// Sets the table's description, owner and tags in the REST catalog
    /// where they differ from the store's (an admin annotated the dataset);
    /// `have` are the properties the catalog holds.
    async fn publish_properties(
        &self,
        store: &Store,
        rest: &RestCatalog,
        def: &TableDef,
        have: &HashMap<String, String>,
    ) -> Result<(), Error> {
        let wanted = table_properties(store, def)?;
        let set: HashMap<String, String> = wanted
            .iter()
            .filter(|(k, v)| have.get(*k) != Some(*v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let removals: Vec<String> = ANNOTATED_PROPERTIES
            .iter()
            .filter(|k| have.contains_key(**k) && !wanted.contains_key(**k))
            .map(|k| (*k).to_owned())
            .collect();
        let mut updates = Vec::new();
        if !set.is_empty() {
            updates.push(TableUpdate::SetProperties { updates: set });
        }
        if !removals.is_empty() {
            updates.push(TableUpdate::RemoveProperties { removals });
        }
        if updates.is_empty() {
            return Ok(());
        }
        // Properties are last-writer-wins: no requirement. A conflict
        // means another commit came first; the next pass compares again.
        rest.commit(def.name, &[], &updates).await?;
        Ok(())
    }

    /// The location of a table in this target.
    pub fn location(&self, def: &TableDef) -> String {
        format!("{}/{CURATED_PREFIX}/{}", self.target.base_uri(), def.name)
    }

    /// Brings every table up to `cut` (a minute boundary), a day per commit.
    pub async fn curate(
        &self,
        store: &mut Store,
        cut: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Curated, Error> {
        self.curate_tables(store, &TABLES, cut, now).await
    }

    /// [`Curator::curate`] with the given table definitions.
    #[doc(hidden)]
    pub async fn curate_tables(
        &self,
        store: &mut Store,
        tables: &[&TableDef],
        cut: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Curated, Error> {
        let mut done = Curated::default();
        let p = store.lake_pseudonymizer().map_err(store_err)?;
        let interrupted = store.lake_table_intents().map_err(store_err)?;
        for def in tables {
            let was = interrupted.iter().any(|n| n == def.name);
            self.curate_table(store, def, was, cut, now, &p, &mut done)
                .await?;
        }
        Ok(done)
    }

    /// Brings one table up to `cut`; first, when its last commit was
    /// `interrupted`, removes what that commit left.
    #[allow(clippy::too_many_arguments)]
    async fn curate_table(
        &self,
        store: &mut Store,
        def: &TableDef,
        interrupted: bool,
        cut: DateTime<Utc>,
        now: DateTime<Utc>,
        p: &Pseudonymizer,
        done: &mut Curated,
    ) -> Result<(), Error> {
        let rest = self.catalog().await?;
        // The catalog's table properties as the pass found them: its
        // commits add snapshots and schemas, never properties.
        let (home, properties) = match &rest {
            None => (Home::Store, HashMap::new()),
            Some(rest) => {
                let (io, properties) = self.take_over(store, rest, def, now).await?;
                (Home::Rest(rest.clone(), io), properties)
            }
        };
        let mut entry = match &home {
            Home::Store => {
                if interrupted {
                    done.orphans_removed += self.recover(store, def).await?;
                }
                match store.lake_table(def.name).map_err(store_err)? {
                    Some(t) if t.location == self.location(def) => t,
                    stale => {
                        if stale.is_some() {
                            // Another target: the table is made afresh in this one.
                            store.lake_table_forget(def.name).map_err(store_err)?;
                        }
                        self.create(store, def, now).await?
                    }
                }
            }
            Home::Rest(rest, io) => {
                if interrupted {
                    done.orphans_removed += self.recover_remote(store, rest, io, def).await?;
                }
                store
                    .lake_table(def.name)
                    .map_err(store_err)?
                    .ok_or_else(|| gone(def.name))?
            }
        };
        for _ in 0..COMMITS_PER_PASS {
            if entry.watermark >= cut {
                break;
            }
            // One UTC day at most: one partition per commit.
            let day_end = entry
                .watermark
                .duration_trunc(Duration::days(1))
                .unwrap_or(entry.watermark)
                + Duration::days(1);
            let (n, cols, to) = def
                .rows(
                    store,
                    entry.watermark,
                    cut.min(day_end),
                    p,
                    self.rows_per_commit,
                )
                .map_err(store_err)?;
            if n == 0 {
                store
                    .lake_table_committed(
                        def.name,
                        &entry.metadata_location,
                        to,
                        None,
                        0,
                        &[],
                        0,
                        now,
                    )
                    .map_err(store_err)?;
            } else {
                store.lake_table_intent(def.name, now).map_err(store_err)?;
                let summary = Summary::of(def, &cols);
                let (table, catalog, io) = match &home {
                    Home::Store => {
                        let table = self.load(&entry).await.map_err(|e| ice(def.name, e))?;
                        let table = self.evolve(table, def).await?;
                        let held = Committer::Store(tokio::sync::Mutex::new(table.clone()));
                        (table, held, self.io.clone())
                    }
                    Home::Rest(rest, io) => {
                        let table = rest.load(def.name).await?.ok_or_else(|| gone(def.name))?;
                        let table = table_of(io, def.name, table).map_err(|e| ice(def.name, e))?;
                        let table = self.evolve_remote(rest, io, table, def).await?;
                        let rest = Committer::Rest {
                            rest: rest.clone(),
                            io: io.clone(),
                        };
                        (table, rest, io.clone())
                    }
                };
                let c = self
                    .append(
                        table,
                        &catalog,
                        &io,
                        def,
                        cols,
                        entry.watermark,
                        to,
                        &summary,
                    )
                    .await?;
                store
                    .lake_table_schema(def.name, c.schema_id, &c.columns, now)
                    .map_err(store_err)?;
                store
                    .lake_table_committed(
                        def.name,
                        &c.location,
                        to,
                        Some(c.snapshot),
                        n as i64,
                        &c.files,
                        c.schema_id,
                        now,
                    )
                    .map_err(store_err)?;
                done.commits += 1;
                done.rows += n;
            }
            entry = store
                .lake_table(def.name)
                .map_err(store_err)?
                .ok_or_else(|| Error::new("curated", Fault::Store, "a table vanished"))?;
        }
        if let Home::Rest(rest, _) = &home {
            self.publish_properties(store, rest, def, &properties)
                .await?;
        }
        Ok(())
    }

    /// Creates `def` in the target (its first metadata file) and records it,
    /// with the watermark at the start of the store's data.
    async fn create(
        &self,
        store: &mut Store,
        def: &TableDef,
        now: DateTime<Utc>,
    ) -> Result<CuratedTable, Error> {
        let e = |e| ice(def.name, e);
        let schema = def.schema().map_err(e)?;
        let spec = partition_spec(def).map_err(e)?;
        let creation = TableCreation::builder()
            .name(def.name.to_owned())
            .location(self.location(def))
            .schema(schema)
            .partition_spec(spec)
            .properties(table_properties(store, def)?)
            .format_version(FormatVersion::V2)
            .build();
        let metadata = TableMetadataBuilder::from_table_creation(creation)
            .and_then(|b| b.build())
            .map_err(e)?
            .metadata;
        let location = MetadataLocation::new_with_metadata(self.location(def), &metadata);
        // The intent first: a crash after the write leaves an orphan found later.
        store.lake_table_intent(def.name, now).map_err(store_err)?;
        metadata.write_to(&self.io, &location).await.map_err(e)?;
        let origin = store.curated_origin().map_err(store_err)?.unwrap_or(now);
        let watermark = origin.duration_trunc(Duration::days(1)).unwrap_or(origin);
        store
            .lake_table_created(
                def.name,
                &self.location(def),
                &location.to_string(),
                watermark,
                now,
            )
            .map_err(store_err)?;
        let schema = metadata.current_schema();
        store
            .lake_table_schema(def.name, schema.schema_id(), &columns_of(schema), now)
            .map_err(store_err)?;
        store
            .lake_table(def.name)
            .map_err(store_err)?
            .ok_or_else(|| Error::new("curated", Fault::Store, "a table vanished"))
    }

    async fn load(&self, entry: &CuratedTable) -> iceberg::Result<Table> {
        let metadata = TableMetadata::read_from(&self.io, &entry.metadata_location).await?;
        Table::builder()
            .file_io(self.io.clone())
            .metadata_location(entry.metadata_location.clone())
            .metadata(metadata)
            .identifier(ident(&entry.name))
            .runtime(iceberg::Runtime::current())
            .build()
    }

    /// Evolves the table's schema to `def`'s when `def` adds columns (a
    /// newer version of Wardwatch): a new metadata file with the new schema
    /// current, written before the data that needs it. Columns are only
    /// ever added, at the end and optional (Iceberg's schema evolution
    /// rules: field ids are never reused); a table with columns `def` lacks
    /// was written by a newer version, and is refused.
    async fn evolve(&self, table: Table, def: &TableDef) -> Result<Table, Error> {
        let e = |e| ice(def.name, e);
        let Some(wanted) = evolution(&table, def)? else {
            return Ok(table);
        };
        let at = table
            .metadata_location_result()
            .map_err(e)?
            .parse::<MetadataLocation>()
            .map_err(e)?;
        let next = at.with_next_version();
        let metadata =
            TableMetadataBuilder::new_from_metadata(table.metadata().clone(), Some(at.to_string()))
                .add_current_schema(wanted)
                .and_then(|b| b.build())
                .map_err(e)?
                .metadata;
        metadata.write_to(&self.io, &next).await.map_err(e)?;
        tracing::info!(
            table = def.name,
            schema = metadata.current_schema_id(),
            "curated table schema evolved"
        );
        Table::builder()
            .file_io(self.io.clone())
            .metadata_location(next.to_string())
            .metadata(metadata)
            .identifier(ident(def.name))
            .runtime(iceberg::Runtime::current())
            .build()
            .map_err(e)
    }

    /// Writes the rows as one data file of the day `from` falls in and
    /// commits it (after evolving the schema if `def` adds columns).
    #[allow(clippy::too_many_arguments)]
    async fn append(
        &self,
        table: Table,
        catalog: &Committer,
        io: &FileIO,
        def: &TableDef,
        cols: Vec<Col>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        summary: &Summary,
    ) -> Result<Commit, Error> {
        let e = |e| ice(def.name, e);
        let metadata = table.metadata();
        let schema = metadata.current_schema().clone();
        let days = (from.timestamp().div_euclid(86_400)) as i32;
        let key = PartitionKey::new(
            (**metadata.default_partition_spec()).clone(),
            schema.clone(),
            Struct::from_iter([Some(Literal::date(days))]),
        );
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).unwrap_or_default()))
            .build();
        let parquet = ParquetWriterBuilder::new(props, schema.clone());
        let rolling = RollingFileWriterBuilder::new_with_default_file_size(
            parquet,
            io.clone(),
            DefaultLocationGenerator::new(metadata).map_err(e)?,
            DefaultFileNameGenerator::new(
                format!(
                    "{}-{}",
                    from.format("%Y%m%dT%H%M"),
                    to.format("%Y%m%dT%H%M")
                ),
                Some(uuid_like()),
                DataFileFormat::Parquet,
            ),
        );
        let mut writer = DataFileWriterBuilder::new(rolling)
            .build(Some(key))
            .await
            .map_err(e)?;
        writer
            .write(batch(&schema, cols).map_err(e)?)
            .await
            .map_err(e)?;
        let files = writer.close().await.map_err(e)?;
        let day = from.format("%Y-%m-%d").to_string();
        let recorded = files
            .iter()
            .map(|f| TableFile {
                path: f.file_path().to_owned(),
                day: day.clone(),
                rows: f.record_count() as i64,
                bytes: f.file_size_in_bytes() as i64,
                first: summary.first,
                last: summary.last,
                patients: summary.patients.clone(),
                wards: summary.wards.clone(),
            })
            .collect();
        let tx = Transaction::new(&table);
        let action = tx
            .fast_append()
            .add_data_files(files)
            .set_snapshot_properties(HashMap::from([
                ("wardwatch.from".to_owned(), from.to_rfc3339()),
                ("wardwatch.to".to_owned(), to.to_rfc3339()),
            ]));
        let tx = action.apply(tx).map_err(e)?;
        let committed = tx.commit(catalog).await.map_err(e)?;
        let location = committed.metadata_location_result().map_err(e)?.to_owned();
        let snapshot = committed
            .metadata()
            .current_snapshot_id()
            .ok_or_else(|| Error::new("curated", Fault::Transient, "a commit made no snapshot"))?;
        Ok(Commit {
            location,
            snapshot,
            schema_id: schema.schema_id(),
            columns: columns_of(&schema),
            files: recorded,
        })
    }

    /// Removes the files under `def`'s location that its current metadata
    /// does not reference (what an interrupted commit left), and clears the
    /// intent. The number removed.
    async fn recover(&self, store: &mut Store, def: &TableDef) -> Result<usize, Error> {
        let e = |e| ice(def.name, e);
        let entry = store.lake_table(def.name).map_err(store_err)?;
        let mut referenced = BTreeSet::new();
        if let Some(entry) = &entry {
            let table = self.load(entry).await.map_err(e)?;
            referenced = referenced_files(&self.io, &entry.metadata_location, table.metadata())
                .await
                .map_err(e)?;
        }
        let prefix = format!("{CURATED_PREFIX}/{}", def.name);
        let removed =
            remove_unreferenced(&self.target, &prefix, &referenced, def.name, |_| false).await?;
        if entry.is_some() {
            store
                .lake_table_recovered(def.name, removed as i64)
                .map_err(store_err)?;
        } else {
            store.lake_table_forget(def.name).map_err(store_err)?;
        }
        Ok(removed)
    }
}

/// The schema `def` wants `table` to have when it differs from the
/// current one; an error when the table has columns `def` lacks (written
/// by a newer version of Wardwatch).
fn evolution(table: &Table, def: &TableDef) -> Result<Option<Schema>, Error> {
    let wanted = def.schema().map_err(|e| ice(def.name, e))?;
    let current = table.metadata().current_schema();
    if current.as_struct() == wanted.as_struct() {
        return Ok(None);
    }
    let known = current
        .as_struct()
        .fields()
        .iter()
        .all(|f| wanted.field_by_id(f.id).is_some_and(|w| w.name == f.name));
    if !known {
        return Err(Error::new(
            "curated",
            Fault::Refused,
            format!(
                "table {} has columns this version of Wardwatch does not know: it was written by a newer version; upgrade Wardwatch",
                def.name
            ),
        ));
    }
    Ok(Some(wanted))
}

/// A unique suffix for data file names (time and process; the prefix
/// already names the rows' span).
fn uuid_like() -> String {
    let mut b = [0u8; 8];
    let _ = getrandom::fill(&mut b);
    wardwatch_core::text::hex(&b)
}

/// The cut of a pass at `now`: the start of the minute two minutes ago (the
/// minute rollups of the last minutes may still grow), or of this minute
/// when flushing.
pub fn cut_at(now: DateTime<Utc>, flush: bool) -> DateTime<Utc> {
    let settled = if flush {
        now
    } else {
        now - Duration::minutes(2)
    };
    settled
        .duration_trunc(Duration::minutes(1))
        .unwrap_or(settled)
}
