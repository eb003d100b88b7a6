//! The curated zone's figures (issue 13), each beside its baseline in the
//! same run:
//! - a ward's day (24 patients, six vitals, minute data): the Parquet bytes
//!   of `vitals_minute` against the store's own minute rollups, and the
//!   curating time;
//! - one patient's year of minute vitals: DuckDB's query time on the
//!   Iceberg table (scripts/duckdb-query.py, `WARDWATCH_DUCKDB_PYTHON`)
//!   against the store's own rollup query for the same year.
//!
//! `cargo bench -p wardwatch-sync --bench curated [-- PATIENTS DAYS]`
//! (defaults 24 and 365; the year is of the first patient only).

use std::path::Path;
mod common;

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::clock::FixedClock;
use wardwatch_core::model::Vital;
use wardwatch_core::store::lake::LakeTarget;
use wardwatch_core::store::{IngestBatch, IngestItem, Store};
use wardwatch_sync::{Engine, Rules, Target};

/// (LOINC, UCUM unit, base value) of the six monitored vitals.
const VITALS: [(&str, &str, f64); 6] = [
    ("8867-4", "/min", 72.0),
    ("9279-1", "/min", 16.0),
    ("59408-5", "%", 96.0),
    ("8480-6", "mm[Hg]", 120.0),
    ("8462-4", "mm[Hg]", 75.0),
    ("8310-5", "Cel", 36.8),
];

fn store_with(dir: &Path, patients: usize, start: DateTime<Utc>) -> (Store, Vec<String>) {
    let store = common::store_with_patients(dir, patients, start);
    let mrns = store
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    (store, mrns)
}

/// One sample per vital per minute for `mrns` over `minutes` from `start`.
fn fill(store: &mut Store, mrns: &[String], start: DateTime<Utc>, minutes: i64) -> usize {
    let mut n = 0;
    let mut seq = 0u64;
    let mut items = Vec::new();
    for m in 0..minutes {
        let at = start + Duration::minutes(m);
        for mrn in mrns {
            for (loinc, unit, base) in VITALS.iter() {
                seq += 1;
                // Noise from a hash of (minute, patient, vital): values that do
                // not repeat, so Parquet cannot compress them better than
                // real ones.
                let h =
                    (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as f64 / (1u64 << 24) as f64;
                let wobble = (h - 0.5) * 10.0;
                let value = if *unit == "Cel" {
                    ((base + wobble / 20.0) * 10.0).round() / 10.0
                } else {
                    (base + wobble).round()
                };
                let o = json!({"resourceType": "Observation", "id": format!("b{seq}"), "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
                    "subject": {"identifier": {"value": mrn}},
                    "effectiveDateTime": at.to_rfc3339(),
                    "valueQuantity": {"value": value, "code": unit}});
                items.push(IngestItem::decode(
                    seq.to_string(),
                    o.to_string().into_bytes(),
                    at,
                ));
            }
        }
        if items.len() >= 5000 || m + 1 == minutes {
            n += items.len();
            let batch = IngestBatch {
                source: "bench".into(),
                shard: "0".into(),
                items: std::mem::take(&mut items),
                ordered: true,
            };
            store.store_batch(&batch, at).expect("store");
        }
    }
    n
}

fn folder(dir: &Path) -> LakeTarget {
    LakeTarget::folder("folder", dir, Utc::now(), "bench")
}

fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            total += bytes_under(&p);
        } else {
            total += e.metadata().map_or(0, |m| m.len());
        }
    }
    total
}

/// Curates everything up to `now` into a folder; (seconds, commits).
fn curate(
    rt: &tokio::runtime::Runtime,
    data: &Path,
    lake: &Path,
    now: DateTime<Utc>,
) -> (f64, usize) {
    let store = Store::open_dir(data).expect("store");
    let target = rt
        .block_on(Target::open(&folder(lake), None))
        .expect("target");
    let mut e = Engine::new(store, target, Rules::default(), Arc::new(FixedClock(now)));
    let t = Instant::now();
    let mut commits = 0;
    loop {
        let c = rt.block_on(e.curate(true)).expect("curate");
        commits += c.commits;
        if c.commits == 0 {
            break;
        }
    }
    (t.elapsed().as_secs_f64(), commits)
}

fn rollup_bytes(data: &Path) -> u64 {
    let conn = rusqlite::Connection::open(data.join("wardwatch.db")).expect("db");
    conn.query_row(
        "SELECT coalesce(sum(length(data)) + 24 * count(*), 0) FROM vital_rollups",
        [],
        |r| r.get::<_, i64>(0),
    )
    .expect("rollups") as u64
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let patients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(24);
    let days: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(365);
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 12, 1, 0, 0, 0)
        .single()
        .expect("time");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let private = common::private_dir;

    // A ward's day.
    let (data, lake) = (private(), private());
    let (mut store, mrns) = store_with(data.path(), patients, start);
    let t = Instant::now();
    let samples = fill(&mut store, &mrns, start, 1440);
    drop(store);
    let fill_s = t.elapsed().as_secs_f64();
    let (curate_s, commits) = curate(&rt, data.path(), lake.path(), start + Duration::days(1));
    let parquet = bytes_under(&lake.path().join("curated/vitals_minute/data"));
    let rollups = rollup_bytes(data.path());
    let rows = patients * 6 * 1440;
    println!(
        "curated bench: a day of {patients} patients x 6 vitals, one sample a minute ({samples} samples stored in {fill_s:.1} s)"
    );
    println!(
        "  vitals_minute: {rows} rows, Parquet {:.1} kB ({:.2} B/row) vs the store's rollups {:.1} kB ({:.2} B/row; 600-byte hour blobs + ~24 B row overhead): ratio {:.2}",
        parquet as f64 / 1e3,
        parquet as f64 / rows as f64,
        rollups as f64 / 1e3,
        rollups as f64 / rows as f64,
        parquet as f64 / rollups as f64
    );
    println!("  curating the day: {curate_s:.2} s, {commits} commits (all five tables)");

    // One patient's year.
    let (data, lake) = (private(), private());
    let (store, mrns) = store_with(data.path(), 1, start);
    let t = Instant::now();
    // The year's minute rollups written straight into the store (streaming
    // a year of samples through `store_batch` would take most of an hour):
    // the same rows the ingest path keeps, one per vital and hour.
    let end = start + Duration::days(days);
    {
        let mut conn = rusqlite::Connection::open(data.path().join("wardwatch.db")).expect("db");
        let tx = conn.transaction().expect("tx");
        let mut seq = 0u64;
        for (v, (_, unit, base)) in VITALS.iter().enumerate() {
            for hour in 0..days * 24 {
                let mut h = wardwatch_core::store::rollup::Hour::default();
                for minute in 0..60 {
                    for _ in 0..4 {
                        seq += 1;
                        let x = (seq.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as f64
                            / (1u64 << 24) as f64;
                        let wobble = (x - 0.5) * 10.0;
                        h.add(
                            minute,
                            if *unit == "Cel" {
                                base + wobble / 20.0
                            } else {
                                base + wobble
                            },
                        );
                    }
                }
                let hour_ms = (start + Duration::hours(hour)).timestamp_millis();
                tx.execute(
                    "INSERT OR REPLACE INTO vital_rollups (patient_id, vital, hour_ms, data)
                     SELECT id, ?1, ?2, ?3 FROM patients WHERE mrn = ?4",
                    rusqlite::params![v as i64 + 1, hour_ms, h.to_blob(), mrns[0]],
                )
                .expect("rollup");
            }
        }
        tx.commit().expect("commit");
    }
    let fill_s = t.elapsed().as_secs_f64();
    // Baseline: the store's own query for the same year (six vitals).
    let t = Instant::now();
    let mut store_rows = 0;
    for v in [
        Vital::HeartRate,
        Vital::RespRate,
        Vital::Spo2,
        Vital::SystolicBp,
        Vital::DiastolicBp,
        Vital::TemperatureC,
    ] {
        store_rows += store
            .rollups(&mrns[0], v, start, end)
            .expect("rollups")
            .len();
    }
    let store_ms = t.elapsed().as_secs_f64() * 1e3;
    drop(store);
    let (curate_s, commits) = curate(&rt, data.path(), lake.path(), end);
    let mut store = Store::open_dir(data.path()).expect("store");
    let table = store
        .lake_table("vitals_minute")
        .expect("table")
        .expect("vitals_minute");
    let patient = store
        .lake_pseudonymizer()
        .map(|p| p.of(&mrns[0]))
        .expect("pseudonym");
    let Ok(python) = std::env::var("WARDWATCH_DUCKDB_PYTHON") else {
        println!(
            "  (no WARDWATCH_DUCKDB_PYTHON: DuckDB query not measured; run through scripts/peers.sh)"
        );
        return;
    };
    let scan = format!("iceberg_scan('{}')", table.metadata_location);
    let query = format!(
        "SELECT vital, minute, min, max, mean, count FROM {scan} WHERE patient = '{patient}' ORDER BY vital, minute"
    );
    let out = std::process::Command::new(python)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/duckdb-query.py"))
        .arg("--time")
        .arg(format!("SELECT count(*) FROM {scan}"))
        .arg(&query)
        .arg(&query)
        .arg(format!("SELECT count(*), avg(mean) FROM ({query})"))
        .output()
        .expect("DuckDB");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let first_ms = lines[1]["ms"].as_f64().unwrap_or(f64::NAN);
    let warm_ms = lines[2]["ms"].as_f64().unwrap_or(f64::NAN);
    let duck_rows = lines[1]["rows"].as_array().map_or(0, Vec::len);
    println!(
        "one patient's year ({days} days x 6 vitals, minute rollups of 4 samples each, written in {fill_s:.1} s; curated in {curate_s:.1} s, {commits} commits, Parquet {:.1} MB)",
        bytes_under(&lake.path().join("curated/vitals_minute/data")) as f64 / 1e6
    );
    let in_duckdb_ms = lines[3]["ms"].as_f64().unwrap_or(f64::NAN);
    println!(
        "  DuckDB iceberg_scan of the year: {duck_rows} rows fetched into Python in {first_ms:.0} ms (first), {warm_ms:.0} ms (again); scanned and aggregated inside DuckDB in {in_duckdb_ms:.0} ms; the store's own rollup query: {store_rows} rows in {store_ms:.0} ms; ratios {:.1} and {:.1}",
        first_ms / store_ms,
        in_duckdb_ms / store_ms
    );
}
