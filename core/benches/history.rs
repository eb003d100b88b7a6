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
//! would need. Last, the lake's hourly read of every patient's newest
//! hour of minutes, scores and rhythm findings, which must not grow with
//! the history behind it.

use std::time::Instant;

use chrono::{Duration, TimeZone, Utc};
use wardwatch_core::api;
use wardwatch_core::model::{EcgEvent, ScoreDetail, Vital};
use wardwatch_core::store::ScoreRow;
use wardwatch_score::ecg::rhythm::FindingKind;

mod common;
use common::percentile;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .ok_or("time")?;
    let dir = common::private_tempdir()?;
    let (_keys, mut ctx) = common::bench_ctx(dir.path(), now)?;
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
    // The lake's hourly read (issue 16): the curated zone appends the
    // newest settled hour of every patient's minutes, however long the
    // store's history.
    let p = wardwatch_core::store::curated::Pseudonymizer::new([7; 32]);
    let mut ms = Vec::new();
    let mut rows = 0;
    for _ in 0..10 {
        let t = Instant::now();
        let (r, _) = store.curated_minutes(now - Duration::hours(1), now, &p, 250_000)?;
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        rows = r.len();
    }
    println!(
        "the lake's hourly read of minutes (Store::curated_minutes, the last hour, {} patients): {rows} minutes, p50 {:.1} ms, p99 {:.1} ms",
        beds.len(),
        percentile(&mut ms.clone(), 0.5),
        percentile(&mut ms, 0.99),
    );
    // Scores as the runtime writes them: a heart rate every 10 s for each
    // patient (`HR_EVERY`), over the last week, and a rhythm event an hour.
    let t = Instant::now();
    let mut stored = 0;
    for b in &beds {
        let rows: Vec<ScoreRow> = (0..7 * 8640)
            .map(|i| {
                let at = now - Duration::seconds(10 * i);
                if i % 360 == 0 {
                    ScoreRow {
                        mrn: b.mrn.clone(),
                        at,
                        value: 0.0,
                        score: ScoreDetail::EcgEvent(EcgEvent::End {
                            lead: 131330,
                            kind: FindingKind::AtrialFibrillation,
                        }),
                    }
                } else {
                    ScoreRow {
                        mrn: b.mrn.clone(),
                        at,
                        value: 72.0,
                        score: ScoreDetail::EcgHr { lead: 131330 },
                    }
                }
            })
            .collect();
        stored += rows.len();
        store.insert_scores(&rows)?;
    }
    println!(
        "scores: {stored} rows in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    for (label, findings) in [("scores", false), ("rhythm findings", true)] {
        let mut ms = Vec::new();
        let mut rows = 0;
        for _ in 0..10 {
            let t = Instant::now();
            rows = if findings {
                store
                    .curated_findings(now - Duration::hours(1), now, &p, 250_000)?
                    .0
                    .len()
            } else {
                store
                    .curated_scores(now - Duration::hours(1), now, &p, 250_000)?
                    .0
                    .len()
            };
            ms.push(t.elapsed().as_secs_f64() * 1e3);
        }
        println!(
            "the lake's hourly read of {label} (the last hour): {rows} rows, p50 {:.1} ms, p99 {:.1} ms",
            percentile(&mut ms.clone(), 0.5),
            percentile(&mut ms, 0.99),
        );
    }
    Ok(())
}
