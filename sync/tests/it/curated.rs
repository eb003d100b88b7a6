//! The curated zone: the store's minute vitals, scores, rhythm findings,
//! alarms and patients become Apache Iceberg tables in the target, and
//! DuckDB (its iceberg extension, from scripts/peers.sh) reads them back
//! with the store's row counts, today and as of an earlier snapshot.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use wardwatch_core::alarms::{ConditionEvent, Priority};
use wardwatch_core::model::{EcgEvent, ScoreDetail};
use wardwatch_core::store::ScoreRow;
use wardwatch_score::ecg::rhythm::FindingKind;

use super::*;

/// 23:00 the day before `t0`: the data runs across midnight into two days.
fn start() -> DateTime<Utc> {
    t0() - Duration::hours(8)
}

/// What the ward holds, as the test wrote it (not as the store reports it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Written {
    patients: usize,
    /// HR samples, one every 10 s for two hours, per patient.
    samples: usize,
    /// Minutes holding samples, per patient (120).
    minutes: usize,
    /// ECG heart-rate scores, one every 10 min, per patient.
    scores: usize,
    /// Rhythm finding ends, one per patient at 00:30.
    findings: usize,
}

/// A demo ward with two hours of HR from 23:00, two malformed records, ECG
/// heart-rate scores, one rhythm finding per patient and one alarm that is
/// raised before midnight, acknowledged and resolved after it.
fn ward_across_midnight(dir: &Path) -> Written {
    let clock = Arc::new(FixedClock(start()));
    let mut ctx = Ctx::create(dir, &crate::keys(), "admin", clock).expect("store");
    api::load_demo_ward(&mut ctx, 6).expect("demo");
    let mut store = Store::open_dir(dir).expect("store");
    let mrns: Vec<String> = store
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    let mut records = Vec::new();
    for (p, mrn) in mrns.iter().enumerate() {
        for i in 0..720 {
            let at = start() + Duration::seconds(10 * i);
            records.push((
                at,
                hr(&format!("{p}-{i}"), mrn, 60.0 + (i % 30) as f64, at)
                    .to_string()
                    .into_bytes(),
            ));
        }
    }
    records.sort_by_key(|(at, _)| *at);
    records.push((start(), b"{not json".to_vec()));
    records.push((
        start(),
        hr("ghost", "NOBODY", 70.0, start())
            .to_string()
            .into_bytes(),
    ));
    for (c, chunk) in records.chunks(600).enumerate() {
        let now = chunk[0].0 + Duration::seconds(1);
        let items = chunk
            .iter()
            .enumerate()
            .map(|(i, (_, r))| IngestItem::decode((c * 600 + i + 1).to_string(), r.clone(), now))
            .collect();
        let batch = IngestBatch {
            source: "gw".into(),
            shard: "0".into(),
            items,
            ordered: true,
        };
        store.store_batch(&batch, now).expect("store");
    }
    for mrn in &mrns {
        for k in 0..12 {
            store
                .insert_score(&ScoreRow {
                    mrn: mrn.clone(),
                    at: start() + Duration::minutes(10 * k),
                    value: 70.0 + k as f64,
                    score: ScoreDetail::EcgHr { lead: 131330 },
                })
                .expect("score");
        }
        store
            .insert_score(&ScoreRow {
                mrn: mrn.clone(),
                at: start() + Duration::minutes(90),
                value: 0.0,
                score: ScoreDetail::EcgEvent(EcgEvent::End {
                    lead: 131330,
                    kind: FindingKind::ExtremeTachycardia,
                }),
            })
            .expect("finding");
    }
    let alarm = |started: bool, at: DateTime<Utc>| ConditionEvent {
        mrn: Some(mrns[0].clone()),
        key: "hr_high".into(),
        started,
        priority: Priority::Medium,
        latched: false,
        message: "HR 134 > 130".into(),
        at,
    };
    store
        .apply_condition(
            &alarm(true, start() + Duration::minutes(30)),
            start() + Duration::minutes(30),
        )
        .expect("alarm");
    let id = store.alarms(false, 10).expect("alarms")[0].id;
    store
        .ack_alarm(id, "nurse.kim", None, start() + Duration::minutes(65))
        .expect("ack");
    store
        .apply_condition(
            &alarm(false, start() + Duration::minutes(70)),
            start() + Duration::minutes(70),
        )
        .expect("alarm end");
    Written {
        patients: mrns.len(),
        samples: 720,
        minutes: 120,
        scores: 12,
        findings: 1,
    }
}

/// Runs SQL statements in DuckDB; each statement's rows.
fn duckdb(sql: &[String], s3: Option<(&str, &Credentials)>) -> Vec<Vec<Vec<Value>>> {
    let python = std::env::var("WARDWATCH_DUCKDB_PYTHON").expect(
        "WARDWATCH_DUCKDB_PYTHON: run the tests through scripts/test.sh, which installs DuckDB",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/duckdb-query.py");
    let mut cmd = Command::new(python);
    cmd.arg(script).args(sql);
    if let Some((url, keys)) = s3 {
        cmd.env(
            "WARDWATCH_DUCKDB_S3_ENDPOINT",
            url.trim_start_matches("http://"),
        )
        .env("WARDWATCH_DUCKDB_S3_KEY", keys.access_key_id())
        .env("WARDWATCH_DUCKDB_S3_SECRET", keys.secret_access_key());
    }
    let out = cmd.output().expect("running DuckDB");
    assert!(
        out.status.success(),
        "DuckDB failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("DuckDB's JSON"))
        .collect()
}

fn count(rows: &[Vec<Value>]) -> i64 {
    rows[0][0].as_i64().expect("a count")
}

/// Checks every table against what was written, through DuckDB, and
/// `vitals_minute` as of `day1` (the metadata files after the first pass).
fn check_tables(
    dir: &Path,
    w: Written,
    day1: &[(String, String)],
    s3: Option<(&str, &Credentials)>,
) {
    let store = Store::open_dir(dir).expect("store");
    let tables = store.lake_tables().expect("tables");
    let meta = |name: &str| {
        tables
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("table {name}"))
            .metadata_location
            .clone()
    };
    let scan = |m: &str| format!("iceberg_scan('{m}')");
    let p = w.patients as i64;
    let sql = vec![
        format!("SELECT count(*) FROM {}", scan(&meta("vitals_minute"))),
        format!("SELECT sum(count) FROM {}", scan(&meta("vitals_minute"))),
        format!(
            "SELECT count(DISTINCT patient), min(minute)::VARCHAR, max(minute)::VARCHAR FROM {}",
            scan(&meta("vitals_minute"))
        ),
        format!("SELECT count(*) FROM {}", scan(&meta("scores"))),
        format!(
            "SELECT count(*), min(finding) FROM {}",
            scan(&meta("rhythm_findings"))
        ),
        format!(
            "SELECT count(*), max(state), max(acked_by) FROM {}",
            scan(&meta("alarms"))
        ),
        format!("SELECT count(*) FROM {}", scan(&meta("patients"))),
        // Time travel: the table as the first day's commit left it.
        format!(
            "SELECT count(*) FROM {}",
            scan(
                &day1
                    .iter()
                    .find(|(n, _)| n == "vitals_minute")
                    .expect("day 1")
                    .1
            )
        ),
    ];
    let r = duckdb(&sql, s3);
    assert_eq!(
        count(&r[0]),
        p * w.minutes as i64,
        "a row per patient and minute"
    );
    assert_eq!(
        count(&r[1]),
        p * w.samples as i64,
        "every sample counted once"
    );
    assert_eq!(r[2][0][0].as_i64(), Some(p));
    assert!(
        r[2][0][1]
            .as_str()
            .expect("min")
            .starts_with("2026-11-24 23:00:00")
    );
    assert!(
        r[2][0][2]
            .as_str()
            .expect("max")
            .starts_with("2026-11-25 00:59:00")
    );
    assert_eq!(count(&r[3]), p * w.scores as i64);
    assert_eq!(count(&r[4]), p * w.findings as i64);
    assert_eq!(r[4][0][1], "extreme_tachycardia");
    assert_eq!(count(&r[5]), 1, "the alarm once, as it stood when exported");
    assert_eq!(r[5][0][1], "resolved");
    assert_eq!(r[5][0][2], "nurse.kim");
    assert_eq!(count(&r[6]), p);
    assert_eq!(count(&r[7]), p * 60, "day 1 alone: 23:00 to midnight");

    // No name or MRN of any patient in any table.
    let names = store.patients().expect("patients");
    let sql: Vec<String> = ["patients", "alarms", "vitals_minute"]
        .iter()
        .map(|t| format!("SELECT * FROM {}", scan(&meta(t))))
        .collect();
    let all = serde_json::to_string(&duckdb(&sql, s3)).expect("json");
    for p in names {
        assert!(!all.contains(&p.mrn), "an MRN in the curated zone");
        assert!(!all.contains(&p.family_name), "a name in the curated zone");
    }
}

/// Each curated table's name and current metadata file.
fn metadata_files(store: &Store) -> Vec<(String, String)> {
    store
        .lake_tables()
        .expect("tables")
        .into_iter()
        .map(|t| (t.name, t.metadata_location))
        .collect()
}

/// Two curating passes (at midnight, then at 02:00); the first pass's
/// metadata file per table.
fn curate_two_days(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    target: &LakeTarget,
    keys: Option<Credentials>,
) -> Vec<(String, String)> {
    let midnight = start() + Duration::hours(1);
    let mut e = rt.block_on(engine(dir, target, keys.clone(), midnight));
    let first = rt.block_on(e.curate(true)).expect("curate");
    // Day 1 holds vitals, scores and the patients (the finding and the
    // alarm's last change come after midnight).
    assert_eq!(first.commits, 3, "{first:?}");
    let day1 = metadata_files(e.store());
    let mut e = rt.block_on(engine(dir, target, keys, midnight + Duration::hours(2)));
    let second = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    assert!(second.failure.is_none(), "{:?}", second.failure);
    assert_eq!(second.curated.commits, 4, "{:?}", second.curated);
    // Nothing new: nothing committed.
    let third = rt.block_on(e.curate(true)).expect("curate");
    assert_eq!((third.commits, third.rows), (0, 0));
    day1
}

#[test]
fn a_ward_across_midnight_becomes_iceberg_tables_in_a_folder_that_duckdb_reads() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    let w = ward_across_midnight(dir.path());
    let target = folder_target(lake.path());
    let rt = rt();
    let day1 = curate_two_days(&rt, dir.path(), &target, None);
    check_tables(dir.path(), w, &day1, None);
    // Parquet data files partitioned by day.
    assert!(
        lake.path()
            .join("curated/vitals_minute/data/day=2026-11-24")
            .is_dir()
    );
}

#[test]
fn the_curated_tables_in_seaweedfs_read_the_same_through_duckdb_s3() {
    let (url, keys) = seaweedfs();
    let dir = private_tempdir();
    let w = ward_across_midnight(dir.path());
    let rt = rt();
    rt.block_on(create_bucket(&url, &keys, "curated-lake"));
    let target = LakeTarget {
        name: "seaweedfs".into(),
        url: "s3://curated-lake/hospital-a".into(),
        endpoint: Some(url.clone()),
        region: Some("us-east-1".into()),
        ..folder_target(Path::new("/unused"))
    };
    let day1 = curate_two_days(&rt, dir.path(), &target, Some(keys.clone()));
    assert!(
        day1[0]
            .1
            .starts_with("s3://curated-lake/hospital-a/curated/")
    );
    check_tables(dir.path(), w, &day1, Some((&url, &keys)));
}

#[test]
fn an_interrupted_commit_leaves_no_file_behind_and_its_rows_are_committed_once() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    let w = ward_across_midnight(dir.path());
    let target = folder_target(lake.path());
    let rt = rt();
    let midnight = start() + Duration::hours(1);
    let mut e = rt.block_on(engine(dir.path(), &target, None, midnight));
    rt.block_on(e.curate(true)).expect("curate");
    let day1 = metadata_files(e.store());
    drop(e);
    // What a kill in the middle of day 2's commit of vitals_minute leaves:
    // its intent, a data file, a manifest and a metadata file no table
    // references (the store's pointer never moved).
    let mut store = Store::open_dir(dir.path()).expect("store");
    store
        .lake_table_intent("vitals_minute", midnight)
        .expect("intent");
    let table = lake.path().join("curated/vitals_minute");
    let strays = [
        table.join("data/day=2026-11-25/20261125T0000-20261125T0200-00000-0-dead.parquet"),
        table.join("metadata/0badc0de-m0.avro"),
        table.join("metadata/00002-0badc0de.metadata.json"),
    ];
    for f in &strays {
        std::fs::create_dir_all(f.parent().expect("folder")).expect("folder");
        std::fs::write(f, b"half a commit").expect("stray");
    }
    drop(store);
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        None,
        midnight + Duration::hours(2),
    ));
    let pass = rt.block_on(e.curate(true)).expect("curate");
    assert_eq!(pass.orphans_removed, 3, "{pass:?}");
    for f in &strays {
        assert!(!f.exists(), "{} left behind", f.display());
    }
    let t = e
        .store()
        .lake_table("vitals_minute")
        .expect("table")
        .expect("vitals_minute");
    assert_eq!(t.orphans_removed, 3, "counted in the catalog");
    assert!(e.store().lake_table_intents().expect("intents").is_empty());
    check_tables(dir.path(), w, &day1, None);
}
