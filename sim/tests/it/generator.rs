//! The synthetic ward: determinism, wire format, episodes, malformed records.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Utc};
use wardwatch_sim::*;

use crate::{code, json, patients, start};

fn collect(config: GeneratorConfig) -> Vec<SimBatch> {
    let mut g = Generator::new(config).expect("valid config");
    let mut out = Vec::new();
    while let Some(b) = g.next_batch().expect("generator does not fail") {
        out.push(b);
    }
    out
}

fn records(batches: &[SimBatch]) -> Vec<&SimRecord> {
    batches.iter().flat_map(|b| &b.records).collect()
}

fn config(n: usize, seed: u64, duration_s: u64) -> GeneratorConfig {
    let mut c = GeneratorConfig::new(patients(n), seed, start());
    c.duration_s = Some(duration_s);
    c
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = collect(config(3, 42, 20));
    let b = collect(config(3, 42, 20));
    let c = collect(config(3, 43, 20));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn adding_malformed_records_leaves_the_valid_ones_unchanged() {
    let plain = collect(config(2, 5, 30));
    let mut c = config(2, 5, 30);
    c.scenario = Scenario::default().with_malformed(0.2, &MalformedKind::ALL);
    let noisy = collect(c);
    let valid: Vec<&SimRecord> = records(&noisy)
        .into_iter()
        .filter(|r| !matches!(r.kind, RecordKind::Malformed(_)))
        .collect();
    assert_eq!(valid, records(&plain));
    assert!(valid.len() < records(&noisy).len());
}

#[test]
fn every_valid_record_is_a_vital_signs_observation_with_its_code_and_unit() {
    let batches = collect(config(4, 1, 10));
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut ids = HashSet::new();
    for r in records(&batches) {
        let v = json(r);
        assert!(
            ids.insert(v["id"].as_str().expect("id").to_owned()),
            "duplicate id"
        );
        assert_eq!(v["id"], r.id.as_str());
        assert_eq!(v["resourceType"], "Observation");
        assert_eq!(v["status"], "final");
        assert_eq!(
            v["subject"]["identifier"]["value"],
            r.partition_key.as_str()
        );
        let t = DateTime::parse_from_rfc3339(v["effectiveDateTime"].as_str().expect("time"));
        assert!(t.is_ok(), "{}", v["effectiveDateTime"]);
        let system = v["code"]["coding"][0]["system"]
            .as_str()
            .unwrap_or_default();
        let c = code(&v);
        *seen.entry(c.to_owned()).or_default() += 1;
        match c {
            "8867-4" | "9279-1" | "2708-6" | "8310-5" => {
                assert_eq!(system, "http://loinc.org");
                let unit = match c {
                    "2708-6" => "%",
                    "8310-5" => "Cel",
                    _ => "/min",
                };
                assert_eq!(v["valueQuantity"]["code"], unit);
                assert_eq!(v["valueQuantity"]["system"], "http://unitsofmeasure.org");
                assert!(v["valueQuantity"]["value"].as_f64().is_some());
                assert_eq!(r.kind, RecordKind::Numeric);
            }
            "85354-9" => {
                let comps = v["component"].as_array().expect("components");
                assert_eq!(comps.len(), 2);
                assert_eq!(code(&comps[0]), "8480-6");
                assert_eq!(code(&comps[1]), "8462-4");
                let sys = comps[0]["valueQuantity"]["value"].as_f64().expect("sys");
                let dia = comps[1]["valueQuantity"]["value"].as_f64().expect("dia");
                assert_eq!(comps[0]["valueQuantity"]["code"], "mm[Hg]");
                assert!(dia < sys);
            }
            "131330" => {
                assert_eq!(system, "urn:oid:2.16.840.1.113883.6.24");
                let sd = &v["valueSampledData"];
                assert_eq!(sd["period"], 4.0);
                assert_eq!(sd["factor"], 0.005);
                assert_eq!(sd["dimensions"], 1);
                let n = sd["data"].as_str().expect("data").split(' ').count();
                assert_eq!(n, 500, "2 s at 250 Hz");
                assert_eq!(r.ecg_samples, 500);
                assert_eq!(r.kind, RecordKind::Ecg);
            }
            other => panic!("unexpected code {other}"),
        }
    }
    // 10 s: numerics at 0..9 (5 vitals), ECG blocks ending at 2, 4, …, 10.
    for c in ["8867-4", "9279-1", "2708-6", "8310-5", "85354-9"] {
        assert_eq!(seen[c], 4 * 10, "{c}");
    }
    assert_eq!(seen["131330"], 4 * 5);
}

/// Values of one numeric code for one patient, by second since start.
fn series(batches: &[SimBatch], mrn: &str, loinc: &str) -> Vec<(i64, Option<f64>)> {
    records(batches)
        .into_iter()
        .filter(|r| r.partition_key == mrn && !matches!(r.kind, RecordKind::Malformed(_)))
        .map(json)
        .filter(|v| code(v) == loinc)
        .map(|v| {
            let t =
                DateTime::parse_from_rfc3339(v["effectiveDateTime"].as_str().unwrap_or_default())
                    .map(|t| (t.with_timezone(&Utc) - start()).num_seconds())
                    .unwrap_or(-1);
            (t, v["valueQuantity"]["value"].as_f64())
        })
        .collect()
}

fn ecg_blocks(batches: &[SimBatch], mrn: &str) -> Vec<(i64, Option<Vec<i32>>)> {
    records(batches)
        .into_iter()
        .filter(|r| r.partition_key == mrn && r.kind == RecordKind::Ecg)
        .map(json)
        .map(|v| {
            let t =
                DateTime::parse_from_rfc3339(v["effectiveDateTime"].as_str().unwrap_or_default())
                    .map(|t| (t.with_timezone(&Utc) - start()).num_seconds())
                    .unwrap_or(-1);
            let data = v["valueSampledData"]["data"].as_str().map(|d| {
                d.split(' ')
                    .map(|x| x.parse::<i32>().expect("integer sample"))
                    .collect()
            });
            (t, data)
        })
        .collect()
}

#[test]
fn alarm_scenario_episodes_show_in_numerics_and_ecg() {
    let mut c = config(6, 9, 150);
    c.scenario = Scenario::alarm_tests();
    let b = collect(c);

    // Bed 1: extreme tachycardia 170 from 30 s for 60 s (8 s lag).
    let hr = series(&b, "T00001", "8867-4");
    for (t, v) in &hr {
        let v = v.expect("HR present");
        if (60..90).contains(t) {
            assert!(v > 140.0, "HR {v} at {t} s during tachycardia");
        }
        if *t < 30 {
            assert!(v < 100.0, "HR {v} at {t} s before the episode");
        }
    }
    // Bed 5: bradycardia 35.
    let hr = series(&b, "T00005", "8867-4");
    assert!(
        hr.iter()
            .filter(|(t, _)| (60..90).contains(t))
            .all(|(_, v)| v.unwrap_or(99.0) < 40.0)
    );

    // Bed 3: desaturation to 82 %.
    let spo2 = series(&b, "T00003", "2708-6");
    assert!(
        spo2.iter()
            .filter(|(t, _)| (90..150).contains(t))
            .all(|(_, v)| v.unwrap_or(100.0) <= 86.0)
    );
    assert!(
        spo2.iter()
            .filter(|(t, _)| *t < 30)
            .all(|(_, v)| v.unwrap_or(0.0) >= 93.0)
    );

    // Bed 0: asystole 30–50 s: HR numeric 0, ECG flat (no QRS above 0.5 mV).
    let hr = series(&b, "T00000", "8867-4");
    assert!(
        hr.iter()
            .filter(|(t, _)| (30..50).contains(t))
            .all(|(_, v)| *v == Some(0.0))
    );
    for (t, data) in ecg_blocks(&b, "T00000") {
        let max = data
            .expect("samples")
            .iter()
            .map(|v| v.abs())
            .max()
            .unwrap_or(0);
        if (32..48).contains(&t) {
            assert!(max < 100, "ECG max {max} at {t} s during asystole");
        } else if !(28..50).contains(&t) {
            assert!(max > 150, "no QRS at {t} s outside asystole (max {max})");
        }
    }

    // Bed 4: sensor disconnect 30–90 s: dataAbsentReason everywhere.
    let sub: Vec<&SimRecord> = records(&b)
        .into_iter()
        .filter(|r| r.partition_key == "T00004")
        .collect();
    for r in sub {
        let v = json(r);
        let t = DateTime::parse_from_rfc3339(v["effectiveDateTime"].as_str().unwrap_or_default())
            .map(|t| (t.with_timezone(&Utc) - start()).num_seconds())
            .unwrap_or(-1);
        let lost = (30..90).contains(&t);
        assert_eq!(r.data_absent, lost, "{} at {t}", r.id);
        if r.ecg_samples > 0 {
            // ECG with the leads off: every sample `E` (EcgGap::MissingSamples).
            let data = v["valueSampledData"]["data"].as_str().expect("data");
            assert_eq!(data.split(' ').all(|x| x == "E"), lost, "{} at {t}", r.id);
        } else {
            assert_eq!(v.get("dataAbsentReason").is_some(), lost);
            assert_eq!(
                v.get("valueQuantity").is_some() || v.get("component").is_some(),
                !lost
            );
        }
    }
}

/// R peaks of a synthetic block (samples at 200 units/mV).
fn rr_intervals(blocks: &[(i64, Option<Vec<i32>>)], from_s: i64, to_s: i64) -> Vec<f64> {
    let samples: Vec<i32> = blocks
        .iter()
        .filter(|(t, _)| (from_s..to_s).contains(t))
        .flat_map(|(_, d)| d.clone().unwrap_or_default())
        .collect();
    let mut peaks: Vec<usize> = Vec::new();
    for i in 1..samples.len().saturating_sub(1) {
        if samples[i] > 160
            && samples[i] >= samples[i - 1]
            && samples[i] > samples[i + 1]
            && peaks.last().is_none_or(|&p| i - p > 50)
        {
            peaks.push(i);
        }
    }
    peaks
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 250.0)
        .collect()
}

fn cv(x: &[f64]) -> f64 {
    let m = x.iter().sum::<f64>() / x.len() as f64;
    (x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / x.len() as f64).sqrt() / m
}

#[test]
fn af_onset_makes_rr_irregular_and_termination_restores_sinus() {
    let mut c = config(3, 3, 240);
    c.scenario = Scenario::alarm_tests().with_malformed(0.0, &[]);
    c.scenario
        .episodes
        .retain(|e| e.kind == EpisodeKind::AtrialFibrillation);
    let b = collect(c);
    let blocks = ecg_blocks(&b, "T00002");
    let before = cv(&rr_intervals(&blocks, 0, 30));
    let during = cv(&rr_intervals(&blocks, 60, 150));
    let after = cv(&rr_intervals(&blocks, 180, 240));
    assert!(
        before < 0.06 && after < 0.06,
        "sinus RR CV {before} / {after}"
    );
    assert!(during > 0.12, "AF RR CV {during}");
}

#[test]
fn malformed_records_are_counted_per_kind_and_broken_as_labelled() {
    let mut c = config(5, 11, 120);
    c.scenario = Scenario::default().with_malformed(0.05, &MalformedKind::ALL);
    let mut g = Generator::new(c).expect("config");
    let mut counted: BTreeMap<MalformedKind, u64> = BTreeMap::new();
    let mut report = SimReport::default();
    let mut ids = std::collections::HashSet::new();
    while let Some(b) = g.next_batch().expect("ok") {
        report.count(b.at, &b.records);
        for r in &b.records {
            assert!(ids.insert(r.id.clone()), "duplicate id {}", r.id);
            let RecordKind::Malformed(k) = r.kind else {
                continue;
            };
            *counted.entry(k).or_default() += 1;
            let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&r.payload);
            if k == MalformedKind::InvalidJson {
                assert!(parsed.is_err());
                continue;
            }
            let v = parsed.expect("other malformed kinds are JSON");
            match k {
                MalformedKind::UnknownCode => assert_eq!(code(&v), "99999-9"),
                MalformedKind::UnknownUnit => assert_eq!(v["valueQuantity"]["code"], "bpm"),
                MalformedKind::ImpossibleValue => {
                    let x = v["valueQuantity"]["value"].as_f64().unwrap_or(0.0);
                    assert!([900.0, 130.0, 200.0, 60.0].contains(&x));
                }
                MalformedKind::UnknownPatient => assert!(
                    v["subject"]["identifier"]["value"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("UNREGISTERED-")
                ),
                MalformedKind::FutureTimestamp => {
                    let t = DateTime::parse_from_rfc3339(
                        v["effectiveDateTime"].as_str().unwrap_or_default(),
                    )
                    .expect("time");
                    assert!(t.with_timezone(&Utc) > start() + chrono::Duration::hours(20));
                }
                MalformedKind::MissingSubject => assert!(v.get("subject").is_none()),
                other => panic!("unexpected kind {other:?}"),
            }
        }
    }
    // ~0.05 × 4 single-value vitals × 120 s × 5 patients ≈ 120.
    assert!(
        (60..200).contains(&report.malformed),
        "{}",
        report.malformed
    );
    assert_eq!(report.malformed_by_kind, counted);
    assert_eq!(counted.len(), 7, "all kinds drawn: {counted:?}");
    assert_eq!(
        report.emitted_total,
        report.valid_total() + report.malformed
    );
    let per_patient: u64 = report.per_patient.values().map(|p| p.malformed).sum();
    assert_eq!(per_patient, report.malformed);
}

#[test]
fn scenario_file_errors_name_the_file() {
    let dir = std::env::temp_dir().join(format!("wardwatch-sim-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("bad.json");
    std::fs::write(
        &path,
        r#"{"episodes": [{"bed": 0, "kind": "fever", "start_s": 0}]}"#,
    )
    .expect("write");
    let err = Scenario::from_file(&path).expect_err("duration missing");
    assert!(err.to_string().contains("bad.json"), "{err}");
    assert!(err.to_string().contains("duration_s"), "{err}");
    let err = Scenario::from_file(Path::new("/nonexistent/s.json")).expect_err("absent");
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let good = dir.join("good.json");
    std::fs::write(&good, SCENARIO_EXAMPLE).expect("write");
    let s = Scenario::from_file(&good).expect("example parses");
    // The example refers to MRN WW100001, which these patients lack.
    let err = Generator::new(GeneratorConfig {
        scenario: s,
        ..config(4, 1, 5)
    })
    .expect_err("unknown MRN");
    assert!(err.to_string().contains("WW100001"), "{err}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn demo_patients_come_from_the_demo_ward_and_run_the_demo_scenario() {
    let ward = SimPatient::from_demo(24, 7, start().date_naive());
    assert_eq!(ward.len(), 24);
    let mut c = GeneratorConfig::new(ward, 7, start());
    c.scenario = Scenario::demo();
    c.duration_s = Some(5);
    assert!(!collect(c).is_empty());
    let many = SimPatient::from_demo(100, 7, start().date_naive());
    let unique: HashSet<&str> = many.iter().map(|p| p.mrn.as_str()).collect();
    assert_eq!(unique.len(), 100);
}

/// Issue 15: the pleth follows the simulated heart, not the ECG lead: it
/// pulses at the heart rate through a lead off (the ECG flat) and stops
/// in asystole; its probe comes off on its own.
#[test]
fn the_pleth_pulses_with_every_beat_through_a_lead_off_and_stops_in_asystole() {
    let mut c = config(1, 5, 90);
    c.pleth = true;
    c.scenario = Scenario::from_json(
        r#"{"episodes": [
            {"bed": 0, "kind": "lead_off", "start_s": 20, "duration_s": 20},
            {"bed": 0, "kind": "asystole", "start_s": 50, "duration_s": 20},
            {"bed": 0, "kind": "sensor_disconnect", "start_s": 80, "duration_s": 6,
             "params": {"signals": ["pleth"]}}
        ]}"#,
        Path::new("inline"),
    )
    .expect("scenario");
    let b = collect(c);
    let pleth: Vec<serde_json::Value> = records(&b)
        .into_iter()
        .filter(|r| r.kind == RecordKind::Pulse)
        .map(json)
        .collect();
    assert_eq!(pleth.len(), 45, "one pleth block per 2-s ECG block");
    let mut x = Vec::new();
    for v in &pleth {
        assert_eq!(v["code"]["coding"][0]["code"], "150452");
        assert_eq!(v["valueSampledData"]["origin"]["code"], "{arb'U}");
        for s in v["valueSampledData"]["data"]
            .as_str()
            .expect("data")
            .split(' ')
        {
            x.push(s.parse::<f64>().map_or(f64::NAN, |v| v * 0.001));
        }
    }
    let pulses = wardwatch_score::pulse::detect_pulses(&x, 250.0);
    let count = |from: f64, to: f64| {
        pulses
            .iter()
            .filter(|p| (from..to).contains(&(p.onset as f64 / 250.0)))
            .count()
    };
    let hr = series(&b, "T00000", "8867-4");
    let rate = hr
        .iter()
        .filter(|(t, _)| (5..20).contains(t))
        .filter_map(|(_, v)| *v)
        .sum::<f64>()
        / 15.0;
    let expected = rate * 15.0 / 60.0;
    for (from, what) in [(5.0, "before"), (22.0, "through the lead off")] {
        let n = count(from, from + 15.0) as f64;
        assert!(
            (n - expected).abs() <= 2.0,
            "{n} pulses in 15 s {what}, the heart at {rate:.0} /min"
        );
    }
    assert_eq!(count(52.0, 70.0), 0, "pulses in asystole");
    // The ECG is flat during the lead off, the HR numeric carries on.
    assert!(
        hr.iter()
            .filter(|(t, _)| (22..40).contains(t))
            .all(|(_, v)| v.is_some_and(|v| v > 30.0))
    );
    for (t, data) in ecg_blocks(&b, "T00000") {
        if (22..40).contains(&t) {
            let max = data.expect("samples").iter().map(|v| v.abs()).max();
            assert!(
                max < Some(100),
                "ECG max {max:?} at {t} s with the lead off"
            );
        }
    }
    // The probe off: its blocks carry no valid sample.
    let lost = records(&b)
        .into_iter()
        .filter(|r| r.kind == RecordKind::Pulse && r.data_absent)
        .count();
    assert_eq!(lost, 3, "six seconds of pleth probe off");
}
