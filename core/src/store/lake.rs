//! The data lake's side of the store (docs/data-lake.md): the spool of raw
//! and cleaned lines written with each batch, objects sealed from it, their
//! sync state (the outbox) and the configured targets.
//!
//! Invariants:
//! - every record a source delivered is spooled to the raw zone in the same
//!   transaction that stores (or quarantines, or counts as a duplicate) it,
//!   so a crash can never leave a stored record without its raw line, nor a
//!   raw line for a batch that was rolled back;
//! - sealing moves spool rows into one object in one transaction: a row is in
//!   the spool or in exactly one object, never both, never neither;
//! - an object's key is derived from its first spool row, so sealing the same
//!   rows again (after a crash) names the same object;
//! - an object's bytes are dropped only once a target has acknowledged them
//!   and their checksum was verified ([`Store::lake_mark_synced`]).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;

use super::vitals::{IngestBatch, IngestItem};
use super::{Store, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};
use crate::ingest::cleaned;
use crate::ingest::observation::Rejection;

/// zstd level of spool rows: cheap, and on the NDJSON of observations as
/// good as level 3 (x9.63 against x9.57 on a sealed object of
/// `bench/scale.sh`'s raw zone, at 574 against 477 MB/s).
const SPOOL_LEVEL: i32 = 1;
/// zstd level of sealed objects compressed again from small rows: level 1,
/// as the spool's. Against level 3 (the `zstd` tool's default), on
/// `cargo bench -p wardwatch-sync --bench lake -- 48 1800 50`: the raw
/// zone 63.3 B a record against 65.3, the cleaned 59.3 against 57.0 (the
/// two together the same to 0.3 %), and sealing 9 % less CPU (1.37 s
/// against 1.50).
pub const OBJECT_LEVEL: i32 = 1;
/// Spool rows this large on average (uncompressed) are sealed as they are:
/// their zstd frames, one after the other, are the object (RFC 8878 §3.1:
/// a zstd stream is a sequence of frames; `zstd -d`, DuckDB's `read_json`
/// and the `zstd` crate's decoders read every one). A frame starting afresh
/// every 256 KiB costs at most about 3 % of the object's size against one
/// frame (2.7 % at 245 KiB, 0.8 % at 500 KiB, on `bench/scale.sh`'s raw
/// zone), where recompressing cost the lake's seal most of its CPU: a busy
/// source's full batches (`MAX_BATCH` records) make rows of this size.
/// Smaller rows (a quiet source, the cleaned zone's rows split by ward) are
/// recompressed into one frame, where a frame each would cost up to half
/// the object again.
pub const SEAL_AS_IS_BYTES: usize = 256 << 10;
/// The most lines one spool row can hold: a row is one source batch's
/// lines of one group (at most `MAX_BATCH` records, a Kinesis read at most
/// 10 MB, an escaped record at most a few times its size). A row claiming
/// more is damaged, not a buffer to allocate.
const SPOOL_ROW_MAX_BYTES: i64 = 1 << 30;
/// Times a seal reads its rows again when another seal took some of them
/// between its read and its transaction.
const SEAL_ATTEMPTS: usize = 4;

/// An object ready to be stored: its spool rows, compressed and hashed.
struct Sealed {
    rows: SpoolRows,
    data: Vec<u8>,
    sha256: String,
    md5: String,
}

impl Sealed {
    fn of(mut rows: SpoolRows) -> Result<Sealed> {
        if rows.recompress_frames {
            // Rows spooled before frames left out their content size (see
            // `SpoolLines::compress`) among rows sealed as they are: the
            // frames, decompressed again (each row was checked when read),
            // into one buffer of their known size, and compressed as one.
            let invalid = |e: std::io::Error| Error::InvalidInput {
                what: "a lake object",
                reason: format!("zstd: {e}"),
            };
            let text = zstd::bulk::Decompressor::new()
                .and_then(|mut d| d.decompress(&rows.data, rows.raw_bytes as usize))
                .map_err(invalid)?;
            rows.data = zstd::bulk::compress(&text, OBJECT_LEVEL).map_err(invalid)?;
        }
        let data = std::mem::take(&mut rows.data);
        Ok(Sealed {
            sha256: sha256_hex(&data),
            md5: md5_hex(&data),
            rows,
            data,
        })
    }
}

/// The spool rows one object is sealed from.
struct SpoolRows {
    first: i64,
    last: i64,
    count: i64,
    records: i64,
    /// The oldest row's arrival (ms).
    arrived: i64,
    /// The bytes of their NDJSON lines, joined (the lines themselves are
    /// not kept: a seal of a busy source's rows stores their frames as
    /// they are, and growing a buffer of tens of MB of lines by doubling
    /// was most of the lake thread's time at 10,000 patients, in copies
    /// and the kernel zeroing fresh pages).
    raw_bytes: i64,
    /// The object: the rows' zstd frames as spooled, joined; or their
    /// lines compressed again as one frame, as they were read (see
    /// [`SEAL_AS_IS_BYTES`]).
    data: Vec<u8>,
    /// `data` is frames as spooled that must still be compressed again
    /// as one: rows spooled before frames left out their content size.
    recompress_frames: bool,
}

/// One spool row as stored.
struct SpooledRow {
    id: i64,
    records: i64,
    data: Vec<u8>,
    created: i64,
    raw_bytes: i64,
}

/// The rows a seal read in one snapshot (`Store::spool_read`), and what its
/// first statement picked: the last row, how many, their lines' and their
/// frames' bytes.
struct SpoolRead {
    rows: Vec<SpooledRow>,
    last: i64,
    count: i64,
    raw_total: i64,
    bytes_total: i64,
}

impl SpoolRead {
    /// Checks each row and builds the object. When the rows' lines are
    /// compressed again, each row's lines go from the check straight into
    /// one frame whose size is known from the first statement: at 10,000
    /// patients live, whose source batches are small, decompressing every
    /// row a second time and holding an object's lines whole were a fifth
    /// of the lake thread's time.
    fn build(self, path: &Path) -> Result<Option<SpoolRows>> {
        let damaged = |problems: String| Error::StoreDamaged {
            path: path.to_path_buf(),
            problems,
        };
        let SpoolRead {
            rows,
            last,
            count,
            raw_total,
            bytes_total,
        } = self;
        let as_is = raw_total as usize / count.max(1) as usize >= SEAL_AS_IS_BYTES;
        let zstd_error = |e: std::io::Error| Error::InvalidInput {
            what: "a lake object",
            reason: format!("zstd: {e}"),
        };
        // One frame for the lines, its size declared (a reader that trusts
        // a single frame's declared size reads the whole object).
        let mut frame = if as_is {
            None
        } else {
            let mut e = zstd::stream::write::Encoder::new(
                Vec::with_capacity(bytes_total as usize),
                OBJECT_LEVEL,
            )
            .map_err(zstd_error)?;
            e.set_pledged_src_size(Some(raw_total as u64))
                .map_err(zstd_error)?;
            e.include_contentsize(true).map_err(zstd_error)?;
            Some(e)
        };
        let mut out: Option<SpoolRows> = None;
        // One zstd context for every row (as `SpoolLines::compress`), and
        // one buffer for a row's lines.
        let mut unzstd = zstd::bulk::Decompressor::new()
            .map_err(|e| damaged(format!("cannot decompress the lake spool: {e}")))?;
        let mut lines: Vec<u8> = Vec::new();
        for SpooledRow {
            id,
            records: n,
            data,
            created,
            raw_bytes,
        } in rows
        {
            if !(0..=SPOOL_ROW_MAX_BYTES).contains(&raw_bytes) {
                return Err(damaged(format!(
                    "lake spool row {id} claims {raw_bytes} bytes of lines"
                )));
            }
            lines.clear();
            lines.reserve(raw_bytes as usize);
            unzstd
                .decompress_to_buffer(&data, &mut lines)
                .map_err(|e| damaged(format!("lake spool row {id} does not decompress: {e}")))?;
            if lines.len() as i64 != raw_bytes {
                return Err(damaged(format!(
                    "lake spool row {id} holds {} bytes of lines, not the {raw_bytes} it was spooled with",
                    lines.len()
                )));
            }
            let o = out.get_or_insert_with(|| SpoolRows {
                first: id,
                last: id,
                count: 0,
                records: 0,
                arrived: i64::MAX,
                raw_bytes: 0,
                data: if as_is {
                    Vec::with_capacity(bytes_total as usize)
                } else {
                    Vec::new()
                },
                recompress_frames: false,
            });
            match frame.as_mut() {
                Some(frame) => frame.write_all(&lines).map_err(zstd_error)?,
                None => {
                    o.recompress_frames |=
                        !matches!(zstd::zstd_safe::get_frame_content_size(&data), Ok(None));
                    o.data.extend_from_slice(&data);
                }
            }
            o.raw_bytes += raw_bytes;
            o.records += n;
            o.arrived = o.arrived.min(created);
            o.last = id;
            o.count += 1;
        }
        let Some(mut o) = out else {
            return Ok(None);
        };
        // The second statement read what the first picked (one snapshot);
        // anything else is a store that changed under it, not an object
        // to seal.
        if (o.last, o.count, o.raw_bytes) != (last, count, raw_total) {
            return Err(damaged(format!(
                "the lake spool's rows up to {last} changed while a seal read them"
            )));
        }
        if let Some(frame) = frame {
            o.data = frame.finish().map_err(zstd_error)?;
        }
        Ok(Some(o))
    }
}

/// A zone of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Zone {
    /// Every record exactly as received.
    Raw,
    /// Validated, deduplicated, units standardised; and the quarantine.
    Cleaned,
    /// Analysis-ready tables.
    Curated,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Cleaned => "cleaned",
            Zone::Curated => "curated",
        }
    }

    fn parse(s: &str) -> Zone {
        match s {
            "raw" => Zone::Raw,
            "cleaned" => Zone::Cleaned,
            _ => Zone::Curated,
        }
    }
}

/// Which spool rows go into one object: zone, dataset, day and partition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpoolKey {
    pub zone: Zone,
    pub dataset: &'static str,
    pub day: String,
    /// `source=NAME` (raw, quarantine) or `ward=NAME` (cleaned).
    pub part: String,
}

impl SpoolKey {
    /// The object key for the group whose first spool row is `first_id`:
    /// `zone/dataset/date=YYYY-MM-DD/part/part-NNNNNNNNNNNN.ndjson.zst`.
    pub fn object_key(&self, first_id: i64) -> String {
        object_key(self.zone, self.dataset, &self.day, &self.part, first_id)
    }
}

fn object_key(zone: Zone, dataset: &str, day: &str, part: &str, first_id: i64) -> String {
    format!(
        "{}/{dataset}/date={day}/{part}/part-{first_id:012}.ndjson.zst",
        zone.as_str()
    )
}

/// A partition value made safe for an object key: letters, digits, `.`, `_`
/// and `-` stay, anything else becomes `%XX` (per UTF-8 byte), as Hive-style
/// partition paths escape.
pub fn key_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("__empty__");
    }
    out
}

#[derive(Debug, Default)]
struct Lines {
    text: Vec<u8>,
    records: i64,
}

/// What a batch spools beyond the raw line of every record, in the order
/// its writer decided it: the cleaned line of each observation it stored
/// and the quarantine line of each record it refused. The lines themselves
/// are written by [`SpoolLines`], which may run on another thread.
#[derive(Debug, Default)]
pub(crate) struct SpoolPlan {
    ops: Vec<SpoolOp>,
}

#[derive(Debug)]
enum SpoolOp {
    /// A newly stored observation (the item's decoded one) of a patient in
    /// this ward.
    Cleaned { item: usize, ward: Option<Arc<str>> },
    /// A refused record, and why.
    Quarantined { item: usize, rejection: Rejection },
}

impl SpoolPlan {
    pub(crate) fn cleaned(&mut self, item: usize, ward: Option<Arc<str>>) {
        self.ops.push(SpoolOp::Cleaned { item, ward });
    }

    pub(crate) fn quarantined(&mut self, item: usize, rejection: &Rejection) {
        self.ops.push(SpoolOp::Quarantined {
            item,
            rejection: rejection.clone(),
        });
    }
}

/// One compressed spool row, ready to insert.
#[derive(Debug)]
pub(crate) struct SpoolRow {
    key: SpoolKey,
    records: i64,
    raw_bytes: i64,
    data: Vec<u8>,
}

/// The lines of one batch, by group: the raw line of every record (known
/// before the batch is stored), then what its [`SpoolPlan`] adds.
#[derive(Debug)]
pub(crate) struct SpoolLines<'a> {
    batch: &'a IngestBatch,
    now: DateTime<Utc>,
    /// `now` as the lines write it, formatted once for the batch.
    received: String,
    groups: HashMap<SpoolKey, Lines>,
}

impl<'a> SpoolLines<'a> {
    /// The raw zone's line of every record of `batch`, whatever becomes of
    /// it, received at `now`.
    pub(crate) fn received(batch: &'a IngestBatch, now: DateTime<Utc>) -> SpoolLines<'a> {
        let mut out = SpoolLines {
            batch,
            now,
            received: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            groups: HashMap::new(),
        };
        let key = out.received_key(Zone::Raw, "observations");
        // The lines' size, nearly: each record as received and its fields
        // (a base64 record a third more), so that a busy source's batch of
        // several MB is written in one buffer, not one grown by doubling
        // through a dozen copies.
        let fields = batch.source.len() + batch.shard.len() + out.received.len() + 96;
        let mut lines = Lines {
            text: Vec::with_capacity(
                batch
                    .items
                    .iter()
                    .map(|i| i.raw.len() + i.sequence.len() + fields)
                    .sum(),
            ),
            records: 0,
        };
        for item in &batch.items {
            received_line(&mut lines.text, batch, item, &out.received, None);
            lines.records += 1;
        }
        if lines.records > 0 {
            out.groups.insert(key, lines);
        }
        out
    }

    /// A group of lines about records as received: the day they came, the
    /// source they came from.
    fn received_key(&self, zone: Zone, dataset: &'static str) -> SpoolKey {
        SpoolKey {
            zone,
            dataset,
            day: day_of(self.now),
            part: format!("source={}", key_escape(&self.batch.source)),
        }
    }

    /// Adds the cleaned and quarantine lines the writer decided on.
    pub(crate) fn apply(&mut self, plan: &SpoolPlan) {
        let batch = self.batch;
        for op in &plan.ops {
            match op {
                SpoolOp::Cleaned { item, ward } => {
                    let Some(Ok(obs)) = batch.items.get(*item).map(|i| &i.decoded) else {
                        continue; // the writer only names stored observations
                    };
                    let key = SpoolKey {
                        zone: Zone::Cleaned,
                        dataset: "observations",
                        day: day_of(obs.effective),
                        part: format!("ward={}", key_escape(ward.as_deref().unwrap_or("none"))),
                    };
                    let lines = self.groups.entry(key).or_default();
                    cleaned::write_fhir(&mut lines.text, obs, &batch.source);
                    lines.text.push(b'\n');
                    lines.records += 1;
                }
                SpoolOp::Quarantined { item, rejection } => {
                    let Some(item) = batch.items.get(*item) else {
                        continue;
                    };
                    let key = self.received_key(Zone::Cleaned, "quarantine");
                    let lines = self.groups.entry(key).or_default();
                    received_line(
                        &mut lines.text,
                        batch,
                        item,
                        &self.received,
                        Some(rejection),
                    );
                    lines.records += 1;
                }
            }
        }
    }

    /// One compressed row per group, in the groups' order. One zstd
    /// context for them all: a batch at 5,000 patients makes about 200
    /// rows (the cleaned zone's, one per ward), and a context made per row
    /// allocated and cleared its tables each time. Each row is a frame of
    /// its own either way.
    pub(crate) fn compress(self) -> Result<Vec<SpoolRow>> {
        let zstd_error = |e: std::io::Error| Error::InvalidInput {
            what: "a lake spool row",
            reason: format!("zstd: {e}"),
        };
        let mut zstd = zstd::bulk::Compressor::new(SPOOL_LEVEL).map_err(zstd_error)?;
        // No content size in the frame header: an object sealed from these
        // frames as they are (`SEAL_AS_IS_BYTES`) is then refused by a
        // reader that decodes one frame and trusts its size (Python
        // zstandard's one-shot `decompress()` returns the first frame alone
        // when it has one), instead of read short in silence.
        zstd.include_contentsize(false).map_err(zstd_error)?;
        let mut groups: Vec<_> = self.groups.into_iter().collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups
            .into_iter()
            .map(|(key, lines)| {
                let data = zstd.compress(&lines.text).map_err(zstd_error)?;
                Ok(SpoolRow {
                    key,
                    records: lines.records,
                    raw_bytes: lines.text.len() as i64,
                    data,
                })
            })
            .collect()
    }
}

/// Inserts a batch's spool rows, created at `now`.
pub(crate) fn insert_spool_rows(
    tx: &Transaction<'_>,
    rows: &[SpoolRow],
    now: DateTime<Utc>,
) -> Result<()> {
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO lake_spool (zone, dataset, day, part, created_ms, records, raw_bytes, data)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .ctx("spooling lake lines")?;
    for row in rows {
        stmt.execute(params![
            row.key.zone.as_str(),
            row.key.dataset,
            row.key.day,
            row.key.part,
            to_ms(now),
            row.records,
            row.raw_bytes,
            row.data
        ])
        .ctx("spooling lake lines")?;
    }
    Ok(())
}

/// The UTC day of `t` as `YYYY-MM-DD`, as chrono's `%Y-%m-%d` writes it.
/// Called for every record a batch spools; chrono's formatter parses its
/// pattern each time (1 % of the pipeline bench's samples, 250 ns a call),
/// so years 0–9999 are written digit by digit (40 ns).
fn day_of(t: DateTime<Utc>) -> String {
    use chrono::Datelike;
    let d = t.date_naive();
    if let Ok(year) = u32::try_from(d.year())
        && year <= 9999
    {
        let digit = |v: u32| char::from(b'0' + (v % 10) as u8);
        let mut out = String::with_capacity(10);
        for v in [year / 1000, year / 100, year / 10, year] {
            out.push(digit(v));
        }
        out.push('-');
        out.push(digit(d.month() / 10));
        out.push(digit(d.month()));
        out.push('-');
        out.push(digit(d.day() / 10));
        out.push(digit(d.day()));
        out
    } else {
        t.format("%Y-%m-%d").to_string()
    }
}

/// Writes `"key":` and a JSON string.
fn field(out: &mut Vec<u8>, key: &str, value: &str) {
    // Serialising a &str cannot fail.
    let _ = serde_json::to_writer(&mut *out, key);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, value);
    out.push(b',');
}

/// `"record":` with the bytes verbatim when they are one line of JSON, else
/// `"record_base64":`. Either way the bytes come back exactly.
fn record(out: &mut Vec<u8>, item: &IngestItem) {
    let one_line = !item.raw.iter().any(|b| matches!(b, b'\n' | b'\r'));
    let json =
        item.decoded.is_ok() || serde_json::from_slice::<serde::de::IgnoredAny>(&item.raw).is_ok();
    if one_line && json && !item.raw.is_empty() {
        out.extend_from_slice(b"\"record\":");
        out.extend_from_slice(&item.raw);
    } else {
        use base64::Engine;
        let encoded = base64::engine::general_purpose::STANDARD.encode(&item.raw);
        let _ = write!(out, "\"record_base64\":\"{encoded}\"");
    }
}

/// The line of a record as received (raw zone and quarantine): source,
/// shard, sequence, arrival, the rejection where there is one, the full
/// length (and whether only a head was kept), then the record itself.
fn received_line(
    out: &mut Vec<u8>,
    batch: &IngestBatch,
    item: &IngestItem,
    received: &str,
    rejection: Option<&Rejection>,
) {
    out.push(b'{');
    field(out, "source", &batch.source);
    field(out, "shard", &batch.shard);
    field(out, "sequence", &item.sequence);
    field(out, "received", received);
    if let Some(r) = rejection {
        field(out, "code", r.code.as_str());
        field(out, "reason", &r.reason);
    }
    let _ = write!(out, "\"bytes\":{},", item.received_len.max(item.raw.len()));
    if item.received_len > item.raw.len() {
        out.extend_from_slice(b"\"truncated\":true,");
    }
    record(out, item);
    out.extend_from_slice(b"}\n");
}

/// The record a raw or quarantine line carries, exactly as it was received
/// (what [`received_line`] wrote): the verbatim `"record":` field, which
/// ends the line, or `"record_base64"`. `None` for a line of another shape.
pub fn received_record(line: &[u8]) -> Option<Vec<u8>> {
    const VERBATIM: &[u8] = b"\"record\":";
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    // Inside a JSON string the quotes would be escaped, so this can only
    // be the key itself.
    if let Some(at) = line.windows(VERBATIM.len()).position(|w| w == VERBATIM) {
        let record = line.get(at + VERBATIM.len()..line.len().checked_sub(1)?)?;
        return Some(record.to_vec());
    }
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(v.get("record_base64")?.as_str()?)
        .ok()
}

/// What the spool holds for one group, for the planner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpoolGroup {
    pub zone: Zone,
    pub dataset: String,
    pub day: String,
    pub part: String,
    pub rows: i64,
    pub records: i64,
    /// Compressed bytes of the rows (what the object will be, roughly).
    pub bytes: i64,
    pub oldest: DateTime<Utc>,
}

/// A sealed object waiting for (or done with) its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeObject {
    pub key: String,
    pub zone: Zone,
    pub dataset: String,
    pub day: String,
    pub records: i64,
    pub raw_bytes: i64,
    pub bytes: i64,
    pub sha256: String,
    pub md5: String,
    pub created: DateTime<Utc>,
    pub synced: bool,
    pub attempts: i64,
    pub last_error: Option<String>,
    pub target: Option<String>,
}

/// A configured object store. Credentials are never stored: they come from
/// the AWS credential chain (environment, `profile`, web identity, roles).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeTarget {
    pub name: String,
    /// `file:///absolute/dir` or `s3://bucket[/prefix]`.
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub storage_class: Option<String>,
    pub sse: Option<String>,
    pub sse_kms_key: Option<String>,
    pub profile: Option<String>,
    /// A PEM file of CA certificates to trust beside the system's (a
    /// hospital's own CA in front of its object store).
    pub ca_bundle: Option<String>,
    /// An Iceberg REST catalog (`http(s)://host[:port][/path]`, the part
    /// before `/v1`) that holds the curated tables; `None`: the store is
    /// their catalog and the tables live under the target's URL.
    pub iceberg_catalog: Option<String>,
    /// The SigV4 service name the catalog's requests are signed for (`s3`
    /// for SeaweedFS, `s3tables` for S3 Tables, `glue` for Glue's REST
    /// endpoint), with the target's credentials; `None`: unsigned.
    pub iceberg_signing: Option<String>,
    /// The namespace of the curated tables in that catalog (`None`:
    /// `wardwatch`); one per installation where several share a catalog.
    pub iceberg_namespace: Option<String>,
    pub created: DateTime<Utc>,
    pub created_by: String,
}

impl LakeTarget {
    /// A local folder (an absolute path) as a target: no endpoint, class,
    /// encryption or credentials; the embedded default is one.
    pub fn folder(
        name: &str,
        dir: &std::path::Path,
        created: DateTime<Utc>,
        created_by: &str,
    ) -> LakeTarget {
        LakeTarget {
            name: name.to_owned(),
            url: format!("file://{}", dir.display()),
            endpoint: None,
            region: None,
            storage_class: None,
            sse: None,
            sse_kms_key: None,
            profile: None,
            ca_bundle: None,
            iceberg_catalog: None,
            iceberg_signing: None,
            iceberg_namespace: None,
            created,
            created_by: created_by.to_owned(),
        }
    }
}

/// Pending and synced objects of one zone, for `sync status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ZoneStatus {
    pub pending_objects: i64,
    pub pending_bytes: i64,
    pub synced_objects: i64,
    pub synced_bytes: i64,
    /// Lines not yet sealed into an object, and their compressed bytes.
    pub spooled_records: i64,
    pub spooled_bytes: i64,
}

/// The outbox at a glance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LakeStatus {
    pub zones: Vec<(Zone, ZoneStatus)>,
    /// Creation time of the oldest pending object or spool row.
    pub oldest_pending: Option<DateTime<Utc>>,
    pub last_synced: Option<DateTime<Utc>>,
    /// The most recent failure of a pending object, with its key.
    pub last_error: Option<(String, String)>,
    /// Objects and compressed bytes synced in the hour before `status_at`.
    pub synced_last_hour: (i64, i64),
    /// The curated zone's Iceberg tables (filled by `lake_status_at`).
    pub tables: Vec<super::curated::CuratedTable>,
}

fn object_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<LakeObject> {
    Ok(LakeObject {
        key: r.get(0)?,
        zone: Zone::parse(&r.get::<_, String>(1)?),
        dataset: r.get(2)?,
        day: r.get(3)?,
        records: r.get(4)?,
        raw_bytes: r.get(5)?,
        bytes: r.get(6)?,
        sha256: r.get(7)?,
        md5: r.get(8)?,
        created: from_ms(r.get(9)?),
        synced: r.get::<_, String>(10)? == "synced",
        attempts: r.get(11)?,
        last_error: r.get(12)?,
        target: r.get(13)?,
    })
}

const OBJECT_COLUMNS: &str = "key, zone, dataset, day, records, raw_bytes, bytes, sha256, md5, \
     created_ms, state, attempts, last_error, target";

use crate::text::hex;

/// SHA-256 of `data`, in hex.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(data))
}

/// MD5 of `data`, in hex: what S3 returns as the ETag of a single-part object.
pub fn md5_hex(data: &[u8]) -> String {
    use md5::Digest;
    hex(&md5::Md5::digest(data))
}

/// The columns of a `SpoolGroup`, grouped by zone, dataset, day and part.
const SPOOL_GROUP_COLUMNS: &str =
    "zone, dataset, day, part, count(*), sum(records), sum(length(data)), min(created_ms)";

fn spool_group(r: &rusqlite::Row<'_>) -> rusqlite::Result<SpoolGroup> {
    Ok(SpoolGroup {
        zone: Zone::parse(&r.get::<_, String>(0)?),
        dataset: r.get(1)?,
        day: r.get(2)?,
        part: r.get(3)?,
        rows: r.get(4)?,
        records: r.get(5)?,
        bytes: r.get(6)?,
        oldest: from_ms(r.get(7)?),
    })
}

impl Store {
    /// What the spool holds, per group.
    pub fn lake_spool_groups(&self) -> Result<Vec<SpoolGroup>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {SPOOL_GROUP_COLUMNS} FROM lake_spool
                 GROUP BY zone, dataset, day, part ORDER BY zone, dataset, day, part"
            ))
            .ctx("reading the lake spool")?;
        let rows = stmt
            .query_map([], spool_group)
            .ctx("reading the lake spool")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading the lake spool")
    }

    /// What the spool holds of `group`'s zone, dataset, day and part now
    /// (`None`: nothing), read through the `lake_spool_group` index alone:
    /// after each object it seals, the sync engine asks what is left of
    /// the group, and reading every group for that was most of the lake
    /// thread's reading of the spool (2.5 % of `serve`'s samples under
    /// `bench/scale.sh 2000 60`).
    pub fn lake_spool_group(&self, group: &SpoolGroup) -> Result<Option<SpoolGroup>> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {SPOOL_GROUP_COLUMNS} FROM lake_spool
                 WHERE zone = ?1 AND dataset = ?2 AND day = ?3 AND part = ?4
                 GROUP BY zone, dataset, day, part"
            ))
            .and_then(|mut stmt| {
                stmt.query_row(
                    params![group.zone.as_str(), group.dataset, group.day, group.part],
                    spool_group,
                )
                .optional()
            })
            .ctx("reading the lake spool")
    }

    /// Seals a group's spool rows (at most `max_bytes` of compressed rows,
    /// oldest first, at least one row) into one pending object, in one
    /// transaction. `None` when the group is empty. The object's `created`
    /// is when its oldest line arrived, so that its age in the outbox is
    /// the age of the data waiting.
    ///
    /// The rows are read, joined, compressed and hashed before the write
    /// lock is taken: for a full object that is tens of milliseconds of
    /// zstd and hashing that the ingest writer would otherwise wait out
    /// (issue 16: a seal's transaction was the writer's stall every lake
    /// pass). The transaction that moves them checks that every row read is
    /// still in the spool — rows are never changed, only inserted with a
    /// larger id (`AUTOINCREMENT`) and deleted by a seal — and reads them
    /// again if another seal took some meanwhile.
    pub fn lake_seal(&mut self, group: &SpoolGroup, max_bytes: i64) -> Result<Option<LakeObject>> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            // The last attempt reads under the lock, as sealing always did:
            // nothing can take its rows meanwhile.
            let ahead = if attempt < SEAL_ATTEMPTS {
                // Its two statements read one snapshot; the rows are
                // checked and compressed after it ends.
                let read = self.conn.transaction().ctx("reading the lake spool")?;
                let rows = Store::spool_read(&read, &self.path, group, max_bytes)?;
                read.rollback().ctx("reading the lake spool")?;
                match rows.map(|r| r.build(&self.path)).transpose()?.flatten() {
                    Some(rows) => Some(Sealed::of(rows)?),
                    None => return Ok(None),
                }
            } else {
                None
            };
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .ctx("sealing a lake object")?;
            let sealed = match ahead {
                Some(sealed) => {
                    let still: i64 = tx
                        .query_row(
                            "SELECT count(*) FROM lake_spool WHERE zone = ?1 AND dataset = ?2
                               AND day = ?3 AND part = ?4 AND id BETWEEN ?5 AND ?6",
                            params![
                                group.zone.as_str(),
                                group.dataset,
                                group.day,
                                group.part,
                                sealed.rows.first,
                                sealed.rows.last
                            ],
                            |r| r.get(0),
                        )
                        .ctx("sealing a lake object")?;
                    if still != sealed.rows.count {
                        // Another seal (`wardwatchctl sync` beside the
                        // runtime) took some of them: read what is left.
                        continue;
                    }
                    sealed
                }
                None => match Store::spool_read(&tx, &self.path, group, max_bytes)?
                    .map(|r| r.build(&self.path))
                    .transpose()?
                    .flatten()
                {
                    Some(rows) => Sealed::of(rows)?,
                    None => return Ok(None),
                },
            };
            let rows = &sealed.rows;
            let key = object_key(
                group.zone,
                &group.dataset,
                &group.day,
                &group.part,
                rows.first,
            );
            tx.execute(
                "INSERT INTO lake_objects (key, zone, dataset, day, records, raw_bytes, bytes, sha256, md5,
                   created_ms, state, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 'pending', ?11)",
                params![
                    key,
                    group.zone.as_str(),
                    group.dataset,
                    group.day,
                    rows.records,
                    rows.raw_bytes,
                    sealed.data.len() as i64,
                    sealed.sha256,
                    sealed.md5,
                    rows.arrived,
                    sealed.data
                ],
            )
            .ctx("sealing a lake object")?;
            tx.execute(
                "DELETE FROM lake_spool WHERE zone = ?1 AND dataset = ?2 AND day = ?3 AND part = ?4
                   AND id BETWEEN ?5 AND ?6",
                params![
                    group.zone.as_str(),
                    group.dataset,
                    group.day,
                    group.part,
                    rows.first,
                    rows.last
                ],
            )
            .ctx("sealing a lake object")?;
            let object = tx
                .query_row(
                    &format!("SELECT {OBJECT_COLUMNS} FROM lake_objects WHERE key = ?1"),
                    [&key],
                    object_row,
                )
                .ctx("sealing a lake object")?;
            tx.commit().ctx("sealing a lake object")?;
            return Ok(Some(object));
        }
    }

    /// A group's oldest spool rows, up to `max_bytes` compressed (at least
    /// one), as stored; `None` when the group is empty. Two statements, so
    /// the caller reads them in one transaction: the first picks the rows
    /// by their sizes alone (no row's data is read), the second reads
    /// them. Checking and compressing them ([`SpoolRead::build`]) waits
    /// until the transaction has ended: a reader inside the WAL keeps it
    /// from starting over, and the lake thread, at a lower priority and
    /// preempted, held its seals' snapshots for as long as it took to
    /// decompress and compress each object (issue 16: the WAL grew past
    /// 2 GB in five minutes at 10,000 patients).
    fn spool_read(
        conn: &rusqlite::Connection,
        path: &Path,
        group: &SpoolGroup,
        max_bytes: i64,
    ) -> Result<Option<SpoolRead>> {
        let keys = params![group.zone.as_str(), group.dataset, group.day, group.part];
        // (last id, rows, their lines' bytes, their frames' bytes)
        let mut picked: Option<(i64, i64, i64, i64)> = None;
        {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, raw_bytes, length(data) FROM lake_spool
                     WHERE zone = ?1 AND dataset = ?2 AND day = ?3 AND part = ?4 ORDER BY id",
                )
                .ctx("reading the lake spool")?;
            let mut rows = stmt.query(keys).ctx("reading the lake spool")?;
            while let Some(row) = rows.next().ctx("reading the lake spool")? {
                let (id, raw_bytes, bytes): (i64, i64, i64) = (
                    row.get(0).ctx("reading the lake spool")?,
                    row.get(1).ctx("reading the lake spool")?,
                    row.get(2).ctx("reading the lake spool")?,
                );
                // A row holds exactly the `raw_bytes` it was spooled with.
                if !(0..=SPOOL_ROW_MAX_BYTES).contains(&raw_bytes) {
                    return Err(Error::StoreDamaged {
                        path: path.to_path_buf(),
                        problems: format!("lake spool row {id} claims {raw_bytes} bytes of lines"),
                    });
                }
                picked = match picked {
                    Some((_, _, _, taken)) if taken + bytes > max_bytes => break,
                    Some((_, n, raw, taken)) => Some((id, n + 1, raw + raw_bytes, taken + bytes)),
                    None => Some((id, 1, raw_bytes, bytes)),
                };
            }
        }
        let Some((last, count, raw_total, bytes_total)) = picked else {
            return Ok(None);
        };
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, records, data, created_ms, raw_bytes FROM lake_spool
                 WHERE zone = ?1 AND dataset = ?2 AND day = ?3 AND part = ?4 AND id <= ?5
                 ORDER BY id",
            )
            .ctx("reading the lake spool")?;
        let mut rows = stmt
            .query(params![
                group.zone.as_str(),
                group.dataset,
                group.day,
                group.part,
                last
            ])
            .ctx("reading the lake spool")?;
        let mut read = Vec::with_capacity(count.max(0) as usize);
        while let Some(row) = rows.next().ctx("reading the lake spool")? {
            read.push(SpooledRow {
                id: row.get(0).ctx("reading the lake spool")?,
                records: row.get(1).ctx("reading the lake spool")?,
                data: row.get(2).ctx("reading the lake spool")?,
                created: row.get(3).ctx("reading the lake spool")?,
                raw_bytes: row.get(4).ctx("reading the lake spool")?,
            });
        }
        Ok(Some(SpoolRead {
            rows: read,
            last,
            count,
            raw_total,
            bytes_total,
        }))
    }

    /// Pending objects, oldest first.
    pub fn lake_pending(&self, limit: usize) -> Result<Vec<LakeObject>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {OBJECT_COLUMNS} FROM lake_objects WHERE state = 'pending'
                 ORDER BY created_ms, key LIMIT ?1"
            ))
            .ctx("reading the lake outbox")?;
        let rows = stmt
            .query_map([limit as i64], object_row)
            .ctx("reading the lake outbox")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading the lake outbox")
    }

    /// Objects whose key starts with `prefix`, in key order.
    pub fn lake_objects(&self, prefix: &str) -> Result<Vec<LakeObject>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {OBJECT_COLUMNS} FROM lake_objects WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key"
            ))
            .ctx("reading the lake outbox")?;
        let rows = stmt
            .query_map([prefix], object_row)
            .ctx("reading the lake outbox")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading the lake outbox")
    }

    /// The bytes of a pending object.
    pub fn lake_object_data(&self, key: &str) -> Result<Vec<u8>> {
        let data: Option<Option<Vec<u8>>> = self
            .conn
            .query_row("SELECT data FROM lake_objects WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .ctx("reading a lake object")?;
        match data {
            Some(Some(d)) => Ok(d),
            Some(None) => Err(Error::InvalidInput {
                what: "a lake object",
                reason: format!("{key} is synced: its bytes are in the target, not here"),
            }),
            None => Err(Error::InvalidInput {
                what: "a lake object",
                reason: format!("no object {key} in the outbox"),
            }),
        }
    }

    /// Records that `target` acknowledged `key` and its checksum matched:
    /// the local bytes go.
    pub fn lake_mark_synced(&mut self, key: &str, target: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE lake_objects SET state = 'synced', data = NULL, target = ?2, synced_ms = ?3,
                   attempts = attempts + 1, last_attempt_ms = ?3, last_error = NULL
                 WHERE key = ?1",
                params![key, target, to_ms(now)],
            )
            .ctx("recording a synced object")?;
        Ok(())
    }

    /// Records a failed attempt to sync `key`.
    pub fn lake_mark_failed(&mut self, key: &str, error: &str, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE lake_objects SET attempts = attempts + 1, last_attempt_ms = ?3, last_error = ?2
                 WHERE key = ?1 AND state = 'pending'",
                params![key, error, to_ms(now)],
            )
            .ctx("recording a failed sync")?;
        Ok(())
    }

    /// The outbox at a glance, at `now`.
    pub fn lake_status_at(&self, now: DateTime<Utc>) -> Result<LakeStatus> {
        let mut status = self.lake_status()?;
        status.synced_last_hour = self
            .conn
            .query_row(
                "SELECT count(*), coalesce(sum(bytes), 0) FROM lake_objects WHERE synced_ms > ?1",
                [to_ms(now - chrono::Duration::hours(1))],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ctx("reading the lake outbox")?;
        status.tables = self.lake_tables()?;
        Ok(status)
    }

    /// The outbox at a glance.
    pub fn lake_status(&self) -> Result<LakeStatus> {
        self.lake_status_of(true)
    }

    /// What waits (pending objects and the spool), without counting the
    /// synced objects, which grow with every day of the lake: cheap enough
    /// for the runtime to check after every pass.
    pub fn lake_backlog(&self) -> Result<LakeStatus> {
        self.lake_status_of(false)
    }

    fn lake_status_of(&self, synced_too: bool) -> Result<LakeStatus> {
        let mut zones: HashMap<Zone, ZoneStatus> = HashMap::new();
        {
            let mut stmt = self
                .conn
                .prepare(if synced_too {
                    "SELECT zone, state, count(*), sum(bytes) FROM lake_objects GROUP BY zone, state"
                } else {
                    "SELECT zone, state, count(*), sum(bytes) FROM lake_objects WHERE state = 'pending'
                     GROUP BY zone, state"
                })
                .ctx("reading the lake outbox")?;
            let mut rows = stmt.query([]).ctx("reading the lake outbox")?;
            while let Some(r) = rows.next().ctx("reading the lake outbox")? {
                let zone = Zone::parse(&r.get::<_, String>(0).ctx("reading the lake outbox")?);
                let state: String = r.get(1).ctx("reading the lake outbox")?;
                let n: i64 = r.get(2).ctx("reading the lake outbox")?;
                let bytes: i64 = r.get(3).ctx("reading the lake outbox")?;
                let z = zones.entry(zone).or_default();
                if state == "synced" {
                    (z.synced_objects, z.synced_bytes) = (n, bytes);
                } else {
                    (z.pending_objects, z.pending_bytes) = (n, bytes);
                }
            }
        }
        for g in self.lake_spool_groups()? {
            let z = zones.entry(g.zone).or_default();
            z.spooled_records += g.records;
            z.spooled_bytes += g.bytes;
        }
        let oldest: Option<i64> = self
            .conn
            .query_row(
                "SELECT min(t) FROM (SELECT min(created_ms) AS t FROM lake_objects WHERE state = 'pending'
                   UNION ALL SELECT min(created_ms) FROM lake_spool)",
                [],
                |r| r.get(0),
            )
            .ctx("reading the lake outbox")?;
        let last_synced: Option<i64> = if synced_too {
            self.conn
                .query_row("SELECT max(synced_ms) FROM lake_objects", [], |r| r.get(0))
                .ctx("reading the lake outbox")?
        } else {
            None
        };
        let last_error = self
            .conn
            .query_row(
                "SELECT key, last_error FROM lake_objects WHERE state = 'pending' AND last_error IS NOT NULL
                 ORDER BY last_attempt_ms DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .ctx("reading the lake outbox")?;
        let mut zones: Vec<_> = zones.into_iter().collect();
        zones.sort_by_key(|(z, _)| *z);
        Ok(LakeStatus {
            zones,
            oldest_pending: oldest.map(from_ms),
            last_synced: last_synced.map(from_ms),
            last_error,
            synced_last_hour: (0, 0),
            tables: Vec::new(),
        })
    }

    /// The configured targets, by name.
    pub fn lake_targets(&self) -> Result<Vec<LakeTarget>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, url, endpoint, region, storage_class, sse, sse_kms_key, profile,
                   created_ms, created_by, ca_bundle, iceberg_catalog, iceberg_signing,
                   iceberg_namespace
                 FROM lake_targets ORDER BY name",
            )
            .ctx("reading lake targets")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LakeTarget {
                    name: r.get(0)?,
                    url: r.get(1)?,
                    endpoint: r.get(2)?,
                    region: r.get(3)?,
                    storage_class: r.get(4)?,
                    sse: r.get(5)?,
                    sse_kms_key: r.get(6)?,
                    profile: r.get(7)?,
                    created: from_ms(r.get(8)?),
                    created_by: r.get(9)?,
                    ca_bundle: r.get(10)?,
                    iceberg_catalog: r.get(11)?,
                    iceberg_signing: r.get(12)?,
                    iceberg_namespace: r.get(13)?,
                })
            })
            .ctx("reading lake targets")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading lake targets")
    }

    /// Adds a target; a name in use is refused.
    pub fn add_lake_target(&self, t: &LakeTarget) -> Result<()> {
        let inserted = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO lake_targets (name, url, endpoint, region, storage_class, sse,
                   sse_kms_key, profile, created_ms, created_by, ca_bundle, iceberg_catalog,
                   iceberg_signing, iceberg_namespace)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    t.name,
                    t.url,
                    t.endpoint,
                    t.region,
                    t.storage_class,
                    t.sse,
                    t.sse_kms_key,
                    t.profile,
                    to_ms(t.created),
                    t.created_by,
                    t.ca_bundle,
                    t.iceberg_catalog,
                    t.iceberg_signing,
                    t.iceberg_namespace
                ],
            )
            .ctx("adding a lake target")?;
        if inserted == 0 {
            return Err(Error::InvalidInput {
                what: "a lake target",
                reason: format!("a target named `{}` exists: remove it first", t.name),
            });
        }
        Ok(())
    }

    /// Removes a target; whether there was one.
    pub fn remove_lake_target(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM lake_targets WHERE name = ?1", [name])
            .ctx("removing a lake target")?
            > 0)
    }
}

#[cfg(test)]
mod day_tests {
    use chrono::{DateTime, TimeZone, Utc};

    use super::day_of;

    /// The direct form gives what chrono's `%Y-%m-%d` gives, at the edges
    /// of the fast path and beyond it.
    #[test]
    fn day_of_is_chronos_year_month_day() {
        let times: Vec<DateTime<Utc>> = vec![
            Utc.with_ymd_and_hms(2026, 12, 4, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(2024, 2, 29, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(0, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap(),
            Utc.with_ymd_and_hms(10000, 1, 1, 0, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(-1, 6, 15, 12, 0, 0).unwrap(),
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MAX_UTC,
        ];
        for t in times {
            assert_eq!(day_of(t), t.format("%Y-%m-%d").to_string(), "{t:?}");
        }
    }
}
