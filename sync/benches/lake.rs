//! The data lake's figures (issue 13), measured in one run beside their
//! baselines: bytes per record of the raw and cleaned zones against the raw
//! JSON, gzip -6 and zstd -3 of the same JSON (in 1 MiB pieces, as objects
//! are); sealing; and sync throughput to the target — SeaweedFS on loopback
//! when `WARDWATCH_SEAWEEDFS_*` is set (bench/lake/run.sh starts it), else a
//! local folder — in compressed bytes written, acknowledged and verified per
//! second, with CPU seconds per GB of this process and of the server.
//! Prints figures; asserts nothing about time.
//!
//! `cargo bench -p wardwatch-sync --bench lake [-- PATIENTS SECONDS BATCH]`
//! (default: 24 patients, 3,600 simulated seconds, batches of 500 records:
//! a busy source's full batches, whose spool rows are sealed as they are;
//! a BATCH of 50 makes rows that are compressed again into one frame, as
//! a live ward's partial batches and the cleaned zone's rows by ward are).

mod common;

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, TimeZone, Utc};
use wardwatch_core::clock::FixedClock;
use wardwatch_core::store::lake::{LakeTarget, Zone};
use wardwatch_core::store::{IngestBatch, IngestItem, Store};
use wardwatch_sim::{Generator, GeneratorConfig, RecordSource, Scenario, SimPatient};
use wardwatch_sync::{Credentials, Engine, Rules, Target};

/// CPU seconds (user + system) of a process, from /proc.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return f64::NAN;
    };
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let patients: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(24);
    let seconds: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(3600);
    let per_batch: usize = args
        .get(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(500)
        .max(1);
    let start: DateTime<Utc> = Utc
        .with_ymd_and_hms(2026, 3, 1, 8, 0, 0)
        .single()
        .expect("time");
    println!(
        "lake bench: {patients} patients, ECG 250 Hz + numerics, {seconds} simulated s, batches of {per_batch} records"
    );

    // The ward and its records, as the sources deliver them.
    let dir = common::private_dir();
    let mut store = common::store_with_patients(dir.path(), patients, start);
    let mut config = GeneratorConfig::new(
        SimPatient::from_demo(patients, 42, start.date_naive()),
        42,
        start,
    );
    config.duration_s = Some(seconds);
    config.scenario = Scenario::default();
    let mut generator = Generator::new(config).expect("generator");

    // Baselines over the same bytes: the NDJSON, gzip -6 and zstd -3 of it
    // in 1 MiB pieces.
    let mut records = 0u64;
    let mut json_bytes = 0u64;
    let mut gzip_bytes = 0u64;
    let mut zstd_bytes = 0u64;
    let mut piece: Vec<u8> = Vec::with_capacity(1 << 20);
    let close_piece = |piece: &mut Vec<u8>, gzip_bytes: &mut u64, zstd_bytes: &mut u64| {
        if piece.is_empty() {
            return;
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        gz.write_all(piece).expect("gzip");
        *gzip_bytes += gz.finish().expect("gzip").len() as u64;
        *zstd_bytes += zstd::bulk::compress(piece, 3).expect("zstd").len() as u64;
        piece.clear();
    };
    let mut sequence = 0u64;
    let mut store_s = 0.0;
    let mut pending: Vec<IngestItem> = Vec::new();
    let flush =
        |store: &mut Store, items: &mut Vec<IngestItem>, now: DateTime<Utc>, store_s: &mut f64| {
            if items.is_empty() {
                return;
            }
            let t = Instant::now();
            let batch = IngestBatch {
                source: "bench".into(),
                shard: "0".into(),
                items: std::mem::take(items),
                ordered: true,
            };
            store.store_batch(&batch, now).expect("store");
            *store_s += t.elapsed().as_secs_f64();
        };
    let mut last_at = start;
    while let Some(b) = generator.next_batch().expect("batch") {
        for r in &b.records {
            records += 1;
            json_bytes += r.payload.len() as u64 + 1;
            piece.extend_from_slice(&r.payload);
            piece.push(b'\n');
            if piece.len() >= 1 << 20 {
                close_piece(&mut piece, &mut gzip_bytes, &mut zstd_bytes);
            }
            sequence += 1;
            pending.push(IngestItem::decode(
                sequence.to_string(),
                r.payload.clone(),
                b.at,
            ));
            if pending.len() >= per_batch {
                flush(&mut store, &mut pending, b.at, &mut store_s);
            }
        }
        last_at = b.at;
    }
    flush(&mut store, &mut pending, last_at, &mut store_s);
    close_piece(&mut piece, &mut gzip_bytes, &mut zstd_bytes);
    println!(
        "stored {records} records ({:.1} MB of JSON) in {store_s:.1} s of store_batch (spool included)",
        mb(json_bytes)
    );

    // Seal everything (1 MiB objects), then sync.
    let (target, keys, server_pid) = match std::env::var("WARDWATCH_SEAWEEDFS_S3_URL") {
        Ok(url) => {
            let key = std::env::var("WARDWATCH_SEAWEEDFS_ACCESS_KEY").expect("key");
            let secret = std::env::var("WARDWATCH_SEAWEEDFS_SECRET_KEY").expect("secret");
            let bucket = std::env::var("WARDWATCH_LAKE_BENCH_BUCKET")
                .unwrap_or_else(|_| "lake-bench".into());
            (
                LakeTarget {
                    name: "seaweedfs".into(),
                    url: format!("s3://{bucket}/bench-{}", std::process::id()),
                    endpoint: Some(url),
                    region: Some("us-east-1".into()),
                    ..LakeTarget::folder(
                        "seaweedfs",
                        std::path::Path::new("/unused"),
                        start,
                        "bench",
                    )
                },
                Some(Credentials::new(key, secret, None, None, "bench")),
                std::env::var("WARDWATCH_SEAWEEDFS_PID").ok(),
            )
        }
        Err(_) => (
            LakeTarget::folder("folder", &dir.path().join("lake"), start, "bench"),
            None,
            None,
        ),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    if let (Some(endpoint), Some(keys)) = (&target.endpoint, &keys) {
        // The bucket (weed mini takes writes a moment after its port answers).
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .force_path_style(true)
            .credentials_provider(keys.clone())
            .build();
        let client = aws_sdk_s3::Client::from_conf(conf);
        let bucket = target
            .url
            .trim_start_matches("s3://")
            .split('/')
            .next()
            .unwrap_or("");
        rt.block_on(async {
            for _ in 0..100 {
                match client.create_bucket().bucket(bucket).send().await {
                    Ok(_) => return,
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_bucket_already_owned_by_you()) =>
                    {
                        return;
                    }
                    Err(_) => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
                }
            }
            panic!("could not create bucket {bucket}");
        });
    }
    let t = rt.block_on(Target::open(&target, keys)).expect("target");
    let mut engine = Engine::new(
        Store::open_dir(dir.path()).expect("store"),
        t,
        Rules::default(),
        Arc::new(FixedClock(last_at)),
    );
    let cpu0 = cpu_seconds("self");
    let seal_t = Instant::now();
    let sealed = engine.seal(true).expect("seal");
    let seal_s = seal_t.elapsed().as_secs_f64();
    let seal_cpu = cpu_seconds("self") - cpu0;

    let status = engine.store().lake_status().expect("status");
    let zone = |z: Zone| {
        status
            .zones
            .iter()
            .find(|(k, _)| *k == z)
            .map(|(_, s)| s.clone())
            .unwrap_or_default()
    };
    let objects = engine.store().lake_objects("").expect("objects");
    let sum = |prefix: &str| -> (u64, u64, u64) {
        objects
            .iter()
            .filter(|o| o.key.starts_with(prefix))
            .fold((0, 0, 0), |(n, b, r), o| {
                (n + 1, b + o.bytes as u64, r + o.records as u64)
            })
    };
    let per = |bytes: u64, n: u64| bytes as f64 / n.max(1) as f64;
    println!();
    println!("bytes per record (same {records} records):");
    println!(
        "  raw JSON (NDJSON)            {:>8.1} B   1.00",
        per(json_bytes, records)
    );
    println!(
        "  gzip -6 of the JSON          {:>8.1} B   {:.3}",
        per(gzip_bytes, records),
        gzip_bytes as f64 / json_bytes as f64
    );
    println!(
        "  zstd -3 of the JSON          {:>8.1} B   {:.3}",
        per(zstd_bytes, records),
        zstd_bytes as f64 / json_bytes as f64
    );
    let (raw_n, raw_b, raw_r) = sum("raw/");
    println!(
        "  raw zone (envelope + zstd)   {:>8.1} B   {:.3}   {raw_n} objects, {raw_r} records, mean object {:.0} KiB",
        per(raw_b, raw_r),
        raw_b as f64 / json_bytes as f64,
        raw_b as f64 / raw_n.max(1) as f64 / 1024.0
    );
    let (cl_n, cl_b, cl_r) = sum("cleaned/observations/");
    println!(
        "  cleaned zone (FHIR + zstd)   {:>8.1} B   {:.3}   {cl_n} objects, {cl_r} records, mean object {:.0} KiB",
        per(cl_b, cl_r),
        cl_b as f64 / json_bytes as f64,
        cl_b as f64 / cl_n.max(1) as f64 / 1024.0
    );
    let small = objects.iter().filter(|o| o.bytes < 128 << 10).count();
    println!("  objects under 128 KiB: {small} of {}", objects.len());
    println!(
        "sealed {sealed} objects ({:.1} MB) in {seal_s:.2} s ({:.1} MB/s of objects, {:.2} CPU s)",
        mb((zone(Zone::Raw).pending_bytes + zone(Zone::Cleaned).pending_bytes) as u64),
        mb((zone(Zone::Raw).pending_bytes + zone(Zone::Cleaned).pending_bytes) as u64) / seal_s,
        seal_cpu
    );

    let server0 = server_pid.as_deref().map(cpu_seconds);
    let cpu0 = cpu_seconds("self");
    let sync_t = Instant::now();
    let mut written = 0u64;
    let mut bytes = 0u64;
    loop {
        let pass = rt.block_on(engine.pass(false, &mut |_| {})).expect("pass");
        if let Some(e) = &pass.failure {
            panic!("sync failed: {e}");
        }
        written += pass.written as u64;
        bytes += pass.bytes;
        if pass.pending == 0 {
            break;
        }
    }
    let sync_s = sync_t.elapsed().as_secs_f64();
    let cpu = cpu_seconds("self") - cpu0;
    let server = match (server_pid.as_deref(), server0) {
        (Some(p), Some(c0)) => format!(
            ", server {:.1} CPU s/GB",
            (cpu_seconds(p) - c0) / (bytes as f64 / 1e9)
        ),
        _ => String::new(),
    };
    println!(
        "synced {written} objects, {:.1} MB to {} in {sync_s:.2} s: {:.1} MB/s written, acknowledged and verified; {:.1} CPU s/GB here{server}",
        mb(bytes),
        target.name,
        mb(bytes) / sync_s,
        cpu / (bytes as f64 / 1e9)
    );
    let day = 86_400.0 / seconds as f64;
    println!(
        "per patient-day (scaled): raw {:.1} MB, cleaned {:.1} MB, JSON {:.1} MB",
        mb(raw_b) * day / patients as f64,
        mb(cl_b) * day / patients as f64,
        mb(json_bytes) * day / patients as f64
    );
}
