//! Generator throughput: 1,000 patients, ECG 250 Hz in 2-s blocks + numerics
//! every second, as fast as possible into a null sink. Prints rates; asserts
//! nothing about time (machines are noisy). Also the same run with the
//! generator alone (no channel, no sink), to show the run loop's overhead.
//!
//! `cargo bench -p wardwatch-sim --bench throughput [-- PATIENTS SECONDS]`

use std::time::Instant;

use chrono::{TimeZone, Utc};
use wardwatch_sim::*;

fn config(patients: usize, seconds: u64) -> GeneratorConfig {
    let start = Utc
        .with_ymd_and_hms(2026, 3, 1, 8, 0, 0)
        .single()
        .unwrap_or_default();
    let ward = SimPatient::from_demo(patients, 1, start.date_naive());
    let mut c = GeneratorConfig::new(ward, 1, start);
    c.duration_s = Some(seconds);
    c
}

fn line(what: &str, r: &SimReport, secs: f64, simulated_s: f64) {
    println!(
        "{what:<28} {:>9.0} records/s  {:>6.2} M ECG samples/s  {:>6.1} MB/s  {:>5.1}x real time  ({} records, {} samples, {:.2} s)",
        r.emitted_total as f64 / secs,
        r.ecg_samples as f64 / secs / 1e6,
        r.payload_bytes as f64 / secs / 1e6,
        simulated_s / secs,
        r.emitted_total,
        r.ecg_samples,
        secs
    );
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let patients = args.first().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let seconds = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(60);
    println!("{patients} patients, ECG 250 Hz (2 s blocks) + numerics 1 Hz, {seconds} simulated s");

    let t = Instant::now();
    let mut g = Generator::new(config(patients, seconds))?;
    let mut report = SimReport::default();
    while let Some(b) = g.next_batch()? {
        report.count(b.at, &b.records);
    }
    line(
        "generator only",
        &report,
        t.elapsed().as_secs_f64(),
        seconds as f64,
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| Error::Generator {
            reason: e.to_string(),
        })?;
    let t = Instant::now();
    let mut sink = NullSink::default();
    let report = rt.block_on(run_sim(
        Generator::new(config(patients, seconds))?,
        &mut sink,
        Pace::AsFastAsPossible,
        std::future::pending(),
    ))?;
    line(
        "run_sim -> NullSink",
        &report,
        t.elapsed().as_secs_f64(),
        seconds as f64,
    );

    let t = Instant::now();
    let log = SharedLog::new(1 << 20);
    let mut sink = log.clone();
    let report = rt.block_on(run_sim(
        Generator::new(config(patients, seconds))?,
        &mut sink,
        Pace::AsFastAsPossible,
        std::future::pending(),
    ))?;
    line(
        "run_sim -> SSE log",
        &report,
        t.elapsed().as_secs_f64(),
        seconds as f64,
    );
    Ok(())
}
