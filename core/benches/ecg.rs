//! A patient's live ECG strip read from a ward's store (issue 16). The ECG
//! blocks' key leads with their second (migration 28), so that a commit's
//! new blocks share a few leaves; a patient's blocks are then found second
//! by second (`store::vitals::ecg_seconds`). This measures what that costs
//! the strip a clinician's view asks for every second. Prints figures;
//! asserts nothing about time. Run: `cargo bench -p wardwatch-core --bench
//! ecg` (`WARDWATCH_BENCH_PATIENTS`, default 2,000; `WARDWATCH_BENCH_SECONDS`
//! of ECG stored, default 300).
//!
//! Each patient streams lead II in 2-s blocks of 500 samples (250 Hz), at a
//! phase of its own, stored in arrival order in batches of 330 blocks, as
//! the runtime's writer takes them. Then `api::ecg_strip` (the last 60 s of
//! lead II, and the pulse waves looked for under it) is read 200 times for
//! patients across the ward. Baseline in the same run: the same reads from
//! a store that holds one patient's ECG alone.

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::{IngestBatch, IngestItem};

const BLOCK_MS: i64 = 2_000;
const PER_BATCH: usize = 330;
const READS: usize = 200;

mod common;
use common::percentile;

/// A 2-s block of lead II for `mrn` starting at `at`.
fn block(mrn: &str, k: usize, at: DateTime<Utc>, now: DateTime<Utc>) -> IngestItem {
    let data: Vec<String> = (0..500)
        .map(|i| (((i * 37 + k * 11) % 240) as i64 - 120).to_string())
        .collect();
    let v = json!({"resourceType": "Observation", "id": format!("{mrn}-{k}"), "status": "final",
        "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": "131330"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueSampledData": {"origin": {"value": 0, "code": "mV"}, "period": 4,
            "factor": 0.005, "dimensions": 1, "data": data.join(" ")}});
    IngestItem::decode(k.to_string(), v.to_string().into_bytes(), now)
}

/// A store of `n` registry patients, the first `streaming` of them with
/// `seconds` of ECG up to `now`: the strip's read times (ms) over
/// [`READS`] reads of those patients, and the samples one strip holds.
fn strip_reads(
    label: &str,
    n: usize,
    streaming: usize,
    seconds: i64,
    now: DateTime<Utc>,
) -> Result<(Vec<f64>, usize), Box<dyn std::error::Error>> {
    let dir = common::private_tempdir()?;
    let (keys, mut ctx) = common::bench_ctx(dir.path(), now)?;
    let records = wardwatch_core::demo::registry(n, 1, now.date_naive());
    let csv = dir.path().join("registry.csv");
    let mut buf = Vec::new();
    wardwatch_core::import::csv::write(&records, &mut buf)?;
    std::fs::write(&csv, &buf)?;
    api::import_patients(&mut ctx, &csv)?;
    let mrns: Vec<&str> = records.iter().map(|r| r.mrn.as_str()).collect();

    // Every block of the span, in the order its last sample arrives.
    let from = now - Duration::seconds(seconds);
    let mut arrivals = Vec::new();
    for (p, mrn) in mrns.iter().take(streaming).enumerate() {
        let phase = (p as i64 * 7_919) % BLOCK_MS;
        let mut start = from + Duration::milliseconds(phase);
        while start + Duration::milliseconds(BLOCK_MS) <= now {
            arrivals.push((start + Duration::milliseconds(BLOCK_MS), *mrn, start));
            start += Duration::milliseconds(BLOCK_MS);
        }
    }
    arrivals.sort();
    let mut store = wardwatch_core::store::Store::open_dir(&dir.path().join("store"))?;
    let t = Instant::now();
    let mut stored = 0;
    for (b, chunk) in arrivals.chunks(PER_BATCH).enumerate() {
        let items = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, mrn, at))| block(mrn, b * PER_BATCH + i, *at, now))
            .collect();
        let batch = IngestBatch {
            source: "bench".into(),
            shard: "0".into(),
            items,
            ordered: false,
        };
        stored += store.store_batch(&batch, now)?.outcome.stored;
    }
    let fill_s = t.elapsed().as_secs_f64();
    let read_ctx = Ctx::open(
        &dir.path().join("store"),
        &keys,
        "bench",
        Arc::new(FixedClock(now)),
    )?;
    let mut ms = Vec::with_capacity(READS);
    let mut samples = 0;
    for r in 0..READS {
        let mrn = mrns[(r * 7_919) % streaming];
        let t = Instant::now();
        let strip = api::ecg_strip(&read_ctx, mrn, 60)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        samples = strip.samples_mv.len();
    }
    println!(
        "{label}: {stored} blocks of {streaming} patients stored in {fill_s:.1} s ({:.0} blocks/s)",
        stored as f64 / fill_s
    );
    Ok((ms, samples))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let var = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let n = var("WARDWATCH_BENCH_PATIENTS", 2_000).max(1) as usize;
    let seconds = var("WARDWATCH_BENCH_SECONDS", 300).max(70);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .ok_or("time")?;
    let (mut alone, samples) = strip_reads("one patient's ECG (baseline)", n, 1, seconds, now)?;
    let (mut ward, ward_samples) = strip_reads("the ward's ECG", n, n, seconds, now)?;
    assert_eq!(samples, ward_samples, "the same strip either way");
    println!(
        "strip: 60 s of lead II ({samples} samples) and the pulse waves under it, {READS} reads"
    );
    println!(
        "{:<38} {:>8} {:>8} {:>8}",
        "store", "p50 ms", "p99 ms", "ratio"
    );
    let (a50, a99) = (percentile(&mut alone, 0.5), percentile(&mut alone, 0.99));
    let (w50, w99) = (percentile(&mut ward, 0.5), percentile(&mut ward, 0.99));
    println!(
        "{:<38} {a50:>8.2} {a99:>8.2} {:>8.2}",
        "one patient's ECG (baseline)", 1.0
    );
    println!(
        "{:<38} {w50:>8.2} {w99:>8.2} {:>8.2}",
        format!("{n} patients' ECG"),
        w50 / a50
    );
    Ok(())
}
