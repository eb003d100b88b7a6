//! The curated zone: the store's minute vitals, scores, rhythm findings,
//! alarms and patients become Apache Iceberg tables in the target, and
//! DuckDB (its iceberg extension, from scripts/peers.sh) reads them back
//! with the store's row counts, today and as of an earlier snapshot.

use std::path::Path;
use std::process::Command;

use chrono::DurationRound;
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

/// The current metadata file of the curated table `name`.
fn metadata_of(store: &Store, name: &str) -> String {
    store
        .lake_tables()
        .expect("tables")
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("table {name}"))
        .metadata_location
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
    let meta = |name: &str| metadata_of(&store, name);
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

/// A SeaweedFS target at `url` (`s3://bucket/prefix`).
fn seaweedfs_target(endpoint: &str, url: &str) -> LakeTarget {
    LakeTarget {
        name: "seaweedfs".into(),
        url: url.into(),
        endpoint: Some(endpoint.into()),
        region: Some("us-east-1".into()),
        ..folder_target(Path::new("/unused"))
    }
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

/// A catch-up larger than a commit's bound goes in several commits, each
/// within it (a day of a large ward is tens of millions of minutes, built
/// in memory a commit at a time), and the tables hold every row once.
#[test]
fn a_catch_up_past_a_commits_rows_goes_in_several_commits_and_loses_nothing() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    let w = ward_across_midnight(dir.path());
    let target = folder_target(lake.path());
    let rt = rt();
    let at = start() + Duration::hours(3);
    let mut e = rt
        .block_on(engine(dir.path(), &target, None, at))
        .with_curated_rows_per_commit(500);
    let mut commits = 0;
    loop {
        let c = rt.block_on(e.curate(true)).expect("curate");
        assert!(c.commits == 0 || c.rows <= c.commits * 500, "{c:?}");
        if c.commits == 0 {
            break;
        }
        commits += c.commits;
    }
    let p = w.patients as i64;
    let minutes = (p * w.minutes as i64) as usize;
    // Minutes in pieces of at most 500 rows (whole minutes), scores too.
    assert!(commits > minutes / 500, "{commits} commits");
    let store = Store::open_dir(dir.path()).expect("store");
    let meta = |name: &str| metadata_of(&store, name);
    let r = duckdb(
        &[
            format!(
                "SELECT count(*) FROM (SELECT DISTINCT patient, vital, minute FROM iceberg_scan('{}'))",
                meta("vitals_minute")
            ),
            format!(
                "SELECT count(*) FROM iceberg_scan('{}')",
                meta("vitals_minute")
            ),
            format!(
                "SELECT sum(count) FROM iceberg_scan('{}')",
                meta("vitals_minute")
            ),
            format!("SELECT count(*) FROM iceberg_scan('{}')", meta("scores")),
        ],
        None,
    );
    assert_eq!(count(&r[0]), p * w.minutes as i64, "every minute");
    assert_eq!(count(&r[1]), p * w.minutes as i64, "none twice");
    assert_eq!(
        count(&r[2]),
        p * w.samples as i64,
        "every sample counted once"
    );
    assert_eq!(count(&r[3]), p * w.scores as i64);
}

#[test]
fn the_curated_tables_in_seaweedfs_read_the_same_through_duckdb_s3() {
    let (url, keys) = seaweedfs();
    let dir = private_tempdir();
    let w = ward_across_midnight(dir.path());
    let rt = rt();
    rt.block_on(create_bucket(&url, &keys, "curated-lake"));
    let target = seaweedfs_target(&url, "s3://curated-lake/hospital-a");
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

/// A namespace of its own per run, so that runs sharing one SeaweedFS never
/// meet each other's tables.
fn fresh_namespace() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    format!("ward_{}_{nanos}", std::process::id())
}

/// Copies a data directory (a store restored from an earlier backup, or
/// one that crashed before recording what the catalog committed).
fn copy_dir(from: &Path, to: &Path) {
    let ok = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .expect("cp");
    assert!(ok.success());
}

#[test]
fn with_an_iceberg_rest_catalog_the_tables_are_committed_through_it_exactly_once() {
    let (url, keys) = seaweedfs();
    let catalog = std::env::var("WARDWATCH_SEAWEEDFS_ICEBERG_URL")
        .expect("WARDWATCH_SEAWEEDFS_ICEBERG_URL (scripts/peers.sh)");
    // The warehouse named as S3 Tables and Glue want it: the catalog then
    // answers with a path prefix, which every request carries.
    let catalog = format!("{catalog}?warehouse=warehouse");
    let namespace = fresh_namespace();
    let dir = private_tempdir();
    let w = ward_across_midnight(dir.path());
    {
        let mut store = Store::open_dir(dir.path()).expect("store");
        store
            .catalog_annotate(
                "dataset:curated/scores",
                Some("NEWS2 and cardiac risk, reviewed by the data team"),
                Some("data.office"),
                Some(&["reviewed".to_owned(), "clinical".to_owned()]),
                "admin",
                start(),
            )
            .expect("annotate");
    }
    let rt = rt();
    rt.block_on(create_bucket(&url, &keys, "rest-lake"));
    let target = LakeTarget {
        iceberg_catalog: Some(catalog),
        iceberg_signing: Some("s3".into()),
        iceberg_namespace: Some(namespace.clone()),
        ..seaweedfs_target(&url, "s3://rest-lake/hospital-a")
    };

    // A store that stops after the first pass: copied, as a backup taken
    // then would be, or a workstation that crashed before recording the
    // catalog's later commits.
    let midnight = start() + Duration::hours(1);
    let behind = private_tempdir();
    {
        let mut e = rt.block_on(engine(dir.path(), &target, Some(keys.clone()), midnight));
        let first = rt.block_on(e.curate(true)).expect("curate");
        assert_eq!(first.commits, 3, "{first:?}");
    }
    copy_dir(dir.path(), behind.path());
    let day1 = metadata_files(&Store::open_dir(dir.path()).expect("store"));
    {
        let later = midnight + Duration::hours(2);
        let mut e = rt.block_on(engine(dir.path(), &target, Some(keys.clone()), later));
        let second = rt.block_on(e.curate(true)).expect("curate");
        assert_eq!(second.commits, 4, "{second:?}");
    }

    // The catalog owns the tables: they live in its warehouse, and its
    // current metadata is what the store recorded.
    let opened = rt
        .block_on(Target::open(&target, Some(keys.clone())))
        .expect("target");
    let rest = rt
        .block_on(wardwatch_sync::rest::RestCatalog::open(&opened, "unused"))
        .expect("catalog")
        .expect("a catalog is configured");
    let store = Store::open_dir(dir.path()).expect("store");
    for t in store.lake_tables().expect("tables") {
        let remote = rt
            .block_on(rest.load(&t.name))
            .expect("load")
            .unwrap_or_else(|| panic!("table {} in the catalog", t.name));
        assert_eq!(remote.metadata_location, t.metadata_location, "{}", t.name);
        assert!(
            t.location.starts_with("s3://warehouse/"),
            "the catalog chose the location: {}",
            t.location
        );
    }
    // Descriptions, owners and tags are the catalog's table properties.
    let scores = rt
        .block_on(rest.load("scores"))
        .expect("load")
        .expect("scores");
    let p = scores.metadata.properties();
    assert_eq!(
        p.get("comment").map(String::as_str),
        Some("NEWS2 and cardiac risk, reviewed by the data team")
    );
    assert_eq!(p.get("owner").map(String::as_str), Some("data.office"));
    assert_eq!(
        p.get("wardwatch.tags").map(String::as_str),
        Some("reviewed,clinical")
    );
    check_tables(dir.path(), w, &day1, Some((&url, &keys)));

    // The store that missed the second pass adopts the catalog's commits
    // instead of appending the same rows again.
    {
        let later = midnight + Duration::hours(2);
        let mut e = rt.block_on(engine(behind.path(), &target, Some(keys.clone()), later));
        let again = rt.block_on(e.curate(true)).expect("curate");
        assert_eq!((again.commits, again.rows), (0, 0), "{again:?}");
    }
    check_tables(behind.path(), w, &day1, Some((&url, &keys)));
    // An annotation changed later reaches the catalog at the next pass.
    {
        let mut store = Store::open_dir(behind.path()).expect("store");
        store
            .catalog_annotate(
                "dataset:curated/scores",
                None,
                Some(""),
                Some(&[]),
                "admin",
                start(),
            )
            .expect("annotate");
    }
    {
        let later = midnight + Duration::hours(2);
        let mut e = rt.block_on(engine(behind.path(), &target, Some(keys.clone()), later));
        rt.block_on(e.curate(true)).expect("curate");
    }
    // A commit interrupted after its data file was written: the file is
    // removed and counted; the catalog's own metadata files stay.
    let location = scores.metadata.location().to_owned();
    let table_files = opened.rebased(&location).expect("the table's place");
    let metadata_files = |keys: &[String]| {
        keys.iter()
            .filter(|k| k.ends_with(".metadata.json"))
            .count()
    };
    let before = rt.block_on(table_files.list("")).expect("list");
    rt.block_on(table_files.put(
        "data/day=2026-11-25/interrupted.parquet",
        b"PAR1".to_vec(),
        &wardwatch_core::store::lake::sha256_hex(b"PAR1"),
        &wardwatch_core::store::lake::md5_hex(b"PAR1"),
    ))
    .expect("an orphan");
    {
        let later = midnight + Duration::hours(2);
        let mut e = rt.block_on(engine(behind.path(), &target, Some(keys.clone()), later));
        e.store_mut()
            .lake_table_intent("scores", later)
            .expect("intent");
        let recovered = rt.block_on(e.curate(true)).expect("curate");
        assert_eq!(recovered.orphans_removed, 1, "{recovered:?}");
    }
    let after = rt.block_on(table_files.list("")).expect("list");
    assert_eq!(after, before, "only the orphan went");
    assert!(metadata_files(&after) >= 2, "{after:?}");
    check_tables(behind.path(), w, &day1, Some((&url, &keys)));

    let scores = rt
        .block_on(rest.load("scores"))
        .expect("load")
        .expect("scores");
    let p = scores.metadata.properties();
    assert_eq!(p.get("owner"), None);
    assert_eq!(p.get("wardwatch.tags"), None);
    assert_eq!(
        p.get("comment").map(String::as_str),
        Some("NEWS2 and cardiac risk, reviewed by the data team")
    );
}

#[test]
fn a_rest_catalog_that_refuses_the_keys_or_cannot_be_reached_is_named_and_nothing_is_recorded() {
    let (url, keys) = seaweedfs();
    let catalog = std::env::var("WARDWATCH_SEAWEEDFS_ICEBERG_URL")
        .expect("WARDWATCH_SEAWEEDFS_ICEBERG_URL (scripts/peers.sh)");
    let dir = private_tempdir();
    ward_across_midnight(dir.path());
    let rt = rt();
    rt.block_on(create_bucket(&url, &keys, "rest-lake"));
    let target = LakeTarget {
        iceberg_catalog: Some(catalog),
        iceberg_signing: Some("s3".into()),
        iceberg_namespace: Some(fresh_namespace()),
        ..seaweedfs_target(&url, "s3://rest-lake/hospital-b")
    };
    let wrong = Credentials::new("wardwatch-test", "not-the-secret", None, None, "test");
    let midnight = start() + Duration::hours(1);
    let mut e = rt.block_on(engine(dir.path(), &target, Some(wrong), midnight));
    let err = rt.block_on(e.curate(true)).expect_err("refused");
    assert_eq!(err.fault, Fault::Credentials, "{err}");
    assert!(err.message.contains("--iceberg-signing"), "{err}");

    // A closed port: unreachable, retried later.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let down = LakeTarget {
        iceberg_catalog: Some(format!("http://127.0.0.1:{port}")),
        ..target.clone()
    };
    let mut e = rt.block_on(engine(dir.path(), &down, Some(keys), midnight));
    let err = rt.block_on(e.curate(true)).expect_err("unreachable");
    assert_eq!(err.fault, Fault::Transient, "{err}");
    assert!(err.message.contains("could not be reached"), "{err}");
    assert!(e.store().lake_tables().expect("tables").is_empty());
}

/// The objects under `prefix` in `bucket`, with their bytes, in key order.
fn objects_under(
    rt: &tokio::runtime::Runtime,
    client: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Vec<(String, Vec<u8>)> {
    rt.block_on(async {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .expect("list");
            for o in page.contents() {
                let key = o.key().expect("key").to_owned();
                let body = client
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .expect("get")
                    .body
                    .collect()
                    .await
                    .expect("body")
                    .into_bytes()
                    .to_vec();
                out.push((key, body));
            }
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        out.sort();
        out
    })
}

/// A lake object's key and bytes.
type Object = (String, Vec<u8>);

/// Every file under `dir/prefix`, with its bytes, in path order.
fn files_under(dir: &Path, prefix: &str) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, at: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(at) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let key = path
                    .strip_prefix(root)
                    .expect("under the root")
                    .to_string_lossy()
                    .into_owned();
                out.push((key, std::fs::read(&path).expect("read")));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &dir.join(prefix), &mut out);
    out.sort();
    out
}

#[test]
fn a_simulated_day_of_a_24_bed_ward_reaches_seaweedfs_whole_and_duckdb_counts_what_the_store_holds()
{
    let (url, keys) = seaweedfs();
    let rt = rt();
    rt.block_on(create_bucket(&url, &keys, "day-lake"));
    let prefix = format!("run-{}", fresh_namespace());
    let target = seaweedfs_target(&url, &format!("s3://day-lake/{prefix}"));
    let client = s3_client(&url, &keys);
    simulated_day(
        &rt,
        &target,
        Some(keys.clone()),
        &|zone| objects_under(&rt, &client, "day-lake", &format!("{prefix}/{zone}")),
        Some((&url, &keys)),
    );
}

#[test]
fn a_simulated_day_of_a_24_bed_ward_reaches_the_local_folder_default_with_no_server() {
    let lake = private_tempdir();
    simulated_day(
        &rt(),
        &folder_target(lake.path()),
        None,
        &|zone| files_under(lake.path(), zone),
        None,
    );
}

/// A day of the 24-bed ward, stored as a source delivers it and synced to
/// `target`: the raw zone gives back every record byte for byte (`zone`
/// reads a zone's objects), the quarantine prefix exactly the malformed
/// ones, and DuckDB counts the store's minutes and samples, today and as
/// the first day's commit left them.
fn simulated_day(
    rt: &tokio::runtime::Runtime,
    target: &LakeTarget,
    keys: Option<Credentials>,
    zone: &dyn Fn(&str) -> Vec<Object>,
    s3: Option<(&str, &Credentials)>,
) {
    use wardwatch_sim::{
        Generator, GeneratorConfig, MalformedKind, Pace, RecordKind, Scenario, SimPatient, VecSink,
        run_sim,
    };
    let dir = private_tempdir();
    // The day: from 05:00 the day before t0 to 05:00 on t0's day, so it
    // spans midnight (two daily partitions). Numerics of every bed once a
    // minute (HR, RR, SpO2, BP, temperature), 1 % malformed of every kind;
    // no ECG (a day of 250 Hz for 24 beds is the benchmarks' business).
    let day = t0() - Duration::hours(26);
    let end = day + Duration::days(1);
    {
        let clock = Arc::new(FixedClock(day));
        let mut ctx = Ctx::create(dir.path(), &crate::keys(), "admin", clock).expect("store");
        api::load_demo_ward(&mut ctx, 42).expect("demo");
    }
    let mut config = GeneratorConfig::new(SimPatient::from_demo(24, 42, day.date_naive()), 7, day);
    config.numerics_period_s = 60;
    config.ecg_fs_hz = None;
    config.duration_s = Some(86_400);
    config.scenario = Scenario::default().with_malformed(0.01, &MalformedKind::ALL);
    let mut sink = VecSink::default();
    let report = rt
        .block_on(run_sim(
            Generator::new(config).expect("generator"),
            &mut sink,
            Pace::AsFastAsPossible,
            std::future::pending(),
        ))
        .expect("simulated day");
    assert!(report.malformed > 100, "{report:?}");
    // Delivered as a source would: batches of 500, received just after
    // their newest record.
    let mut store = Store::open_dir(dir.path()).expect("store");
    let mut received = day;
    for (c, chunk) in sink.records.chunks(500).enumerate() {
        for r in chunk {
            if r.kind != RecordKind::Malformed(MalformedKind::FutureTimestamp)
                && let Ok(v) = serde_json::from_slice::<Value>(&r.payload)
                && let Some(at) = v["effectiveDateTime"]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            {
                received = received.max(at.with_timezone(&Utc) + Duration::seconds(5));
            }
        }
        let batch = IngestBatch {
            source: "ward-gateway".into(),
            shard: "0".into(),
            items: chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    IngestItem::decode((c * 500 + i + 1).to_string(), r.payload.clone(), received)
                })
                .collect(),
            ordered: true,
        };
        store.store_batch(&batch, received).expect("store");
    }
    drop(store);

    // Everything to the target, curated included.
    let mut e = rt.block_on(engine(
        dir.path(),
        target,
        keys,
        end + Duration::minutes(10),
    ));
    loop {
        let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
        assert!(pass.failure.is_none(), "{:?}", pass.failure);
        if pass.pending == 0 && pass.written + pass.sealed == 0 {
            break;
        }
    }
    drop(e);

    // The raw zone gives back every record as sent, byte for byte.
    let mut sent: Vec<&[u8]> = sink.records.iter().map(|r| r.payload.as_slice()).collect();
    let mut raw: Vec<Vec<u8>> = zone("raw/")
        .into_iter()
        .flat_map(|(_, body)| raw_records(&body))
        .collect();
    sent.sort();
    raw.sort();
    assert_eq!(raw.len(), sent.len(), "one raw record per record sent");
    assert!(raw.iter().zip(&sent).all(|(a, b)| a == b), "byte-identical");
    // Every malformed record is in the quarantine prefix, and nothing else.
    let mut bad: Vec<&[u8]> = sink
        .records
        .iter()
        .filter(|r| matches!(r.kind, RecordKind::Malformed(_)))
        .map(|r| r.payload.as_slice())
        .collect();
    let mut quarantined: Vec<Vec<u8>> = zone("cleaned/quarantine/")
        .into_iter()
        .flat_map(|(_, body)| raw_records(&body))
        .collect();
    bad.sort();
    quarantined.sort();
    assert_eq!(quarantined.len() as u64, report.malformed);
    assert!(quarantined.iter().zip(&bad).all(|(a, b)| a == b));

    // DuckDB reads the curated tables with the store's counts, today and as
    // the first day's commit left them.
    let store = Store::open_dir(dir.path()).expect("store");
    let conn = wardwatch_core::store::cipher::connect(dir.path()).expect("connect");
    let midnight_ms = end
        .duration_trunc(Duration::days(1))
        .expect("midnight")
        .timestamp_millis();
    let minutes = |before: Option<i64>| -> (i64, i64) {
        wardwatch_core::store::numerics::valued_minutes_and_samples(&conn, before)
            .expect("store counts")
    };
    let (all_minutes, all_samples) = minutes(None);
    let (day1_minutes, _) = minutes(Some(midnight_ms));
    assert!(all_samples as u64 >= report.valid_total(), "{report:?}");
    let tables = store.lake_tables().expect("tables");
    let meta = |name: &str| {
        tables
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("table {name}"))
            .metadata_location
            .clone()
    };
    let vitals = meta("vitals_minute");
    let sql = vec![
        format!("SELECT count(*), sum(count) FROM iceberg_scan('{vitals}')"),
        format!(
            "SELECT snapshot_id FROM iceberg_snapshots('{vitals}') ORDER BY sequence_number LIMIT 1"
        ),
        format!("SELECT count(*) FROM iceberg_scan('{}')", meta("patients")),
    ];
    let r = duckdb(&sql, s3);
    assert_eq!(
        r[0][0][0].as_i64(),
        Some(all_minutes),
        "a row per patient, vital and minute"
    );
    assert_eq!(
        r[0][0][1].as_i64(),
        Some(all_samples),
        "every sample counted once"
    );
    assert_eq!(count(&r[2]), 24, "the 24 beds' patients");
    let first = r[1][0][0].as_i64().expect("the first snapshot");
    let r = duckdb(
        &[format!(
            "SELECT count(*) FROM iceberg_scan('{vitals}', snapshot_from_id => {first})"
        )],
        s3,
    );
    assert_eq!(
        count(&r[0]),
        day1_minutes,
        "time travel: the first day alone"
    );
}
