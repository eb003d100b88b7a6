//! Full-rate history read back from the lake once the store has pruned its
//! samples: values exactly as stored, from synced objects in the target and
//! pending ones in the store's outbox alike; an object the target lost is
//! an error, never a silently shorter history.

use chrono::Duration;
use wardwatch_core::model::Vital;
use wardwatch_core::store::Retention;
use wardwatch_core::store::Store;
use wardwatch_sync::history::cleaned_samples;

use crate::{engine, folder_target, private_tempdir, rt, t0, ward_with_records};

#[test]
fn pruned_samples_come_back_from_the_lake_as_they_were_stored() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    ward_with_records(dir.path(), 300);
    let store = Store::open_dir(dir.path()).expect("store");
    let mrn = store.patients().expect("patients")[2].mrn.clone();
    drop(store);
    let (from, to) = (t0(), t0() + Duration::minutes(10));
    let rt = rt();

    // Sealed but not synced yet: the outbox in the store answers.
    let target = folder_target(lake.path());
    Store::open_dir(dir.path())
        .expect("store")
        .add_lake_target(&target)
        .expect("the target, configured");
    let expected: Vec<(Vital, i64, f64)> = (0..300)
        .map(|i| {
            let at = t0() + Duration::seconds(i);
            (
                Vital::HeartRate,
                at.timestamp_millis(),
                60.0 + (i % 40) as f64,
            )
        })
        .collect();
    {
        let mut store = Store::open_dir(dir.path()).expect("store");
        for group in store.lake_spool_groups().expect("groups") {
            store.lake_seal(&group, i64::MAX).expect("sealed");
        }
    }
    let pending = rt
        .block_on(cleaned_samples(dir.path(), &mrn, from, to))
        .expect("read from the store's outbox");
    assert_eq!(pending.samples, expected, "from pending objects");

    // Synced to the folder: the target answers.
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        None,
        t0() + Duration::minutes(6),
    ));
    let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    assert!(pass.failure.is_none(), "{:?}", pass.failure);
    // The store prunes the samples (a day later, a day's retention).
    let mut store = Store::open_dir(dir.path()).expect("store");
    let pruned = store
        .prune(
            t0() + Duration::hours(25),
            Retention {
                raw_numerics: Duration::hours(24),
                ecg: Duration::hours(24),
            },
        )
        .expect("prune");
    assert!(pruned.samples >= 300, "{pruned:?}");
    // The store itself now answers this window with minute rollups only.
    let in_store = store
        .history(&mrn, from, to, 600, t0() + Duration::hours(1))
        .expect("history");
    assert_eq!(
        in_store.resolution,
        wardwatch_core::store::history::Resolution::Minutes
    );

    let back = rt
        .block_on(cleaned_samples(dir.path(), &mrn, from, to))
        .expect("read from the folder");
    assert_eq!(back.samples, expected, "every value, exactly");
    assert!(back.objects >= 1 && back.bytes > 0);
    // Another patient's values never leak into the read.
    let history = store
        .history_of_samples(&mrn, from, to, 600, &back.samples)
        .expect("binned");
    let hr = history
        .series
        .iter()
        .find(|s| s.vital == Vital::HeartRate)
        .expect("heart rate");
    assert_eq!(hr.readings, 300);
    assert_eq!(history.bin_ms, 1000);
    assert_eq!(hr.max[0], Some(60.0));

    // The target lost an object: the read says which, instead of showing less.
    let cleaned = store
        .lake_objects("cleaned/observations/")
        .expect("objects");
    let gone = lake.path().join(&cleaned[0].key);
    std::fs::remove_file(&gone).expect("remove");
    let e = rt
        .block_on(cleaned_samples(dir.path(), &mrn, from, to))
        .expect_err("a lost object");
    assert!(e.to_string().contains(&cleaned[0].key), "{e}");
}
