//! Data filed under the wrong patient can be moved to the right one, with
//! the history, scores and alarms put right and the correction kept
//! (issue 9, item 11).

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::ErrorKind;
use wardwatch_core::alarms::{ConditionEvent, Priority};
use wardwatch_core::api;
use wardwatch_core::model::{ScoreDetail, Vital};
use wardwatch_core::store::devices::DataMove;
use wardwatch_core::store::{IngestBatch, IngestItem, ScoreRow};

use crate::ctx;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0)
        .single()
        .expect("time")
}

fn hr(id: &str, mrn: &str, device: &str, value: f64, at: DateTime<Utc>) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"identifier": {"value": mrn}},
        "device": {"identifier": {"value": device}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": value, "code": "/min"}})
}

fn batch(records: &[Value], now: DateTime<Utc>) -> IngestBatch {
    IngestBatch {
        source: "gw".into(),
        shard: "sse".into(),
        ordered: false,
        items: records
            .iter()
            .enumerate()
            .map(|(i, v)| IngestItem::decode(i.to_string(), v.to_string().into_bytes(), now))
            .collect(),
    }
}

#[test]
fn a_monitors_misfiled_data_moves_to_the_right_patient_with_its_history_put_right() {
    let dir = crate::private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 4).expect("demo");
    let mut store = crate::store_of(&admin);
    let patients = store.patients().expect("patients");
    let (old, new) = (patients[0].mrn.clone(), patients[1].mrn.clone());
    let now = t0() + Duration::minutes(30);

    // Bed 1's monitor still reports for the previous patient (`old`) from
    // 07:00, while another device of `old` keeps reporting rightly.
    let mut records: Vec<Value> = (0..10)
        .map(|m| {
            hr(
                &format!("mon-{m}"),
                &old,
                "monitor-bed1",
                110.0,
                t0() + Duration::minutes(m),
            )
        })
        .collect();
    records.extend((0..10).map(|m| {
        hr(
            &format!("watch-{m}"),
            &old,
            "wrist-7",
            70.0,
            t0() + Duration::minutes(m) + Duration::seconds(30),
        )
    }));
    store
        .store_batch(&batch(&records, now), now)
        .expect("store");
    store
        .insert_score(&ScoreRow {
            mrn: old.clone(),
            at: t0() + Duration::minutes(5),
            value: 1.0,
            score: ScoreDetail::EcgHr { lead: 131330 },
        })
        .expect("score");
    store
        .apply_condition(
            &ConditionEvent {
                mrn: Some(old.clone()),
                key: "hr_high".into(),
                started: true,
                priority: Priority::Medium,
                latched: false,
                message: "HR 110 > 100".into(),
                at: t0() + Duration::minutes(3),
            },
            now,
        )
        .expect("alarm");
    let history = api::device_history(&admin, "monitor-bed1").expect("history");
    assert_eq!(history.len(), 1);
    assert_eq!(
        (history[0].mrn.as_str(), history[0].by.as_str()),
        (old.as_str(), "stream")
    );

    let m = DataMove {
        device: "monitor-bed1",
        from_mrn: &old,
        to_mrn: &new,
        since: t0(),
        until: t0() + Duration::minutes(10),
    };
    // Older than the full-rate data kept: refused, nothing changes.
    let too_old = DataMove {
        since: t0() - Duration::days(3),
        ..m.clone()
    };
    let err = api::move_device_data(&mut admin, &too_old).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");

    let report = api::move_device_data(&mut admin, &m).expect("move");
    assert_eq!(
        (
            report.samples,
            report.scores_superseded,
            report.alarms_marked
        ),
        (10, 1, 1)
    );

    // The new patient has the monitor's samples and their minute history;
    // the old one keeps only the wrist device's.
    let minutes = |store: &wardwatch_core::store::Store, mrn: &str| {
        store
            .rollups(mrn, Vital::HeartRate, t0(), t0() + Duration::hours(1))
            .expect("rollups")
            .into_iter()
            .map(|(_, m)| m.mean)
            .collect::<Vec<_>>()
    };
    assert_eq!(minutes(&store, &new), vec![110.0; 10]);
    assert_eq!(minutes(&store, &old), vec![70.0; 10]);
    assert!(
        store.scores(&old, None, 10).expect("scores").is_empty(),
        "superseded"
    );
    let alarms = store.alarms(false, 10).expect("alarms");
    let alarm = alarms
        .iter()
        .find(|a| a.key == "hr_high")
        .expect("the alarm");
    assert_eq!(alarm.misfiled_to.as_deref(), Some(new.as_str()));

    // The correction is in the device's history and the audit trail.
    let history = api::device_history(&admin, "monitor-bed1").expect("history");
    let fix = history.last().expect("a correction");
    assert_eq!((fix.mrn.as_str(), fix.by.as_str()), (new.as_str(), "admin"));
    assert_eq!(fix.to, Some(t0() + Duration::minutes(10)));
    let audit = api::recent_audit(&admin, 10).expect("audit");
    assert!(
        audit.iter().any(|e| e.action == "devices.move_data"),
        "{audit:?}"
    );

    // Moving it back onto data the old patient now holds at the same times
    // would clash: refused whole.
    store
        .store_batch(
            &batch(
                &[hr(
                    "again",
                    &old,
                    "monitor-bed1",
                    111.0,
                    t0() + Duration::minutes(2),
                )],
                now,
            ),
            now,
        )
        .expect("store");
    let back = DataMove {
        from_mrn: &new,
        to_mrn: &old,
        ..m.clone()
    };
    let err = api::move_device_data(&mut admin, &back).expect_err("a clash");
    assert!(err.to_string().contains("already has data"), "{err}");
    assert_eq!(minutes(&store, &new), vec![110.0; 10], "nothing moved");
}
