//! Storing stream records: exactly-once, quarantine, retention.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::model::Vital;
use wardwatch_core::store::{DEDUP_WINDOW, IngestBatch, IngestItem};

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

#[test]
fn good_bad_and_unknown_records_are_counted_and_quarantined_with_reasons() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
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
        IngestItem::decode("4", b"{oops".to_vec(), now),
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
    let (mut store, mrns) = crate::store_with_ward(dir.path());
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

/// Issue 16: the ids of every record were kept for 72 h (55 MB per
/// patient-day). They are held for `DEDUP_WINDOW` now (in memory); a record
/// delivered again after it is still stored once, by its content, and an id
/// reused for another value within it is still a conflict.
#[test]
fn observation_ids_are_held_for_the_dedup_window_and_a_later_redelivery_is_still_stored_once() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let unordered = |items| {
        let mut b = batch(items);
        b.ordered = false;
        b
    };
    let hr = |id: &str, value: f64, at: DateTime<Utc>| {
        numeric(id, &mrns[1], "8867-4", value, "/min", at)
    };
    let first: Vec<_> = (0..20)
        .map(|i| {
            item(
                i,
                &hr(
                    &format!("hr-{i}"),
                    70.0 + i as f64,
                    t0() + Duration::seconds(i as i64),
                ),
                now,
            )
        })
        .collect();
    let out = store
        .store_batch(&unordered(first.clone()), now)
        .expect("first");
    assert_eq!(out.outcome.stored, 20);
    assert_eq!(store.observation_count(), 20);

    // Within the window, an id reused for a value at another time is a
    // conflict (only the id says so).
    let reused = store
        .store_batch(
            &unordered(vec![item(
                100,
                &hr("hr-3", 99.0, t0() + Duration::minutes(3)),
                now,
            )]),
            now + Duration::minutes(1),
        )
        .expect("reused");
    assert_eq!(
        (reused.outcome.stored, reused.outcome.conflicts),
        (0, 1),
        "{reused:?}"
    );

    // After the window the ids are gone, and the same records delivered
    // again are duplicates by their content; one with another value at a
    // stored instant is a conflict; nothing stored changes.
    let later = now + DEDUP_WINDOW + Duration::minutes(1);
    let mut again = first[..10].to_vec();
    again.push(item(
        200,
        &hr("hr-5-corrected", 50.0, t0() + Duration::seconds(5)),
        later,
    ));
    let out = store.store_batch(&unordered(again), later).expect("again");
    assert_eq!(
        (
            out.outcome.stored,
            out.outcome.duplicates,
            out.outcome.conflicts
        ),
        (0, 10, 1),
        "{out:?}"
    );
    assert_eq!(store.sample_counts().expect("counts").0, 20);
    assert_eq!(
        store.observation_count(),
        10,
        "only the ids of the last window are held"
    );
    let minutes = store
        .rollups(&mrns[1], Vital::HeartRate, t0(), t0() + Duration::hours(1))
        .expect("rollups");
    assert_eq!(minutes[0].1.count, 20, "each sample once in the history");
}

#[test]
fn pruning_drops_raw_samples_past_retention_but_keeps_the_minute_history() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
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

/// Issue 16: numerics are stored in minute blocks. Pruning cuts a block that
/// straddles the retention's edge sample by sample, so exactly the samples
/// past retention go, and what is kept reads back as it was written.
#[test]
fn pruning_cuts_a_minute_block_at_the_retention_edge_to_the_sample() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(3);
    let items: Vec<_> = (0..120)
        .map(|i| {
            let value = if i % 10 == 0 { 36.8 } else { 60.0 + i as f64 };
            item(
                i,
                &numeric(
                    &format!("s-{i}"),
                    &mrns[2],
                    "8867-4",
                    value,
                    "/min",
                    t0() + Duration::seconds(i as i64),
                ),
                now,
            )
        })
        .collect();
    assert_eq!(
        store
            .store_batch(&batch(items), now)
            .expect("store")
            .outcome
            .stored,
        120
    );
    assert_eq!(store.sample_counts().expect("counts").0, 120);
    // The edge 90 s into the samples: the first minute's block goes whole,
    // the second is cut after its 30th sample.
    let pruned = store
        .prune(
            t0() + Duration::hours(24) + Duration::seconds(90),
            Default::default(),
        )
        .expect("prune");
    assert_eq!(pruned.samples, 90);
    assert_eq!(store.sample_counts().expect("counts").0, 30);
    let latest = store.latest_vitals(&mrns[2]).expect("latest");
    assert_eq!(latest[0].value, Some(60.0 + 119.0));
    assert_eq!(latest[0].at, t0() + Duration::seconds(119));
    // A value of a stored instant is still checked against the kept block.
    let again = store
        .store_batch(
            &batch(vec![item(
                500,
                &numeric(
                    "s-100-again",
                    &mrns[2],
                    "8867-4",
                    36.8,
                    "/min",
                    t0() + Duration::seconds(100),
                ),
                now,
            )]),
            now,
        )
        .expect("again")
        .outcome;
    assert_eq!((again.stored, again.duplicates), (0, 1), "{again:?}");
}

/// One heart rate of `mrn`, `secs` after `t0()`, as a batch of its own from
/// `source` (a monitored patient's samples arrive one a batch).
fn hr_batch(
    mrn: &str,
    now: DateTime<Utc>,
    source: &str,
    seq: u64,
    id: &str,
    secs: i64,
    value: f64,
) -> IngestBatch {
    IngestBatch {
        source: source.into(),
        shard: "shard-0".into(),
        items: vec![item(
            seq,
            &numeric(
                id,
                mrn,
                "8867-4",
                value,
                "/min",
                t0() + Duration::seconds(secs),
            ),
            now,
        )],
        ordered: true,
    }
}

/// Issue 16: the writer keeps a patient's open minute of numerics from one
/// batch to the next, and appends to it, instead of reading it back every
/// batch. A sample another connection commits into that minute meanwhile
/// (another process importing, a repair from the command line) is read in,
/// never overwritten by the writer's older copy; a late sample still lands
/// in its place; each is then checked against what is stored.
#[test]
fn an_open_minute_kept_between_batches_takes_in_what_another_connection_stored() {
    let dir = crate::private_tempdir();
    let (mut writer, mrns) = crate::store_with_ward(dir.path());
    let mut other = wardwatch_core::store::Store::open_dir(dir.path()).expect("second connection");
    let now = t0() + Duration::minutes(2);
    let hr = |source: &str, seq: u64, id: &str, secs: i64, value: f64| {
        hr_batch(&mrns[0], now, source, seq, id, secs, value)
    };
    let mut stored = Vec::new();
    // One sample a batch, as a monitored patient's arrive.
    for s in 0..10 {
        let b = hr("gw", s as u64 + 1, &format!("w-{s}"), s, 70.0 + s as f64);
        assert_eq!(
            writer.store_batch(&b, now).expect("store").outcome.stored,
            1
        );
        stored.push((s, 70.0 + s as f64));
    }
    let b = hr("other", 1, "o-20", 20, 99.0);
    assert_eq!(other.store_batch(&b, now).expect("store").outcome.stored, 1);
    stored.push((20, 99.0));
    // The writer's next samples: a late one (before the other's) and one after.
    for (seq, s) in [(11, 10), (12, 30)] {
        let b = hr("gw", seq, &format!("w-{s}"), s, 70.0 + s as f64);
        assert_eq!(
            writer.store_batch(&b, now).expect("store").outcome.stored,
            1
        );
        stored.push((s, 70.0 + s as f64));
    }
    assert_eq!(
        writer.sample_counts().expect("counts").0,
        stored.len() as i64,
        "every sample of the minute is stored, the other connection's too"
    );
    let latest = writer.latest_vitals(&mrns[0]).expect("latest");
    assert_eq!(
        (latest[0].at, latest[0].value),
        (t0() + Duration::seconds(30), Some(100.0))
    );
    // Each stored value is what the store checks a record against: the
    // same value again is a duplicate, another value a conflict.
    let mut seq = 100;
    for &(s, value) in &stored {
        seq += 2;
        let same = hr("gw", seq, &format!("again-{s}"), s, value);
        let changed = hr("gw", seq + 1, &format!("other-{s}"), s, value + 1.0);
        let same = writer.store_batch(&same, now).expect("store").outcome;
        let changed = writer.store_batch(&changed, now).expect("store").outcome;
        assert_eq!((same.stored, same.duplicates), (0, 1), "{s} s: {same:?}");
        assert_eq!(
            (changed.stored, changed.conflicts),
            (0, 1),
            "{s} s: {changed:?}"
        );
    }
}

/// Issue 16: the runtime's writer (`sole_block_writer`) keeps its open
/// minutes through other connections' commits that leave the blocks alone
/// (the stage's alarms, the lake's bookkeeping: at 10,000 patients one
/// every few batches, each of which made it read back every open minute);
/// another connection's sample in a minute it holds makes it read the
/// minute again, and neither sample is lost.
#[test]
fn the_sole_block_writer_keeps_its_minutes_through_other_commits_not_through_other_writes() {
    let dir = crate::private_tempdir();
    let (mut writer, mrns) = crate::store_with_ward(dir.path());
    writer.sole_block_writer().expect("the runtime's writer");
    let mut other = wardwatch_core::store::Store::open_dir(dir.path()).expect("second connection");
    let now = t0() + Duration::minutes(2);
    let hr = |source: &str, seq: u64, id: &str, secs: i64, value: f64| {
        hr_batch(&mrns[0], now, source, seq, id, secs, value)
    };
    let store = |store: &mut wardwatch_core::store::Store, b: &IngestBatch| {
        assert_eq!(store.store_batch(b, now).expect("store").outcome.stored, 1);
    };
    for s in 0..3 {
        store(
            &mut writer,
            &hr("gw", s + 1, &format!("w-{s}"), s as i64, 70.0),
        );
    }
    let read = writer.numeric_blocks_read();
    assert_eq!(read, 1, "the minute is read once, then kept");
    // Another connection commits, not to the blocks.
    other.set_setting("ui.theme", "dark").expect("a setting");
    store(&mut writer, &hr("gw", 4, "w-3", 3, 71.0));
    assert_eq!(
        writer.numeric_blocks_read(),
        read,
        "kept through another's commit"
    );
    // Another connection stores a sample in the writer's open minute.
    store(&mut other, &hr("other", 1, "o-20", 20, 99.0));
    store(&mut writer, &hr("gw", 5, "w-30", 30, 72.0));
    assert_eq!(
        writer.numeric_blocks_read(),
        read + 1,
        "read again after another's write to it"
    );
    assert_eq!(
        writer.sample_counts().expect("counts").0,
        6,
        "the other connection's sample kept beside the writer's"
    );
    // The writer's own writes do not count: yet another commit elsewhere
    // still leaves its minute in place.
    other.set_setting("ui.theme", "light").expect("a setting");
    store(&mut writer, &hr("gw", 6, "w-31", 31, 72.0));
    assert_eq!(writer.numeric_blocks_read(), read + 1);
}

/// Issue 16: a batch's minutes are merged into their stored hour by SQL, so
/// the writer reads no hour back. Minutes stored by two connections in turn
/// add up; the hour's summary columns (what a chart of months reads) agree
/// with its minutes; an hour whose blob is damaged is replaced by the new
/// minutes, its summary too, and nothing fails.
#[test]
fn an_hour_of_minutes_takes_in_every_connections_samples_and_its_summary_agrees() {
    let dir = crate::private_tempdir();
    let (mut writer, mrns) = crate::store_with_ward(dir.path());
    let mut other = wardwatch_core::store::Store::open_dir(dir.path()).expect("second connection");
    let plain = wardwatch_core::store::cipher::connect(dir.path()).expect("plain");
    let now = t0() + Duration::minutes(5);
    let mut seq = 0;
    let mut hr = |store: &mut wardwatch_core::store::Store, secs: i64, value: f64| {
        seq += 1;
        let b = batch(vec![item(
            seq,
            &numeric(
                &format!("hr-{secs}"),
                &mrns[0],
                "8867-4",
                value,
                "/min",
                t0() + Duration::seconds(secs),
            ),
            now,
        )]);
        assert_eq!(store.store_batch(&b, now).expect("store").outcome.stored, 1);
    };
    hr(&mut writer, 0, 60.0);
    hr(&mut writer, 1, 62.0);
    hr(&mut other, 30, 64.0);
    hr(&mut other, 90, 80.0);
    hr(&mut writer, 91, 82.0);
    hr(&mut writer, 150, 70.0);
    let minutes = |store: &wardwatch_core::store::Store| -> Vec<(i64, u16, f64, f64, f64)> {
        store
            .rollups(&mrns[0], Vital::HeartRate, t0(), t0() + Duration::hours(1))
            .expect("rollups")
            .into_iter()
            .map(|(at, m)| ((at - t0()).num_minutes(), m.count, m.min, m.max, m.mean))
            .collect()
    };
    assert_eq!(
        minutes(&writer),
        vec![
            (0, 3, 60.0, 64.0, 62.0),
            (1, 2, 80.0, 82.0, 81.0),
            (2, 1, 70.0, 70.0, 70.0)
        ]
    );
    let summary = || -> (i64, i64, i64, i64) {
        plain
            .query_row(
                "SELECT n, lo, hi, total FROM vital_rollups WHERE vital = ?1",
                [Vital::HeartRate.code()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("one hour")
    };
    // In tenths, as stored.
    assert_eq!(summary(), (6, 600, 820, 4180));

    plain
        .execute("UPDATE vital_rollups SET data = x'00'", [])
        .expect("damage");
    hr(&mut writer, 200, 90.0);
    assert_eq!(minutes(&writer), vec![(3, 1, 90.0, 90.0, 90.0)]);
    assert_eq!(summary(), (1, 900, 900, 900));
}

/// Issue 9, item 6: a second observation for the same patient, vital and
/// time was dropped (one row kept, both counted as stored), and an id
/// reused for another value was counted as a duplicate. Every record is now
/// counted once: stored, duplicate (identical), conflicting (quarantined
/// with both values) or rejected.
#[test]
fn every_record_is_counted_once_as_stored_duplicate_conflicting_or_rejected() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let hr = |id: &str, value: f64| numeric(id, &mrns[0], "8867-4", value, "/min", t0());
    let mut lost = hr("lost", 0.0);
    lost["valueQuantity"] = json!(null);
    lost["dataAbsentReason"] = json!({"coding": [{"code": "error"}]});
    let out = store
        .store_batch(
            &batch(vec![
                item(1, &hr("a", 72.0), now),
                item(2, &hr("a", 72.0), now), // redelivered: duplicate
                item(3, &hr("b", 72.0), now), // same sample, other id: duplicate
                item(4, &hr("c", 75.0), now), // same key, other value: conflict
                item(5, &lost, now),          // signal loss at a stored time: conflict
                item(6, &hr("a", 80.0), now), // the id reused for another value: conflict
            ]),
            now,
        )
        .expect("store");
    assert_eq!(
        (
            out.outcome.stored,
            out.outcome.duplicates,
            out.outcome.conflicts,
            out.outcome.quarantined
        ),
        (1, 2, 3, 0),
        "{out:?}"
    );
    let q = store.quarantine(10).expect("quarantine");
    assert_eq!(q.len(), 3);
    assert!(q.iter().all(|r| r.code == "conflicting"), "{q:?}");
    assert!(
        q.iter()
            .any(|r| r.reason.contains("stored as 72 /min") && r.reason.contains("says 75 /min")),
        "{q:?}"
    );
    assert!(
        q.iter().any(|r| r.reason.contains("says signal lost")),
        "{q:?}"
    );
    let status = store.source_status().expect("status");
    let gw = status.iter().find(|s| s.name == "gw").expect("gw");
    assert_eq!((gw.stored, gw.duplicates, gw.conflicts), (1, 2, 3));
    // The stored value is the first one, unchanged.
    let latest = store.latest_vitals(&mrns[0]).expect("latest");
    assert_eq!(latest[0].value, Some(72.0));
}

/// Issue 9, item 7: a device whose clock reset sent 1970 timestamps, and
/// they were stored as real data; and a monitor still assigned to the bed's
/// previous patient files data from before this patient's admission.
#[test]
fn timestamps_from_a_reset_clock_or_before_the_admission_are_quarantined() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let admitted = store
        .patient(&mrns[0])
        .expect("read")
        .expect("patient")
        .admitted_at
        .expect("the demo admits every patient");
    let epoch = Utc.timestamp_opt(0, 0).single().expect("1970");
    let out = store
        .store_batch(
            &batch(vec![
                item(
                    1,
                    &numeric("e", &mrns[0], "8867-4", 72.0, "/min", epoch),
                    now,
                ),
                item(
                    2,
                    &numeric(
                        "f",
                        &mrns[0],
                        "8867-4",
                        72.0,
                        "/min",
                        admitted - Duration::hours(1),
                    ),
                    now,
                ),
                item(
                    3,
                    &numeric("g", &mrns[0], "8867-4", 72.0, "/min", t0()),
                    now,
                ),
            ]),
            now,
        )
        .expect("store");
    assert_eq!((out.outcome.stored, out.outcome.quarantined), (1, 2));
    let codes: Vec<String> = store
        .quarantine(10)
        .expect("quarantine")
        .into_iter()
        .map(|q| q.code)
        .collect();
    assert!(codes.contains(&"stale_timestamp".to_owned()), "{codes:?}");
    assert!(codes.contains(&"before_admission".to_owned()), "{codes:?}");
}

/// Issue 9, item 5: one SSE event id with a control character became the
/// checkpoint, and every reconnect then failed ("builder error"), also
/// after a restart. Such a record is quarantined and never a resume point.
#[test]
fn a_sequence_that_cannot_be_sent_back_is_quarantined_and_never_the_checkpoint() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let mut bad = item(
        0,
        &numeric("h", &mrns[0], "8867-4", 72.0, "/min", t0()),
        now,
    );
    bad.sequence = "8\u{1b}[2J".into();
    let good = item(
        7,
        &numeric(
            "i",
            &mrns[0],
            "8867-4",
            73.0,
            "/min",
            t0() + Duration::seconds(1),
        ),
        now,
    );
    let mut sse = batch(vec![good, bad]);
    sse.ordered = false;
    let out = store.store_batch(&sse, now).expect("store");
    assert_eq!((out.outcome.stored, out.outcome.quarantined), (1, 1));
    assert_eq!(
        store
            .checkpoint("gw", "shard-0")
            .expect("checkpoint")
            .as_deref(),
        Some("7")
    );
    assert_eq!(store.quarantine(1).expect("q")[0].code, "bad_sequence");
}

/// Issue 9, item 4: raw records of up to 4 MB each were kept forever; a
/// flood grew the store by 2.4 GB in 10 s. A record's head is kept with its
/// full length, and the quarantine holds to a byte budget and a retention,
/// oldest first, counting what each source lost.
#[test]
fn the_quarantine_keeps_heads_holds_its_budget_oldest_first_and_counts_drops() {
    use wardwatch_core::store::{QUARANTINE_RAW_MAX, QuarantineBudget};
    let dir = crate::private_tempdir();
    let (mut store, _) = crate::store_with_ward(dir.path());
    let now = t0();
    let junk = |seq: u64, len: usize| IngestItem::decode(seq.to_string(), vec![b'x'; len], now);
    let out = store
        .store_batch(&batch(vec![junk(1, 200_000)]), now)
        .expect("store");
    assert_eq!(out.outcome.quarantined, 1);
    let q = store.quarantine(1).expect("q");
    assert_eq!(
        (q[0].raw.len(), q[0].raw_len),
        (QUARANTINE_RAW_MAX, 200_000)
    );
    // A record its source refused for its size: its head, and its size.
    let refused = IngestItem::refused(
        "",
        vec![b'x'; 4096],
        4_000_000,
        wardwatch_core::ingest::observation::Rejection {
            code: wardwatch_core::ingest::observation::RejectCode::Oversized,
            reason: "too big".into(),
        },
    );
    let mut sse = batch(vec![refused]);
    sse.ordered = false;
    store.store_batch(&sse, now).expect("store");
    let q = store.quarantine(1).expect("q");
    assert_eq!(
        (q[0].code.as_str(), q[0].raw.len(), q[0].raw_len),
        ("oversized", 4096, 4_000_000)
    );

    // 40 more of 10 kB each, then a budget of 200 kB: the oldest go.
    store
        .store_batch(&batch((2..42).map(|s| junk(s, 10_000)).collect()), now)
        .expect("store");
    let budget = QuarantineBudget {
        max_bytes: 200_000,
        ..QuarantineBudget::default()
    };
    let trimmed = store.trim_quarantine(now, budget).expect("trim");
    assert!(trimmed.over_budget > 0);
    let left = store.quarantine(1000).expect("q");
    let bytes: usize = left.iter().map(|q| q.raw.len() + q.reason.len()).sum();
    assert!(bytes <= 200_000, "{bytes}");
    assert_eq!(left.len() + trimmed.over_budget, 42);
    let newest = left
        .iter()
        .map(|q| q.sequence.clone())
        .max_by_key(|s| s.as_deref().and_then(|s| s.parse::<u64>().ok()));
    assert_eq!(
        newest.flatten().as_deref(),
        Some("41"),
        "the newest are kept"
    );
    assert!(
        !left.iter().any(|q| q.sequence.as_deref() == Some("1")),
        "the oldest went first"
    );
    let gw = store.source_status().expect("status");
    assert_eq!(gw[0].quarantine_dropped, trimmed.over_budget as i64);

    // Past the retention, everything goes.
    let later = store
        .trim_quarantine(
            now + chrono::Duration::days(31),
            QuarantineBudget::default(),
        )
        .expect("trim");
    assert_eq!(later.expired, left.len());
}

/// Issue 15: a pleth streamed beside lead II is stored under its own code
/// and comes with the live strip, in its own unit, over the same seconds.
#[test]
fn a_streamed_pleth_is_stored_beside_the_ecg_and_shown_under_its_strip() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = Utc
        .with_ymd_and_hms(2026, 11, 25, 8, 0, 0)
        .single()
        .expect("time");
    let at = (now - Duration::seconds(4)).to_rfc3339();
    let wave = |id: &str, code: &str, unit: &str, factor: f64, data: &str| {
        json!({"resourceType": "Observation", "id": id, "status": "final",
            "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": code}]},
            "subject": {"identifier": {"value": mrns[0]}},
            "effectiveDateTime": at,
            "valueSampledData": {"origin": {"value": 0, "code": unit}, "period": 8,
                "factor": factor, "dimensions": 1, "data": data}})
    };
    let ecg: Vec<String> = (0..250).map(|i| (i % 50).to_string()).collect();
    let pleth: Vec<String> = (0..250).map(|i| (500 + (i % 100)).to_string()).collect();
    let items = vec![
        item(1, &wave("e1", "131330", "mV", 0.01, &ecg.join(" ")), now),
        item(
            2,
            &wave("p1", "150452", "{arb'U}", 0.001, &pleth.join(" ")),
            now,
        ),
        item(3, &wave("p2", "150452", "mV", 0.001, "1 2 3"), now),
    ];
    let out = store
        .store_batch(&batch(items), now)
        .expect("store")
        .outcome;
    assert_eq!(
        (out.stored, out.quarantined),
        (2, 1),
        "a pleth in mV is refused: {out:?}"
    );
    let ctx = crate::ctx(dir.path(), "admin");
    let strip = wardwatch_core::api::ecg_strip(&ctx, &mrns[0], 8).expect("strip");
    assert_eq!(strip.samples_mv.len(), 250);
    let pulse = strip.pulse.expect("the pleth under the ECG");
    assert_eq!((pulse.code, pulse.name), (150_452, "MDC_PULS_OXIM_PLETH"));
    assert_eq!(pulse.fs_hz, 125.0);
    assert_eq!(pulse.start, strip.start);
    assert!(
        (pulse.samples[1] - 0.501).abs() < 1e-12,
        "{:?}",
        &pulse.samples[..3]
    );
    // A patient without a pulse wave has none.
    let other = wardwatch_core::api::ecg_strip(&ctx, &mrns[1], 8).expect("strip");
    assert!(other.pulse.is_none());
}

/// Issue 16: the writer's WAL is checkpointed from a connection of its
/// own. Everything the writer committed reaches the database file, and the
/// writer's next commit starts the WAL again from its beginning, so the
/// file does not grow while the ward streams.
#[test]
fn a_checkpoint_on_another_connection_copies_the_wal_and_lets_it_start_over() {
    let dir = crate::private_tempdir();
    let (mut writer, mrns) = crate::store_with_ward(dir.path());
    let checkpointer = writer.wal_checkpointer().expect("checkpointer");
    let now = t0() + Duration::minutes(5);
    let mut seq = 0;
    let mut store_some = |writer: &mut wardwatch_core::store::Store, count: usize| {
        for _ in 0..count {
            seq += 1;
            let s = seq as i64;
            let b = IngestBatch {
                source: "gw".into(),
                shard: "shard-0".into(),
                items: vec![item(
                    seq,
                    &numeric(
                        &format!("hr-{s}"),
                        &mrns[(s % 3) as usize],
                        "8867-4",
                        60.0 + (s % 40) as f64,
                        "/min",
                        t0() + Duration::seconds(s),
                    ),
                    now,
                )],
                ordered: true,
            };
            assert_eq!(
                writer.store_batch(&b, now).expect("store").outcome.stored,
                1
            );
        }
    };
    store_some(&mut writer, 40);
    let first = checkpointer.checkpoint().expect("checkpoint");
    assert!(first.frames > 40, "{first:?}");
    assert_eq!(first.copied, first.frames, "every frame copied");
    store_some(&mut writer, 1);
    let second = checkpointer.checkpoint().expect("checkpoint");
    assert!(
        second.frames < first.frames,
        "the WAL started over: {second:?} after {first:?}"
    );
    assert_eq!(second.copied, second.frames);
    // What was copied is what the writer stored, read by a new connection.
    let reader = wardwatch_core::store::Store::open_dir(dir.path()).expect("reader");
    assert_eq!(reader.sample_counts().expect("counts").0, 41);
}

/// Issue 16: the runtime's other connections (the stage's, the lake's,
/// upkeep's) leave the WAL to the checkpointer. A commit of theirs past
/// SQLite's default threshold (1,000 pages) copies nothing into the
/// database file, where a connection left at the default checkpoints in
/// its own commit; what they committed is copied by the checkpointer.
#[test]
fn connections_checkpointing_past_the_backstop_leave_the_wal_to_the_checkpointer() {
    use wardwatch_core::store::{DB_FILE, Store};
    let dir = crate::private_tempdir();
    let (writer, _) = crate::store_with_ward(dir.path());
    let checkpointer = writer.wal_checkpointer().expect("checkpointer");
    checkpointer.checkpoint().expect("checkpoint");
    let db = writer.path().to_owned();
    assert!(db.ends_with(DB_FILE), "{}", db.display());
    let size = || std::fs::metadata(&db).expect("the database file").len();
    // 400 commits of about three pages each: 1,200 pages of WAL.
    let fill = |store: &Store, name: &str| {
        for i in 0..400 {
            store
                .set_setting(&format!("test.{name}{i}"), &"x".repeat(10_000))
                .expect("setting");
        }
    };
    let lake = Store::open_beside_checkpointer(dir.path()).expect("lake");
    let before = size();
    fill(&lake, "lake");
    assert_eq!(size(), before, "the lake's commits checkpointed");
    let copied = checkpointer.checkpoint().expect("checkpoint");
    assert!(copied.frames > 1_000, "{copied:?}");
    assert_eq!(copied.copied, copied.frames);
    assert!(
        size() > before + 1_000 * 4096,
        "the checkpointer copied the WAL"
    );
    // Left at the default, the same commits checkpoint themselves.
    let other = Store::open_dir(dir.path()).expect("other");
    let before = size();
    fill(&other, "other");
    assert!(size() > before + 800 * 4096, "no checkpoint in the commits");
    // And every setting reads back.
    let reader = Store::open_dir(dir.path()).expect("reader");
    for name in ["lake0", "lake399", "other0", "other399"] {
        assert_eq!(
            reader
                .setting(&format!("test.{name}"))
                .expect("read")
                .map(|v| v.len()),
            Some(10_000),
            "{name}"
        );
    }
}

/// Issue 16's soak: readers one after another kept the WAL from starting
/// over, and it grew past 4 GB in five minutes though the checkpointer had
/// copied all of it. A restart waits for the readers inside the WAL
/// (giving up on one that stays), so the writer's next commit starts it
/// over.
#[test]
fn a_restart_starts_the_wal_over_once_its_readers_have_left_it() {
    use std::time::Duration;
    let dir = crate::private_tempdir();
    let (writer, _) = crate::store_with_ward(dir.path());
    let checkpointer = writer.wal_checkpointer().expect("checkpointer");
    let fill = |from: usize, n: usize| {
        for i in from..from + n {
            writer
                .set_setting(&format!("test.k{i}"), &"x".repeat(5_000))
                .expect("setting");
        }
    };
    fill(0, 100);
    // A reader inside the WAL (its snapshot holds the frames above).
    let reader = wardwatch_core::store::cipher::connect(dir.path()).expect("reader");
    reader.execute_batch("BEGIN").expect("begin");
    let n: i64 = reader
        .query_row("SELECT count(*) FROM settings", [], |r| r.get(0))
        .expect("read");
    assert!(n >= 100);
    let c = checkpointer.checkpoint().expect("checkpoint");
    assert_eq!(c.copied, c.frames, "all copied: {c:?}");
    fill(100, 10);
    let grown = checkpointer.checkpoint().expect("checkpoint");
    assert!(
        grown.frames > c.frames,
        "the WAL went on growing: {grown:?} after {c:?}"
    );
    assert!(
        !checkpointer
            .restart(Duration::from_millis(50))
            .expect("restart"),
        "the reader is still inside the WAL"
    );
    reader.execute_batch("COMMIT").expect("the reader leaves");
    assert!(
        checkpointer
            .restart(Duration::from_millis(50))
            .expect("restart")
    );
    fill(110, 1);
    let after = checkpointer.checkpoint().expect("checkpoint");
    assert!(after.frames < 10, "the WAL started over: {after:?}");
    // Nothing written is lost.
    assert_eq!(
        writer.setting("test.k0").expect("read").map(|v| v.len()),
        Some(5_000)
    );
    assert!(writer.setting("test.k110").expect("read").is_some());
}

/// Issue 16: a writer that has fallen behind stores the batches waiting for
/// it in one transaction. Each keeps its own checkpoint and counts, a
/// record repeated in a later batch is a duplicate, and they share one
/// fate: when one of them cannot be stored, none is, and the retry stores
/// every record once (the ids the failed attempt saw are forgotten).
#[test]
fn batches_stored_together_keep_their_checkpoints_and_are_all_stored_or_none() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let hr = |shard: &str, seq: u64, id: &str, mrn: &str, secs: i64| IngestBatch {
        source: "gw".into(),
        shard: shard.into(),
        items: vec![item(
            seq,
            &numeric(
                id,
                mrn,
                "8867-4",
                60.0 + secs as f64,
                "/min",
                t0() + Duration::seconds(secs),
            ),
            now,
        )],
        ordered: true,
    };
    let batches = vec![
        hr("shard-0", 7, "a", &mrns[0], 1),
        hr("shard-1", 3, "b", &mrns[1], 2),
        // The first batch's record again, from the other shard.
        hr("shard-1", 4, "a", &mrns[0], 1),
    ];
    // A store that refuses the second shard's checkpoint: the transaction
    // fails in its last batch.
    let plain = wardwatch_core::store::cipher::connect(dir.path()).expect("open");
    plain
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON source_checkpoints WHEN NEW.shard = 'shard-1'
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END",
        )
        .expect("trigger");
    assert!(store.store_batches(&batches, now).is_err());
    assert_eq!(store.sample_counts().expect("counts").0, 0, "none stored");
    assert_eq!(store.checkpoint("gw", "shard-0").expect("cp"), None);

    plain.execute_batch("DROP TRIGGER refuse").expect("drop");
    let stored = store.store_batches(&batches, now).expect("store");
    let counts: Vec<_> = stored
        .iter()
        .map(|s| (s.outcome.stored, s.outcome.duplicates))
        .collect();
    assert_eq!(counts, vec![(1, 0), (1, 0), (0, 1)]);
    assert_eq!(store.sample_counts().expect("counts").0, 2);
    assert_eq!(
        store.checkpoint("gw", "shard-0").expect("cp").as_deref(),
        Some("7")
    );
    assert_eq!(
        store.checkpoint("gw", "shard-1").expect("cp").as_deref(),
        Some("4")
    );
    // Each batch's indices are into its own items.
    assert_eq!(stored[1].stored_items, vec![0]);
}

/// The runtime's scores go with the writer's next batch, in its
/// transaction (issue 16): they share the batch's fate, so a failed batch
/// stores none of them and its retry stores each once; a score the store
/// refuses is left out and counted, and costs neither the batch nor the
/// other scores.
#[test]
fn scores_stored_with_a_batch_share_its_fate_and_a_refused_one_costs_nothing_else() {
    use wardwatch_core::model::ScoreDetail;
    use wardwatch_core::store::ScoreRow;
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let batch = IngestBatch {
        source: "gw".into(),
        shard: "0".into(),
        items: vec![item(
            1,
            &numeric("a", &mrns[0], "8867-4", 61.0, "/min", t0()),
            now,
        )],
        ordered: true,
    };
    let hr = |mrn: &str, bpm: f64| ScoreRow {
        mrn: mrn.to_owned(),
        at: t0(),
        value: bpm,
        score: ScoreDetail::EcgHr { lead: 131330 },
    };
    let scores = vec![hr(&mrns[0], 61.0), hr(&mrns[1], 999.0), hr(&mrns[2], 63.0)];
    let hr_rows = |store: &wardwatch_core::store::Store| -> Vec<f64> {
        mrns.iter()
            .flat_map(|m| store.scores(m, Some("ecg_hr"), 10).expect("scores"))
            .map(|r| r.value)
            .collect()
    };
    let plain = wardwatch_core::store::cipher::connect(dir.path()).expect("open");
    // The batch cannot be stored: neither are the scores.
    plain
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON source_checkpoints
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END",
        )
        .expect("trigger");
    assert!(
        store
            .store_batches_with_scores(std::slice::from_ref(&batch), &scores, now)
            .is_err()
    );
    assert_eq!(hr_rows(&store), Vec::<f64>::new());
    plain.execute_batch("DROP TRIGGER refuse").expect("drop");
    // One score the store refuses: the batch and the other two are stored.
    plain
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON scores WHEN NEW.value > 500
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END",
        )
        .expect("trigger");
    let (stored, refused) = store
        .store_batches_with_scores(std::slice::from_ref(&batch), &scores, now)
        .expect("stored");
    assert_eq!(stored[0].outcome.stored, 1);
    assert_eq!(refused, 1);
    assert_eq!(hr_rows(&store), vec![61.0, 63.0]);
    assert_eq!(store.sample_counts().expect("counts").0, 1);
}
