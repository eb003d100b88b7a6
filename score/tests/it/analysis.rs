//! Whole-recording analysis and the live stream on real recordings.

use ndarray::Array1;
use wardwatch_score::ecg::FindingKind;
use wardwatch_score::{EcgStream, StreamEvent, analyze_ecg};
use wardwatch_wfdb::Record;

use crate::data_dir;
use crate::qrs::mitdb_100_mlii;

#[test]
fn mitdb_100_is_sinus_without_alarms() {
    let (mv, fs) = mitdb_100_mlii();
    let report = analyze_ecg(mv.view(), fs).expect("analysis runs");
    eprintln!("{report}");
    assert!(report.findings.is_empty(), "{report}");
    assert!(report.usable_pct > 99.0, "{report}");
    let hr = report.mean_hr_bpm.expect("has beats");
    assert!(
        (70.0..80.0).contains(&hr),
        "record 100 runs at about 75 bpm: {hr}"
    );
    let hrv = report.hrv.expect("HRV computed");
    assert!(hrv.sdnn_ms > 10.0 && hrv.sdnn_ms < 150.0, "{hrv:?}");
}

#[test]
fn mitdb_100_streamed_in_2_s_blocks_matches_batch_and_stays_quiet() {
    let (mv, fs) = mitdb_100_mlii();
    let batch = analyze_ecg(mv.view(), fs).expect("analysis runs");
    let mut stream = EcgStream::new(fs).expect("valid fs");
    let mut beats = Vec::new();
    let mut events = Vec::new();
    for block in mv
        .as_slice()
        .expect("contiguous")
        .chunks((2.0 * fs) as usize)
    {
        let update = stream.push(block);
        beats.extend(update.beats.iter().map(|b| b.sample));
        events.extend(update.events);
    }
    // The stream has not been told the recording ended, so its last beat may
    // still be pending; every other beat must be the batch's.
    assert_eq!(beats[..], batch.r_peaks[..beats.len()]);
    assert!(batch.r_peaks.len() - beats.len() <= 1);
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn a103l_false_asystole_alarm_gives_no_asystole() {
    let record = Record::open(data_dir().join("challenge2015/a103l.hea")).expect("a103l opens");
    let fs = record.fs_hz();
    let mv = Array1::from(record.physical(0).expect("ECG II reads"));
    let report = analyze_ecg(mv.view(), fs).expect("analysis runs");
    eprintln!("{report}");
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.kind != FindingKind::Asystole),
        "{report}"
    );
    let mut stream = EcgStream::new(fs).expect("valid fs");
    for block in mv.as_slice().expect("contiguous").chunks(500) {
        for event in stream.push(block).events {
            assert!(
                !matches!(&event, StreamEvent::Onset(f) if f.kind == FindingKind::Asystole),
                "{event:?}"
            );
        }
    }
}
