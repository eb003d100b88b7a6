//! Issue 15: life-threatening findings decided with every signal of a
//! Challenge 2015 record (both leads, pleth, arterial pressure), on the data
//! up to the alarm only (300 s), as in the Challenge's real-time event.

use wardwatch_score::bedside::{BedsideReport, Channel, ChannelKind, Verdict, analyze_bedside};
use wardwatch_score::ecg::FindingKind;
use wardwatch_wfdb::Record;

use crate::data_dir;

#[path = "../../examples/common/record_channels.rs"]
mod record_channels;
use record_channels::record_channels;

const ALARM_S: f64 = 300.0;

fn decide(name: &str) -> BedsideReport {
    let record =
        Record::open(data_dir().join(format!("challenge2015/{name}.hea"))).expect("record opens");
    let (channels, data) = record_channels(&record, ALARM_S, true);
    analyze_bedside(channels, &data).expect("analyses")
}

/// True VT and VF alarms whose ventricular arrhythmia the ECG finds: the
/// pulse must never suppress it (the rule errs towards alarming). v597l's
/// VT runs over a wide (bundle-branch) normal beat: its beats are wide and
/// correlate only 0.5-0.6 with the normal one, and were read as normal.
#[test]
fn true_ventricular_alarms_are_never_suppressed_by_the_pulse() {
    for name in ["v471l", "v652s", "v772s", "v597l", "f450s", "f545l"] {
        let report = decide(name);
        let last = report
            .decisions
            .iter()
            .rev()
            .find(|d| {
                matches!(
                    d.finding.kind,
                    FindingKind::VentricularTachycardia | FindingKind::VentricularFibrillation
                )
            })
            .unwrap_or_else(|| panic!("{name}: no VT/VF found\n{report}"));
        assert_eq!(
            last.verdict,
            Verdict::Confirmed,
            "{name}: a true ventricular arrhythmia was suppressed\n{report}"
        );
    }
}

/// Asserts that `name`'s record raises `kind` on the ECG alone and that the
/// bed suppresses every such finding, `said` among the evidence that
/// decided it.
fn assert_every_finding_suppressed(name: &str, kind: FindingKind, said: &str) {
    let report = decide(name);
    let found: Vec<_> = report
        .decisions
        .iter()
        .filter(|d| d.finding.kind == kind)
        .collect();
    assert!(
        !found.is_empty(),
        "{name}: no {kind:?} on the ECG\n{report}"
    );
    assert!(
        found.iter().all(|d| d.verdict == Verdict::Suppressed),
        "{name}\n{report}"
    );
    assert!(
        found.iter().any(|d| d.summary().contains(said)),
        "{name}: `{said}` decided none\n{report}"
    );
}

/// a457l is a false asystole alarm: its V lead keeps losing its beats while
/// the pleth beats regularly at about 68 /min. Every asystole is
/// suppressed, and the pleth is among the signals that decided.
#[test]
fn a_false_asystole_with_a_beating_pulse_never_alarms() {
    assert_every_finding_suppressed("a457l", FindingKind::Asystole, "PLETH pulse at");
}

/// v552s is a false VT alarm: the V lead reads a run of ventricular beats
/// at about 107 /min while lead II and the arterial line beat on, regular
/// and unchanged, at about 134 /min. A pulse cannot outpace the ventricles,
/// so the run is not the heart's: suppressed, and the line says why.
#[test]
fn a_vt_run_slower_than_a_steady_pulse_is_suppressed() {
    assert_every_finding_suppressed("v552s", FindingKind::VentricularTachycardia, "ABP pulse at");
}

/// f190s is a false VF alarm: the V lead swings at about 150 /min with an
/// artefact the RESP channel shows too, while lead II shows discrete
/// complexes at 30-40 /min, their intervals varying from 1.5 to 2.1 s. A
/// heart with discrete complexes on one lead is not fibrillating: every VF
/// finding is suppressed, lead II among the evidence (before, once II's
/// intervals varied, its beats read as inconclusive and the VF alarmed).
#[test]
fn vf_beside_slow_discrete_complexes_on_the_other_lead_is_suppressed() {
    assert_every_finding_suppressed("f190s", FindingKind::VentricularFibrillation, "II beats at");
}

/// Both leads of an MIT-BIH record, as the channels of a bed.
fn mitdb_leads(name: &str) -> (Vec<Channel>, Vec<Vec<f64>>) {
    let record = Record::open(data_dir().join(format!("mitdb/{name}.hea"))).expect("record opens");
    let fs = record.fs_hz();
    let leads: Vec<Vec<f64>> = (0..2)
        .map(|i| record.physical(i).expect("signal reads"))
        .collect();
    let channels: Vec<Channel> = record.signals()[..2]
        .iter()
        .map(|s| Channel {
            name: s.description.clone(),
            kind: ChannelKind::Ecg,
            fs_hz: fs,
        })
        .collect();
    (channels, leads)
}

/// Every VT run a lead's own analysis raises is decided by the bed, even
/// one that starts and ends within one block (MIT-BIH 203 has one): a
/// finding that ended before it was decided was lost.
#[test]
fn every_vt_run_a_lead_finds_is_decided_by_the_bed() {
    use wardwatch_score::{EcgStream, StreamEvent};
    let (channels, leads) = mitdb_leads("203");
    let fs = channels[0].fs_hz;
    let report = analyze_bedside(channels, &leads).expect("analyses");
    // (start, decided): a run the other lead found too is decided once.
    let decided: Vec<(f64, f64)> = report
        .decisions
        .iter()
        .filter(|d| d.finding.kind == FindingKind::VentricularTachycardia)
        .map(|d| (d.finding.start_s, d.at_s))
        .collect();
    // Each lead alone, in the same 1-s blocks.
    let mut onsets = Vec::new();
    for lead in &leads {
        let mut stream = EcgStream::new(fs).expect("stream");
        for block in lead.chunks(fs as usize) {
            for e in stream.push(block).events {
                if let StreamEvent::Onset(f) = e
                    && f.kind == FindingKind::VentricularTachycardia
                {
                    onsets.push(f.start_s);
                }
            }
        }
    }
    assert!(!onsets.is_empty(), "203 has VT runs");
    for t in &onsets {
        assert!(
            decided.iter().any(|(from, at)| from - 1.0 <= *t && t <= at),
            "the VT run at {t:.1} s was never decided: {decided:?}\n{report}"
        );
    }
}

/// MIT-BIH 212 is sinus rhythm whose beats are conducted with a right
/// bundle branch block as the rate rises: on V1 the blocked beats are wide
/// and unlike the normal ones and were read as runs of VT (three of five
/// confirmed, each a false alarm), while MLII classes every one of them
/// normal and beats on, regular, at the rate it had. Every VT is
/// suppressed, MLII's classes the evidence.
#[test]
fn vt_runs_the_other_lead_classes_as_regular_normal_beats_are_suppressed() {
    let (channels, leads) = mitdb_leads("212");
    let report = analyze_bedside(channels, &leads).expect("analyses");
    let vt: Vec<_> = report
        .decisions
        .iter()
        .filter(|d| d.finding.kind == FindingKind::VentricularTachycardia)
        .collect();
    assert!(!vt.is_empty(), "212's V1 reads runs of VT\n{report}");
    for d in vt {
        assert_eq!(d.verdict, Verdict::Suppressed, "{report}");
        assert!(
            d.summary()
                .contains("suppressed (heartbeat on another lead): MLII beats normal"),
            "{report}"
        );
    }
}
