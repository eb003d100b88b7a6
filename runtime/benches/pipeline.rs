//! Benchmarks of the receiving side, in process (no network, so the figures
//! are Wardwatch's own cost): the simulator's records go through the
//! runtime's path — decode and validate on a decoder thread, then store in
//! one transaction per batch, live scoring and the alarm engine on the
//! writer thread, as in `serve`.
//!
//!   cargo bench -p wardwatch-runtime --bench pipeline -- throughput [PATIENTS] [SECONDS] [pleth] [encrypted]
//!   cargo bench -p wardwatch-runtime --bench pipeline -- alarm-rate [BEDS] [HOURS] [pleth]
//!   cargo bench -p wardwatch-runtime --bench pipeline -- alarm-flood [ALARMS] [SECONDS]
//!     (on a real desktop: `bench/alarm_flood.sh`)
//!
//! Prints figures; asserts nothing about time. The baseline in the same run
//! is real time: how much faster than the ward produces data it is handled.
//! `throughput` runs the same records twice, into a store in clear and into
//! an encrypted one (SQLCipher, as `Ctx::create` makes them), and reports
//! the cost of encryption as the ratio of the two; with `encrypted`, only
//! into the encrypted one (the baseline of `bench/scale.sh`).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use wardwatch_core::alarms::Rules;
use wardwatch_core::clock::SystemClock;
use wardwatch_core::store::{AuditEntry, IngestBatch, Store};
use wardwatch_notify::RecordingNotifier;
use wardwatch_runtime::pipeline::{CHANNEL_BATCHES, RawRecord, Stage, decode_batch};
use wardwatch_runtime::stage::AlarmStage;
use wardwatch_sim::{Generator, GeneratorConfig, RecordSource, Scenario, SimBatch, SimPatient};

/// The allocator `wardwatchctl serve` runs on, so this stays its baseline.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A memory figure of this process from /proc/self/status, in MB.
fn status_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn peak_rss_mb() -> f64 {
    status_mb("VmHWM:")
}

fn rss_mb() -> f64 {
    status_mb("VmRSS:")
}

/// CPU seconds (user + system) of this process so far.
fn cpu_s() -> f64 {
    cpu_of("self")
}

/// CPU seconds (user + system) of process `pid` (or `self`) so far; zero
/// for one that is gone.
fn cpu_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

struct Ward {
    _dir: tempfile::TempDir,
    /// The WAL checkpointed beside the writer, as the runtime does.
    checkpointer: Option<wardwatch_runtime::checkpoint::Checkpointer>,
    store: Store,
    stage: AlarmStage,
    notifier: Arc<RecordingNotifier>,
    sequence: u64,
    /// Scores of the last batch, stored with the next (as the writer does).
    scores: Vec<wardwatch_core::store::ScoreRow>,
}

fn ward(patients: usize, start: DateTime<Utc>, encrypted: bool) -> Ward {
    let (dir, store) = ward_store(patients, start, encrypted);
    let notifier = Arc::new(RecordingNotifier::new());
    let (stage, _) = AlarmStage::start(
        dir.path(),
        Rules::default(),
        Box::new(notifier.clone()),
        Arc::new(SystemClock),
    )
    .expect("alarm stage");
    Ward {
        _dir: dir,
        checkpointer: wardwatch_runtime::checkpoint::Checkpointer::start(&store),
        store,
        stage,
        notifier,
        sequence: 0,
        scores: Vec::new(),
    }
}

/// A store in a private temporary folder with `patients` demo patients.
fn ward_store(
    patients: usize,
    start: DateTime<Utc>,
    encrypted: bool,
) -> (tempfile::TempDir, Store) {
    let dir = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .expect("temp dir");
    let mut store = if encrypted {
        Store::create_dir_encrypted(dir.path(), &dir.path().join(".keys")).expect("store")
    } else {
        Store::create_dir(dir.path()).expect("store")
    };
    assert_eq!(store.key_id().is_some(), encrypted);
    store
        .attach_audit_keys(&wardwatch_core::store::AuditKeys::in_dir(
            dir.path().join(".audit-keys"),
        ))
        .expect("audit keys");
    let records = wardwatch_core::demo::patients(patients, 42, start.date_naive());
    let audit = AuditEntry {
        at: start,
        actor: "bench".into(),
        action: "bench.load".into(),
        target: None,
        detail: json!({}),
    };
    let records: Vec<_> = records
        .into_iter()
        .map(|r| (r, wardwatch_core::model::Carried::ALL))
        .collect();
    store
        .upsert_patients(&records, &audit, start)
        .expect("patients");
    (dir, store)
}

impl Ward {
    /// The writer path for one simulator batch; ticks once per data second.
    fn ingest(&mut self, batch: &SimBatch, last_tick: &mut DateTime<Utc>) {
        let ib = decode(batch, &mut self.sequence);
        self.write(&ib, batch.at, last_tick);
    }

    /// The writer thread's part for one decoded batch.
    fn write(&mut self, ib: &IngestBatch, now: DateTime<Utc>, last_tick: &mut DateTime<Utc>) {
        let scores = std::mem::take(&mut self.scores);
        let (stored, _) = self
            .store
            .store_batches_with_scores(std::slice::from_ref(ib), &scores, now)
            .expect("store");
        self.scores = self.stage.after_batch(&self.store, ib, &stored[0]);
        if let Some(c) = &self.checkpointer {
            c.committed();
        }
        while *last_tick + Duration::seconds(1) <= now {
            *last_tick += Duration::seconds(1);
            self.stage.tick(&self.store, *last_tick);
        }
    }
}

/// The decoder thread's part for one simulator batch, at its time.
fn decode(batch: &SimBatch, sequence: &mut u64) -> IngestBatch {
    let records = batch
        .records
        .iter()
        .map(|r| {
            *sequence += 1;
            RawRecord::new(sequence.to_string(), r.payload.clone())
        })
        .collect();
    decode_batch("bench", "0", records, batch.at)
}

fn generator(patients: usize, seconds: u64, start: DateTime<Utc>, pleth: bool) -> Generator {
    let mut config = GeneratorConfig::new(
        SimPatient::from_demo(patients, 42, start.date_naive()),
        42,
        start,
    );
    config.duration_s = Some(seconds);
    config.scenario = Scenario::default();
    config.pleth = pleth;
    Generator::new(config).expect("generator")
}

/// Groups the simulator's per-instant batches into writer-sized batches
/// (up to 500 records), as the SSE and Kinesis sources do.
fn regroup(batches: Vec<SimBatch>) -> Vec<SimBatch> {
    let mut out: Vec<SimBatch> = Vec::new();
    for b in batches {
        for chunk in b.records.chunks(500) {
            match out.last_mut() {
                Some(last) if last.records.len() + chunk.len() <= 500 => {
                    last.at = b.at;
                    last.records.extend_from_slice(chunk);
                }
                _ => out.push(SimBatch {
                    at: b.at,
                    records: chunk.to_vec(),
                }),
            }
        }
    }
    out
}

fn throughput(patients: usize, seconds: u64, pleth: bool, encrypted_only: bool) {
    let start = Utc::now() - Duration::seconds(seconds as i64 + 10);
    let t = Instant::now();
    let mut g = generator(patients, seconds, start, pleth);
    if pleth {
        println!("each patient's pleth streamed beside the ECG (waveform figures include it)");
    }
    let mut batches = Vec::new();
    while let Some(b) = g.next_batch().expect("generate") {
        batches.push(b);
    }
    let gen_s = t.elapsed().as_secs_f64();
    let batches = regroup(batches);
    let samples: u64 = batches
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| u64::from(r.ecg_samples))
        .sum();
    let mut realtime = Vec::new();
    let stores: &[bool] = if encrypted_only {
        &[true]
    } else {
        &[false, true]
    };
    for &encrypted in stores {
        let ward = ward(patients, start, encrypted);
        let x = run_throughput(ward, &batches, start, patients, seconds, samples, gen_s);
        realtime.push(x);
        println!();
    }
    if encrypted_only {
        return;
    }
    println!(
        "{:<44} {:>14.2}",
        "× real time, store in clear", realtime[0]
    );
    println!(
        "{:<44} {:>14.2}",
        "× real time, store encrypted (SQLCipher)", realtime[1]
    );
    println!(
        "{:<44} {:>13.1}%",
        "cost of encryption (wall time added)",
        (realtime[0] / realtime[1] - 1.0) * 100.0
    );
}

/// Feeds `batches` through `ward`'s writer path and prints the figures;
/// returns × real time.
fn run_throughput(
    mut ward: Ward,
    batches: &[SimBatch],
    start: DateTime<Utc>,
    patients: usize,
    seconds: u64,
    samples: u64,
    gen_s: f64,
) -> f64 {
    let records: usize = batches.iter().map(|b| b.records.len()).sum();
    let encrypted = ward.store.key_id().is_some();
    let mut last_tick = start;
    let rss_before = rss_mb();
    let cpu0 = cpu_s();
    let t = Instant::now();
    // Decoding the next batches overlaps storing this one, over a bounded
    // channel, as in the runtime.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(IngestBatch, DateTime<Utc>)>(CHANNEL_BATCHES);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            let mut sequence = 0;
            for b in batches {
                if tx.send((decode(b, &mut sequence), b.at)).is_err() {
                    return;
                }
            }
        });
        for (ib, at) in rx {
            ward.write(&ib, at, &mut last_tick);
        }
    });
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_s() - cpu0;
    let db = std::fs::metadata(ward.store.path())
        .map(|m| m.len())
        .unwrap_or(0)
        + std::fs::metadata(ward.store.path().with_extension("db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    let (_, stored_samples) = ward.store.sample_counts().expect("counts");
    println!(
        "receiving side, {patients} patients, {seconds} s of ECG 250 Hz + numerics 1 Hz (generated beforehand in {gen_s:.1} s), store {}",
        if encrypted {
            "encrypted (SQLCipher)"
        } else {
            "in clear"
        }
    );
    println!("{:<44} {:>14}", "records", records);
    println!("{:<44} {:>14}", "ECG samples", samples);
    println!(
        "{:<44} {:>14.1}",
        "wall seconds (decoder and writer threads)", wall
    );
    println!("{:<44} {:>14.1}", "CPU seconds (whole process)", cpu);
    println!("{:<44} {:>14.0}", "records/s", records as f64 / wall);
    println!("{:<44} {:>14.0}", "ECG samples/s", samples as f64 / wall);
    println!(
        "{:<44} {:>14.0}",
        "records/s needed live (baseline)",
        records as f64 / seconds as f64
    );
    println!(
        "{:<44} {:>14.2}",
        "× real time (live = 1; > 1 is headroom)",
        seconds as f64 / wall
    );
    println!(
        "{:<44} {:>14.2}",
        "cores busy at live rate",
        cpu / seconds as f64
    );
    println!(
        "{:<44} {:>14.1}",
        "memory before ingest, MB (input held in RAM)", rss_before
    );
    println!("{:<44} {:>14.1}", "peak memory, MB (VmHWM)", peak_rss_mb());
    println!(
        "{:<44} {:>14.1}",
        "peak added by the receiving side, MB",
        peak_rss_mb() - rss_before
    );
    println!(
        "{:<44} {:>14.2}",
        "store bytes per ECG sample, all tables",
        db as f64 / stored_samples.max(1) as f64
    );
    println!(
        "{:<44} {:>14.2}",
        "ECG block bytes per sample (codec)",
        ward.store.ecg_bytes_per_sample().expect("ecg")
    );
    // Per table from the pages themselves (dbstat), so a WAL not yet
    // checkpointed does not count. The lake's outbox is apart: it holds
    // lines only until the sync takes them (`sync.object_max_minutes`).
    let patient_days = (patients as f64 * seconds as f64 / 86_400.0).max(f64::MIN_POSITIVE);
    let tables = ward.store.bytes_by_table().expect("tables");
    let outbox = |t: &str| t.starts_with("lake_spool") || t.starts_with("lake_objects");
    let per_day = |b: i64| b as f64 / 1e6 / patient_days;
    let growing = |t: &str| !outbox(t);
    let sum = |f: &dyn Fn(&str) -> bool| -> i64 {
        tables.iter().filter(|(t, _)| f(t)).map(|(_, b)| b).sum()
    };
    let resident = sum(&growing);
    let waiting = sum(&outbox);
    println!(
        "{:<44} {:>14.1}",
        "store MB per patient-day (outbox apart)",
        per_day(resident)
    );
    for (table, bytes) in tables.iter().filter(|(t, _)| growing(t)) {
        if *bytes as f64 >= 0.01 * resident as f64 {
            println!(
                "{:<44} {:>14.2}",
                format!("  {table} (with indexes)"),
                per_day(*bytes)
            );
        }
    }
    println!(
        "{:<44} {:>14}",
        format!(
            "dedup ids held in memory ({}-min window)",
            wardwatch_core::store::DEDUP_WINDOW.num_minutes()
        ),
        ward.store.observation_count()
    );
    println!(
        "{:<44} {:>14.1}",
        "lake outbox MB per patient-day (until synced)",
        per_day(waiting)
    );
    println!(
        "{:<44} {:>14}",
        "alarms raised",
        ward.store.alarms(false, 100_000).expect("alarms").len()
    );
    seconds as f64 / wall
}

fn alarm_rate(beds: usize, hours: u64, pleth: bool) {
    let seconds = hours * 3600;
    let start = Utc::now() - Duration::seconds(seconds as i64 + 10);
    let mut ward = ward(beds, start, true);
    // The demo's patients bring their own ectopy (heart failure, ischaemic
    // heart disease: sim::generator::ecg_traits_of); every eighth bed also
    // has a dual-chamber pacemaker, as a cardiology ward would.
    let mut patients = SimPatient::from_demo(beds, 42, start.date_naive());
    for p in patients.iter_mut().skip(7).step_by(8) {
        p.ecg_traits.paced_lower_rate_bpm = Some(60.0);
    }
    let paced = patients
        .iter()
        .filter(|p| p.ecg_traits.paced_lower_rate_bpm.is_some())
        .count();
    let ectopic = patients
        .iter()
        .filter(|p| p.ecg_traits.pvc_per_min > 0.0)
        .count();
    let mut config = GeneratorConfig::new(patients, 42, start);
    config.duration_s = Some(seconds);
    config.scenario = Scenario::default();
    config.pleth = pleth;
    let mut g = Generator::new(config).expect("generator");
    let mut last_tick = start;
    let t = Instant::now();
    let mut pending = Vec::new();
    let mut records = 0usize;
    while let Some(b) = g.next_batch().expect("generate") {
        records += b.records.len();
        pending.push(b);
        if pending
            .iter()
            .map(|b: &SimBatch| b.records.len())
            .sum::<usize>()
            >= 500
        {
            for b in regroup(std::mem::take(&mut pending)) {
                ward.ingest(&b, &mut last_tick);
            }
        }
    }
    for b in regroup(pending) {
        ward.ingest(&b, &mut last_tick);
    }
    let wall = t.elapsed().as_secs_f64();
    std::thread::sleep(std::time::Duration::from_millis(500)); // let the notifier thread drain
    let alarms = ward.store.alarms(false, 1_000_000).expect("alarms");
    let days = beds as f64 * hours as f64 / 24.0;
    let count = |p: &str| alarms.iter().filter(|a| a.priority.as_str() == p).count();
    let patient_alarms = alarms
        .iter()
        .filter(|a| a.mrn.is_some() && a.priority.as_str() != "technical")
        .count();
    let with = if pleth { ", pleth streamed" } else { "" };
    println!(
        "normal ward: {beds} beds ({ectopic} with PVCs, {paced} paced{with}), {hours} h simulated (no scripted episodes), {records} records in {wall:.0} s"
    );
    println!("{:<44} {:>10}", "alarms, high", count("high"));
    println!("{:<44} {:>10}", "alarms, medium", count("medium"));
    println!("{:<44} {:>10}", "alarms, low", count("low"));
    println!("{:<44} {:>10}", "technical conditions", count("technical"));
    println!(
        "{:<44} {:>10}",
        "  of which ECG artefact",
        alarms
            .iter()
            .filter(|a| a.key == "tech:ecg_artefact")
            .count()
    );
    println!(
        "{:<44} {:>10.2}",
        "patient alarms per patient-day",
        patient_alarms as f64 / days
    );
    println!(
        "{:<44} {:>10}",
        "notifications shown",
        ward.notifier.notices().len()
    );
    for a in alarms.iter().take(20) {
        println!(
            "  {} bed {} {} {}",
            a.priority.marker(),
            a.bed.as_deref().unwrap_or("-"),
            a.key,
            a.message
        );
    }
}

/// A flood of technical alarms on the real desktop (the session's
/// notification daemon: run it under `scripts/notifyd.sh`, as
/// `bench/alarm_flood.sh` does): `alarms` raised evenly over `seconds`, as
/// a source's fault makes the ward's beds raise them, then all resolved.
/// Run twice, the summary notification changed for every alarm that joins
/// it (spacing zero: the baseline, as before) and at most once in
/// `SUMMARY_EVERY`; reports the daemon's and the X server's CPU (their
/// pids from `DUNST_PID` and `XVFB_PID`), the deliveries and the latency.
fn alarm_flood(alarms: usize, seconds: u64) {
    use wardwatch_runtime::stage::SUMMARY_EVERY;
    let pid = |var: &str| std::env::var(var).unwrap_or_else(|_| "0".into());
    let (dunst, xvfb) = (pid("DUNST_PID"), pid("XVFB_PID"));
    println!(
        "alarm flood: {alarms} technical alarms over {seconds} s on the desktop (dunst pid {dunst}, Xvfb pid {xvfb}), then resolved"
    );
    println!(
        "| summary changed | wall s | dunst CPU s | Xvfb CPU s | delivered | in the summary | summary updates | p50 ms | p99 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut base = None;
    for every in [std::time::Duration::ZERO, SUMMARY_EVERY] {
        let start = Utc::now();
        let (dir, store) = ward_store(3, start, false);
        let notifier = wardwatch_notify::DesktopNotifier::new().expect("a notification daemon");
        let (mut stage, stats) = AlarmStage::start_with_summary_every(
            dir.path(),
            Rules::default(),
            Box::new(notifier),
            Arc::new(SystemClock),
            every,
        )
        .expect("alarm stage");
        let (d0, x0) = (cpu_of(&dunst), cpu_of(&xvfb));
        let t = Instant::now();
        let spacing = std::time::Duration::from_secs(seconds) / alarms.max(1) as u32;
        for i in 0..alarms {
            if let Some(wait) = (spacing * i as u32).checked_sub(t.elapsed()) {
                std::thread::sleep(wait);
            }
            stage.system_condition(
                &store,
                &format!("tech:bench{i}"),
                true,
                &format!("bench alarm {i}"),
            );
        }
        let deadline = Instant::now() + std::time::Duration::from_secs(120);
        while stats.lock().expect("stats").delivered < alarms as u64 && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for i in 0..alarms {
            stage.system_condition(&store, &format!("tech:bench{i}"), false, "resolved");
        }
        // The sweep takes the resolved ones down within about a second.
        std::thread::sleep(std::time::Duration::from_secs(3));
        drop(stage);
        let wall = t.elapsed().as_secs_f64();
        let (d, x) = (cpu_of(&dunst) - d0, cpu_of(&xvfb) - x0);
        let s = stats.lock().expect("stats").clone();
        let pct = |p| {
            s.latency_percentile_ms(p)
                .map_or("-".into(), |v| format!("{v:.0}"))
        };
        println!(
            "| {} | {wall:.1} | {d:.2} | {x:.2} | {} | {} | {} | {} | {} |",
            if every.is_zero() {
                "for every alarm (before)".to_owned()
            } else {
                format!("at most once in {} ms", every.as_millis())
            },
            s.delivered,
            s.folded,
            s.summary_updates,
            pct(50.0),
            pct(99.0)
        );
        match base {
            None => base = Some((d, x)),
            Some((bd, bx)) => println!(
                "dunst CPU {:.2}× the baseline's, Xvfb {:.2}×",
                d / bd,
                x / bx
            ),
        }
        // The run's notifications expire (10 s, dunst's default for
        // normal urgency) before the next run starts.
        std::thread::sleep(std::time::Duration::from_secs(11));
    }
}

fn main() {
    wardwatch_runtime::setup::small_pages();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let num = |i: usize, d: u64| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("alarm-flood") => alarm_flood(num(1, 500) as usize, num(2, 10)),
        Some("alarm-rate") => alarm_rate(
            num(1, 24) as usize,
            num(2, 24),
            args.get(3).is_some_and(|a| a == "pleth"),
        ),
        _ => throughput(
            num(1, 1000) as usize,
            num(2, 60),
            args.iter().skip(3).any(|a| a == "pleth"),
            args.iter().skip(3).any(|a| a == "encrypted"),
        ),
    }
}
