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

/// Adds a Gaussian wave of `amp` mV and width `width_s` centred at `at_s`.
fn wave(x: &mut [f64], fs: f64, at_s: f64, amp: f64, width_s: f64) {
    let c = at_s * fs;
    let from = (c - 0.4 * fs).max(0.0) as usize;
    let to = ((c + 0.4 * fs) as usize).min(x.len());
    for (i, v) in x.iter_mut().enumerate().take(to).skip(from) {
        let dt = (i as f64 - c) / fs;
        *v += amp * (-(dt / width_s).powi(2)).exp();
    }
}

/// Sinus beats every 0.8 s (a narrow 1 mV R wave and its T wave); every
/// fourth one is followed 300 ms later, inside the T-wave window, by an
/// early ventricular beat: wide, inverted and larger than the R wave, with
/// a full compensatory pause. Returns the signal and the R peaks of the
/// sinus and of the ventricular beats (seconds).
fn early_wide_pvcs(fs: f64, seconds: f64) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut x = vec![0.0; (fs * seconds) as usize];
    let (mut sinus, mut pvcs) = (Vec::new(), Vec::new());
    let (mut t, mut k) = (1.0, 0);
    while t < seconds - 1.0 {
        if k % 4 == 3 {
            let v = t - 0.8 + 0.30;
            wave(&mut x, fs, v, -1.75, 0.08);
            wave(&mut x, fs, v + 0.28, 0.5, 0.08);
            pvcs.push(v);
        } else {
            wave(&mut x, fs, t, 1.0, 0.012);
            wave(&mut x, fs, t + 0.25, 0.25, 0.05);
            sinus.push(t);
        }
        t += 0.8;
        k += 1;
    }
    (x, sinus, pvcs)
}

/// Issue 10: an early ventricular beat inside the previous beat's T-wave
/// window, whose slope is under half the sinus QRS's, was rejected as a T
/// wave (Pan & Tompkins's slope rule alone); the early PVCs of MIT-BIH 203,
/// 210 and 213 were missed that way. It is far larger than the T waves the
/// rule has turned away, so it is a beat; the T waves are still not.
#[test]
fn an_early_wide_pvc_in_the_t_wave_window_is_a_beat() {
    let fs = 360.0;
    let (x, sinus, pvcs) = early_wide_pvcs(fs, 60.0);
    let beats: Vec<usize> = detect_qrs(Array1::from(x).view(), fs)
        .expect("detector runs")
        .iter()
        .map(|b| b.sample)
        .collect();
    // Within the ±150 ms of beat-by-beat comparison (AAMI EC57).
    let near = |t: f64| {
        let s = (t * fs) as usize;
        beats.iter().any(|&b| b.abs_diff(s) <= (0.15 * fs) as usize)
    };
    let missed: Vec<f64> = pvcs.iter().copied().filter(|&t| !near(t)).collect();
    assert!(missed.is_empty(), "PVCs missed at {missed:?} s");
    assert!(sinus.iter().all(|&t| near(t)), "a sinus beat missed");
    assert_eq!(
        beats.len(),
        sinus.len() + pvcs.len(),
        "T waves counted as beats"
    );
}
