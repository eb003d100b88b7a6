//! Registry import throughput (issue: 100,000-patient CSV). Prints figures; it
//! asserts nothing about time. Run: `cargo bench -p wardwatch-core --bench import`
//! (`WARDWATCH_BENCH_PATIENTS` changes the count).
//!
//! Baselines measured in the same run: parsing alone (the importer's CPU cost
//! without SQLite), and re-importing the same file (reads and compares every
//! record, writes nothing).

use std::time::Instant;

use chrono::{TimeZone, Utc};
use wardwatch_core::api;
use wardwatch_core::import::{self, Format};

mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::var("WARDWATCH_BENCH_PATIENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .ok_or("time")?;
    let dir = common::private_tempdir()?;
    let csv_path = dir.path().join("registry.csv");
    let records = wardwatch_core::demo::registry(n, 1, now.date_naive());
    let mut buf = Vec::new();
    import::csv::write(&records, &mut buf)?;
    std::fs::write(&csv_path, &buf)?;
    println!(
        "registry: {n} patients, {:.1} MB CSV",
        buf.len() as f64 / 1e6
    );

    let t = Instant::now();
    let parsed = import::parse(&csv_path, Format::Csv, &buf, now.date_naive())?;
    let parse_s = t.elapsed().as_secs_f64();
    assert_eq!(parsed.records.len(), n);

    let (_keys, mut ctx) = common::bench_ctx(dir.path(), now)?;
    let t = Instant::now();
    let first = api::import_patients(&mut ctx, &csv_path)?;
    let import_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let again = api::import_patients(&mut ctx, &csv_path)?;
    let reimport_s = t.elapsed().as_secs_f64();
    assert_eq!((first.inserted, again.unchanged), (n, n));

    let rate = |s: f64| n as f64 / s;
    println!(
        "{:<34} {:>10} {:>14} {:>8}",
        "step", "seconds", "patients/s", "ratio"
    );
    println!(
        "{:<34} {:>10.2} {:>14.0} {:>8.2}",
        "parse + validate only (baseline)",
        parse_s,
        rate(parse_s),
        1.0
    );
    println!(
        "{:<34} {:>10.2} {:>14.0} {:>8.2}",
        "import into an empty store",
        import_s,
        rate(import_s),
        import_s / parse_s
    );
    println!(
        "{:<34} {:>10.2} {:>14.0} {:>8.2}",
        "re-import (all unchanged)",
        reimport_s,
        rate(reimport_s),
        reimport_s / parse_s
    );
    let db = std::fs::metadata(ctx.data_dir().join(wardwatch_core::store::DB_FILE))?.len();
    println!(
        "store size: {:.1} MB ({:.0} B/patient)",
        db as f64 / 1e6,
        db as f64 / n as f64
    );
    Ok(())
}
