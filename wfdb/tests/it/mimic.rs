//! MIMIC-III waveform (multi-segment, format 80, absent segments) and numerics
//! (format 16 at 1/min with the "invalid" sentinel).

use wardwatch_wfdb::{GapCause, MultiRecord, Record, SegmentContent};

use crate::data_dir;

#[test]
fn s00001_waveforms_report_gap_and_absent_segments() {
    let path = data_dir().join("mimic3wdb-matched/s00001/s00001-2896-10-10-00-31.hea");
    let record = MultiRecord::open(&path).expect("multi-segment header opens");
    assert_eq!(record.fs_hz(), 125.0);
    assert_eq!(
        record.total_samples(),
        14_518_365,
        "segments add up to the record length"
    );
    let layout = record.layout().expect("layout segment present");
    let names: Vec<&str> = layout
        .signals()
        .iter()
        .map(|s| s.description.as_str())
        .collect();
    assert_eq!(names, ["II", "V", "MCL1", "ABP"]);

    let gaps = record.gaps();
    let absent: Vec<&str> = gaps
        .iter()
        .filter_map(|g| match &g.cause {
            GapCause::AbsentSegment { name, .. } => Some(name.as_str()),
            GapCause::GapSegment => None,
        })
        .collect();
    assert_eq!(absent, ["3975656_0009", "3975656_0010", "3975656_0011"]);
    let gap_lengths: Vec<u64> = gaps
        .iter()
        .filter(|g| g.cause == GapCause::GapSegment)
        .map(|g| g.samples)
        .collect();
    assert_eq!(gap_lengths, [3261, 2604, 172_500, 157_500]);
    assert_eq!(gaps[0].start_sample, 0);

    // The long present segment 0005 starts after the first gap and four short segments.
    let seg5 = record
        .segments()
        .iter()
        .find(|s| s.name == "3975656_0005")
        .expect("segment 0005 listed");
    assert_eq!(seg5.start_sample, 3261 + 6750 + 125 + 1354 + 512);
    let SegmentContent::Present(seg5_record) = &seg5.content else {
        panic!("segment 0005 should be present");
    };
    assert_eq!(seg5_record.read_raw(0).expect("0005 reads").len(), 906_259);

    for (start, segment) in record.present() {
        segment
            .verify_checksums()
            .unwrap_or_else(|e| panic!("segment at {start}: {e}"));
    }
}

#[test]
fn s00001_numerics_at_one_per_minute_with_missing_values() {
    let path = data_dir().join("mimic3wdb-matched/s00001/s00001-2896-10-10-00-31n.hea");
    let record = Record::open(&path).expect("numerics header parses");
    assert!((record.fs_hz() - 1.0 / 60.0).abs() < 1e-9);
    assert_eq!(record.header().counter_freq_hz, Some(125.0));
    record
        .verify_checksums()
        .expect("checksums match the header");
    let nbp_sys = record.signal_index("NBPSys").expect("NBPSys present");
    let values = record.read_signal(nbp_sys).expect("NBPSys reads");
    assert_eq!(values.len(), 1936);
    assert_eq!(
        values.iter().flatten().count(),
        152,
        "152 real NBP readings, rest missing"
    );
    let mmhg = record.physical(nbp_sys).expect("physical NBPSys");
    assert_eq!(mmhg.iter().filter(|v| v.is_nan()).count(), 1936 - 152);
    let hr = record
        .physical(record.signal_index("HR").expect("HR"))
        .expect("HR reads");
    assert_eq!(
        hr.iter().filter(|&&v| v == 0.0).count(),
        46,
        "46 minutes of HR dropout"
    );
}

#[test]
fn s25047_and_nearly_empty_record_open() {
    let dir = data_dir().join("mimic3wdb-matched");
    let record =
        MultiRecord::open(dir.join("s25047/s25047-2704-05-04-10-44.hea")).expect("s25047 opens");
    assert_eq!(record.total_samples(), 543_240);
    assert_eq!(record.present().count(), 18);
    assert_eq!(record.gaps().len(), 1);
    for (_, segment) in record.present() {
        segment.verify_checksums().expect("segment checksums");
    }
    let numerics = Record::open(dir.join("s25047/s25047-2704-05-04-10-44n.hea")).expect("opens");
    numerics.verify_checksums().expect("numerics checksums");

    let early = MultiRecord::open(dir.join("s00001/s00001-2896-10-09-01-56.hea")).expect("opens");
    assert_eq!(early.present().count(), 0);
    assert_eq!(early.gaps().len(), 1);
    let early_n = Record::open(dir.join("s00001/s00001-2896-10-09-01-56n.hea")).expect("opens");
    assert_eq!(early_n.read_raw(0).expect("reads").len(), 1);
}
