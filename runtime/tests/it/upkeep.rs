//! The runtime's upkeep: a damaged store found at start is a technical
//! alarm, and scheduled backups keep the newest few (issue 9, item 10).

use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use chrono::{Duration, TimeZone, Utc};
use tokio::sync::mpsc;
use wardwatch_core::alarms::Rules;
use wardwatch_core::api;
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::{DB_FILE, Store};
use wardwatch_notify::RecordingNotifier;
use wardwatch_runtime::pipeline::{SourceEvent, Stage};
use wardwatch_runtime::stage::AlarmStage;
use wardwatch_runtime::upkeep::{self, BackupPlan, STORE_DAMAGED_KEY};

#[test]
fn a_store_damaged_under_a_running_runtime_raises_a_technical_alarm() {
    let dir = crate::private_tempdir();
    let mut admin = crate::ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 1).expect("demo");
    // Enough users for a table of its own pages.
    for n in 0..40 {
        api::put_user(
            &admin,
            &format!("nurse.{n}"),
            wardwatch_core::store::Role::Clinician,
        )
        .expect("user");
    }
    drop(admin);
    let path = dir.path().join(DB_FILE);
    // Damage the users table's root page: a page the check reads but the
    // alarm stage does not, whatever the schema's other tables look like.
    let (root, page_size): (u64, u64) = {
        let db = wardwatch_core::store::cipher::connect(dir.path()).expect("db");
        let root = db
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'users'",
                [],
                |r| r.get(0),
            )
            .expect("users table");
        // SQLCipher answers `PRAGMA page_size` with its own rows; the
        // page size is the one SQLite and SQLCipher 4 both default to.
        let size = db
            .query_row("SELECT page_size FROM pragma_page_size", [], |r| r.get(0))
            .unwrap_or(4096);
        (root, size)
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open");
    f.seek(SeekFrom::Start((root - 1) * page_size))
        .expect("seek");
    f.write_all(&vec![0x5A; page_size as usize])
        .expect("damage");
    drop(f);

    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .expect("time");
    let (tx, mut rx) = mpsc::channel(4);
    upkeep::start(
        dir.path().to_owned(),
        None,
        None,
        Arc::new(FixedClock(now)),
        tx.downgrade(),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("upkeep");
    let event = rx.blocking_recv().expect("upkeep reports the damage");
    let SourceEvent::Condition {
        key,
        started,
        message,
    } = event
    else {
        panic!("not a condition: {event:?}");
    };
    assert_eq!((key.as_str(), started), (STORE_DAMAGED_KEY, true));
    assert!(message.contains("store damaged"), "{message}");

    // The writer hands it to the alarm stage: a technical alarm on the ward.
    let store = Store::open_dir(dir.path()).expect("store");
    let (mut stage, _) = AlarmStage::start(
        dir.path(),
        Rules::default(),
        Box::new(Arc::new(RecordingNotifier::new())),
        Arc::new(FixedClock(now)),
    )
    .expect("stage");
    stage.system_condition(&store, &key, started, &message);
    let alarms = store.alarms(true, 10).expect("alarms");
    assert!(
        alarms.iter().any(|a| a.key == STORE_DAMAGED_KEY),
        "{alarms:?}"
    );
}

#[test]
fn scheduled_backups_are_checked_owner_only_and_the_newest_are_kept() {
    let (dir, backups) = (crate::private_tempdir(), crate::private_tempdir());
    let mut admin = crate::ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 1).expect("demo");
    let store = Store::open_dir(dir.path()).expect("store");
    let plan = BackupPlan {
        dir: backups.path().join("nightly"),
        every: Duration::hours(24),
        keep: 3,
    };
    let t0 = Utc
        .with_ymd_and_hms(2026, 11, 25, 2, 0, 0)
        .single()
        .expect("time");
    for day in 0..5 {
        upkeep::backup_once(&store, &plan, t0 + Duration::days(day)).expect("backup");
    }
    let kept = upkeep::backups_in(&plan.dir);
    let names: Vec<String> = kept
        .iter()
        .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
        .collect();
    assert_eq!(
        names,
        [
            "wardwatch-20261127T020000Z.db",
            "wardwatch-20261128T020000Z.db",
            "wardwatch-20261129T020000Z.db"
        ]
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&kept[2])
            .expect("backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "a backup holds patient data");
    }
    let opened = crate::private_tempdir();
    std::fs::copy(&kept[2], opened.path().join(DB_FILE)).expect("copy");
    // Encrypted with the store's key, which the store's folder names.
    let listed = wardwatch_core::store::cipher::CIPHER_FILE;
    if dir.path().join(listed).exists() {
        std::fs::copy(dir.path().join(listed), opened.path().join(listed)).expect("key list");
    }
    let copy = Store::open_dir(opened.path()).expect("a backup is a store");
    assert_eq!(
        copy.patient_count().expect("count"),
        24,
        "a backup holds the ward"
    );
}

/// Someone edited the audit trail behind the runtime's back: the runtime's
/// upkeep finds it and the ward sees a technical alarm, not silence.
#[test]
fn a_tampered_audit_trail_raises_a_technical_alarm() {
    let dir = crate::private_tempdir();
    let mut admin = crate::ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 1).expect("demo");
    drop(admin);
    let (tx, mut rx) = mpsc::channel(4);
    let keys = crate::keys();
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .expect("time");
    // Untouched: no alarm (the first event would be it).
    let stop = Arc::new(AtomicBool::new(false));
    let helper = upkeep::start(
        dir.path().to_owned(),
        None,
        Some(keys.clone()),
        Arc::new(FixedClock(now)),
        tx.downgrade(),
        stop.clone(),
    )
    .expect("upkeep");
    std::thread::sleep(std::time::Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    // Joined: a check still under way at the flag has ended and said its say.
    assert_eq!(
        helper.join_within(std::time::Duration::from_secs(120)),
        wardwatch_runtime::helper::Ended::Stopped
    );
    assert!(rx.try_recv().is_err(), "an intact trail raised an alarm");

    let db = wardwatch_core::store::cipher::connect(dir.path()).expect("db");
    db.execute_batch(
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET actor = 'somebody.else' WHERE seq = 1;",
    )
    .expect("tamper");
    drop(db);
    upkeep::start(
        dir.path().to_owned(),
        None,
        Some(keys),
        Arc::new(FixedClock(now)),
        tx.downgrade(),
        Arc::new(AtomicBool::new(false)),
    )
    .expect("upkeep");
    let event = rx.blocking_recv().expect("upkeep reports the tampering");
    let SourceEvent::Condition {
        key,
        started,
        message,
    } = event
    else {
        panic!("not a condition: {event:?}");
    };
    assert_eq!((key.as_str(), started), (upkeep::AUDIT_KEY, true));
    assert!(message.contains("audit trail"), "{message}");
}
