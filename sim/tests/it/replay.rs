//! WFDB replay: MIT-BIH 100 bit-exact, MIMIC multi-segment with gaps, MIMIC numerics.

use chrono::{DateTime, Utc};
use wardwatch_sim::*;
use wardwatch_wfdb::{MultiRecord, Record};

use crate::{code, json, start, testdata};

fn drain(mut s: impl RecordSource) -> Vec<SimBatch> {
    let mut out = Vec::new();
    while let Some(b) = s.next_batch().expect("replay reads") {
        out.push(b);
    }
    out
}

/// Decodes ECG Observations the documented way: `data` integers verbatim.
fn decode(batches: &[SimBatch]) -> (Vec<Option<i32>>, usize) {
    let mut samples = Vec::new();
    let mut absent = 0;
    let mut last_t: Option<DateTime<Utc>> = None;
    for r in batches.iter().flat_map(|b| &b.records) {
        let v = json(r);
        let t = DateTime::parse_from_rfc3339(v["effectiveDateTime"].as_str().expect("time"))
            .expect("RFC 3339")
            .with_timezone(&Utc);
        assert!(last_t.is_none_or(|l| t > l), "blocks in time order");
        last_t = Some(t);
        match v["valueSampledData"]["data"].as_str() {
            Some(d) => samples.extend(d.split(' ').map(|x| match x {
                "E" => None,
                x => Some(x.parse::<i32>().expect("integer")),
            })),
            None => {
                assert!(v.get("dataAbsentReason").is_some());
                absent += 1;
            }
        }
    }
    (samples, absent)
}

#[test]
fn mitdb_100_mlii_round_trips_to_the_exact_650000_adc_integers() {
    let hea = testdata().join("mitdb/100.hea");
    let mut opts = EcgReplayOptions::new("MITDB100", start());
    opts.lead = Some("MLII".into());
    let replay = EcgReplay::open(&hea, opts).expect("opens");
    assert_eq!(replay.fs_hz(), 360.0);
    let batches = drain(replay);
    assert_eq!(batches.len(), 903, "902 blocks of 720 + one of 560");

    let first = json(&batches[0].records[0]);
    assert_eq!(code(&first), "131330");
    let sd = &first["valueSampledData"];
    assert_eq!(sd["factor"], 0.005);
    assert_eq!(sd["origin"]["value"], -5.12);
    assert_eq!(sd["origin"]["code"], "mV");
    assert_eq!(first["effectiveDateTime"], "2026-03-01T08:00:00Z");

    let (samples, absent) = decode(&batches);
    assert_eq!(absent, 0);
    let record = Record::open(&hea).expect("record");
    let raw = record
        .read_raw(record.signal_index("MLII").expect("MLII"))
        .expect("raw");
    assert_eq!(raw.len(), 650_000);
    let decoded: Vec<i32> = samples
        .into_iter()
        .map(|s| s.expect("no missing samples"))
        .collect();
    assert!(decoded == raw, "decoded samples differ from the file");

    // And physical values: origin + factor × data = (adc − 1024) / 200.
    let mv = -5.12 + 0.005 * f64::from(decoded[0]);
    assert!((mv - (f64::from(raw[0]) - 1024.0) / 200.0).abs() < 1e-12);
    let total: u32 = batches
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| r.ecg_samples)
        .sum();
    assert_eq!(total, 650_000);
}

#[test]
fn challenge_2015_format_16_in_mat_replays_lead_ii_by_default() {
    let hea = testdata().join("challenge2015/a103l.hea");
    let replay = EcgReplay::open(&hea, EcgReplayOptions::new("A103L", start())).expect("opens");
    assert_eq!(replay.lead_name(), "II");
    let batches = drain(replay);
    let (samples, absent) = decode(&batches);
    let record = Record::open(&hea).expect("record");
    let raw = record.read_raw(0).expect("raw");
    assert_eq!(absent, 0);
    assert_eq!(samples.len(), 82_500);
    assert!(
        samples
            .iter()
            .zip(&raw)
            .all(|(s, r)| s.is_none_or(|s| s == *r))
    );
    let sd = &json(&batches[0].records[0])["valueSampledData"];
    assert_eq!(sd["period"], 4.0);
    assert_eq!(sd["factor"], 1.0 / 7247.0);
}

/// Issue 15: a record's pleth and arterial pressure replay like its leads,
/// under their MDC codes and units, bit-exact; a signal that is not a
/// waveform Wardwatch takes (RESP) is a clear error.
#[test]
fn challenge_2015_pleth_and_abp_replay_bit_exact_under_their_mdc_codes() {
    let hea = testdata().join("challenge2015/a345l.hea");
    let record = Record::open(&hea).expect("record");
    for (signal, mdc, unit) in [("PLETH", "150452", "{arb'U}"), ("ABP", "150032", "mm[Hg]")] {
        let mut opts = EcgReplayOptions::new("A345L", start());
        opts.lead = Some(signal.into());
        let batches = drain(EcgReplay::open(&hea, opts).expect("opens"));
        assert!(
            batches
                .iter()
                .flat_map(|b| &b.records)
                .all(|r| r.kind == RecordKind::Pulse)
        );
        let first = json(&batches[0].records[0]);
        assert_eq!(code(&first), mdc);
        assert_eq!(first["valueSampledData"]["origin"]["code"], unit);
        let (samples, absent) = decode(&batches);
        assert_eq!(absent, 0);
        let raw = record
            .read_raw(record.signal_index(signal).expect("signal"))
            .expect("raw");
        assert_eq!(samples.len(), raw.len());
        assert!(
            samples
                .iter()
                .zip(&raw)
                .all(|(s, r)| s.is_none_or(|s| s == *r))
        );
    }
    let mut opts = EcgReplayOptions::new("A457L", start());
    opts.lead = Some("RESP".into());
    let err = EcgReplay::open(testdata().join("challenge2015/a457l.hea"), opts)
        .expect_err("RESP is no waveform Wardwatch takes");
    assert!(err.to_string().contains("PLETH"), "{err}");
}

#[test]
fn mimic_multisegment_record_covers_its_timeline_with_gaps_as_sensor_disconnect() {
    let hea = testdata().join("mimic3wdb-matched/s00001/s00001-2896-10-10-00-31.hea");
    let mut opts = EcgReplayOptions::new("S00001", start());
    opts.lead = Some("II".into());
    let replay = EcgReplay::open(&hea, opts).expect("opens");
    assert_eq!(replay.fs_hz(), 125.0);
    let multi = MultiRecord::open(&hea).expect("multi");
    assert_eq!(replay.total_samples(), multi.total_samples());
    let batches = drain(replay);
    let (samples, absent) = decode(&batches);
    assert_eq!(absent, 0, "gaps are all-`E` blocks by default");
    assert_eq!(samples.len() as u64, multi.total_samples());

    // Valid samples = valid samples of the segments on disk that carry lead II
    // (a few samples inside them hold the format's invalid sentinel).
    let present: u64 = multi
        .present()
        .filter_map(|(_, r)| r.signal_index("II").map(|i| (r, i)))
        .map(|(r, i)| r.read_signal(i).expect("samples").iter().flatten().count() as u64)
        .sum();
    assert_eq!(
        samples.iter().filter(|s| s.is_some()).count() as u64,
        present
    );

    // The first segment is a 3,261-sample `~` gap: 14 lost blocks (13 × 250 + 11).
    for b in &batches[..14] {
        assert!(b.records[0].data_absent);
    }
    assert!(!batches[14].records[0].data_absent);
    let t = json(&batches[14].records[0])["effectiveDateTime"].clone();
    assert_eq!(t, "2026-03-01T08:00:26.088Z", "3261 samples at 125 Hz");

    // Blocks tile the timeline: each starts where the previous ended.
    let mut expected = start();
    for b in &batches {
        let v = json(&b.records[0]);
        let t = DateTime::parse_from_rfc3339(v["effectiveDateTime"].as_str().expect("t"))
            .expect("time")
            .with_timezone(&Utc);
        assert_eq!(t, expected);
        expected = b.at;
    }
    assert_eq!(
        (expected - start()).num_milliseconds(),
        (multi.total_samples() * 8) as i64
    );
}

#[test]
fn mimic_numerics_replay_keeps_zeros_and_marks_missing_values_absent() {
    let hea = testdata().join("mimic3wdb-matched/s00001/s00001-2896-10-10-00-31n.hea");
    let opts = NumericsReplayOptions {
        mrn: "S00001".into(),
        device_id: None,
        start: start(),
    };
    let replay = NumericsReplay::open(&hea, opts).expect("opens");
    assert_eq!(replay.frames(), 1936);
    let batches = drain(replay);
    assert_eq!(batches.len(), 1936);
    assert_eq!((batches[1].at - batches[0].at).num_seconds(), 60);

    let all: Vec<serde_json::Value> = batches.iter().flat_map(|b| &b.records).map(json).collect();
    let hr: Vec<&serde_json::Value> = all.iter().filter(|v| code(v) == "8867-4").collect();
    assert_eq!(hr.len(), 1936);
    let zeros = hr
        .iter()
        .filter(|v| v["valueQuantity"]["value"] == 0.0)
        .count();
    assert!(
        (40..=50).contains(&zeros),
        "{zeros} minutes of HR = 0 (README: 46)"
    );
    let spo2_zero = all
        .iter()
        .filter(|v| code(v) == "2708-6" && v["valueQuantity"]["value"] == 0.0)
        .count();
    assert!(
        (350..=370).contains(&spo2_zero),
        "{spo2_zero} (README: 363)"
    );
    let nbp = all
        .iter()
        .filter(|v| v["id"].as_str().unwrap_or_default().contains("-nbp-"))
        .count();
    assert!(
        (140..=160).contains(&nbp),
        "{nbp} NBP readings (README: 152)"
    );
    assert!(
        all.iter()
            .all(|v| v["subject"]["identifier"]["value"] == "S00001")
    );
}

#[test]
fn a_lead_the_record_lacks_is_a_clear_error() {
    let hea = testdata().join("mitdb/100.hea");
    let mut opts = EcgReplayOptions::new("M", start());
    opts.lead = Some("V2".into());
    let err = EcgReplay::open(&hea, opts).expect_err("no V2 in record 100");
    let msg = err.to_string();
    assert!(
        msg.contains("100.hea") && msg.contains("MLII") && msg.contains("V5"),
        "{msg}"
    );
}

#[test]
fn gap_blocks_can_be_data_absent_reason_or_left_out() {
    let hea = testdata().join("mimic3wdb-matched/s00001/s00001-2896-10-10-00-31.hea");
    let mut opts = EcgReplayOptions::new("S00001", start());
    opts.gap = EcgGap::DataAbsentReason;
    let with_reason = drain(EcgReplay::open(&hea, opts.clone()).expect("opens"));
    let (samples, absent) = decode(&with_reason);
    assert!(absent > 0);
    assert!(samples.iter().all(Option::is_some) || samples.iter().any(Option::is_some));
    opts.gap = EcgGap::Omit;
    let omitted = drain(EcgReplay::open(&hea, opts).expect("opens"));
    assert_eq!(omitted.len(), with_reason.len() - absent);
    assert!(omitted.iter().all(|b| !b.records[0].data_absent));
}
