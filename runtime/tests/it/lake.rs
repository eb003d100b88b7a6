//! The lake sync in the background: with no target configured, objects go
//! to the embedded default folder (DATA_DIR/lake), verified; a target that
//! cannot be used is the technical alarm `tech:sync`, not silence.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use tokio::sync::mpsc;
use wardwatch_core::api;
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::{IngestBatch, IngestItem, Store};
use wardwatch_runtime::lake::{self, SYNC_KEY};
use wardwatch_runtime::pipeline::SourceEvent;

fn store_one_batch(dir: &std::path::Path, at: chrono::DateTime<Utc>) -> usize {
    let mut admin = crate::ctx(dir, "admin");
    api::load_demo_ward(&mut admin, 2).expect("demo");
    let mrns: Vec<String> = Store::open_dir(dir)
        .expect("store")
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    let items: Vec<IngestItem> = (0..60)
        .map(|i| {
            let v = json!({"resourceType": "Observation", "id": format!("hr-{i}"), "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"identifier": {"value": mrns[i % 2]}},
                "effectiveDateTime": (at - Duration::seconds(60 - i as i64)).to_rfc3339(),
                "valueQuantity": {"value": 70, "code": "/min"}});
            IngestItem::decode((i + 1).to_string(), v.to_string().into_bytes(), at)
        })
        .collect();
    let n = items.len();
    let batch = IngestBatch {
        source: "gw".into(),
        shard: "0".into(),
        items,
        ordered: true,
    };
    Store::open_dir(dir)
        .expect("store")
        .store_batch(&batch, at)
        .expect("store");
    n
}

#[test]
fn with_no_target_the_lake_goes_to_the_default_folder_and_a_refused_target_is_a_technical_alarm() {
    let dir = crate::private_tempdir();
    let at = Utc
        .with_ymd_and_hms(2026, 11, 25, 7, 30, 0)
        .single()
        .expect("time");
    store_one_batch(dir.path(), at);
    // Two hours on: the spooled lines are past `sync.object_max_minutes`.
    let later = Arc::new(FixedClock(at + Duration::hours(2)));
    let (tx, mut rx) = mpsc::channel::<SourceEvent>(16);
    let stop = Arc::new(AtomicBool::new(false));
    let sync = lake::start(
        dir.path().to_owned(),
        later.clone(),
        tx.downgrade(),
        stop.clone(),
    )
    .expect("start");
    let store = Store::open_dir(dir.path()).expect("store");
    // Bounded wait for the background pass (it runs at once, then every 10 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let synced = loop {
        let objects = store.lake_objects("").expect("objects");
        let spooled = store.lake_spool_groups().expect("spool");
        if !objects.is_empty() && spooled.is_empty() && objects.iter().all(|o| o.synced) {
            break objects;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lake did not sync: {objects:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    for o in &synced {
        assert_eq!(o.target.as_deref(), Some("local"));
        let bytes =
            std::fs::read(dir.path().join("lake").join(&o.key)).expect("object in DATA_DIR/lake");
        assert_eq!(wardwatch_core::store::lake::sha256_hex(&bytes), o.sha256);
    }
    // The catalogue followed: each object searchable as synced, and a
    // manifest per dataset beside the data.
    let index = wardwatch_catalog::Catalog::dir_of(dir.path());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let indexed = wardwatch_catalog::Catalog::open(&index)
            .ok()
            .and_then(|c| {
                c.search("kind:object sync_state:synced -zone:curated", 100, false)
                    .ok()
            })
            .map_or(0, |f| f.total);
        let manifests = dir.path().join("lake/_catalog/curated/scores").is_dir();
        // The audit chain's head went beside the data, write-once.
        let heads = std::fs::read_dir(dir.path().join("lake/_audit"))
            .map(|d| d.count())
            .unwrap_or(0);
        if indexed == synced.len() && manifests && heads == 1 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the catalogue (or the audit head) did not follow the lake: {indexed} of {} objects",
            synced.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(rx.try_recv().is_err(), "no alarm while the lake keeps up");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // The thread ends at its flag: the runtime joins it before returning.
    assert_eq!(
        sync.join_within(std::time::Duration::from_secs(60)),
        wardwatch_runtime::helper::Ended::Stopped
    );

    // A target whose credentials cannot be found: the alarm says so at once.
    let admin = crate::ctx(dir.path(), "admin");
    api::add_lake_target(
        &admin,
        &api::TargetSpec {
            name: "cloud".into(),
            url: "s3://wardwatch-lake".into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-east-1".into()),
            profile: Some("wardwatch-test-no-such-profile".into()),
            ..api::TargetSpec::default()
        },
    )
    .expect("target");
    store_one_batch_more(dir.path(), at + Duration::minutes(1));
    let (tx, mut rx) = mpsc::channel::<SourceEvent>(16);
    let stop = Arc::new(AtomicBool::new(false));
    lake::start(dir.path().to_owned(), later, tx.downgrade(), stop.clone()).expect("start");
    let event = rx.blocking_recv().expect("a condition");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let SourceEvent::Condition {
        key,
        started,
        message,
    } = event
    else {
        panic!("not a condition: {event:?}");
    };
    assert_eq!((key.as_str(), started), (SYNC_KEY, true));
    assert!(
        message.contains("`cloud`") && message.contains("credentials"),
        "{message}"
    );
    let pending = store.lake_pending(100).expect("pending");
    assert!(!pending.is_empty(), "the new data waits in the outbox");
    // The pass stops at the first failure of the target itself.
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("credentials"))
    );
}

/// Another batch of new observations for the same ward.
fn store_one_batch_more(dir: &std::path::Path, at: chrono::DateTime<Utc>) {
    let mrn = Store::open_dir(dir)
        .expect("store")
        .patients()
        .expect("patients")[0]
        .mrn
        .clone();
    let v = json!({"resourceType": "Observation", "id": "later-1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": 71, "code": "/min"}});
    let batch = IngestBatch {
        source: "gw".into(),
        shard: "0".into(),
        items: vec![IngestItem::decode("1000", v.to_string().into_bytes(), at)],
        ordered: true,
    };
    Store::open_dir(dir)
        .expect("store")
        .store_batch(&batch, at)
        .expect("store");
}
