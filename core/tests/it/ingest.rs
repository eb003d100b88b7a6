//! Storing stream records: exactly-once, quarantine, retention.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::api;
use wardwatch_core::ingest::observation::decode;
use wardwatch_core::model::Vital;
use wardwatch_core::store::{IngestBatch, IngestItem, Store};

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
    let raw = v.to_string().into_bytes();
    IngestItem {
        sequence: seq.to_string(),
        decoded: decode(&raw, now),
        raw,
    }
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
    let mrns = crate::store_of(&c)
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    (Store::open_dir(dir).expect("store"), mrns)
}

#[test]
fn good_bad_and_unknown_records_are_counted_and_quarantined_with_reasons() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let items = vec![
        item(
            1,
            &numeric("a", &mrns[0], "8867-4", 72.0, "/min", t0()),
            now,
        ),
        item(
            2,
            &numeric("b", &mrns[0], "8867-4", 900.0, "/min", t0()),
            now,
        ),
        item(
            3,
            &numeric("c", "NOBODY", "8867-4", 70.0, "/min", t0()),
            now,
        ),
        IngestItem {
            sequence: "4".into(),
            raw: b"{oops".to_vec(),
            decoded: decode(b"{oops", now),
        },
        item(5, &numeric("d", &mrns[1], "2708-6", 0.0, "%", t0()), now),
    ];
    let out = store
        .store_batch(&batch(items), now)
        .expect("store")
        .outcome;
    assert_eq!((out.stored, out.quarantined, out.duplicates), (2, 3, 0));
    let counts = store.quarantine_counts().expect("counts");
    assert_eq!(counts.get("impossible_value"), Some(&1));
    assert_eq!(counts.get("unknown_patient"), Some(&1));
    assert_eq!(counts.get("invalid_json"), Some(&1));
    let q = store.quarantine(10).expect("q");
    assert!(
        q.iter()
            .any(|r| r.raw == b"{oops" && r.sequence.as_deref() == Some("4")),
        "raw bytes kept"
    );
    // SpO2 0 is signal loss, never the number 0.
    let latest = store.latest_vitals(&mrns[1]).expect("latest");
    assert_eq!((latest[0].vital, latest[0].value), (Vital::Spo2, None));
}

#[test]
fn redelivery_before_the_checkpoint_or_under_a_new_sequence_is_stored_once() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let make = |seq0: u64| {
        (0..50)
            .map(|i| {
                item(
                    seq0 + i,
                    &numeric(
                        &format!("hr-{i}"),
                        &mrns[2],
                        "8867-4",
                        60.0 + i as f64 / 2.0,
                        "/min",
                        t0() + Duration::seconds(i as i64),
                    ),
                    now,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        store
            .store_batch(&batch(make(1)), now)
            .expect("1")
            .outcome
            .stored,
        50
    );
    let again = store.store_batch(&batch(make(1)), now).expect("2").outcome;
    assert_eq!(
        (again.stored, again.duplicates),
        (0, 50),
        "at or before the checkpoint"
    );
    let resent = store
        .store_batch(&batch(make(1000)), now)
        .expect("3")
        .outcome;
    assert_eq!(
        (resent.stored, resent.duplicates),
        (0, 50),
        "same observation ids"
    );
    assert_eq!(store.sample_counts().expect("counts").0, 50);
    assert_eq!(
        store.checkpoint("gw", "shard-0").expect("cp").as_deref(),
        Some("1049")
    );
    // The minute rollup holds each sample once.
    let minutes = store
        .rollups(&mrns[2], Vital::HeartRate, t0(), t0() + Duration::hours(1))
        .expect("rollups");
    assert_eq!(minutes.len(), 1);
    assert_eq!(minutes[0].1.count, 50);
    // An SSE gateway whose ids restart (or are not numbers): new observations
    // are stored even though their ids sort before the checkpoint.
    let mut sse = batch(vec![item(
        3,
        &numeric(
            "after-restart",
            &mrns[2],
            "8867-4",
            70.0,
            "/min",
            t0() + Duration::minutes(2),
        ),
        now,
    )]);
    sse.ordered = false;
    assert_eq!(store.store_batch(&sse, now).expect("4").outcome.stored, 1);
}

#[test]
fn pruning_drops_raw_samples_past_retention_but_keeps_the_minute_history() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = store_with_ward(dir.path());
    let now = t0() + Duration::minutes(1);
    let b = batch(vec![item(
        1,
        &numeric("p1", &mrns[0], "8867-4", 88.0, "/min", t0()),
        now,
    )]);
    store.store_batch(&b, now).expect("store");
    let kept = store
        .prune(t0() + Duration::hours(23), Default::default())
        .expect("prune");
    assert_eq!(kept.samples, 0);
    let gone = store
        .prune(t0() + Duration::hours(25), Default::default())
        .expect("prune");
    assert_eq!(gone.samples, 1);
    assert!(store.latest_vitals(&mrns[0]).expect("latest").is_empty());
    let history = store
        .rollups(&mrns[0], Vital::HeartRate, t0(), t0() + Duration::hours(1))
        .expect("rollups");
    assert_eq!(
        history.len(),
        1,
        "the minute rollup outlives the raw sample"
    );
    assert_eq!(history[0].1.mean, 88.0);
}
