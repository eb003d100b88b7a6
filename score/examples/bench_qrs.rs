//! Benchmark: times beat detection and the full ECG analysis of MIT-BIH
//! record 100 (MLII, 30 min at 360 Hz) on one thread and scores the detector
//! against 100.atr (±150 ms). Prints one JSON object for `bench/score/run.sh`.
//! It measures; it asserts nothing about speed.
//!
//! Usage: `cargo run --release -p wardwatch-score --example bench_qrs [DATA_DIR]`
//! (default: `WARDWATCH_TESTDATA`, else `../shared/data` beside the workspace).

use std::path::PathBuf;
use std::time::Instant;

use ndarray::Array1;
use wardwatch_score::analyze_ecg;
use wardwatch_score::ecg::{compare_beats, detect_qrs};
use wardwatch_wfdb::{Record, read_annotations};

const REPEATS: usize = 7;

fn median_seconds(mut f: impl FnMut()) -> f64 {
    f(); // warm-up: page in data, settle allocations
    let mut times: Vec<f64> = (0..REPEATS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[REPEATS / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args_os()
        .nth(1)
        .or_else(|| std::env::var_os("WARDWATCH_TESTDATA"))
        .map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
            PathBuf::from,
        );
    let hea = dir.join("mitdb/100.hea");
    if !hea.is_file() {
        return Err(format!(
            "test data missing: `{}` not found (set WARDWATCH_TESTDATA)",
            hea.display()
        )
        .into());
    }
    let record = Record::open(&hea)?;
    let lead = record
        .signal_index("MLII")
        .ok_or("record 100 has no MLII signal")?;
    let mv = Array1::from(record.physical(lead)?);
    let fs = record.fs_hz();
    let duration_s = mv.len() as f64 / fs;
    let reference: Vec<usize> = read_annotations(dir.join("mitdb/100.atr"))?
        .into_iter()
        .filter(|a| a.is_beat())
        .map(|a| a.sample as usize)
        .collect();

    let beats: Vec<usize> = detect_qrs(mv.view(), fs)?
        .iter()
        .map(|b| b.sample)
        .collect();
    let m = compare_beats(&reference, &beats, (0.150 * fs) as usize);

    let detect_s = median_seconds(|| {
        std::hint::black_box(
            detect_qrs(std::hint::black_box(mv.view()), fs)
                .map(|b| b.len())
                .ok(),
        );
    });
    let analyze_s = median_seconds(|| {
        std::hint::black_box(
            analyze_ecg(std::hint::black_box(mv.view()), fs)
                .map(|r| r.beat_count)
                .ok(),
        );
    });
    println!(
        "{{\"record\":\"100\",\"signal\":\"MLII\",\"duration_s\":{duration_s:.3},\"reference_beats\":{},\"detected_beats\":{},\"tp\":{},\"fn\":{},\"fp\":{},\"se_pct\":{:.3},\"ppv_pct\":{:.3},\"detect_s\":{detect_s:.6},\"analyze_s\":{analyze_s:.6},\"detect_x_realtime\":{:.1},\"analyze_x_realtime\":{:.1}}}",
        reference.len(),
        beats.len(),
        m.true_positives,
        m.false_negatives,
        m.false_positives,
        m.sensitivity_pct,
        m.positive_predictivity_pct,
        duration_s / detect_s,
        duration_s / analyze_s,
    );
    Ok(())
}
