//! `wardwatchctl sync` and `archive` as an admin runs them, against a folder
//! and SeaweedFS; and SIGKILL at random points of a sync.

use std::path::Path;
use std::process::Command;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use wardwatch_core::store::{IngestBatch, IngestItem, Store};

use crate::{ctl, stderr, stdout};

/// A demo ward with `n` heart-rate records per patient stored (received
/// now), plus two malformed ones; the records as sent.
pub(crate) fn ward_with_records(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let records = ward_records(dir, n);
    store_records(dir, &records, 0);
    records
}

/// Stores `records` in batches of 500, their sequences from `first + 1`.
fn store_records(dir: &Path, records: &[Vec<u8>], first: usize) {
    let now = Utc::now();
    let mut store = Store::open_dir(dir).expect("store");
    for (c, chunk) in records.chunks(500).enumerate() {
        let batch = IngestBatch {
            source: "ward-5a".into(),
            shard: "0".into(),
            items: chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    IngestItem::decode((first + c * 500 + i + 1).to_string(), r.clone(), now)
                })
                .collect(),
            ordered: true,
        };
        store.store_batch(&batch, now).expect("store");
    }
}

/// A demo ward loaded into `dir`: its store and its patients' MRNs.
fn demo_ward(dir: &Path) -> (Store, Vec<String>) {
    let o = ctl(dir, &["demo", "load"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let store = Store::open_dir(dir).expect("store");
    let mrns = store
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    (store, mrns)
}

/// A demo ward, and `n` heart-rate records per patient (and two malformed
/// ones) to send.
fn ward_records(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let (_, mrns) = demo_ward(dir);
    let now = Utc::now();
    let mut records = Vec::new();
    for (p, mrn) in mrns.iter().enumerate() {
        for i in 0..n {
            let at = now - Duration::seconds((n - i) as i64);
            let v = json!({"resourceType": "Observation", "id": format!("{p}-{i}"), "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"identifier": {"value": mrn}},
                "effectiveDateTime": at.to_rfc3339(),
                "valueQuantity": {"value": 60 + (i * 7919 + p * 104_729) % 60, "code": "/min"}});
            records.push(v.to_string().into_bytes());
        }
    }
    records.push(b"{broken".to_vec());
    records.push(b"\xff\xfe not utf-8".to_vec());
    records
}

/// The records of every raw object in `lake`, in key order.
fn raw_records(lake: &Path, store: &Store) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for o in store.lake_objects("raw/").expect("objects") {
        let bytes = std::fs::read(lake.join(&o.key)).expect("object in the folder");
        assert_eq!(
            wardwatch_core::store::lake::sha256_hex(&bytes),
            o.sha256,
            "{}",
            o.key
        );
        let text = zstd::stream::decode_all(&bytes[..]).expect("zstd");
        for line in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            out.push(wardwatch_core::store::lake::received_record(line).expect("a raw line"));
        }
    }
    out
}

/// Every file under `dir`, relative, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else {
                out.push(p.strip_prefix(root).expect("under").display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Creates `bucket` in SeaweedFS, as an operator would (weed mini takes
/// writes a moment after its port answers); the runtime and client to look
/// at it with.
pub(crate) fn seaweedfs_bucket(
    url: &str,
    key: &str,
    secret: &str,
    bucket: &str,
) -> (tokio::runtime::Runtime, aws_sdk_s3::Client) {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .force_path_style(true)
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            key, secret, None, None, "t",
        ))
        .build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        for _ in 0..100 {
            if client.create_bucket().bucket(bucket).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        panic!("no bucket {bucket}");
    });
    (rt, client)
}

#[test]
fn sigkill_at_twenty_points_of_a_sync_loses_nothing_and_writes_nothing_twice() {
    let dir = crate::private_tempdir();
    let lake = crate::private_tempdir();
    let records = ward_records(dir.path(), 1000);
    let url = format!("file://{}", lake.path().display());
    for args in [
        vec!["sync", "targets", "add", "folder", url.as_str()],
        // Small objects: many of them, so that kills land mid-sync.
        vec!["settings", "set", "sync.object_kib", "16"],
    ] {
        let o = ctl(dir.path(), &args);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    // A month of hourly heart-rate scores: the curated tables then take a
    // commit per day, so kills land in the middle of Iceberg commits too.
    let scores = {
        let store = Store::open_dir(dir.path()).expect("store");
        let now = Utc::now();
        let mut n = 0;
        for p in store.patients().expect("patients") {
            for h in 1..=30 * 24 {
                store
                    .insert_score(&wardwatch_core::store::ScoreRow {
                        mrn: p.mrn.clone(),
                        at: now - Duration::hours(h),
                        value: 70.0,
                        score: wardwatch_core::model::ScoreDetail::EcgHr { lead: 131330 },
                    })
                    .expect("score");
                n += 1;
            }
        }
        n
    };
    // Twenty runs, each with new data to sync and killed at a point of a
    // fixed pseudo-random sequence.
    let mut seed: u64 = 0x5eed_1a4e;
    let mut killed = 0;
    let portion = records.len().div_ceil(20);
    let mut window_ms: u64 = 150;
    for (round, part) in records.chunks(portion).enumerate() {
        store_records(dir.path(), part, round * portion);
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // Within the runs seen so far: a run that finished before its kill
        // narrows the window to what a run takes on this machine.
        let after = std::time::Duration::from_millis(2 + (seed >> 33) % window_ms);
        let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
            .arg("--data-dir")
            .arg(dir.path())
            .args([
                "--user",
                "admin",
                "--password-file",
                crate::pw_file(),
                "sync",
                "run",
                "--once",
                "--flush",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        let started = std::time::Instant::now();
        std::thread::sleep(after);
        if child.try_wait().expect("wait").is_none() {
            child.kill().expect("SIGKILL");
            killed += 1;
        } else {
            window_ms = window_ms.min(started.elapsed().as_millis() as u64).max(5);
        }
        child.wait().expect("reaped");
    }
    // At least some runs were cut short (the others finished first, which
    // is fine: each was then a pass over what the earlier ones left).
    assert!(killed > 0, "no run was killed");
    eprintln!("{killed} of 20 sync runs killed");
    let o = ctl(dir.path(), &["sync", "run", "--once", "--flush"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let store = Store::open_dir(dir.path()).expect("store");
    let problems = store.check(true).expect("integrity_check");
    assert!(problems.is_empty(), "{problems:?}");
    let objects = store.lake_objects("").expect("objects");
    assert!(objects.len() >= 10, "{} objects", objects.len());
    assert!(
        objects.iter().all(|o| o.synced),
        "everything synced in the end"
    );
    let left = store.lake_spool_groups().expect("spool");
    assert!(
        left.is_empty(),
        "spooled lines left after a flush: {left:?}"
    );
    // No object missing, none extra, no leftovers of killed writes.
    let mut keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    keys.sort();
    let (heads, files): (Vec<String>, Vec<String>) = files_under(lake.path())
        .into_iter()
        .partition(|f| f.starts_with("_audit/"));
    let (curated, zones): (Vec<String>, Vec<String>) =
        files.into_iter().partition(|f| f.starts_with("curated/"));
    assert_eq!(zones, keys);
    // The audit chain's heads beside them, the newest recorded one there.
    let (chain, newest) = store.audit_head().expect("head").expect("a trail");
    let published = store.audit_head_published().expect("published");
    assert!(published.is_some_and(|p| p <= newest.seq));
    let recorded = format!("_audit/{chain}/head-{:012}.json", published.unwrap_or(0));
    assert!(heads.contains(&recorded), "{recorded} not in {heads:?}");
    // Every record exactly once, in order.
    assert_eq!(raw_records(lake.path(), &store), records);

    // The curated tables: no commit lost or doubled (the rows and snapshots
    // Iceberg has are those the store's catalog counted), and no file of an
    // interrupted commit left (every data file is one a snapshot references).
    let tables = store.lake_tables().expect("tables");
    assert_eq!(tables.len(), 5, "{tables:?}");
    let scores_table = tables.iter().find(|t| t.name == "scores").expect("scores");
    assert_eq!(scores_table.rows, scores, "every score once");
    let orphans: i64 = tables.iter().map(|t| t.orphans_removed).sum();
    eprintln!("{orphans} files of interrupted commits removed");
    let mut sql = Vec::new();
    for t in &tables {
        let m = &t.metadata_location;
        sql.push(format!("SELECT count(*) FROM iceberg_scan('{m}')"));
        sql.push(format!("SELECT count(*) FROM iceberg_snapshots('{m}')"));
        sql.push(format!(
            "SELECT file_path FROM iceberg_metadata('{m}') ORDER BY file_path"
        ));
    }
    let answers = duckdb(&sql);
    for (t, a) in tables.iter().zip(answers.chunks(3)) {
        if t.commits == 0 {
            continue;
        }
        assert_eq!(a[0][0][0].as_i64(), Some(t.rows), "{}", t.name);
        assert_eq!(a[1][0][0].as_i64(), Some(t.commits), "{}", t.name);
        let referenced: Vec<String> = a[2]
            .iter()
            .map(|r| {
                r[0].as_str()
                    .expect("path")
                    .trim_start_matches(&format!("file://{}/", lake.path().display()))
                    .to_owned()
            })
            .collect();
        let mut data: Vec<String> = curated
            .iter()
            .filter(|f| f.starts_with(&format!("curated/{}/data/", t.name)))
            .cloned()
            .collect();
        data.sort();
        assert_eq!(data, referenced, "{}: data files", t.name);
    }
}

/// Runs SQL statements in DuckDB (scripts/duckdb-query.py); each
/// statement's rows.
fn duckdb(sql: &[String]) -> Vec<Vec<Vec<Value>>> {
    let python = std::env::var("WARDWATCH_DUCKDB_PYTHON").expect(
        "WARDWATCH_DUCKDB_PYTHON: run the tests through scripts/test.sh, which installs DuckDB",
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/duckdb-query.py");
    let out = Command::new(python)
        .arg(script)
        .args(sql)
        .output()
        .expect("running DuckDB");
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

#[test]
fn targets_are_checked_one_at_a_time_and_never_hold_credentials() {
    let dir = crate::private_tempdir();
    let o = ctl(dir.path(), &["demo", "load"]);
    assert!(o.status.success(), "{}", stderr(&o));
    for (args, says) in [
        (
            vec!["sync", "targets", "add", "x", "s3://key:secret@bucket"],
            "credential",
        ),
        (
            vec!["sync", "targets", "add", "x", "s3://Bad_Bucket"],
            "bucket naming",
        ),
        (
            vec!["sync", "targets", "add", "x", "relative/dir"],
            "neither",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--storage-class",
                "GLACIER",
            ],
            "archive classes",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--endpoint",
                "http://h/?X-Amz-Credential=a",
            ],
            "credential",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--ca-bundle",
                "/etc/hostname",
            ],
            "PEM file of certificates",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--ca-bundle",
                "/no/such/ca.pem",
            ],
            "CA bundle /no/such/ca.pem",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--iceberg-catalog",
                "ftp://catalog",
            ],
            "Iceberg REST catalog",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--iceberg-catalog",
                "http://catalog:8181",
                "--iceberg-signing",
                "sigv2",
            ],
            "s3, s3tables, glue",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--iceberg-catalog",
                "http://catalog:8181",
                "--iceberg-namespace",
                "Ward A",
            ],
            "lower-case letters",
        ),
        (
            vec![
                "sync",
                "targets",
                "add",
                "x",
                "s3://lake",
                "--iceberg-signing",
                "s3",
            ],
            "need --iceberg-catalog",
        ),
    ] {
        let o = ctl(dir.path(), &args);
        assert!(!o.status.success(), "{args:?} accepted");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    let o = ctl(dir.path(), &["sync", "targets", "list"]);
    assert!(stdout(&o).contains("embedded default"), "{}", stdout(&o));
    let o = ctl(
        dir.path(),
        &[
            "sync",
            "targets",
            "add",
            "lake",
            "s3://lake/ward",
            "--sse",
            "AES256",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ctl(
        dir.path(),
        &["sync", "targets", "add", "other", "s3://other"],
    );
    assert!(stderr(&o).contains("one target"), "{}", stderr(&o));
    let o = ctl(
        dir.path(),
        &["--user", "viewer.1", "sync", "targets", "remove", "lake"],
    );
    assert!(!o.status.success());
    let audit = ctl(dir.path(), &["audit", "--json"]);
    assert!(stdout(&audit).contains("sync.target_add"), "audited");
}

#[test]
fn a_ward_syncs_to_seaweedfs_from_the_command_line_with_the_aws_credential_chain() {
    let url = std::env::var("WARDWATCH_SEAWEEDFS_S3_URL")
        .expect("WARDWATCH_SEAWEEDFS_S3_URL: run the tests through scripts/test.sh");
    let key = std::env::var("WARDWATCH_SEAWEEDFS_ACCESS_KEY").expect("key");
    let secret = std::env::var("WARDWATCH_SEAWEEDFS_SECRET_KEY").expect("secret");
    let dir = crate::private_tempdir();
    ward_with_records(dir.path(), 50);
    let bucket = format!("cli-{}", std::process::id());
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--user", "admin", "--password-file", crate::pw_file()])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .output()
            .expect("run")
    };
    let (rt, client) = seaweedfs_bucket(&url, &key, &secret, &bucket);
    let o = run(&[
        "sync",
        "targets",
        "add",
        "seaweed",
        &format!("s3://{bucket}/hospital"),
        "--endpoint",
        &url,
        "--region",
        "us-east-1",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&["sync", "run", "--once", "--flush"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let status: Value =
        serde_json::from_slice(&run(&["sync", "status", "--json"]).stdout).expect("json");
    assert!(
        status["synced_last_hour"][0].as_i64().unwrap_or(0) >= 2,
        "the hour's throughput counts what was just synced: {status}"
    );
    let zones = status["zones"].as_array().expect("zones");
    assert!(!zones.is_empty());
    for z in zones {
        assert_eq!(z[1]["pending_objects"], json!(0), "{status}");
        assert_eq!(z[1]["spooled_records"], json!(0), "{status}");
    }
    let listed = rt
        .block_on(
            client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix("hospital/raw/")
                .send(),
        )
        .expect("list");
    assert!(listed.key_count().unwrap_or(0) >= 1);
    // SeaweedFS cannot archive: the command says so and fails.
    let o = run(&["archive", "apply"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("does not implement lifecycle transitions"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_sync_goes_through_the_proxy_the_environment_names() {
    let url = std::env::var("WARDWATCH_SEAWEEDFS_S3_URL").expect("SeaweedFS (scripts/test.sh)");
    let key = std::env::var("WARDWATCH_SEAWEEDFS_ACCESS_KEY").expect("key");
    let secret = std::env::var("WARDWATCH_SEAWEEDFS_SECRET_KEY").expect("secret");
    let proxy = std::env::var("WARDWATCH_PROXY_URL").expect("tinyproxy (scripts/test.sh)");
    let proxy_log = std::env::var("WARDWATCH_PROXY_LOG").expect("tinyproxy's log");
    let dir = crate::private_tempdir();
    ward_with_records(dir.path(), 20);
    let bucket = format!("proxied-{}", std::process::id());
    seaweedfs_bucket(&url, &key, &secret, &bucket);
    let run = |args: &[&str], proxy: &str| {
        Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--user", "admin", "--password-file", crate::pw_file()])
            .args(args)
            .env("AWS_ACCESS_KEY_ID", &key)
            .env("AWS_SECRET_ACCESS_KEY", &secret)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("HTTP_PROXY", proxy)
            .env("HTTPS_PROXY", proxy)
            .env_remove("NO_PROXY")
            .env_remove("no_proxy")
            .output()
            .expect("run")
    };
    let o = run(
        &[
            "sync",
            "targets",
            "add",
            "s3",
            &format!("s3://{bucket}"),
            "--endpoint",
            &url,
            "--region",
            "us-east-1",
        ],
        "",
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // A proxy that is down: nothing goes around it.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let o = run(
        &["sync", "run", "--once", "--flush"],
        &format!("http://127.0.0.1:{dead}"),
    );
    assert!(
        !o.status.success(),
        "synced around a dead proxy: {}",
        stdout(&o)
    );
    // The hospital's proxy: everything goes, through it.
    let o = run(&["sync", "run", "--once"], &proxy);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let s3_port = url.rsplit(':').next().expect("port");
    let log = std::fs::read_to_string(&proxy_log).expect("proxy log");
    assert!(
        log.contains(&format!("127.0.0.1:{s3_port}")),
        "the proxy carried the requests to the S3 endpoint"
    );
}

/// One second of lead II ECG at 250 Hz for `mrn`, as a bedside monitor's
/// gateway sends it (about 1.3 kB).
fn ecg_second(id: &str, mrn: &str, at: chrono::DateTime<Utc>, seed: usize) -> Vec<u8> {
    let data: Vec<String> = (0..250)
        .map(|i| (((i * 37 + seed * 11) % 160) as i64 - 60).to_string())
        .collect();
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "urn:oid:2.16.840.1.113883.6.24", "code": "131330",
            "display": "MDC_ECG_ELEC_POTL_II"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueSampledData": {"origin": {"value": 0.0, "code": "mV"}, "period": 4.0,
            "factor": 0.005, "dimensions": 1, "data": data.join(" ")}})
    .to_string()
    .into_bytes()
}

/// The zstd frames `data` holds one after the other.
fn zstd_frames(mut data: &[u8]) -> usize {
    let mut frames = 0;
    while !data.is_empty() {
        let len = zstd::zstd_safe::find_frame_compressed_size(data).expect("a whole zstd frame");
        data = &data[len..];
        frames += 1;
    }
    frames
}

#[test]
fn a_busy_sources_full_batches_are_sealed_as_spooled_and_every_reader_reads_every_line() {
    let dir = crate::private_tempdir();
    let (mut store, mrns) = demo_ward(dir.path());
    let start = Utc::now() - Duration::hours(3);
    // A busy source sends full batches (500 records, the raw zone's row of
    // each about 800 kB); a quiet one a few records at a time.
    let sources = [("monitors", 500), ("quiet", 3)];
    for (k, (source, per_batch)) in sources.into_iter().enumerate() {
        for b in 0..3 {
            let now = Utc::now();
            let items = (0..per_batch)
                .map(|i| {
                    let n = b * per_batch + i;
                    let mrn = &mrns[n % mrns.len()];
                    // Each source its own seconds: none is the other's duplicate.
                    let at = start + Duration::seconds((k * 3600 + n / mrns.len()) as i64);
                    let raw = ecg_second(&format!("{source}-{n}"), mrn, at, n);
                    IngestItem::decode((n + 1).to_string(), raw, now)
                })
                .collect();
            let batch = IngestBatch {
                source: source.into(),
                shard: "0".into(),
                items,
                ordered: true,
            };
            let out = store.store_batch(&batch, now).expect("store").outcome;
            assert_eq!(out.stored, per_batch, "{source}: {out:?}");
        }
    }
    for g in store.lake_spool_groups().expect("groups") {
        while store.lake_seal(&g, i64::MAX).expect("seal").is_some() {}
    }
    let mut sql = Vec::new();
    for (source, per_batch) in sources {
        let objects = store
            .lake_objects("raw/observations/")
            .expect("objects")
            .into_iter()
            .filter(|o| o.key.contains(&format!("/source={source}/")))
            .collect::<Vec<_>>();
        assert_eq!(objects.len(), 1, "{source}: {objects:#?}");
        let data = store.lake_object_data(&objects[0].key).expect("bytes");
        // The busy source's rows are its object as they were spooled, a
        // frame each; the quiet one's are recompressed into one frame.
        let frames = if per_batch == 500 { 3 } else { 1 };
        assert_eq!(zstd_frames(&data), frames, "{source}");
        // A frame among several declares no size, so a reader that decodes
        // one frame by its declared size refuses the object instead of
        // returning its first frame alone (Python zstandard's one-shot
        // decompress() does that); one frame alone declares it.
        let declared = zstd::zstd_safe::get_frame_content_size(&data).expect("a frame header");
        assert_eq!(declared.is_some(), frames == 1, "{source}: {declared:?}");
        // Every line, in order, whatever reads it: the zstd crate …
        let text = zstd::stream::decode_all(&data[..]).expect("zstd");
        assert_eq!(text.len() as i64, objects[0].raw_bytes, "{source}");
        let sequences: Vec<usize> = text
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let v: Value = serde_json::from_slice(l).expect("a JSON line");
                v["sequence"]
                    .as_str()
                    .expect("sequence")
                    .parse()
                    .expect("number")
            })
            .collect();
        assert_eq!(
            sequences,
            (1..=3 * per_batch).collect::<Vec<_>>(),
            "{source}"
        );
        // … and DuckDB, as a data scientist reads the lake.
        let file = dir.path().join(format!("{source}.ndjson.zst"));
        std::fs::write(&file, &data).expect("write the object");
        sql.push(format!(
            "SELECT count(*), min(CAST(sequence AS BIGINT)), max(CAST(sequence AS BIGINT))
             FROM read_json('{}', format = 'newline_delimited', compression = 'zstd',
                            columns = {{'sequence': 'VARCHAR'}})",
            file.display()
        ));
    }
    let answers = duckdb(&sql);
    for ((source, per_batch), rows) in sources.iter().zip(&answers) {
        let n = (3 * per_batch) as i64;
        assert_eq!(
            rows[0],
            vec![json!(n), json!(1), json!(n)],
            "{source}: DuckDB reads every line"
        );
    }
}
