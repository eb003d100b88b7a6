//! Opening a patient's history (issue 11: a year of minute data for one
//! patient in under 300 ms, request to painted chart; this is the store's
//! share). Prints figures; asserts nothing about time. Run:
//! `cargo bench -p wardwatch-core --bench history`.
//!
//! A store with the demo ward, one patient with a year of minute rollups
//! (every vital, every minute) and the others with 30 days, built straight
//! into the store. Each window is opened 20 times at 1,200 columns (a chart
//! on a full-HD screen); p50 and p99 of `api::patient_history`. Baseline in
//! the same run: reading the same year with `Store::rollups` (every minute
//! decoded, no decimation), what a chart without the backend's decimation
//! would need.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::FixedClock;
use wardwatch_core::model::Vital;

fn percentile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let i = ((xs.len() as f64 - 1.0) * p).round() as usize;
    xs[i.min(xs.len() - 1)]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .ok_or("time")?;
    let dir = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()?;
    let keys = wardwatch_core::store::AuditKeys::in_dir(dir.path().join("keys"));
    let mut ctx = Ctx::create(
        &dir.path().join("store"),
        &keys,
        "bench",
        Arc::new(FixedClock(now)),
    )?;
    api::load_demo_ward(&mut ctx, 42)?;
    let t = Instant::now();
    let hours = api::backfill_demo_history(&mut ctx, 30, 366, 0)?;
    println!(
        "back-fill: {hours} patient-vital-hours in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut beds = wardwatch_core::store::Store::open_dir(&dir.path().join("store"))?.patients()?;
    beds.sort_by(|a, b| a.bed.cmp(&b.bed).then(a.mrn.cmp(&b.mrn)));
    let mrn = beds.first().ok_or("no patient")?.mrn.clone();
    println!("window       p50 ms   p99 ms   resolution  bins  readings");
    for (label, span) in [
        ("1 year", Duration::days(365)),
        ("3 months", Duration::days(91)),
        ("1 week", Duration::days(7)),
        ("1 day", Duration::days(1)),
        ("1 hour", Duration::hours(1)),
    ] {
        let mut ms = Vec::new();
        let mut last = None;
        for _ in 0..20 {
            let t = Instant::now();
            let h = api::patient_history(&ctx, &mrn, now - span, now, 1200)?;
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            last = Some(h);
        }
        let h = last.ok_or("no run")?;
        let readings: u64 = h.series.iter().map(|s| s.readings).sum();
        let json = serde_json::to_vec(&h)?.len();
        println!(
            "{label:<10} {:>8.1} {:>8.1}   {:<10} {:>5}  {readings} ({} kB JSON)",
            percentile(&mut ms.clone(), 0.5),
            percentile(&mut ms, 0.99),
            format!("{:?}", h.resolution),
            h.t_ms.len(),
            json / 1000
        );
    }
    let store = wardwatch_core::store::Store::open_dir(&dir.path().join("store"))?;
    let t = Instant::now();
    let mut minutes = 0;
    for v in Vital::ALL {
        minutes += store
            .rollups(&mrn, v, now - Duration::days(365), now)?
            .len();
    }
    println!(
        "baseline: every minute of the year decoded (Store::rollups, all vitals): {minutes} minutes in {:.1} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}
