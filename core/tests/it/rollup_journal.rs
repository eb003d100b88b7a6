//! A runtime writer's minute history goes through the rollup journal
//! (issue 16): merged later, it must be exactly what merging batch by batch
//! gives, survive a writer that stops without merging, and never count a
//! value twice or lose one.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::ErrorKind;
use wardwatch_core::api;
use wardwatch_core::model::Vital;
use wardwatch_core::store::devices::DataMove;
use wardwatch_core::store::rollup::Minute;
use wardwatch_core::store::rollup_journal::{JournalMerge, PARTS, part_of};
use wardwatch_core::store::{IngestBatch, IngestItem, Store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 6, 58, 0)
        .single()
        .expect("time")
}

fn reading(id: &str, mrn: &str, vital: Vital, value: f64, at: DateTime<Utc>) -> Value {
    let (loinc, unit) = match vital {
        Vital::HeartRate => ("8867-4", "/min"),
        Vital::Spo2 => ("2708-6", "%"),
        _ => ("9279-1", "/min"),
    };
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"identifier": {"value": mrn}},
        "device": {"identifier": {"value": format!("monitor-{mrn}")}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": value, "code": unit}})
}

/// Five batches over three patients and three vitals, 07:00 between them
/// (two hours per key), a minute written by several batches, and a late
/// value for a minute merged before.
fn batches(mrns: &[String], now: DateTime<Utc>) -> Vec<IngestBatch> {
    let vitals = [Vital::HeartRate, Vital::Spo2, Vital::RespRate];
    (0..5)
        .map(|b| {
            let mut records = Vec::new();
            for (p, mrn) in mrns.iter().take(3).enumerate() {
                for (v, vital) in vitals.iter().enumerate() {
                    for s in 0..8 {
                        // 06:58:00 + 45 s steps: batches 0–1 before 07:00,
                        // 2–4 after; batch 4 also late values at 06:58.
                        let secs = if b == 4 && s < 2 {
                            s * 7 + 3
                        } else {
                            (b * 8 + s) * 15
                        };
                        let base = [70.0, 92.0, 14.0][v];
                        let value = base + (p + b) as f64 * 0.5 + s as f64 * 0.25;
                        records.push(reading(
                            &format!("b{b}-p{p}-v{v}-s{s}"),
                            mrn,
                            *vital,
                            value,
                            t0() + Duration::seconds(secs as i64),
                        ));
                    }
                }
            }
            IngestBatch {
                source: "gw".into(),
                shard: "sse".into(),
                ordered: false,
                items: records
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        IngestItem::decode(format!("{b}-{i}"), v.to_string().into_bytes(), now)
                    })
                    .collect(),
            }
        })
        .collect()
}

/// A store with two demo wards (48 patients), and the MRNs of patients in
/// different parts of the journal, one per part, the first three first.
fn ward_in_parts(dir: &std::path::Path) -> (Store, Vec<String>) {
    let mut admin = crate::ctx(dir, "admin");
    api::load_demo_ward(&mut admin, 9).expect("a ward");
    api::load_demo_ward(&mut admin, 1000).expect("another ward");
    let store = crate::store_of(&admin);
    let raw = wardwatch_core::store::cipher::connect(dir).expect("the file");
    let mut parts = std::collections::BTreeSet::new();
    let mut mrns = Vec::new();
    for p in store.patients().expect("patients") {
        let id: i64 = raw
            .query_row("SELECT id FROM patients WHERE mrn = ?1", [&p.mrn], |r| {
                r.get(0)
            })
            .expect("its id");
        if parts.insert(part_of(id)) {
            mrns.push(p.mrn);
        }
    }
    assert!(mrns.len() >= 3, "48 patients span {} parts", mrns.len());
    (store, mrns)
}

/// Every minute of the three patients' three vitals in the test's span.
fn history(store: &Store, mrns: &[String]) -> Vec<Vec<(DateTime<Utc>, Minute)>> {
    let mut out = Vec::new();
    for mrn in mrns.iter().take(3) {
        for vital in [Vital::HeartRate, Vital::Spo2, Vital::RespRate] {
            out.push(
                store
                    .rollups(mrn, vital, t0(), t0() + Duration::hours(2))
                    .expect("rollups"),
            );
        }
    }
    out
}

fn counted(h: &[Vec<(DateTime<Utc>, Minute)>]) -> u64 {
    h.iter().flatten().map(|(_, m)| u64::from(m.count)).sum()
}

#[test]
fn a_journal_merged_later_even_by_another_connection_gives_the_history_merged_batch_by_batch() {
    let now = t0() + Duration::minutes(30);
    // The reference: minutes merged into their hours batch by batch.
    let dir = crate::private_tempdir();
    let (mut direct, mrns) = ward_in_parts(dir.path());
    let before = counted(&history(&direct, &mrns));
    for b in batches(&mrns, now) {
        direct.store_batch(&b, now).expect("store");
    }
    let expected = history(&direct, &mrns);
    assert_eq!(
        counted(&expected) - before,
        5 * 3 * 3 * 8,
        "every value counted once"
    );

    // A runtime writer: the minutes wait in the journal.
    let dir = crate::private_tempdir();
    let (mut writer, mrns) = ward_in_parts(dir.path());
    writer.defer_rollups(true);
    let batches = batches(&mrns, now);
    writer
        .store_batches(&batches[..2], now)
        .expect("one transaction");
    // A row per part (`part_of` the patient's id) the transaction added to.
    let (parts, _) = writer.rollup_journal_size().expect("size");
    assert_eq!(parts, 3, "3 patients in 3 parts");
    writer.store_batch(&batches[2], now).expect("store");
    assert!(writer.rollup_journal_dirty());
    assert_eq!(counted(&history(&writer, &mrns)), before, "not merged yet");
    let (rows, bytes) = writer.rollup_journal_size().expect("size");
    assert_eq!(rows, 2 * parts);
    assert!(
        bytes < 3 * 3 * 3 * 2 * 30,
        "sparse minutes, not whole hours: {bytes} B"
    );
    assert_eq!(
        writer.merge_rollup_journal().expect("merge"),
        JournalMerge {
            rows: 2 * parts as usize,
            hours: 3 * 3 * 2
        }
    );
    assert!(!writer.rollup_journal_dirty());
    assert_eq!(writer.rollup_journal_size().expect("size"), (0, 0));
    assert_eq!(
        writer.merge_rollup_journal().expect("again"),
        JournalMerge::default()
    );

    // The rest, and the writer stops without merging (a crash): the next
    // connection to merge folds in what it left, once, part by part.
    writer.store_batch(&batches[3], now).expect("store");
    writer.store_batch(&batches[4], now).expect("late values");
    drop(writer);
    let mut next = Store::open_dir(dir.path()).expect("reopen");
    assert_eq!(next.rollup_journal_size().expect("size").0, 2 * parts);
    assert_eq!(next.rollup_journal_next_part(), None, "it appended nothing");
    let mut merged = 0;
    let mut seen = Vec::new();
    for part in 0..PARTS {
        merged += next.merge_rollup_journal_part(part).expect("merge").rows;
        seen.push(history(&next, &mrns));
    }
    assert_eq!(merged, 2 * parts as usize);
    assert_eq!(history(&next, &mrns), expected);
    assert!(seen.iter().any(|h| *h != expected), "one part is not all");
    // Stored again (a source redelivering): duplicates, nothing journalled.
    next.defer_rollups(true);
    for b in &batches {
        assert_eq!(next.store_batch(b, now).expect("again").outcome.stored, 0);
    }
    assert!(!next.rollup_journal_dirty());
    next.merge_rollup_journal().expect("merge");
    assert_eq!(history(&next, &mrns), expected);
}

#[test]
fn a_damaged_journal_row_fails_the_merge_by_name_and_loses_nothing() {
    let now = t0() + Duration::minutes(30);
    let dir = crate::private_tempdir();
    let (mut writer, mrns) = ward_in_parts(dir.path());
    writer.defer_rollups(true);
    let batches = batches(&mrns, now);
    for b in &batches[..3] {
        writer.store_batch(b, now).expect("store");
    }
    let before = history(&writer, &mrns);
    let (rows, _) = writer.rollup_journal_size().expect("size");
    let raw = wardwatch_core::store::cipher::connect(dir.path()).expect("open the file");
    let second: i64 = raw
        .query_row(
            "SELECT id FROM rollup_journal ORDER BY id LIMIT 1 OFFSET 1",
            [],
            |r| r.get(0),
        )
        .expect("a second row");
    let data: Vec<u8> = raw
        .query_row(
            "SELECT data FROM rollup_journal WHERE id = ?1",
            [second],
            |r| r.get(0),
        )
        .expect("the row");
    for damaged in [
        data[..data.len() - 3].to_vec(),   // cut short
        [&[2u8][..], &data[1..]].concat(), // a format this build does not know
        vec![],
    ] {
        raw.execute(
            "UPDATE rollup_journal SET data = ?1 WHERE id = ?2",
            rusqlite::params![damaged, second],
        )
        .expect("damage it");
        let err = writer.merge_rollup_journal().expect_err("refused");
        assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("rollup journal row {second}")),
            "{err}"
        );
        assert_eq!(history(&writer, &mrns), before, "nothing merged");
        assert_eq!(
            writer.rollup_journal_size().expect("size").0,
            rows,
            "nothing deleted"
        );
    }
    // Only its part is held up: the other parts merge.
    let damaged_part: i64 = raw
        .query_row(
            "SELECT part FROM rollup_journal WHERE id = ?1",
            [second],
            |r| r.get(0),
        )
        .expect("its part");
    let mut merged = 0;
    for part in 0..PARTS {
        match writer.merge_rollup_journal_part(part) {
            Ok(m) => merged += m.rows,
            Err(e) => assert_eq!((part, e.kind()), (damaged_part, ErrorKind::Damaged)),
        }
    }
    assert_eq!(merged as i64, rows / 3 * 2, "the two other parts' rows");
    assert_eq!(
        writer.rollup_journal_size().expect("size").0,
        rows - merged as i64
    );
    // Put right, the merge folds in the rest.
    raw.execute(
        "UPDATE rollup_journal SET data = ?1 WHERE id = ?2",
        rusqlite::params![data, second],
    )
    .expect("repair");
    assert_eq!(
        writer.merge_rollup_journal().expect("merge").rows,
        rows as usize - merged
    );
    assert_eq!(
        counted(&history(&writer, &mrns)) - counted(&before),
        3 * 3 * 3 * 8
    );
}

#[test]
fn moving_a_devices_data_merges_the_journal_first_so_no_minute_counts_twice() {
    let now = t0() + Duration::minutes(30);
    let dir = crate::private_tempdir();
    let (mut writer, mrns) = crate::store_with_ward(dir.path());
    let minutes = |store: &Store, mrn: &str| -> u64 {
        [Vital::HeartRate, Vital::Spo2, Vital::RespRate]
            .iter()
            .flat_map(|v| {
                store
                    .rollups(mrn, *v, t0(), t0() + Duration::hours(2))
                    .expect("rollups")
            })
            .map(|(_, m)| u64::from(m.count))
            .sum()
    };
    let before: Vec<u64> = mrns[..4].iter().map(|m| minutes(&writer, m)).collect();
    writer.defer_rollups(true);
    for b in &batches(&mrns, now)[..3] {
        writer.store_batch(b, now).expect("store");
    }
    // Patient 0's monitor was patient 3's all along: an admin moves its
    // data from another connection while the minutes wait in the journal.
    let mut admin = crate::ctx(dir.path(), "admin");
    let device = format!("monitor-{}", mrns[0]);
    let m = DataMove {
        device: &device,
        from_mrn: &mrns[0],
        to_mrn: &mrns[3],
        since: t0(),
        until: t0() + Duration::hours(1),
    };
    let report = api::move_device_data(&mut admin, &m).expect("move");
    assert_eq!(report.samples, 3 * 3 * 8);
    // The writer merges later: the journal is already empty.
    assert_eq!(
        writer.merge_rollup_journal().expect("merge"),
        JournalMerge::default()
    );
    let after: Vec<u64> = mrns[..4].iter().map(|m| minutes(&writer, m)).collect();
    assert_eq!(after[3] - before[3], 3 * 3 * 8, "moved, counted once");
    assert_eq!(after[0], before[0], "nothing left, nothing added back");
    assert_eq!(after[1] - before[1], 3 * 3 * 8, "the others as stored");
}
