//! The simulator's output against the receiver's decoder
//! (`wardwatch_core::ingest::observation::decode`): every valid record decodes,
//! every malformed one is rejected for the reason it was broken for, and ECG
//! samples arrive as the integers sent.

use std::collections::BTreeMap;

use wardwatch_core::ingest::observation::{Body, Reading, RejectCode, decode};
use wardwatch_sim::*;

use crate::{patients, start, testdata};

/// The reject code a receiver gives each malformed kind; unknown patients pass
/// decoding and are caught against the registry afterwards.
fn expected(kind: MalformedKind) -> Option<RejectCode> {
    Some(match kind {
        MalformedKind::InvalidJson => RejectCode::InvalidJson,
        MalformedKind::UnknownCode => RejectCode::UnknownCode,
        MalformedKind::UnknownUnit => RejectCode::UnknownUnit,
        MalformedKind::ImpossibleValue => RejectCode::ImpossibleValue,
        MalformedKind::FutureTimestamp => RejectCode::FutureTimestamp,
        MalformedKind::MissingSubject => RejectCode::MissingField,
        MalformedKind::UnknownPatient => return None,
        other => panic!("no expectation for {other:?}"),
    })
}

#[test]
fn generated_records_decode_and_malformed_ones_are_rejected_for_their_reason() {
    let mut c = GeneratorConfig::new(patients(6), 17, start());
    c.duration_s = Some(120);
    c.pleth = true;
    c.scenario = Scenario::alarm_tests().with_malformed(0.03, &MalformedKind::ALL);
    let mut g = Generator::new(c).expect("config");
    let mut rejected: BTreeMap<MalformedKind, u64> = BTreeMap::new();
    let mut report = SimReport::default();
    while let Some(b) = g.next_batch().expect("ok") {
        report.count(b.at, &b.records);
        for r in &b.records {
            let decoded = decode(&r.payload, b.at);
            match r.kind {
                RecordKind::Malformed(k) => {
                    match (expected(k), decoded) {
                        (Some(code), Err(rej)) => {
                            assert_eq!(rej.code, code, "{k:?}: {}", rej.reason)
                        }
                        (None, Ok(o)) => assert!(o.mrn.starts_with("UNREGISTERED-")),
                        (want, got) => panic!("{k:?}: expected {want:?}, got {got:?}"),
                    }
                    *rejected.entry(k).or_default() += 1;
                }
                _ => {
                    let o = decoded.unwrap_or_else(|rej| panic!("{} rejected: {rej:?}", r.id));
                    assert_eq!(o.id, r.id);
                    assert_eq!(o.mrn, r.partition_key);
                    let lost = match &o.body {
                        Body::Numeric(readings) => {
                            readings.iter().all(|(_, x)| *x == Reading::SignalLost)
                        }
                        Body::Ecg(blocks) => {
                            blocks.iter().all(|b| b.samples.iter().all(Option::is_none))
                        }
                    };
                    // What we flag as absent is signal loss to the receiver (which
                    // also reads the HR 0 of asystole as signal loss).
                    assert!(!r.data_absent || lost, "{}", r.id);
                }
            }
        }
    }
    assert_eq!(rejected, report.malformed_by_kind);
    assert_eq!(report.pulse, 6 * 60, "a pleth block per ECG block");
}

#[test]
fn mitdb_100_decodes_to_the_file_integers_and_scale() {
    let mut opts = EcgReplayOptions::new("MITDB100", start());
    opts.lead = Some("MLII".into());
    let mut replay = EcgReplay::open(testdata().join("mitdb/100.hea"), opts).expect("opens");
    let mut samples = Vec::new();
    while let Some(b) = replay.next_batch().expect("reads") {
        for r in &b.records {
            let o = decode(&r.payload, b.at).expect("decodes");
            let Body::Ecg(blocks) = o.body else {
                panic!("not ECG")
            };
            assert_eq!(blocks[0].lead, 131_330);
            assert_eq!(blocks[0].factor_mv, 0.005);
            assert_eq!(blocks[0].origin_mv, -5.12);
            samples.extend(blocks[0].samples.iter().map(|s| s.expect("valid")));
        }
    }
    let record = wardwatch_wfdb::Record::open(testdata().join("mitdb/100.hea")).expect("record");
    assert!(samples == record.read_raw(0).expect("raw"));
}
