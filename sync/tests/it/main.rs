//! The sync engine against real targets: a local folder, and SeaweedFS's S3
//! API on loopback (started by scripts/peers.sh; `WARDWATCH_SEAWEEDFS_*`).

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Value, json};
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::lake::{LakeTarget, received_record};
use wardwatch_core::store::{IngestBatch, IngestItem, Store};
use wardwatch_sync::{Credentials, Engine, Fault, Rules, Target, health};

/// The audit keys' folder for tests: `WARDWATCH_KEY_DIR` (the test script
/// sets a fresh one per run, and the binaries under test inherit it), else
/// one under the system's temporary folder.
pub fn keys() -> wardwatch_core::store::AuditKeys {
    wardwatch_core::store::AuditKeys::in_dir(
        std::env::var_os("WARDWATCH_KEY_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("wardwatch-test-keys")),
    )
}

mod curated;
mod history;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0)
        .single()
        .expect("time")
}

fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}

fn hr(id: &str, mrn: &str, value: f64, at: DateTime<Utc>) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"identifier": {"value": mrn}},
        "effectiveDateTime": at.to_rfc3339(),
        "valueQuantity": {"value": value, "code": "/min"}})
}

/// A store with a demo ward and one batch of `n` records per patient (and
/// two malformed ones), received at `t0 + 5 min`; the records as sent.
fn ward_with_records(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let clock = Arc::new(FixedClock(t0() + Duration::minutes(5)));
    let mut ctx = Ctx::create(dir, &keys(), "admin", clock).expect("store");
    api::load_demo_ward(&mut ctx, 6).expect("demo");
    let mrns: Vec<String> = Store::open_dir(dir)
        .expect("store")
        .patients()
        .expect("patients")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    let now = t0() + Duration::minutes(5);
    let mut records = Vec::new();
    for (p, mrn) in mrns.iter().enumerate() {
        for i in 0..n {
            let at = t0() + Duration::seconds(i as i64);
            records.push(
                hr(&format!("{p}-{i}"), mrn, 60.0 + (i % 40) as f64, at)
                    .to_string()
                    .into_bytes(),
            );
        }
    }
    records.push(b"{not json".to_vec());
    records.push(hr("ghost", "NOBODY", 70.0, t0()).to_string().into_bytes());
    let mut store = Store::open_dir(dir).expect("store");
    for (c, chunk) in records.chunks(500).enumerate() {
        let items = chunk
            .iter()
            .enumerate()
            .map(|(i, r)| IngestItem::decode((c * 500 + i + 1).to_string(), r.clone(), now))
            .collect();
        let batch = IngestBatch {
            source: "gw".into(),
            shard: "0".into(),
            items,
            ordered: true,
        };
        store.store_batch(&batch, now).expect("store");
    }
    records
}

fn folder_target(dir: &Path) -> LakeTarget {
    LakeTarget::folder("folder", dir, t0(), "admin")
}

async fn engine(
    dir: &Path,
    target: &LakeTarget,
    keys: Option<Credentials>,
    at: DateTime<Utc>,
) -> Engine {
    let store = Store::open_dir(dir).expect("store");
    let target = Target::open(target, keys).await.expect("target");
    Engine::new(store, target, Rules::default(), Arc::new(FixedClock(at)))
}

/// The records a raw object holds, byte for byte.
fn raw_records(object: &[u8]) -> Vec<Vec<u8>> {
    let text = zstd::stream::decode_all(object).expect("zstd");
    text.split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|line| received_record(line).expect("a raw line"))
        .collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn a_pass_cancelled_by_a_stopping_runtime_writes_nothing_more_and_the_next_one_catches_up() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    ward_with_records(dir.path(), 300);
    let target = folder_target(lake.path());
    let rt = rt();
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        None,
        t0() + Duration::minutes(6),
    ));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(true));
    e.cancel_on(stop.clone());
    let cancelled = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    assert!(cancelled.cancelled && cancelled.failure.is_none());
    assert!(cancelled.sealed >= 3, "{cancelled:?}");
    assert_eq!(cancelled.written, 0);
    assert_eq!(
        cancelled.pending, cancelled.sealed,
        "all of it still pending"
    );
    assert_eq!(cancelled.curated.commits, 0, "no curated commit either");
    let store = Store::open_dir(dir.path()).expect("store");
    assert!(
        store
            .lake_objects("")
            .expect("objects")
            .iter()
            .all(|o| !o.synced)
    );

    stop.store(false, std::sync::atomic::Ordering::Relaxed);
    let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    assert!(!pass.cancelled && pass.failure.is_none(), "{pass:?}");
    assert_eq!((pass.written, pass.pending), (cancelled.sealed, 0));
    assert!(
        store
            .lake_objects("")
            .expect("objects")
            .iter()
            .all(|o| o.synced)
    );
}

#[test]
fn a_ward_syncs_to_a_folder_verified_once_and_the_raw_zone_gives_back_every_record() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    let records = ward_with_records(dir.path(), 300);
    let target = folder_target(lake.path());
    let rt = rt();
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        None,
        t0() + Duration::minutes(6),
    ));

    // Not an object's worth, not old, today's day: nothing is sealed yet.
    let now_same_day = rt.block_on(e.pass(false, &mut |_| {})).expect("pass");
    assert_eq!((now_same_day.sealed, now_same_day.written), (0, 0));

    let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    assert!(pass.failure.is_none(), "{:?}", pass.failure);
    assert!(
        pass.sealed >= 3,
        "raw, cleaned and quarantine objects: {pass:?}"
    );
    assert_eq!((pass.written, pass.pending), (pass.sealed, 0));

    // Every record comes back from the raw zone in the folder, in order.
    let store = Store::open_dir(dir.path()).expect("store");
    let raw = store.lake_objects("raw/").expect("objects");
    let mut back = Vec::new();
    for o in &raw {
        assert!(o.synced && o.target.as_deref() == Some("folder"));
        let bytes = std::fs::read(lake.path().join(&o.key)).expect("object in the folder");
        assert_eq!(wardwatch_core::store::lake::sha256_hex(&bytes), o.sha256);
        back.extend(raw_records(&bytes));
    }
    assert_eq!(back, records);
    assert!(
        store.lake_object_data(&raw[0].key).is_err(),
        "synced bytes leave the store"
    );
    // Objects hold patient data: owner-only, whatever the umask.
    {
        use std::os::unix::fs::PermissionsExt;
        let file = lake.path().join(&raw[0].key);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().expect("folder")), 0o700);
        assert_eq!(mode(&lake.path().join("raw")), 0o700);
    }
    let quarantine = store.lake_objects("cleaned/quarantine/").expect("objects");
    assert_eq!(quarantine.iter().map(|o| o.records).sum::<i64>(), 2);

    // A second pass has nothing to do.
    let again = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    assert_eq!(
        (again.sealed, again.written, again.already_there),
        (0, 0, 0)
    );
}

#[test]
fn a_retry_finds_what_a_lost_answer_wrote_and_never_overwrites_another_object() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    ward_with_records(dir.path(), 50);
    let target = folder_target(lake.path());
    let rt = rt();
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        None,
        t0() + Duration::minutes(6),
    ));
    e.seal(true).expect("seal");
    let store = Store::open_dir(dir.path()).expect("store");
    let pending = store.lake_pending(10).expect("pending");
    assert!(pending.len() >= 3);
    // The first was written but its answer lost (a crash before recording it).
    let first = &pending[0];
    let path = lake.path().join(&first.key);
    std::fs::create_dir_all(path.parent().expect("folder")).expect("mkdir");
    std::fs::write(&path, store.lake_object_data(&first.key).expect("bytes")).expect("write");
    // Someone else's bytes sit at the second's key.
    let second = &pending[1];
    let foreign = lake.path().join(&second.key);
    std::fs::create_dir_all(foreign.parent().expect("folder")).expect("mkdir");
    std::fs::write(&foreign, b"not ours").expect("write");

    let pass = rt.block_on(e.pass(false, &mut |_| {})).expect("pass");
    assert_eq!(pass.already_there, 1, "{pass:?}");
    assert_eq!(pass.written, pending.len() - 2);
    assert_eq!(pass.pending, 1);
    let failure = pass.failure.expect("the conflict is reported");
    assert_eq!(failure.fault, Fault::Conflict);
    assert!(failure.message.contains(&second.key), "{failure}");
    assert_eq!(
        std::fs::read(&foreign).expect("read"),
        b"not ours",
        "never overwritten"
    );
    let status = store.lake_status().expect("status");
    let (key, error) = status.last_error.expect("the object carries its error");
    assert_eq!(key, second.key);
    assert!(error.contains("other content"), "{error}");
}

#[test]
fn an_unreachable_target_keeps_everything_pending_alarms_and_catches_up_when_back() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    ward_with_records(dir.path(), 50);
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let down = LakeTarget {
        name: "s3".into(),
        url: "s3://wardwatch-lake".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        region: Some("us-east-1".into()),
        ..folder_target(lake.path())
    };
    let keys = Credentials::new("k", "s", None, None, "test");
    let rt = rt();
    let later = t0() + Duration::minutes(45);
    let mut e = rt.block_on(engine(dir.path(), &down, Some(keys), later));
    let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    let failure = pass.failure.clone().expect("a failure");
    assert_eq!(failure.fault, Fault::Transient, "{failure}");
    assert!(failure.message.contains("cannot reach"), "{failure}");
    assert_eq!((pass.written, pass.pending), (0, pass.sealed));
    let store = Store::open_dir(dir.path()).expect("store");
    let status = store.lake_status().expect("status");
    // Waiting 40 minutes is past the 30-minute alarm threshold.
    let alarm = health(&status, Some(&failure), later, &Rules::default()).expect("alarm");
    assert!(
        alarm.contains("waited 40 min") && alarm.contains("cannot reach"),
        "{alarm}"
    );
    assert!(
        health(
            &status,
            None,
            t0() + Duration::minutes(10),
            &Rules::default()
        )
        .is_none()
    );

    // The target is back (here: the folder): everything goes, nothing lost.
    let up = folder_target(lake.path());
    let mut e = rt.block_on(engine(dir.path(), &up, None, later));
    let pass = rt.block_on(e.pass(false, &mut |_| {})).expect("pass");
    assert!(pass.failure.is_none());
    assert_eq!(
        (pass.written, pass.pending),
        (
            status
                .zones
                .iter()
                .map(|(_, z)| z.pending_objects as usize)
                .sum(),
            0
        )
    );
}

/// SeaweedFS from scripts/peers.sh.
fn seaweedfs() -> (String, Credentials) {
    let url = std::env::var("WARDWATCH_SEAWEEDFS_S3_URL").expect(
        "WARDWATCH_SEAWEEDFS_S3_URL: run the tests through scripts/test.sh, which starts SeaweedFS",
    );
    let key = std::env::var("WARDWATCH_SEAWEEDFS_ACCESS_KEY").expect("access key");
    let secret = std::env::var("WARDWATCH_SEAWEEDFS_SECRET_KEY").expect("secret key");
    (url, Credentials::new(key, secret, None, None, "test"))
}

/// Creates `bucket` (or finds it made), waiting for the volume server that `weed mini` starts
/// after its S3 port answers.
async fn create_bucket(url: &str, keys: &Credentials, bucket: &str) {
    let client = s3_client(url, keys);
    let mut last = None;
    for _ in 0..100 {
        match client.create_bucket().bucket(bucket).send().await {
            Ok(_) => return,
            // Made by an earlier run against the same server.
            Err(e) if format!("{e:?}").contains("BucketAlreadyOwnedByYou") => return,
            Err(e) => last = Some(format!("{e:?}")),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("could not create bucket {bucket}: {last:?}");
}

#[test]
fn seaweedfs_holds_the_objects_write_once_and_wrong_keys_or_buckets_are_named() {
    let (url, keys) = seaweedfs();
    let dir = private_tempdir();
    let records = ward_with_records(dir.path(), 200);
    let bucket = format!("lake-{}", std::process::id());
    let rt = rt();
    rt.block_on(create_bucket(&url, &keys, &bucket));
    let target = LakeTarget {
        name: "seaweed".into(),
        url: format!("s3://{bucket}/hospital"),
        endpoint: Some(url.clone()),
        region: Some("us-east-1".into()),
        storage_class: Some("STANDARD".into()),
        ..folder_target(Path::new("/unused"))
    };

    // Wrong keys: refused, named, nothing lost.
    let wrong = Credentials::new("nobody", "wrong", None, None, "test");
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        Some(wrong),
        t0() + Duration::minutes(6),
    ));
    let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
    let failure = pass.failure.expect("refused");
    assert_eq!(failure.fault, Fault::Credentials, "{failure}");
    assert!(failure.message.contains("credentials"), "{failure}");
    assert_eq!(pass.written, 0);

    // No such bucket: the setting to fix is named.
    let missing = LakeTarget {
        url: "s3://no-such-bucket-here".into(),
        ..target.clone()
    };
    let mut e = rt.block_on(engine(
        dir.path(),
        &missing,
        Some(keys.clone()),
        t0() + Duration::minutes(6),
    ));
    let failure = rt
        .block_on(e.pass(false, &mut |_| {}))
        .expect("pass")
        .failure
        .expect("refused");
    assert_eq!(failure.fault, Fault::Config, "{failure}");
    assert!(
        failure.message.contains("no-such-bucket-here")
            && failure.message.contains("does not exist"),
        "{failure}"
    );

    // The right keys: everything syncs, verified.
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        Some(keys.clone()),
        t0() + Duration::minutes(6),
    ));
    let pass = rt.block_on(e.pass(false, &mut |_| {})).expect("pass");
    assert!(pass.failure.is_none(), "{:?}", pass.failure);
    assert_eq!(pass.pending, 0);
    let store = Store::open_dir(dir.path()).expect("store");
    let mut back = Vec::new();
    for o in store.lake_objects("raw/").expect("objects") {
        let bytes = rt.block_on(e.target().get(&o.key)).expect("get");
        assert_eq!(wardwatch_core::store::lake::sha256_hex(&bytes), o.sha256);
        back.extend(raw_records(&bytes));
    }
    assert_eq!(back, records, "the raw zone in S3 gives back every record");

    // Written once: a put of other bytes under a synced key is refused by
    // the server (If-None-Match) and reported as a conflict; the same bytes
    // count as already there.
    let o = &store.lake_objects("cleaned/").expect("objects")[0];
    let same = rt.block_on(e.target().get(&o.key)).expect("get");
    let put = rt.block_on(e.target().put(&o.key, same.clone(), &o.sha256, &o.md5));
    assert_eq!(put.expect("same bytes"), wardwatch_sync::Put::AlreadyThere);
    let other = b"other".to_vec();
    let put = rt.block_on(e.target().put(
        &o.key,
        other.clone(),
        &wardwatch_core::store::lake::sha256_hex(&other),
        &wardwatch_core::store::lake::md5_hex(&other),
    ));
    assert_eq!(put.expect_err("refused").fault, Fault::Conflict);
    assert_eq!(rt.block_on(e.target().get(&o.key)).expect("get"), same);
}

fn s3_client(url: &str, keys: &Credentials) -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(url)
        .force_path_style(true)
        .credentials_provider(keys.clone())
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

#[test]
fn archival_rules_round_trip_in_moto_and_an_archived_object_reads_as_archived_until_restored() {
    use wardwatch_sync::archive::Policy;
    let url = std::env::var("WARDWATCH_MOTO_URL")
        .expect("WARDWATCH_MOTO_URL: run the tests through scripts/test.sh, which starts moto");
    let keys = Credentials::new("moto", "moto", None, None, "test");
    let rt = rt();
    let bucket = format!("archive-{}", std::process::id());
    let client = s3_client(&url, &keys);
    rt.block_on(async {
        client
            .create_bucket()
            .bucket(&bucket)
            .send()
            .await
            .expect("bucket");
        // A rule of the hospital's own, which Wardwatch must keep.
        let theirs = aws_sdk_s3::types::LifecycleRule::builder()
            .id("hospital-logs")
            .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
            .filter(
                aws_sdk_s3::types::LifecycleRuleFilter::builder()
                    .prefix("logs/")
                    .build(),
            )
            .expiration(
                aws_sdk_s3::types::LifecycleExpiration::builder()
                    .days(30)
                    .build(),
            )
            .build()
            .expect("rule");
        client
            .put_bucket_lifecycle_configuration()
            .bucket(&bucket)
            .lifecycle_configuration(
                aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
                    .rules(theirs)
                    .build()
                    .expect("config"),
            )
            .send()
            .await
            .expect("their rule");
    });
    let target = LakeTarget {
        name: "moto".into(),
        url: format!("s3://{bucket}/hospital"),
        endpoint: Some(url.clone()),
        region: Some("us-east-1".into()),
        ..folder_target(Path::new("/unused"))
    };
    let t = rt
        .block_on(Target::open(&target, Some(keys.clone())))
        .expect("target");
    let s3 = t.as_s3().expect("s3");
    let policy = Policy::default();
    let before = rt.block_on(s3.compare_lifecycle(&policy)).expect("read");
    assert!(!before.matches());
    assert_eq!(before.others, 1);

    let applied = rt.block_on(s3.apply_lifecycle(&policy)).expect("apply");
    assert!(applied.matches());
    assert_eq!(applied.others, 1, "the hospital's own rule is kept");
    let found = applied.found.clone().expect("rules");
    let raw = found
        .iter()
        .find(|r| r.id == "wardwatch-raw")
        .expect("raw rule");
    assert_eq!(
        (raw.prefix.as_str(), raw.transition_days, raw.class.as_str()),
        ("hospital/raw/", 1095, "GLACIER"),
        "raw objects move to GLACIER after three years"
    );
    // Written with the size filter; moto 5 drops it when storing the rule,
    // and the comparison says so instead of passing over it.
    assert!(
        raw.min_size == Some(128 * 1024 - 1)
            || applied
                .warnings()
                .iter()
                .any(|w| w.contains("ObjectSizeGreaterThan")),
        "{:?}",
        applied.warnings()
    );
    assert!(
        found
            .iter()
            .any(|r| r.id == "wardwatch-cleaned" && r.prefix == "hospital/cleaned/")
    );
    assert!(
        !found.iter().any(|r| r.prefix.contains("curated")),
        "curated data is never archived"
    );

    // An object in the archive class reads as archived, and restores.
    let key = "raw/observations/date=2023-01-01/source=gw/part-000000000001.ndjson.zst";
    rt.block_on(async {
        client
            .put_object()
            .bucket(&bucket)
            .key(format!("hospital/{key}"))
            .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"archived"))
            .send()
            .await
            .expect("put");
    });
    let err = rt.block_on(t.get(key)).expect_err("archived");
    assert_eq!(err.fault, Fault::Archived, "{err}");
    assert!(err.message.contains("archive restore"), "{err}");
    rt.block_on(s3.restore(key, 2)).expect("restore");
    assert_eq!(rt.block_on(t.get(key)).expect("restored"), b"archived");
}

#[test]
fn seaweedfs_refuses_lifecycle_transitions_and_says_so() {
    use wardwatch_sync::archive::Policy;
    let (url, keys) = seaweedfs();
    let rt = rt();
    let bucket = format!("nolife-{}", std::process::id());
    rt.block_on(create_bucket(&url, &keys, &bucket));
    let target = LakeTarget {
        name: "seaweed".into(),
        url: format!("s3://{bucket}"),
        endpoint: Some(url),
        region: Some("us-east-1".into()),
        ..folder_target(Path::new("/unused"))
    };
    let t = rt
        .block_on(Target::open(&target, Some(keys)))
        .expect("target");
    let err = rt
        .block_on(t.as_s3().expect("s3").apply_lifecycle(&Policy::default()))
        .expect_err("501");
    assert!(
        err.message
            .contains("does not implement lifecycle transitions"),
        "{err}"
    );
}

#[test]
fn a_flush_seals_every_spooled_line_even_when_objects_do_not_shrink() {
    let dir = private_tempdir();
    ward_with_records(dir.path(), 1);
    // Incompressible records (random bytes: quarantined, kept as base64),
    // in small batches: many spool rows that recompress no smaller.
    let mut seed: u64 = 7;
    let mut store = Store::open_dir(dir.path()).expect("store");
    let now = t0() + Duration::minutes(5);
    for b in 0..30u64 {
        let items = (0..10u64)
            .map(|i| {
                let bytes: Vec<u8> = (0..2048)
                    .map(|_| {
                        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        (seed >> 56) as u8
                    })
                    .collect();
                IngestItem::decode((10_000 + b * 10 + i).to_string(), bytes, now)
            })
            .collect();
        let batch = IngestBatch {
            source: "noise".into(),
            shard: "0".into(),
            items,
            ordered: true,
        };
        store.store_batch(&batch, now).expect("store");
    }
    let rules = Rules {
        object_bytes: 16 << 10,
        ..Rules::default()
    };
    let rt = rt();
    let target = rt
        .block_on(Target::open(&folder_target(Path::new("/unused")), None))
        .expect("target");
    let mut e = Engine::new(store, target, rules, Arc::new(FixedClock(now)));
    let sealed = e.seal(true).expect("seal");
    assert!(sealed >= 30, "{sealed} objects");
    assert!(
        e.store().lake_spool_groups().expect("spool").is_empty(),
        "a flush leaves nothing in the spool"
    );
}

#[test]
fn s3_over_https_behind_a_private_ca_needs_the_ca_bundle_and_says_so() {
    let (http_url, keys) = seaweedfs();
    let https_url = std::env::var("WARDWATCH_SEAWEEDFS_S3_HTTPS_URL")
        .expect("HTTPS endpoint (scripts/peers.sh)");
    let ca = std::env::var("WARDWATCH_SEAWEEDFS_CA_BUNDLE").expect("test CA (scripts/peers.sh)");
    let dir = private_tempdir();
    let records = ward_with_records(dir.path(), 20);
    let bucket = format!("tls-{}", std::process::id());
    let rt = rt();
    rt.block_on(create_bucket(&http_url, &keys, &bucket));
    let target = LakeTarget {
        name: "hospital-s3".into(),
        url: format!("s3://{bucket}"),
        endpoint: Some(https_url),
        region: Some("us-east-1".into()),
        ..folder_target(Path::new("/unused"))
    };
    // The system's roots do not know the hospital's CA: refused, and the
    // message names the fix.
    let mut e = rt.block_on(engine(
        dir.path(),
        &target,
        Some(keys.clone()),
        t0() + Duration::minutes(6),
    ));
    let failure = rt
        .block_on(e.pass(true, &mut |_| {}))
        .expect("pass")
        .failure
        .expect("untrusted");
    assert_eq!(failure.fault, Fault::Config, "{failure}");
    assert!(failure.message.contains("--ca-bundle"), "{failure}");

    // With the CA bundle: synced over TLS, every record back.
    let trusting = LakeTarget {
        ca_bundle: Some(ca),
        ..target
    };
    let mut e = rt.block_on(engine(
        dir.path(),
        &trusting,
        Some(keys),
        t0() + Duration::minutes(6),
    ));
    let pass = rt.block_on(e.pass(false, &mut |_| {})).expect("pass");
    assert!(pass.failure.is_none(), "{:?}", pass.failure);
    assert_eq!(pass.pending, 0);
    let store = Store::open_dir(dir.path()).expect("store");
    let mut back = Vec::new();
    for o in store.lake_objects("raw/").expect("objects") {
        back.extend(raw_records(
            &rt.block_on(e.target().get(&o.key)).expect("get over TLS"),
        ));
    }
    assert_eq!(back, records);
}

/// A server on loopback that accepts connections and never answers (when
/// `status` is None) or answers every request with `status`.
fn bad_server(status: Option<u16>) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            match status {
                None => held.push(conn),
                Some(code) => {
                    let mut buf = [0u8; 65536];
                    let _ = conn.read(&mut buf);
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {code} Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
            }
        }
    });
    port
}

#[test]
fn a_target_that_stalls_or_answers_503_keeps_everything_pending_and_catches_up() {
    let dir = private_tempdir();
    let lake = private_tempdir();
    ward_with_records(dir.path(), 50);
    {
        let store = Store::open_dir(dir.path()).expect("store");
        store
            .set_setting("sync.request_timeout_seconds", "2")
            .expect("setting");
    }
    let keys = Credentials::new("k", "s", None, None, "test");
    let rt = rt();
    let later = t0() + Duration::minutes(45);
    let mut sealed = 0;
    for (status, says) in [(None, "no answer within 2 s"), (Some(503), "503")] {
        let port = bad_server(status);
        let bad = LakeTarget {
            name: "s3".into(),
            url: "s3://wardwatch-lake".into(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            region: Some("us-east-1".into()),
            ..folder_target(lake.path())
        };
        let store = Store::open_dir(dir.path()).expect("store");
        let rules = Rules::from_settings(&store).expect("rules");
        let target = rt
            .block_on(Target::open(&bad, Some(keys.clone())))
            .expect("target");
        let mut e = Engine::new(store, target, rules, Arc::new(FixedClock(later)));
        let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
        let failure = pass.failure.clone().expect("a failure");
        assert_eq!(failure.fault, Fault::Transient, "{failure}");
        assert!(failure.message.contains(says), "{failure}");
        sealed += pass.sealed;
        assert_eq!((pass.written, pass.pending), (0, sealed));
        let status = e.store().lake_status().expect("status");
        let alarm = health(&status, Some(&failure), later, &rules).expect("alarm");
        assert!(alarm.contains("waited 40 min"), "{alarm}");
    }
    // Back: everything goes, once.
    let up = folder_target(lake.path());
    let mut e = rt.block_on(engine(dir.path(), &up, None, later));
    let pass = rt.block_on(e.pass(false, &mut |_| {})).expect("pass");
    assert!(pass.failure.is_none(), "{:?}", pass.failure);
    assert_eq!((pass.written, pass.pending), (sealed, 0));
}

#[test]
fn each_object_is_encrypted_at_rest_as_its_target_says() {
    let url = std::env::var("WARDWATCH_MOTO_URL")
        .expect("WARDWATCH_MOTO_URL: run the tests through scripts/test.sh, which starts moto");
    let keys = Credentials::new("moto", "moto", None, None, "test");
    let rt = rt();
    let client = s3_client(&url, &keys);
    let kms = "arn:aws:kms:us-east-1:123456789012:key/wardwatch-lake";
    for (sse, key) in [("aws:kms", Some(kms)), ("AES256", None)] {
        let dir = private_tempdir();
        ward_with_records(dir.path(), 20);
        let bucket = format!(
            "sse-{}-{}",
            sse.replace(':', "-").to_ascii_lowercase(),
            std::process::id()
        );
        rt.block_on(client.create_bucket().bucket(&bucket).send())
            .expect("bucket");
        let target = LakeTarget {
            name: "moto".into(),
            url: format!("s3://{bucket}/lake"),
            endpoint: Some(url.clone()),
            region: Some("us-east-1".into()),
            sse: Some(sse.into()),
            sse_kms_key: key.map(str::to_owned),
            ..folder_target(Path::new("/unused"))
        };
        let later = t0() + Duration::minutes(45);
        let mut e = rt.block_on(engine(dir.path(), &target, Some(keys.clone()), later));
        let pass = rt.block_on(e.pass(true, &mut |_| {})).expect("pass");
        assert!(pass.failure.is_none(), "{:?}", pass.failure);
        assert!(pass.written > 0);
        let listed = rt
            .block_on(client.list_objects_v2().bucket(&bucket).send())
            .expect("list");
        // The zones' objects and the curated tables' files alike.
        let objects = listed.contents();
        assert!(objects.len() > pass.written, "{sse}: {objects:?}");
        assert!(
            objects
                .iter()
                .any(|o| o.key().is_some_and(|k| k.contains("/curated/"))),
            "{objects:?}"
        );
        for o in objects {
            let head = rt
                .block_on(
                    client
                        .head_object()
                        .bucket(&bucket)
                        .key(o.key().expect("key"))
                        .send(),
                )
                .expect("head");
            assert_eq!(
                head.server_side_encryption().map(|s| s.as_str()),
                Some(sse),
                "{:?}",
                o.key()
            );
            assert_eq!(head.ssekms_key_id(), key, "{:?}", o.key());
        }
    }
}

/// `n` bytes that do not compress (a xorshift stream from `seed`).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_large_object_goes_up_in_parts_and_an_interrupted_upload_is_resumed_not_restarted() {
    use wardwatch_core::store::lake::{md5_hex, sha256_hex};
    let (url, keys) = seaweedfs();
    let rt = rt();
    rt.block_on(create_bucket(&url, &keys, "multipart-lake"));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let prefix = format!("run-{}-{nanos}", std::process::id());
    let target = LakeTarget {
        name: "seaweedfs".into(),
        url: format!("s3://multipart-lake/{prefix}"),
        endpoint: Some(url.clone()),
        region: Some("us-east-1".into()),
        ..folder_target(Path::new("/unused"))
    };
    const MIB: usize = 1 << 20;
    let t = rt
        .block_on(Target::open(&target, Some(keys.clone())))
        .expect("target")
        .with_parts(6 * MIB, 5 * MIB);
    // 11 MiB: parts of 5, 5 and 1 MiB.
    let data = noise(11 * MIB, 7);
    let (sha, md5) = (sha256_hex(&data), md5_hex(&data));
    let key = "raw/observations/date=2026-11-25/source=big/part-000000000001.ndjson.zst";
    let full = format!("{prefix}/{key}");
    let client = s3_client(&url, &keys);
    // An upload of `full` begun with `part` as its first part, as a
    // restart or another writer leaves it.
    let begin = |part: Vec<u8>| {
        rt.block_on(async {
            let upload = client
                .create_multipart_upload()
                .bucket("multipart-lake")
                .key(&full)
                .send()
                .await
                .expect("upload");
            client
                .upload_part()
                .bucket("multipart-lake")
                .key(&full)
                .upload_id(upload.upload_id().expect("id"))
                .part_number(1)
                .body(aws_sdk_s3::primitives::ByteStream::from(part))
                .send()
                .await
                .expect("part 1");
        })
    };
    // What a restart interrupted: our upload with its first part sent…
    begin(data[..5 * MIB].to_vec());
    // …and another upload of the key holding other bytes.
    begin(noise(5 * MIB, 9));
    let put = rt
        .block_on(t.put(key, data.clone(), &sha, &md5))
        .expect("put");
    assert_eq!(put, wardwatch_sync::Put::Resumed { parts_kept: 1 });
    assert_eq!(rt.block_on(t.get(key)).expect("get"), data, "byte for byte");
    let left = rt
        .block_on(
            client
                .list_multipart_uploads()
                .bucket("multipart-lake")
                .prefix(&full)
                .send(),
        )
        .expect("uploads");
    assert!(left.uploads().is_empty(), "{:?}", left.uploads());
    // Again: found, compared, not rewritten.
    let again = rt
        .block_on(t.put(key, data.clone(), &sha, &md5))
        .expect("put");
    assert_eq!(again, wardwatch_sync::Put::AlreadyThere);
    // Other bytes under the key: a conflict, the object left as it is.
    let other = noise(7 * MIB, 11);
    let err = rt
        .block_on(t.put(key, other.clone(), &sha256_hex(&other), &md5_hex(&other)))
        .expect_err("conflict");
    assert_eq!(err.fault, Fault::Conflict, "{err}");
    // A fresh large object: written in parts from the start.
    let key2 = "raw/observations/date=2026-11-25/source=big/part-000000000002.ndjson.zst";
    let put = rt
        .block_on(t.put(key2, other.clone(), &sha256_hex(&other), &md5_hex(&other)))
        .expect("put");
    assert_eq!(put, wardwatch_sync::Put::Written);
    assert_eq!(rt.block_on(t.get(key2)).expect("get"), other);
}
