//! The ward's alarm rules as an admin changes them while the runtime runs:
//! applied at the next refresh without a restart, and stored rules that
//! cannot be used keep the old ones and raise a technical alarm.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use wardwatch_core::alarms::{Priority, Rules};
use wardwatch_core::api;
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::{IngestBatch, IngestItem, Store};
use wardwatch_notify::RecordingNotifier;
use wardwatch_runtime::pipeline::Stage;
use wardwatch_runtime::stage::AlarmStage;

fn heart_rate(seq: u64, mrn: &str, bpm: f64, at: DateTime<Utc>) -> IngestBatch {
    let obs = json!({"resourceType": "Observation", "id": format!("hr-{seq}"), "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": bpm, "code": "/min"}});
    IngestBatch {
        source: "gw".into(),
        shard: "shard-0".into(),
        ordered: true,
        items: vec![IngestItem::decode(
            seq.to_string(),
            obs.to_string().into_bytes(),
            at,
        )],
    }
}

#[test]
fn a_ward_limit_changed_by_an_admin_applies_to_the_running_runtime() {
    let dir = crate::private_tempdir();
    let mut admin = crate::ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    let mut store = Store::open_dir(dir.path()).expect("store");
    let mrn = store.patients().expect("patients")[0].mrn.clone();
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .expect("time");
    let (stage, _) = AlarmStage::start(
        dir.path(),
        store.alarm_rules().expect("rules"),
        Box::new(Arc::new(RecordingNotifier::new())),
        Arc::new(FixedClock(t0)),
    )
    .expect("alarm stage");
    let mut stage = stage.with_rules_refresh(StdDuration::ZERO);
    let feed = |store: &mut Store, stage: &mut AlarmStage, seq: u64, bpm: f64| {
        let at = t0 + Duration::seconds(seq as i64);
        let b = heart_rate(seq, &mrn, bpm, at);
        let stored = store.store_batch(&b, at).expect("store");
        store
            .insert_scores(&stage.after_batch(store, &b, &stored))
            .expect("scores");
        stage.tick(store, at);
    };
    let hr_high = |store: &Store| {
        store
            .alarms(true, 50)
            .expect("alarms")
            .into_iter()
            .find(|a| a.key == "hr_high")
    };
    // 115 /min is inside the default 40–130: no alarm.
    for seq in 0..20 {
        feed(&mut store, &mut stage, seq, 115.0);
    }
    assert!(hr_high(&store).is_none());

    // The admin lowers the ward's high limit to 110 with no delay.
    let mut rules = Rules::default();
    rules.hr.high = Some(110.0);
    rules.hr.delay = Duration::zero();
    rules.hr.priority = Priority::High;
    api::set_ward_rules(&admin, &rules).expect("an admin sets the rules");
    for seq in 20..25 {
        feed(&mut store, &mut stage, seq, 115.0);
    }
    let alarm = hr_high(&store).expect("the new limit alarms without a restart");
    assert_eq!(alarm.priority, Priority::High);
    assert!(alarm.message.contains("110"), "{}", alarm.message);

    // Rules that cannot be used (only a hand-edited store has them) keep
    // the rules in force and say so.
    store
        .set_setting("alarms.rules", "{\"hr\": 12}")
        .expect("a broken setting");
    feed(&mut store, &mut stage, 25, 115.0);
    let tech = store
        .alarms(true, 50)
        .expect("alarms")
        .into_iter()
        .find(|a| a.key == "tech:rules")
        .expect("a technical alarm about the rules");
    assert_eq!(tech.priority, Priority::Technical);
    assert!(hr_high(&store).is_some(), "the rules in force stay");

    // Mended: the technical alarm ends.
    api::set_ward_rules(&admin, &rules).expect("set again");
    feed(&mut store, &mut stage, 26, 115.0);
    assert!(
        store
            .alarms(true, 50)
            .expect("alarms")
            .iter()
            .all(|a| a.key != "tech:rules" || a.state != "active"),
        "the technical alarm ends once the rules are mended"
    );
}

#[test]
fn rules_a_ward_cannot_use_are_refused_with_the_field_named() {
    let dir = crate::private_tempdir();
    let admin = crate::ctx(dir.path(), "admin");
    let mut rules = Rules::default();
    rules.hr.low = Some(140.0);
    let e = api::set_ward_rules(&admin, &rules).expect_err("low above high");
    assert!(
        e.to_string()
            .contains("hr.low (140) must be below hr.high (130)"),
        "{e}"
    );
    let mut rules = Rules::default();
    rules.temp.high = Some(102.0);
    let e = api::set_ward_rules(&admin, &rules).expect_err("Fahrenheit");
    assert!(
        e.to_string().contains("temp.high must be from 30 to 43"),
        "{e}"
    );
    assert_eq!(
        api::ward_rules(&admin).expect("rules"),
        (Rules::default(), false),
        "nothing was stored"
    );
}
