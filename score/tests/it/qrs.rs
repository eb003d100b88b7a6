//! Beat detection against the reference annotations of MIT-BIH record 100,
//! and no missed beats on the Challenge 2015 false asystole alarm a103l.

use ndarray::Array1;
use wardwatch_score::ecg::{QrsDetector, compare_beats, detect_qrs};
use wardwatch_wfdb::{Record, read_annotations};

use crate::data_dir;

pub fn mitdb_100_mlii() -> (Array1<f64>, f64) {
    let record = Record::open(data_dir().join("mitdb/100.hea")).expect("record 100 opens");
    let index = record.signal_index("MLII").expect("MLII present");
    (
        Array1::from(record.physical(index).expect("MLII reads")),
        record.fs_hz(),
    )
}

pub fn mitdb_100_reference_beats() -> Vec<usize> {
    read_annotations(data_dir().join("mitdb/100.atr"))
        .expect("100.atr parses")
        .into_iter()
        .filter(|a| a.is_beat())
        .map(|a| a.sample as usize)
        .collect()
}

#[test]
fn mitdb_100_sensitivity_and_positive_predictivity_at_least_99_8() {
    let (mv, fs) = mitdb_100_mlii();
    let beats: Vec<usize> = detect_qrs(mv.view(), fs)
        .expect("detector runs")
        .iter()
        .map(|b| b.sample)
        .collect();
    let reference = mitdb_100_reference_beats();
    assert_eq!(reference.len(), 2273);
    let m = compare_beats(&reference, &beats, (0.150 * fs) as usize);
    eprintln!("record 100: {m:?}");
    assert!(m.sensitivity_pct >= 99.8, "{m:?}");
    assert!(m.positive_predictivity_pct >= 99.8, "{m:?}");
}

/// Record 104 is paced: wide complexes whose energy peaks late. Its beats
/// (first 5 minutes, first signal) are placed within ±150 ms of the
/// reference, not 100–200 ms after it (67 % matched before the fiducial
/// window covered a whole wide complex; a few fusion beats still land late).
#[test]
fn mitdb_104_paced_beats_are_placed_on_the_complex() {
    let record = Record::open(data_dir().join("mitdb/104.hea")).expect("record 104 opens");
    let fs = record.fs_hz();
    let end = (300.0 * fs) as usize;
    let mut mv = record.physical(0).expect("signal reads");
    mv.truncate(end);
    let beats: Vec<usize> = detect_qrs(Array1::from(mv).view(), fs)
        .expect("detector runs")
        .iter()
        .map(|b| b.sample)
        .collect();
    let reference: Vec<usize> = read_annotations(data_dir().join("mitdb/104.atr"))
        .expect("104.atr parses")
        .into_iter()
        .filter(|a| a.is_beat() && (a.sample as usize) < end)
        .map(|a| a.sample as usize)
        .collect();
    let m = compare_beats(&reference, &beats, (0.150 * fs) as usize);
    eprintln!("record 104, 5 min: {m:?}");
    assert!(m.sensitivity_pct >= 98.0, "{m:?}");
    assert!(m.positive_predictivity_pct >= 98.0, "{m:?}");
}

#[test]
fn mitdb_100_streamed_in_blocks_gives_the_batch_beats() {
    let (mv, fs) = mitdb_100_mlii();
    let batch = detect_qrs(mv.view(), fs).expect("detector runs");
    let slice = mv.as_slice().expect("contiguous");
    // Blocks of 2 s, as the live pipeline delivers them, and an odd size.
    for block in [720, 1013] {
        let mut detector = QrsDetector::new(fs).expect("valid fs");
        let mut streamed = Vec::new();
        for chunk in slice.chunks(block) {
            streamed.extend(detector.push(chunk));
        }
        streamed.extend(detector.finish());
        assert_eq!(streamed, batch, "block of {block} samples");
    }
}

#[test]
fn a103l_false_asystole_alarm_has_no_4_s_gap_between_beats() {
    let record = Record::open(data_dir().join("challenge2015/a103l.hea")).expect("a103l opens");
    let mv = Array1::from(record.physical(0).expect("ECG II reads"));
    let fs = record.fs_hz();
    let beats = detect_qrs(mv.view(), fs).expect("detector runs");
    let max_gap = beats
        .windows(2)
        .map(|w| (w[1].sample - w[0].sample) as f64 / fs)
        .fold(0.0, f64::max);
    eprintln!("a103l: {} beats, longest gap {max_gap:.2} s", beats.len());
    assert!(beats.len() > 200, "{} beats in 330 s", beats.len());
    assert!(max_gap < 4.0, "longest gap {max_gap:.2} s");
}
