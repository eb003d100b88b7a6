//! MIMIC-III recordings: the 125 Hz format-80 ECG of a long segment, and a
//! robust baseline over numerics with real dropouts.

use ndarray::{Array1, Array2};
use wardwatch_score::analyze_ecg;
use wardwatch_score::trend::{Baseline, zscores};
use wardwatch_wfdb::{MultiRecord, Record, SegmentContent};

use crate::data_dir;

#[test]
fn s00001_segment_0005_ecg_at_125_hz_analyses() {
    let path = data_dir().join("mimic3wdb-matched/s00001/s00001-2896-10-10-00-31.hea");
    let record = MultiRecord::open(path).expect("multi-segment record opens");
    let segment = record
        .segments()
        .iter()
        .find(|s| s.name == "3975656_0005")
        .expect("segment 0005 listed");
    let SegmentContent::Present(ecg) = &segment.content else {
        panic!("segment 0005 should be present");
    };
    let mv = Array1::from(ecg.physical(0).expect("first lead reads"));
    let report = analyze_ecg(mv.view(), ecg.fs_hz()).expect("analysis runs");
    eprintln!(
        "{}",
        report
            .to_string()
            .lines()
            .take(5)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let hr = report.mean_hr_bpm.expect("beats found");
    assert!((40.0..180.0).contains(&hr), "mean HR {hr}");
    assert!(
        report.beat_count > 1000,
        "{} beats in {:.0} s",
        report.beat_count,
        report.duration_s
    );
}

#[test]
fn s00001_numerics_baseline_is_robust_to_dropouts() {
    let path = data_dir().join("mimic3wdb-matched/s00001/s00001-2896-10-10-00-31n.hea");
    let record = Record::open(path).expect("numerics open");
    let names = ["HR", "RESP", "SpO2"];
    let columns: Vec<Vec<f64>> = names
        .iter()
        .map(|n| {
            record
                .physical(record.signal_index(n).expect("signal present"))
                .expect("reads")
        })
        .collect();
    let rows = columns[0].len();
    let x = Array2::from_shape_fn((rows, names.len()), |(i, j)| columns[j][i]);
    let baseline = Baseline::learn(x.view(), Array1::from(vec![3.0, 2.0, 1.0]).view());
    eprintln!("baseline {:?} ± {:?}", baseline.mean, baseline.sd);
    // The learned usual values are physiological despite hours of zeros.
    assert!(
        (50.0..130.0).contains(&baseline.mean[0]),
        "{:?}",
        baseline.mean
    );
    assert!(
        (85.0..=100.0).contains(&baseline.mean[2]),
        "{:?}",
        baseline.mean
    );
    // A dropout (HR = 0) is an extreme deviation, not a normal reading.
    let z = zscores(x.view(), &baseline);
    let dropout_rows: Vec<usize> = (0..rows).filter(|&i| x[[i, 0]] == 0.0).collect();
    assert_eq!(dropout_rows.len(), 46);
    assert!(dropout_rows.iter().all(|&i| z[[i, 0]] < -5.0));
}
