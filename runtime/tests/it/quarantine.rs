//! A source that floods the quarantine is a technical alarm on the ward,
//! not only a counter (issue 9, item 4).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use wardwatch_core::alarms::{Priority, Rules};
use wardwatch_core::api;
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::{IngestBatch, IngestItem, Store};
use wardwatch_notify::RecordingNotifier;
use wardwatch_runtime::flood::FLOOD_PER_MINUTE;
use wardwatch_runtime::pipeline::Stage;
use wardwatch_runtime::stage::AlarmStage;

#[test]
fn a_source_flooding_the_quarantine_raises_a_technical_alarm() {
    let dir = crate::private_tempdir();
    let mut admin = crate::ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    let mut store = Store::open_dir(dir.path()).expect("store");
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .expect("time");
    let (mut stage, _) = AlarmStage::start(
        dir.path(),
        Rules::default(),
        Box::new(Arc::new(RecordingNotifier::new())),
        Arc::new(FixedClock(now)),
    )
    .expect("alarm stage");
    let flood = IngestBatch {
        source: "gw".into(),
        shard: "sse".into(),
        ordered: false,
        items: (0..FLOOD_PER_MINUTE + 20)
            .map(|i| IngestItem::decode(i.to_string(), b"{not json".to_vec(), now))
            .collect(),
    };
    let stored = store.store_batch(&flood, now).expect("store");
    assert_eq!(stored.outcome.quarantined, FLOOD_PER_MINUTE + 20);
    let rows = stage.after_batch(&store, &flood, &stored);
    assert!(rows.is_empty(), "nothing to score: {rows:?}");

    let alarms = store.alarms(true, 50).expect("alarms");
    let tech = alarms
        .iter()
        .find(|a| a.key == "tech:quarantine:gw")
        .expect("a quarantine-flood alarm");
    assert_eq!(tech.priority, Priority::Technical);
    assert!(
        tech.message.contains("source gw sends bad records"),
        "{}",
        tech.message
    );
}
