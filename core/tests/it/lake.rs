//! The data lake's spool and outbox: every record reaches the raw zone
//! byte for byte, stored observations the cleaned zone, rejected ones the
//! quarantine prefix with their reason; sealing is atomic and repeatable.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::ingest::observation;
use wardwatch_core::store::lake::{LakeObject, Zone, received_record, sha256_hex};
use wardwatch_core::store::{IngestBatch, IngestItem, Store};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0)
        .single()
        .expect("time")
}

fn hr(id: &str, mrn: &str, value: f64, at: DateTime<Utc>) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": value, "code": "/min"}})
}

fn temp_f(id: &str, mrn: &str, value: f64, at: DateTime<Utc>) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8310-5"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": value, "unit": "degF", "code": "[degF]"}})
}

/// Decompresses a sealed object and splits it into JSON lines.
fn lines_of(store: &Store, o: &LakeObject) -> Vec<Value> {
    let data = store.lake_object_data(&o.key).expect("object bytes");
    assert_eq!(
        sha256_hex(&data),
        o.sha256,
        "checksum recorded for {}",
        o.key
    );
    let text = zstd::stream::decode_all(&data[..]).expect("an object is one zstd stream");
    assert_eq!(text.len() as i64, o.raw_bytes);
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("each line is JSON"))
        .collect()
}

fn seal_all(store: &mut Store) -> Vec<LakeObject> {
    let mut objects = Vec::new();
    for g in store.lake_spool_groups().expect("groups") {
        while let Some(o) = store.lake_seal(&g, i64::MAX).expect("seal") {
            objects.push(o);
        }
    }
    objects
}

#[test]
fn every_record_reaches_the_raw_zone_byte_for_byte_and_the_cleaned_zone_or_the_quarantine() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let pretty = serde_json::to_vec_pretty(&hr("pretty", &mrns[1], 81.0, t0())).expect("json");
    let records: Vec<(String, Vec<u8>)> = vec![
        (
            "1".into(),
            hr("a", &mrns[0], 72.0, t0()).to_string().into_bytes(),
        ),
        (
            "2".into(),
            hr("b", &mrns[0], 900.0, t0()).to_string().into_bytes(),
        ),
        (
            "3".into(),
            hr("c", "NOBODY", 70.0, t0()).to_string().into_bytes(),
        ),
        ("4".into(), b"{oops".to_vec()),
        ("5".into(), vec![0xff, 0xfe, b'{', b'\n']),
        ("6".into(), pretty.clone()),
        (
            "7".into(),
            temp_f("f", &mrns[2], 98.6, t0()).to_string().into_bytes(),
        ),
        // A redelivery: counted as a duplicate, and still a received record.
        (
            "8".into(),
            hr("a", &mrns[0], 72.0, t0()).to_string().into_bytes(),
        ),
    ];
    let items = records
        .iter()
        .map(|(seq, raw)| IngestItem::decode(seq.clone(), raw.clone(), now))
        .collect();
    let batch = IngestBatch {
        source: "ward gw/1".into(),
        shard: "0".into(),
        items,
        ordered: true,
    };
    let out = store.store_batch(&batch, now).expect("store").outcome;
    assert_eq!((out.stored, out.quarantined, out.duplicates), (3, 4, 1));

    let objects = seal_all(&mut store);
    assert!(
        store.lake_spool_groups().expect("groups").is_empty(),
        "the spool is empty once sealed"
    );
    let by_prefix =
        |p: &str| -> Vec<&LakeObject> { objects.iter().filter(|o| o.key.starts_with(p)).collect() };

    // Raw: every record, in order, byte for byte, with source and sequence;
    // the source name escaped in the key.
    let raw = by_prefix("raw/observations/date=2026-11-25/source=ward%20gw%2F1/part-");
    assert_eq!(raw.len(), 1, "{objects:#?}");
    let data = store.lake_object_data(&raw[0].key).expect("bytes");
    let text =
        String::from_utf8_lossy(&zstd::stream::decode_all(&data[..]).expect("zstd")).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), records.len());
    for ((seq, bytes), line) in records.iter().zip(&lines) {
        let v: Value = serde_json::from_str(line).expect("line");
        assert_eq!(v["sequence"], json!(seq));
        assert_eq!(v["source"], json!("ward gw/1"));
        assert_eq!(v["bytes"], json!(bytes.len()));
        assert_eq!(
            &received_record(line.as_bytes()).expect("a record"),
            bytes,
            "record {seq} comes back byte for byte"
        );
    }

    // Cleaned: the three stored observations, canonical units, decodable
    // to what was stored; partitioned by the patient's ward.
    let cleaned = by_prefix("cleaned/observations/date=2026-11-25/ward=");
    let cleaned_lines: Vec<Value> = cleaned.iter().flat_map(|o| lines_of(&store, o)).collect();
    assert_eq!(cleaned_lines.len(), 3);
    let temp = cleaned_lines
        .iter()
        .find(|l| l["id"] == "f")
        .expect("temperature line");
    assert_eq!(
        temp["valueQuantity"]["code"],
        json!("Cel"),
        "°F converted to the canonical unit"
    );
    assert!((temp["valueQuantity"]["value"].as_f64().expect("value") - 37.0).abs() < 0.01);
    for line in &cleaned_lines {
        let back = observation::decode(line.to_string().as_bytes(), now);
        assert!(
            back.is_ok(),
            "a cleaned line is a valid Observation: {line}"
        );
    }

    // Quarantine: each rejected record with its code and reason.
    let q = by_prefix("cleaned/quarantine/date=2026-11-25/source=ward%20gw%2F1/");
    let q_lines: Vec<Value> = q.iter().flat_map(|o| lines_of(&store, o)).collect();
    let mut codes: Vec<&str> = q_lines
        .iter()
        .map(|l| l["code"].as_str().expect("code"))
        .collect();
    codes.sort_unstable();
    assert_eq!(
        codes,
        [
            "impossible_value",
            "invalid_json",
            "invalid_json",
            "unknown_patient"
        ]
    );
    assert!(
        q_lines
            .iter()
            .all(|l| !l["reason"].as_str().unwrap_or("").is_empty())
    );

    // The outbox holds them all, pending, with their totals.
    let status = store.lake_status().expect("status");
    let raw_status = &status
        .zones
        .iter()
        .find(|(z, _)| *z == Zone::Raw)
        .expect("raw")
        .1;
    assert_eq!(
        (raw_status.pending_objects, raw_status.spooled_records),
        (1, 0)
    );
    assert_eq!(status.oldest_pending, Some(now));
}

#[test]
fn a_rolled_back_batch_leaves_nothing_in_the_spool_and_sealing_twice_names_the_same_object() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let batch = |seq: u64, id: &str| IngestBatch {
        source: "gw".into(),
        shard: "0".into(),
        items: vec![IngestItem::decode(
            seq.to_string(),
            hr(id, &mrns[0], 70.0, t0()).to_string().into_bytes(),
            now,
        )],
        ordered: true,
    };
    store.store_batch(&batch(1, "x"), now).expect("store");
    store.store_batch(&batch(2, "y"), now).expect("store");
    let groups = store.lake_spool_groups().expect("groups");
    let raw = groups
        .iter()
        .find(|g| g.zone == Zone::Raw)
        .expect("raw group");
    assert_eq!((raw.rows, raw.records), (2, 2));
    for g in &groups {
        assert_eq!(
            store.lake_spool_group(g).expect("one group").as_ref(),
            Some(g),
            "one group read alone is what the list of all groups says of it"
        );
    }

    // Sealed in a transaction that does not commit (a crash): the rows stay,
    // and sealing them again names the same object.
    let key = {
        let copy = dir.path().join("copy");
        std::fs::create_dir(&copy).expect("dir");
        let file = wardwatch_core::store::DB_FILE;
        store.backup_to(&copy.join(file)).expect("copy");
        // The copy is encrypted with the store's key: its folder names it.
        let listed = wardwatch_core::store::cipher::CIPHER_FILE;
        if dir.path().join(listed).exists() {
            std::fs::copy(dir.path().join(listed), copy.join(listed)).expect("key list");
        }
        let mut other = Store::open_dir(&copy).expect("copy store");
        other
            .lake_seal(raw, i64::MAX)
            .expect("seal")
            .expect("object")
            .key
    };
    let o = store
        .lake_seal(raw, i64::MAX)
        .expect("seal")
        .expect("object");
    assert_eq!(
        o.key, key,
        "the key is derived from the rows, not from the time or a counter"
    );
    assert_eq!(o.records, 2);
    assert!(
        store.lake_seal(raw, i64::MAX).expect("seal").is_none(),
        "sealed rows are gone"
    );
    assert_eq!(store.lake_spool_group(raw).expect("one group"), None);

    // Once synced, the object's bytes leave the store.
    store.lake_mark_synced(&o.key, "t", now).expect("mark");
    assert!(store.lake_object_data(&o.key).is_err());
    assert!(
        store
            .lake_pending(10)
            .expect("pending")
            .iter()
            .all(|p| p.key != o.key)
    );

    // New lines after everything was sealed never reuse a sealed row's id,
    // so never the key of an object already in the target.
    let part = |key: &str| -> i64 {
        let n = key.rsplit_once("part-").expect("part").1;
        n.trim_end_matches(".ndjson.zst").parse().expect("number")
    };
    let newest = seal_all(&mut store).iter().map(|o| part(&o.key)).max();
    assert!(store.lake_spool_groups().expect("groups").is_empty());
    store.store_batch(&batch(3, "z"), now).expect("store");
    let groups = store.lake_spool_groups().expect("groups");
    let raw = groups
        .iter()
        .find(|g| g.zone == Zone::Raw)
        .expect("raw group");
    let next = store
        .lake_seal(raw, i64::MAX)
        .expect("seal")
        .expect("object");
    assert_ne!(next.key, o.key);
    assert!(
        newest.is_some_and(|n| n < part(&next.key)),
        "the new object's part number follows every sealed one"
    );
}

/// Issue 16: a writer that stores batches together has their lake lines
/// written and compressed on another thread while it stores them. The
/// spool must hold what storing them one by one would have put there, in
/// the same order (an object's key and its lines follow the spool's ids),
/// and a gathered write that fails must spool nothing at all.
#[test]
fn batches_stored_together_spool_what_they_would_alone_and_a_failed_write_spools_nothing() {
    let now = t0() + Duration::minutes(5);
    let batches = |mrns: &[String]| -> Vec<IngestBatch> {
        let batch = |shard: &str, records: Vec<(u64, Vec<u8>)>| IngestBatch {
            source: "gw".into(),
            shard: shard.into(),
            items: records
                .into_iter()
                .map(|(seq, raw)| IngestItem::decode(seq.to_string(), raw, now))
                .collect(),
            ordered: true,
        };
        let at = |s: i64| t0() + Duration::seconds(s);
        let json = |v: Value| v.to_string().into_bytes();
        vec![
            batch(
                "a",
                vec![
                    (1, json(hr("a1", &mrns[0], 70.0, at(1)))),
                    (2, json(hr("a2", &mrns[1], 71.0, at(1)))),
                    (3, b"{oops".to_vec()),
                ],
            ),
            batch(
                "b",
                vec![
                    (1, json(hr("b1", "NOBODY", 70.0, at(2)))),
                    (2, json(temp_f("b2", &mrns[2], 98.6, at(2)))),
                    // A day ahead of the clock: quarantined.
                    (3, json(hr("b3", &mrns[0], 72.0, at(86_400)))),
                ],
            ),
            batch(
                "a",
                vec![
                    (4, json(hr("a1", &mrns[0], 70.0, at(1)))),
                    (5, json(hr("a5", &mrns[3], 900.0, at(3)))),
                    (6, json(hr("a6", &mrns[4], 75.0, at(3)))),
                ],
            ),
        ]
    };
    let sealed = |store: &mut Store| -> Vec<(String, Vec<Value>)> {
        let mut objects: Vec<_> = seal_all(store)
            .iter()
            .map(|o| (o.key.clone(), lines_of(store, o)))
            .collect();
        objects.sort_by(|a, b| a.0.cmp(&b.0));
        objects
    };

    let alone_dir = crate::private_tempdir();
    let (mut alone, mrns) = crate::store_with_ward(alone_dir.path());
    for b in batches(&mrns) {
        alone.store_batch(&b, now).expect("store");
    }
    let expected = sealed(&mut alone);
    let keys: Vec<&str> = expected.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys.len(), 3, "raw, cleaned and quarantine: {keys:?}");
    let records: usize = expected.iter().map(|(_, lines)| lines.len()).sum();
    assert_eq!(records, 9 + 4 + 4, "9 raw lines, 4 stored, 4 refused");

    let dir = crate::private_tempdir();
    let (mut store, mrns_again) = crate::store_with_ward(dir.path());
    assert_eq!(mrns, mrns_again, "the same demo ward");
    // A store that refuses the last batch's checkpoint: the gathered write
    // fails after the helper has had every batch's lines.
    let plain = wardwatch_core::store::cipher::connect(dir.path()).expect("open");
    plain
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE UPDATE ON source_checkpoints WHEN NEW.sequence = '6'
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END",
        )
        .expect("trigger");
    assert!(store.store_batches(&batches(&mrns), now).is_err());
    assert!(
        store.lake_spool_groups().expect("groups").is_empty(),
        "a failed write spools nothing"
    );
    plain.execute_batch("DROP TRIGGER refuse").expect("drop");
    store.store_batches(&batches(&mrns), now).expect("store");
    assert_eq!(sealed(&mut store), expected);
}

/// A seal reads and compresses its rows before it takes the write lock, so
/// two seals of one group (the runtime's lake thread and a `wardwatchctl
/// sync` beside it) can read the same rows: each raw line still ends in
/// exactly one object, none lost, none in two, while batches keep coming.
#[test]
fn two_seals_of_one_group_at_once_put_each_line_in_exactly_one_object() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    let batches = 60u64;
    let per_batch = 5u64;
    let stored = std::sync::atomic::AtomicBool::new(false);
    let sealers = std::thread::scope(|s| {
        let sealers: Vec<_> = (0..2)
            .map(|_| {
                let (stored, dir) = (&stored, dir.path());
                s.spawn(move || {
                    let mut store = Store::open_dir(dir).expect("a second connection");
                    let mut objects = Vec::new();
                    loop {
                        let last = stored.load(std::sync::atomic::Ordering::Acquire);
                        for g in store.lake_spool_groups().expect("groups") {
                            if g.zone != Zone::Raw {
                                continue;
                            }
                            // Small objects: many seals, many chances to race.
                            while let Some(o) = store.lake_seal(&g, 1).expect("seal") {
                                objects.push(o);
                            }
                        }
                        if last {
                            return objects;
                        }
                    }
                })
            })
            .collect();
        for b in 0..batches {
            let items = (0..per_batch)
                .map(|i| {
                    let seq = b * per_batch + i;
                    let at = t0() + Duration::seconds(seq as i64);
                    IngestItem::decode(
                        seq.to_string(),
                        hr(&format!("o{seq}"), &mrns[0], 70.0, at)
                            .to_string()
                            .into_bytes(),
                        now,
                    )
                })
                .collect();
            let batch = IngestBatch {
                source: "gw".into(),
                shard: "0".into(),
                items,
                ordered: true,
            };
            store.store_batch(&batch, now).expect("store");
        }
        stored.store(true, std::sync::atomic::Ordering::Release);
        sealers
            .into_iter()
            .map(|h| h.join().expect("a sealer"))
            .collect::<Vec<_>>()
    });
    let objects: Vec<LakeObject> = sealers.into_iter().flatten().collect();
    assert!(
        store
            .lake_spool_groups()
            .expect("groups")
            .iter()
            .all(|g| g.zone != Zone::Raw),
        "every raw row was sealed"
    );
    let mut seen: Vec<String> = objects
        .iter()
        .flat_map(|o| lines_of(&store, o))
        .map(|v| v["sequence"].as_str().expect("a sequence").to_owned())
        .collect();
    let lines = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!(
        (lines, seen.len()),
        (
            (batches * per_batch) as usize,
            (batches * per_batch) as usize
        ),
        "every line once: {} objects",
        objects.len()
    );
}

#[test]
fn a_damaged_spool_row_fails_its_seal_by_name_and_loses_nothing() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = crate::store_with_ward(dir.path());
    let now = t0() + Duration::minutes(5);
    for b in 0..3 {
        let items = (0..4)
            .map(|i| {
                let n = b * 4 + i;
                let raw = hr(
                    &format!("r{n}"),
                    &mrns[0],
                    70.0,
                    t0() + Duration::seconds(n),
                )
                .to_string()
                .into_bytes();
                IngestItem::decode(n.to_string(), raw, now)
            })
            .collect();
        let batch = IngestBatch {
            source: "gw".into(),
            shard: "0".into(),
            items,
            ordered: true,
        };
        store.store_batch(&batch, now).expect("store");
    }
    // The second raw row: its lines no longer what it was spooled with
    // (a frame of other bytes), then no frame at all.
    let raw = wardwatch_core::store::cipher::connect(dir.path()).expect("open the file");
    let second: i64 = raw
        .query_row(
            "SELECT id FROM lake_spool WHERE zone = 'raw' ORDER BY id LIMIT 1 OFFSET 1",
            [],
            |r| r.get(0),
        )
        .expect("a second raw row");
    let group = store
        .lake_spool_groups()
        .expect("groups")
        .into_iter()
        .find(|g| g.zone == Zone::Raw)
        .expect("the raw group");
    let (data, raw_bytes): (Vec<u8>, i64) = raw
        .query_row(
            "SELECT data, raw_bytes FROM lake_spool WHERE id = ?1",
            [second],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("the row");
    for (data, raw_bytes) in [
        (
            zstd::bulk::compress(b"{\"other\": true}\n", 1).expect("zstd"),
            raw_bytes,
        ),
        (b"not zstd".to_vec(), raw_bytes),
        // Its own lines, but a size no buffer should be made for.
        (data, 1 << 50),
    ] {
        raw.execute(
            "UPDATE lake_spool SET data = ?1, raw_bytes = ?2 WHERE id = ?3",
            rusqlite::params![data, raw_bytes, second],
        )
        .expect("damage");
        let e = store
            .lake_seal(&group, i64::MAX)
            .expect_err("a damaged row is never sealed");
        assert_eq!(e.kind(), wardwatch_core::error::ErrorKind::Damaged, "{e}");
        assert!(
            e.to_string().contains(&format!("lake spool row {second}")),
            "{e}"
        );
        // Nothing sealed, nothing taken from the spool.
        assert!(store.lake_objects("raw/").expect("objects").is_empty());
        let left = store
            .lake_spool_groups()
            .expect("groups")
            .into_iter()
            .find(|g| g.zone == Zone::Raw)
            .expect("the raw group is still there");
        assert_eq!((left.rows, left.records), (3, 12));
    }
}
