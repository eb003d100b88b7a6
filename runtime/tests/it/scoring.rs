//! Live scoring of stored batches: bit-exact ECG on a real recording, NEWS2
//! on the patient's own scale, the cardiac risk's contributors.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::api;
use wardwatch_core::store::{IngestBatch, IngestItem, Store};

use wardwatch_core::model::ScoreDetail;
use wardwatch_runtime::scoring::LiveScorer;
use wardwatch_score::ecg::rhythm::FindingKind;

use crate::ctx;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0)
        .single()
        .expect("time")
}

fn numeric(id: &str, mrn: &str, loinc: &str, value: f64, unit: &str, at: DateTime<Utc>) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": value, "code": unit}})
}

fn item(seq: u64, v: &Value, now: DateTime<Utc>) -> IngestItem {
    IngestItem::decode(seq.to_string(), v.to_string().into_bytes(), now)
}

fn batch(items: Vec<IngestItem>) -> IngestBatch {
    IngestBatch {
        source: "gw".into(),
        shard: "shard-0".into(),
        items,
        ordered: true,
    }
}

fn store_with_ward(dir: &std::path::Path) -> (Store, Vec<String>) {
    let mut c = ctx(dir, "admin");
    api::load_demo_ward(&mut c, 9).expect("demo");
    let mrns = Store::open_dir(dir)
        .expect("store")
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    (Store::open_dir(dir).expect("store"), mrns)
}

fn testdata(rel: &str) -> std::path::PathBuf {
    let base = std::env::var_os("WARDWATCH_TESTDATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
        });
    let p = base.join(rel);
    assert!(
        p.exists(),
        "reference recording {} is missing: set WARDWATCH_TESTDATA",
        p.display()
    );
    p
}

#[test]
fn mitdb_100_stored_bit_exact_and_scored_live_without_false_alarms() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let record = wardwatch_wfdb::Record::open(testdata("mitdb/100.hea")).expect("100.hea");
    let lead = record.signal_index("MLII").expect("MLII");
    let raw = record.read_raw(lead).expect("samples");
    assert_eq!(raw.len(), 650_000);
    let mut scorer = LiveScorer::default();
    // The whole record: 30 min 6 s.
    let events = stream_mitdb(&mut store, &mut scorer, "100", &mrns[3], 1806);
    let blocks = store
        .ecg_samples(&mrns[3], 131_330, t0())
        .expect("read back");
    let back: Vec<i32> = blocks
        .iter()
        .flat_map(|b| b.samples.iter().map(|s| s.expect("no gaps")))
        .collect();
    assert_eq!(back.len(), 650_000);
    assert!(back == raw, "stored samples differ from the recording");

    let hr = store
        .scores(&mrns[3], Some("ecg_hr"), 1000)
        .expect("scores");
    assert!(hr.len() > 100, "{} HR readings", hr.len());
    assert!(
        hr.iter().all(|r| (50.0..110.0).contains(&r.value)),
        "HR out of range"
    );
    assert!(
        events.iter().all(|e| e.kind() != FindingKind::Asystole),
        "false asystole on record 100: {events:?}"
    );
}

#[test]
fn news2_follows_the_patients_scale_and_is_partial_when_vitals_are_missing() {
    let dir = crate::private_tempdir();
    let (mut store, _) = store_with_ward(dir.path());
    let copd = store
        .patients()
        .expect("patients")
        .into_iter()
        .find(|p| p.spo2_scale == wardwatch_core::model::Spo2Scale::Two)
        .expect("a scale-2 patient");
    let now = t0() + Duration::minutes(5);
    let mut scorer = LiveScorer::default();
    // SpO2 90 %: 0 points on scale 2 (would be 3 on scale 1); HR 95: 1 point.
    let b = batch(vec![
        item(
            1,
            &numeric("s1", &copd.mrn, "59408-5", 90.0, "%", t0()),
            now,
        ),
        item(
            2,
            &numeric("h1", &copd.mrn, "8867-4", 95.0, "/min", t0()),
            now,
        ),
    ]);
    let stored = store.store_batch(&b, now).expect("store");
    store
        .insert_scores(&scorer.score_batch(&store, &b, &stored))
        .expect("scores");
    let news = store.scores(&copd.mrn, Some("news2"), 5).expect("scores");
    assert_eq!(news.len(), 1);
    assert_eq!(news[0].value, 1.0);
    let ScoreDetail::News2(score) = &news[0].score else {
        panic!("not a NEWS2 row: {:?}", news[0]);
    };
    assert!(!score.complete);
    assert!(
        score
            .missing
            .contains(&wardwatch_score::Parameter::RespirationRate),
        "{:?}",
        score.missing
    );
    // The cardiac risk explains itself.
    let risk = store
        .scores(&copd.mrn, Some("cardiac_risk"), 5)
        .expect("risk");
    assert_eq!(risk.len(), 1);
    let ScoreDetail::CardiacRisk(explained) = &risk[0].score else {
        panic!("not a cardiac risk row: {:?}", risk[0]);
    };
    // What the UI shows: each contributor with its reason.
    assert!(
        !explained.contributors.is_empty()
            && explained.contributors.iter().all(|c| !c.detail.is_empty()),
        "{explained:?}"
    );
    assert!((0.0..=100.0).contains(&risk[0].value));
}

/// A monitored patient's heart rate moves every second; NEWS2's points do
/// not. A row when the assessment changes, at once; for the values alone at
/// most every `NEWS2_RECHART`.
#[test]
fn news2_is_written_when_its_points_change_and_its_values_at_most_every_five_minutes() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let mrn = &mrns[0];
    let mut scorer = LiveScorer::default();
    let mut seq = 0;
    let mut feed = |store: &mut Store, scorer: &mut LiveScorer, s: i64, hr: f64| {
        seq += 1;
        let at = t0() + Duration::seconds(s);
        let b = batch(vec![item(
            seq,
            &numeric(&format!("h{seq}"), mrn, "8867-4", hr, "/min", at),
            at,
        )]);
        let stored = store.store_batch(&b, at).expect("store");
        store
            .insert_scores(&scorer.score_batch(store, &b, &stored))
            .expect("scores");
    };
    let rows = |store: &Store| store.scores(mrn, Some("news2"), 1000).expect("scores");
    // Four minutes of 60-80 /min (0 points each, RCP Chart 1): one row.
    for s in 0..240 {
        feed(&mut store, &mut scorer, s, 60.0 + (s % 21) as f64);
    }
    assert_eq!(rows(&store).len(), 1, "values alone within five minutes");
    // Then 95 /min, which scores 1 point. The five-minute median stays in
    // the 0-point band until the 95s are most of the window (past 390 s):
    // the values are charted again at 300 s, and the new point charted at
    // once when it comes, 90 s later.
    let before = rows(&store).len();
    for s in 240..420 {
        feed(&mut store, &mut scorer, s, 95.0);
    }
    let after = rows(&store);
    assert_eq!(after.len(), before + 2, "a rechart and the new points");
    assert_eq!((after[1].value, after[0].value), (0.0, 1.0));
    let gap = after[0].at - after[1].at;
    assert!(gap < Duration::minutes(5), "the new points at once: {gap}");
    // Ten more minutes drifting from 91 to 98 /min (1 point): the values
    // charted twice, five minutes apart.
    for s in 420..1020 {
        feed(&mut store, &mut scorer, s, 91.0 + ((s - 420) / 75) as f64);
    }
    let last = rows(&store);
    assert_eq!(last.len(), after.len() + 2);
    assert_eq!(last[0].at - last[1].at, Duration::minutes(5));
    // Nothing new at all (the same median): no row, however long.
    for s in 1020..1800 {
        feed(&mut store, &mut scorer, s, 98.0);
    }
    let steady = rows(&store);
    assert_eq!(
        steady.len(),
        last.len() + 1,
        "one for the median reaching 98"
    );
}

/// What the `charted` source hands the writer: the rows after `after`.
fn charted_batch(store: &Store, after: i64, now: DateTime<Utc>) -> IngestBatch {
    use wardwatch_core::store::charted::{CHARTED_SHARD, CHARTED_SOURCE};
    IngestBatch {
        source: CHARTED_SOURCE.into(),
        shard: CHARTED_SHARD.into(),
        items: store
            .charted_after(after, 100)
            .expect("charted rows")
            .into_iter()
            .map(|r| IngestItem::decode(r.id.to_string(), r.fhir.into_bytes(), now))
            .collect(),
        ordered: true,
    }
}

#[test]
fn charted_consciousness_and_oxygen_complete_news2_and_outlive_the_stream_window() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let mrn = &mrns[3];
    let now = crate::clock().0;
    let mut scorer = LiveScorer::default();
    // The monitor streams the five measured parameters, all scoring 0 …
    let vitals = [
        ("8867-4", 72.0, "/min"),
        ("9279-1", 16.0, "/min"),
        ("59408-5", 97.0, "%"),
        ("8480-6", 125.0, "mm[Hg]"),
        ("8310-5", 37.0, "Cel"),
    ];
    let streamed = |at: DateTime<Utc>, seq: u64| {
        batch(
            vitals
                .iter()
                .enumerate()
                .map(|(i, (loinc, v, unit))| {
                    let id = format!("v{seq}-{i}");
                    item(
                        seq * 10 + i as u64,
                        &numeric(&id, mrn, loinc, *v, unit, at),
                        at,
                    )
                })
                .collect(),
        )
    };
    let b = streamed(now - Duration::minutes(1), 1);
    let stored = store.store_batch(&b, now).expect("store");
    store
        .insert_scores(&scorer.score_batch(&store, &b, &stored))
        .expect("scores");
    let news = store
        .latest_score(mrn, "news2")
        .expect("score")
        .expect("a NEWS2");
    let ScoreDetail::News2(partial) = &news.score else {
        panic!("{news:?}")
    };
    assert!(!partial.complete, "nothing charted yet: {partial:?}");

    // … and the nurse charts: responds to voice (3 points), 2 L/min oxygen (2).
    let mut nurse = crate::ctx(dir.path(), "admin");
    let chart = api::Chart {
        consciousness: Some("V".into()),
        o2_flow_lpm: Some(2.0),
        o2_device: Some("nasal cannula".into()),
        ..api::Chart::default()
    };
    let ids = api::chart_observations(&mut nurse, mrn, &chart).expect("charted");
    assert_eq!(ids.len(), 2, "one observation each");
    let b = charted_batch(&store, 0, now);
    let stored = store.store_batch(&b, now).expect("store");
    assert_eq!(stored.outcome.stored, 2, "{:?}", stored.outcome);
    store
        .insert_scores(&scorer.score_batch(&store, &b, &stored))
        .expect("scores");
    let news = store
        .latest_score(mrn, "news2")
        .expect("score")
        .expect("a NEWS2");
    let ScoreDetail::News2(full) = &news.score else {
        panic!("{news:?}")
    };
    assert!(full.complete, "charted values complete it: {full:?}");
    assert_eq!(full.aggregate, 5, "V (3) + oxygen (2): {full:?}");
    // The charted values are samples like streamed ones (the UI's latest values).
    let latest = store.latest_vitals(mrn).expect("latest");
    assert!(latest.iter().any(|l| l.vital == wardwatch_core::model::Vital::Consciousness
        && l.value == Some(2.0)));

    // Three hours later the stream's own values are fresh, the charted
    // ones still count (valid for 12 h); a restarted runtime reads them back.
    let later = now + Duration::hours(3);
    let mut restarted = LiveScorer::default();
    let b = streamed(later, 2);
    let stored = store.store_batch(&b, later).expect("store");
    assert_eq!(stored.outcome.stored, 5, "{:?}", stored.outcome);
    store
        .insert_scores(&restarted.score_batch(&store, &b, &stored))
        .expect("scores");
    let news = store
        .latest_score(mrn, "news2")
        .expect("score")
        .expect("a NEWS2");
    let ScoreDetail::News2(after_restart) = &news.score else {
        panic!("{news:?}")
    };
    assert!(
        after_restart.complete && after_restart.aggregate == 5,
        "{after_restart:?}"
    );

    // Thirteen hours on, the charting has lapsed: NEWS2 says what is missing.
    let lapsed = now + Duration::hours(13);
    let b = streamed(lapsed, 3);
    let stored = store.store_batch(&b, lapsed).expect("store");
    store
        .insert_scores(&restarted.score_batch(&store, &b, &stored))
        .expect("scores");
    let news = store
        .latest_score(mrn, "news2")
        .expect("score")
        .expect("a NEWS2");
    let ScoreDetail::News2(stale) = &news.score else {
        panic!("{news:?}")
    };
    assert!(!stale.complete, "{stale:?}");
    assert!(
        stale
            .missing
            .contains(&wardwatch_score::Parameter::Consciousness)
    );

    // Bad charting is refused with the reason, and nothing is stored.
    for (bad, why) in [
        (
            api::Chart {
                consciousness: Some("Q".into()),
                ..api::Chart::default()
            },
            "ACVPU",
        ),
        (
            api::Chart {
                systolic_bp: Some(120.0),
                ..api::Chart::default()
            },
            "both",
        ),
        (
            api::Chart {
                systolic_bp: Some(80.0),
                diastolic_bp: Some(95.0),
                ..api::Chart::default()
            },
            "below",
        ),
        (
            api::Chart {
                temperature_c: Some(52.0),
                ..api::Chart::default()
            },
            "outside",
        ),
        (api::Chart::default(), "nothing to chart"),
        (
            api::Chart {
                o2_device: Some("mask".into()),
                ..api::Chart::default()
            },
            "flow",
        ),
    ] {
        let e = api::chart_observations(&mut nurse, mrn, &bad).expect_err("refused");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    assert!(api::chart_observations(&mut nurse, "NOPE", &chart).is_err());
    assert_eq!(store.charted_after(0, 100).expect("rows").len(), 2);
    let audit = api::recent_audit(&nurse, 50).expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "observation.chart" && e.target.as_deref() == Some(mrn.as_str()))
    );
}

/// Streams the first 300 s of a Challenge 2015 record (the data up to its
/// alarm) to one patient as FHIR blocks of 2 s per signal, the way a
/// gateway interleaves them, stores and scores each batch; returns the
/// patient's ECG events.
/// One block of a recorded waveform as the wire's Observation
/// (`valueSampledData` in the record's ADC units, `calibration` its gain
/// and baseline).
#[allow(clippy::too_many_arguments)]
fn waveform(
    id: &str,
    mrn: &str,
    code: &str,
    unit: &str,
    start: DateTime<Utc>,
    fs: f64,
    calibration: (f64, i32),
    chunk: &[i32],
) -> Value {
    let (gain, baseline) = calibration;
    let data: Vec<String> = chunk.iter().map(|x| x.to_string()).collect();
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": code}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": start.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "valueSampledData": {"origin": {"value": -f64::from(baseline) / gain, "code": unit},
            "period": 1000.0 / fs, "factor": 1.0 / gain, "dimensions": 1, "data": data.join(" ")}})
}

/// The ECG events the live scorer stored for a patient.
fn ecg_events(store: &Store, mrn: &str) -> Vec<wardwatch_core::model::EcgEvent> {
    store
        .scores(mrn, Some("ecg_event"), 1000)
        .expect("events")
        .into_iter()
        .filter_map(|r| match r.score {
            ScoreDetail::EcgEvent(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn stream_bed(
    store: &mut Store,
    scorer: &mut LiveScorer,
    name: &str,
    mrn: &str,
    signals: &[Signal],
) -> Vec<wardwatch_core::model::EcgEvent> {
    stream_beds(store, scorer, name, &[(name, mrn, signals)])
        .pop()
        .expect("one bed")
}

/// A record's signal as streamed: its name in the record, MDC code, unit.
type Signal = (&'static str, &'static str, &'static str);

/// Streams several Challenge records at once, one patient each: every
/// batch holds the same 2 s of every bed's signals, as a gateway for a
/// ward sends them. Returns each bed's ECG events, in `beds`' order.
fn stream_beds(
    store: &mut Store,
    scorer: &mut LiveScorer,
    shard: &str,
    beds: &[(&str, &str, &[Signal])],
) -> Vec<Vec<wardwatch_core::model::EcgEvent>> {
    let mut raws = Vec::new();
    let mut fs = 0.0;
    for (name, mrn, signals) in beds {
        let record = wardwatch_wfdb::Record::open(testdata(&format!("challenge2015/{name}.hea")))
            .expect("record");
        fs = record.fs_hz();
        for (signal, code, unit) in signals.iter() {
            let i = record.signal_index(signal).expect("signal");
            let spec = &record.signals()[i];
            let mut raw = record.read_raw(i).expect("samples");
            raw.truncate((300.0 * fs) as usize);
            raws.push((
                *name,
                *mrn,
                raw,
                spec.gain_adu_per_unit,
                spec.baseline_adu,
                *code,
                *unit,
            ));
        }
    }
    let block = (2.0 * fs) as usize;
    let now = t0() + Duration::hours(1);
    let mut seq = 0;
    let longest = raws.iter().map(|r| r.2.len()).max().unwrap_or(0);
    for k in 0..longest.div_ceil(block) {
        let start = t0() + Duration::nanoseconds((k * block) as i64 * 1_000_000_000 / fs as i64);
        let mut items = Vec::new();
        for (name, mrn, raw, gain, baseline, code, unit) in &raws {
            let Some(chunk) = raw.get(k * block..((k + 1) * block).min(raw.len())) else {
                continue;
            };
            let obs = waveform(
                &format!("{name}-{mrn}-{code}-{k}"),
                mrn,
                code,
                unit,
                start,
                fs,
                (*gain, *baseline),
                chunk,
            );
            seq += 1;
            items.push(item(seq, &obs, now));
        }
        // One shard per stream: its sequence numbers start at 1.
        let count = items.len();
        let b = IngestBatch {
            shard: shard.into(),
            ..batch(items)
        };
        let stored = store.store_batch(&b, now).expect("store");
        assert_eq!(
            stored.outcome.stored, count,
            "block {k}: {:?}",
            stored.outcome
        );
        store
            .insert_scores(&scorer.score_batch(store, &b, &stored))
            .expect("scores");
    }
    beds.iter()
        .map(|(name, mrn, _)| {
            // The pulse wave is stored bit-exact beside the leads.
            let pleth = raws
                .iter()
                .find(|r| r.0 == *name && r.5 == "150452")
                .expect("a pleth");
            let back: Vec<i32> = store
                .ecg_samples(mrn, 150_452, t0())
                .expect("read back")
                .iter()
                .flat_map(|b| b.samples.iter().map(|s| s.expect("no gaps")))
                .collect();
            assert!(
                back == pleth.2,
                "{name}: stored pleth differs from the recording"
            );
            ecg_events(store, mrn)
        })
        .collect()
}

/// Issue 15 live: a false asystole (a457l: the chest lead loses its beats,
/// the pleth beats on) is suppressed with the reason, never an onset; a
/// true one (a345l: the pulse stopped too) is an onset that says which
/// signals confirmed it.
#[test]
fn the_pulse_streamed_beside_the_ecg_suppresses_a_false_asystole_and_confirms_a_true_one() {
    use wardwatch_core::model::EcgEvent;
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let mut scorer = LiveScorer::default();
    let events = stream_bed(
        &mut store,
        &mut scorer,
        "a457l",
        &mrns[1],
        &signals_of("a457l"),
    );
    let asystole = |e: &&EcgEvent| e.kind() == FindingKind::Asystole;
    let suppressed: Vec<&EcgEvent> = events
        .iter()
        .filter(asystole)
        .filter(|e| matches!(e, EcgEvent::Suppressed { .. }))
        .collect();
    assert!(
        !suppressed.is_empty(),
        "no asystole decided on a457l: {events:?}"
    );
    for e in &suppressed {
        let EcgEvent::Suppressed { reason, .. } = e else {
            unreachable!()
        };
        assert!(
            reason.contains("PLETH") && reason.contains("suppressed"),
            "{reason}"
        );
    }
    assert!(
        !events.iter().filter(asystole).any(EcgEvent::is_onset),
        "a457l's false asystole alarmed: {events:?}"
    );

    let events = stream_bed(
        &mut store,
        &mut scorer,
        "a345l",
        &mrns[2],
        &signals_of("a345l"),
    );
    let onset = events
        .iter()
        .filter(asystole)
        .find_map(|e| match e {
            EcgEvent::Onset { finding, .. } => Some(finding.detail.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("a345l's true asystole raised no onset: {events:?}"));
    assert!(onset.contains("confirmed by"), "{onset}");
}

/// Issue 16: beds whose waveforms share a batch are analysed on several
/// threads. Each bed must still get exactly the decisions it gets streamed
/// alone: a457l's false asystole suppressed, a345l's true one confirmed,
/// and no finding of one bed landing on the other.
#[test]
fn beds_analysed_together_in_one_batch_get_the_decisions_each_gets_alone() {
    use wardwatch_core::model::EcgEvent;
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let (false_asystole, true_asystole) = (signals_of("a457l"), signals_of("a345l"));
    let mut alone = Vec::new();
    for (i, (name, signals)) in [("a457l", &false_asystole), ("a345l", &true_asystole)]
        .into_iter()
        .enumerate()
    {
        let mut scorer = LiveScorer::default();
        alone.push(stream_bed(&mut store, &mut scorer, name, &mrns[i], signals));
    }
    let mut scorer = LiveScorer::default();
    let together = stream_beds(
        &mut store,
        &mut scorer,
        "ward",
        &[
            ("a457l", &mrns[3], &false_asystole),
            ("a345l", &mrns[4], &true_asystole),
        ],
    );
    assert_eq!(together, alone, "beds analysed together decide differently");
    let asystole = |e: &&EcgEvent| e.kind() == FindingKind::Asystole;
    assert!(
        !together[0].iter().filter(asystole).any(EcgEvent::is_onset)
            && together[0].iter().filter(asystole).count() > 0,
        "a457l: {:?}",
        together[0]
    );
    assert!(
        together[1].iter().filter(asystole).any(EcgEvent::is_onset),
        "a345l: {:?}",
        together[1]
    );
}

/// The leads, pleth and arterial pressure of a Challenge record, with the
/// codes and units they are streamed under (the chest lead "V", its
/// position unknown, as V5).
fn signals_of(name: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    let record = wardwatch_wfdb::Record::open(testdata(&format!("challenge2015/{name}.hea")))
        .expect("record");
    let mut out = Vec::new();
    for s in record.signals() {
        let sig = match s.description.as_str() {
            "I" => ("I", "131329", "mV"),
            "II" => ("II", "131330", "mV"),
            "III" => ("III", "131389", "mV"),
            "V" => ("V", "131335", "mV"),
            "aVF" => ("aVF", "131392", "mV"),
            "PLETH" => ("PLETH", "150452", "{arb'U}"),
            "ABP" => ("ABP", "150032", "mm[Hg]"),
            _ => continue,
        };
        out.push(sig);
    }
    out
}

/// Streams the first `seconds` of an MIT-BIH record's MLII to `mrn`, in
/// 2 s blocks; returns the bed's ECG events.
fn stream_mitdb(
    store: &mut Store,
    scorer: &mut LiveScorer,
    name: &str,
    mrn: &str,
    seconds: usize,
) -> Vec<wardwatch_core::model::EcgEvent> {
    stream_mitdb_leads(store, scorer, name, mrn, seconds, &[("MLII", "131330")])
}

/// Streams the first `seconds` of an MIT-BIH record's `leads` (signal
/// name, the MDC code it is streamed under) to `mrn`, 2 s blocks of each
/// lead per batch; returns the bed's ECG events.
fn stream_mitdb_leads(
    store: &mut Store,
    scorer: &mut LiveScorer,
    name: &str,
    mrn: &str,
    seconds: usize,
    leads: &[(&str, &str)],
) -> Vec<wardwatch_core::model::EcgEvent> {
    stream_mitdb_leads_gap(store, scorer, name, mrn, seconds, leads, None)
}

/// [`stream_mitdb_leads`], with lead `gap.0` not streamed over the seconds
/// `gap.1` (a lead unplugged, or its sender down, then back).
fn stream_mitdb_leads_gap(
    store: &mut Store,
    scorer: &mut LiveScorer,
    name: &str,
    mrn: &str,
    seconds: usize,
    leads: &[(&str, &str)],
    gap: Option<(usize, std::ops::Range<usize>)>,
) -> Vec<wardwatch_core::model::EcgEvent> {
    stream_mitdb_gap_as(store, scorer, (name, mrn, seconds), leads, gap, None)
}

/// [`stream_mitdb_leads_gap`]; over the seconds `missing` the first lead's
/// blocks are sent with every sample marked missing (`E`: the device had
/// no valid signal).
fn stream_mitdb_gap_as(
    store: &mut Store,
    scorer: &mut LiveScorer,
    (name, mrn, seconds): (&str, &str, usize),
    leads: &[(&str, &str)],
    gap: Option<(usize, std::ops::Range<usize>)>,
    missing: Option<std::ops::Range<usize>>,
) -> Vec<wardwatch_core::model::EcgEvent> {
    let record =
        wardwatch_wfdb::Record::open(testdata(&format!("mitdb/{name}.hea"))).expect("record");
    let signals: Vec<_> = leads
        .iter()
        .map(|(signal, code)| {
            let i = record.signal_index(signal).expect("lead");
            let mut raw = record.read_raw(i).expect("samples");
            raw.truncate(seconds * 360);
            let spec = &record.signals()[i];
            (raw, spec.gain_adu_per_unit, spec.baseline_adu, *code)
        })
        .collect();
    let block = 720;
    let now = t0() + Duration::hours(1);
    let mut seq = 0;
    for k in 0..(seconds * 360).div_ceil(block) {
        let start = t0() + Duration::nanoseconds((k * block) as i64 * 1_000_000_000 / 360);
        let mut items = Vec::new();
        for (lead, (raw, gain, baseline, code)) in signals.iter().enumerate() {
            let Some(chunk) = raw.get(k * block..((k + 1) * block).min(raw.len())) else {
                continue;
            };
            let second = k * block / 360;
            if gap
                .as_ref()
                .is_some_and(|(g, span)| *g == lead && span.contains(&second))
            {
                continue;
            }
            let sent_missing = lead == 0 && missing.as_ref().is_some_and(|m| m.contains(&second));
            let mut obs = waveform(
                &format!("{mrn}-{name}-{code}-{k}"),
                mrn,
                code,
                "mV",
                start,
                360.0,
                (*gain, *baseline),
                chunk,
            );
            if sent_missing {
                obs["valueSampledData"]["data"] = json!(vec!["E"; chunk.len()].join(" "));
            }
            seq += 1;
            items.push(item(seq, &obs, now));
        }
        let count = items.len();
        let b = IngestBatch {
            shard: mrn.into(),
            ..batch(items)
        };
        let stored = store.store_batch(&b, now).expect("store");
        assert_eq!(stored.outcome.stored, count, "block {k}");
        store
            .insert_scores(&scorer.score_batch(store, &b, &stored))
            .expect("scores");
    }
    ecg_events(store, mrn)
}

/// Issue 10 live: a paced patient's beats read as ventricular without the
/// pacer's spikes (MIT-BIH 107, paced throughout), so a bed raises a
/// ventricular rhythm for it unless the patient's record names the
/// pacemaker. The same recording streamed to a patient whose record says
/// "Permanent pacemaker" raises none.
#[test]
fn a_patient_recorded_as_paced_gets_no_ventricular_rhythm_from_paced_beats() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    // The admin's import names the pacemaker (only the columns a file
    // carries change).
    let record = store.patient(&mrns[5]).expect("read").expect("patient");
    let csv = dir.path().join("paced.csv");
    std::fs::write(
        &csv,
        format!(
            "mrn,family_name,given_name,birth_date,sex,conditions\n{},{},{},{},{},Permanent pacemaker (complete heart block)\n",
            record.mrn,
            record.family_name,
            record.given_name,
            record.birth_date.map(|b| b.to_string()).unwrap_or_default(),
            record.sex.as_str()
        ),
    )
    .expect("csv");
    api::import_patients(&mut ctx(dir.path(), "admin"), &csv).expect("import");
    let vent_rhythm = |events: &[wardwatch_core::model::EcgEvent]| {
        events
            .iter()
            .filter(|e| e.kind() == FindingKind::VentricularRhythm && e.is_onset())
            .count()
    };
    let mut scorer = LiveScorer::default();
    let unpaced = stream_mitdb(&mut store, &mut scorer, "107", &mrns[4], 600);
    assert!(vent_rhythm(&unpaced) > 0, "{unpaced:?}");
    let paced = stream_mitdb(&mut store, &mut scorer, "107", &mrns[5], 600);
    assert_eq!(vent_rhythm(&paced), 0, "{paced:?}");
}

/// A bed's rhythm findings that are not life-threatening come from one lead
/// (lead II where streamed): MIT-BIH 208 (no AF in the reference; frequent
/// PVCs and couplets) reads as AF from 256 s on its V1 lead alone, and a
/// bed streaming both leads raised AF onset from it. (On the whole database
/// the second lead's AF added false AF in 2 more of the 40 records without
/// AF; `eval_mitdb`.)
#[test]
fn a_second_leads_af_is_not_the_beds_when_lead_ii_is_streamed() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let mut scorer = LiveScorer::default();
    let is_af = |e: &wardwatch_core::model::EcgEvent| {
        e.kind() == FindingKind::AtrialFibrillation && e.is_onset()
    };
    // V1 alone (the bed's only lead, so its rhythm lead) says AF.
    let v1 = stream_mitdb_leads(
        &mut store,
        &mut scorer,
        "208",
        &mrns[3],
        460,
        &[("V1", "131331")],
    );
    assert!(v1.iter().any(is_af), "V1 alone reads AF: {v1:?}");
    // Both leads: the bed's rhythm is lead II's, which has no AF.
    let both = stream_mitdb_leads(
        &mut store,
        &mut scorer,
        "208",
        &mrns[4],
        460,
        &[("MLII", "131330"), ("V1", "131331")],
    );
    assert!(
        !both.iter().any(is_af),
        "AF from V1 beside lead II: {both:?}"
    );
}

/// A bed's AF goes on while another lead still shows it when the lead it
/// started on stops: MIT-BIH 219 (AF from 105 s on both leads) streamed,
/// lead II's sender down for 40 s (past the 30 s after which a lead is
/// started afresh). The bed ended the patient's AF when lead II restarted,
/// though V1 had shown AF all along.
#[test]
fn a_beds_af_goes_on_on_v1_while_lead_ii_is_down() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let mut scorer = LiveScorer::default();
    let af = |onset: bool| {
        move |e: &&wardwatch_core::model::EcgEvent| {
            e.kind() == FindingKind::AtrialFibrillation && e.is_onset() == onset
        }
    };
    let events = stream_mitdb_leads_gap(
        &mut store,
        &mut scorer,
        "219",
        &mrns[3],
        300,
        &[("MLII", "131330"), ("V1", "131331")],
        Some((0, 150..190)),
    );
    let onsets: Vec<_> = events.iter().filter(af(true)).collect();
    let ends: Vec<_> = events.iter().filter(af(false)).collect();
    assert_eq!(onsets.len(), 1, "{events:?}");
    assert!(ends.is_empty(), "the bed's AF ended: {events:?}");
}

/// ECG that never arrived (records a source lost, a sender's dropout of
/// 12 s: shorter than the 30 s after which a lead starts afresh) is padded
/// with missing samples so times stay right, and is no finding of the
/// patient's: no "signal unusable, check leads" (the leads were on; the
/// data was lost on its way, which the source's own alarm says) and no
/// asystole. Before, every bed of a source that lost records raised a
/// sensor-off, each resolved as its data resumed: hundreds of technical
/// alarms in a 5,000-patient run.
#[test]
fn ecg_that_never_arrived_is_no_unusable_signal_and_no_asystole() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let mut scorer = LiveScorer::default();
    let events = stream_mitdb_leads_gap(
        &mut store,
        &mut scorer,
        "100",
        &mrns[0],
        120,
        &[("MLII", "131330")],
        Some((0, 60..72)),
    );
    assert!(
        events.iter().all(|e| !matches!(
            e.kind(),
            FindingKind::EcgSignalUnusable | FindingKind::Asystole
        )),
        "{events:?}"
    );

    // The same 12 s sent by the device with every sample marked missing:
    // the sensor had no signal, and says so.
    let events = stream_mitdb_gap_as(
        &mut store,
        &mut scorer,
        ("100", &mrns[1], 120),
        &[("MLII", "131330")],
        None,
        Some(60..72),
    );
    let unusable: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == FindingKind::EcgSignalUnusable)
        .collect();
    assert_eq!(unusable.len(), 2, "its onset and its end: {events:?}");
    assert!(
        events.iter().all(|e| e.kind() != FindingKind::Asystole),
        "{events:?}"
    );

    // The 12 s lost, then 20 s the device sends without signal (the leads
    // came off while the data was lost): the unusable signal that began in
    // the gap is the patient's once it lasts past the gap, and ends when
    // the signal is back.
    let events = stream_mitdb_gap_as(
        &mut store,
        &mut scorer,
        ("100", &mrns[2], 120),
        &[("MLII", "131330")],
        Some((0, 60..72)),
        Some(72..92),
    );
    let unusable: Vec<_> = events
        .iter()
        .filter(|e| e.kind() == FindingKind::EcgSignalUnusable)
        .collect();
    assert_eq!(unusable.len(), 2, "its onset and its end: {events:?}");
    assert!(
        events.iter().all(|e| e.kind() != FindingKind::Asystole),
        "{events:?}"
    );
}
