//! MIT-BIH Arrhythmia Database record 100: format 212, checksums, annotations.

use wardwatch_wfdb::{Record, read_annotations};

use crate::data_dir;

#[test]
fn record_100_reads_650000_samples_per_lead_bit_exact() {
    let record = Record::open(data_dir().join("mitdb/100.hea")).expect("header parses");
    assert_eq!(record.fs_hz(), 360.0);
    let names: Vec<&str> = record
        .signals()
        .iter()
        .map(|s| s.description.as_str())
        .collect();
    assert_eq!(names, ["MLII", "V5"]);
    let mlii = record.read_raw(0).expect("MLII reads");
    let v5 = record.read_raw(1).expect("V5 reads");
    assert_eq!((mlii.len(), v5.len()), (650_000, 650_000));
    // Initial values from the header, then the start of the well-known trace.
    assert_eq!(mlii[0], 995);
    assert_eq!(v5[0], 1011);
    // The checksum covers every sample: a single decoding slip would change it.
    record
        .verify_checksums()
        .expect("checksums match the header");
    let mv = record.physical(0).expect("physical MLII");
    assert!((mv[0] - (995.0 - 1024.0) / 200.0).abs() < 1e-12);
    assert!(
        mv.iter().all(|v| v.is_finite()),
        "record 100 has no missing samples"
    );
}

#[test]
fn record_100_annotations_2274_with_2273_beats() {
    let ann = read_annotations(data_dir().join("mitdb/100.atr")).expect("annotations parse");
    assert_eq!(ann.len(), 2274);
    let count = |s: &str| ann.iter().filter(|a| a.symbol() == s).count();
    assert_eq!(
        (count("N"), count("A"), count("V"), count("+")),
        (2239, 33, 1, 1)
    );
    assert_eq!(ann.iter().filter(|a| a.is_beat()).count(), 2273);
    assert_eq!((ann[0].sample, ann[0].aux.as_deref()), (18, Some("(N")));
    assert_eq!(ann[1].sample, 77);
    assert!(ann.windows(2).all(|w| w[0].sample <= w[1].sample));
    assert!(ann.last().is_some_and(|a| a.sample < 650_000));
}
