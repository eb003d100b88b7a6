//! Issue 3's end-to-end checks: the real `wardwatchctl serve` reads the
//! simulator's streams from a real SSE gateway and from real Kinesis-API
//! servers (kinesalite, moto), across a gateway restart and a SIGKILL of the
//! runtime, and stores every record exactly once.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::Value;
use wardwatch_sim::{
    EcgReplay, EcgReplayOptions, GatewayOptions, Generator, GeneratorConfig, MalformedKind, Pace,
    Scenario, SharedLog, SimPatient, SimReport, SseGateway, run_sim,
};

use crate::{ctl, stderr, testdata};

const AWS_PREFIX: &str = "WARDWATCH_TEST_AWS";

/// `wardwatchctl serve` as a child process (killed if the test fails).
pub struct Serve(Option<Child>);

impl Serve {
    pub fn start(data: &Path) -> Serve {
        Serve::start_with(data, &[])
    }

    /// With extra environment (e.g. `NOTIFY_SOCKET`).
    pub fn start_with(data: &Path, env: &[(&str, &std::ffi::OsStr)]) -> Serve {
        let child = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
            .arg("--data-dir")
            .arg(data)
            .args([
                "--user",
                "admin",
                "--password-file",
                crate::pw_file(),
                "serve",
            ])
            .env(format!("{AWS_PREFIX}_ACCESS_KEY_ID"), "AKIDWARDWATCHTEST")
            .env(
                format!("{AWS_PREFIX}_SECRET_ACCESS_KEY"),
                "wardwatch-test-secret",
            )
            .env("WARDWATCH_LOG", "warn")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start wardwatchctl serve");
        Serve(Some(child))
    }

    pub fn pid(&self) -> u32 {
        self.0.as_ref().map_or(0, Child::id)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(self) {
        drop(self);
    }

    /// SIGINT, as Ctrl-C: a graceful stop; returns what serve printed.
    pub fn stop(self) -> String {
        self.stop_with("-INT")
    }

    /// Sends `signal` (`-INT`, `-TERM`) and waits for a clean exit.
    pub fn stop_with(mut self, signal: &str) -> String {
        let child = self.0.take().expect("running");
        let _ = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status();
        let out = child.wait_with_output().expect("serve exits");
        assert!(
            out.status.success(),
            "serve did not stop cleanly: {:?}",
            out.status
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A real SSE gateway on loopback serving `log`, for as long as the test
/// needs it.
pub struct Gateway {
    gateway: SseGateway,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Gateway {
    pub fn start(rt: &tokio::runtime::Runtime, addr: &str, log: SharedLog) -> Gateway {
        Gateway::start_with(rt, addr, log, GatewayOptions::default())
    }

    pub fn start_with(
        rt: &tokio::runtime::Runtime,
        addr: &str,
        log: SharedLog,
        options: GatewayOptions,
    ) -> Gateway {
        let (stop, rx) = tokio::sync::oneshot::channel::<()>();
        let gateway = rt
            .block_on(SseGateway::bind(addr.to_owned(), log, options, async {
                let _ = rx.await;
            }))
            .expect("bind the gateway");
        Gateway { gateway, stop }
    }

    pub fn url(&self) -> String {
        self.gateway.stream_url()
    }

    /// Stops it and waits until every connection is closed.
    pub fn stop(self, rt: &tokio::runtime::Runtime) {
        let _ = self.stop.send(());
        rt.block_on(self.gateway.stopped());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn status(data: &Path, source: &str) -> Value {
    let o = ctl(data, &["ingest", "status", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all: Value = serde_json::from_slice(&o.stdout).expect("status json");
    all.as_array()
        .and_then(|a| a.iter().find(|s| s["name"] == source).cloned())
        .unwrap_or(Value::Null)
}

/// Waits until `source` has stored and quarantined `want` records in all.
pub fn wait_for(data: &Path, source: &str, want: u64, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let s = status(data, source);
        let seen = s["stored"].as_u64().unwrap_or(0) + s["quarantined"].as_u64().unwrap_or(0);
        if seen >= want || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn store(data: &Path) -> wardwatch_core::store::Store {
    wardwatch_core::store::Store::open_dir(data).expect("open the store")
}

fn quarantine_code(kind: MalformedKind) -> &'static str {
    match kind {
        MalformedKind::InvalidJson => "invalid_json",
        MalformedKind::UnknownCode => "unknown_code",
        MalformedKind::UnknownUnit => "unknown_unit",
        MalformedKind::ImpossibleValue => "impossible_value",
        MalformedKind::UnknownPatient => "unknown_patient",
        MalformedKind::FutureTimestamp => "future_timestamp",
        _ => "missing_field",
    }
}

/// Checks the store holds exactly what the simulator emitted.
fn assert_exactly_once(data: &Path, source: &str, report: &SimReport) {
    let s = wait_for(data, source, report.emitted_total, Duration::from_secs(120));
    assert_eq!(
        s["stored"].as_u64(),
        Some(report.valid_total()),
        "stored ≠ valid records emitted: {s}"
    );
    assert_eq!(
        s["quarantined"].as_u64(),
        Some(report.malformed),
        "quarantined ≠ malformed emitted: {s}"
    );
    let st = store(data);
    let (_, ecg_samples) = st.sample_counts().expect("counts");
    assert_eq!(ecg_samples as u64, report.ecg_samples, "ECG samples stored");
    let by_code = st.quarantine_counts().expect("quarantine");
    let mut want: std::collections::HashMap<&str, i64> = Default::default();
    for (kind, n) in &report.malformed_by_kind {
        *want.entry(quarantine_code(*kind)).or_default() += *n as i64;
    }
    for (code, n) in want {
        assert_eq!(
            by_code.get(code).copied().unwrap_or(0),
            n,
            "quarantined as {code}"
        );
    }
}

fn generator(patients: usize, duration_s: u64, malformed: f64) -> Generator {
    // Starts a minute in the past so a sped-up run never looks like the future.
    let start = Utc::now() - chrono::Duration::seconds(60);
    let mut config = GeneratorConfig::new(
        SimPatient::from_demo(patients, 42, start.date_naive()),
        7,
        start,
    );
    config.duration_s = Some(duration_s);
    config.scenario = Scenario::default().with_malformed(malformed, &MalformedKind::ALL);
    Generator::new(config).expect("generator")
}

/// A simulated ward streaming over a real SSE gateway, configured as source
/// `gw` of the store in `data`: `patients` beds for `duration_s` simulated
/// seconds at `speedup`× real time.
struct StreamingWard {
    rt: tokio::runtime::Runtime,
    gateway: Gateway,
    sim: Option<tokio::task::JoinHandle<wardwatch_sim::Result<SimReport>>>,
}

impl StreamingWard {
    fn start(
        data: &Path,
        patients: usize,
        duration_s: u64,
        speedup: f64,
        options: GatewayOptions,
    ) -> StreamingWard {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let addr = format!("127.0.0.1:{}", free_port());
        let log = SharedLog::new(1_000_000);
        let gateway = Gateway::start_with(&rt, &addr, log.clone(), options);
        assert!(
            ctl(data, &["sources", "add", "sse", "gw", &gateway.url()])
                .status
                .success()
        );
        let mut sink = log;
        let sim = rt.spawn(async move {
            run_sim(
                generator(patients, duration_s, 0.0),
                &mut sink,
                Pace::Speedup(speedup),
                std::future::pending(),
            )
            .await
        });
        StreamingWard {
            rt,
            gateway,
            sim: Some(sim),
        }
    }

    /// Waits for the simulation to end. The gateway keeps serving, so a
    /// runtime that lags behind can still read everything.
    fn sim_report(&mut self) -> SimReport {
        let sim = self.sim.take().expect("the simulation is awaited once");
        self.rt.block_on(sim).expect("sim task").expect("sim run")
    }

    fn stop(self) {
        self.gateway.stop(&self.rt);
    }
}

fn new_ward(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    let o = ctl(&data, &["demo", "load", "--seed", "42"]);
    assert!(o.status.success(), "{}", stderr(&o));
    data
}

#[test]
fn sse_stream_is_stored_exactly_once_across_a_gateway_restart_and_a_sigkill() {
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr = format!("127.0.0.1:{}", free_port());
    let log = SharedLog::new(1_000_000);
    let gateway = Gateway::start(&rt, &addr, log.clone());
    let url = gateway.url();
    assert!(
        ctl(&data, &["sources", "add", "sse", "gw", &url])
            .status
            .success()
    );

    // 8 patients, 60 simulated seconds at 6× (10 s), 2 % malformed records.
    let mut sink = log.clone();
    let sim = rt.spawn(async move {
        run_sim(
            generator(8, 60, 0.02),
            &mut sink,
            Pace::Speedup(6.0),
            std::future::pending(),
        )
        .await
    });
    let serve = Serve::start(&data);
    // (a) the source server goes away mid-stream (once the runtime reads
    // it, however slowly it started), and comes back once the runtime has
    // noticed.
    wait_for(&data, "gw", 1, Duration::from_secs(60));
    gateway.stop(&rt);
    let deadline = Instant::now() + Duration::from_secs(60);
    while status(&data, "gw")["reconnects"].as_u64().unwrap_or(0) == 0 && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let gateway = Gateway::start(&rt, &addr, log.clone());
    std::thread::sleep(Duration::from_millis(2000));
    // (b) the runtime is killed without warning, and restarted.
    serve.kill();
    std::thread::sleep(Duration::from_millis(500));
    let serve = Serve::start(&data);
    let report = rt.block_on(sim).expect("sim task").expect("sim run");
    assert!(
        report.malformed > 0 && report.ecg > 0 && report.numeric > 0,
        "{report:?}"
    );

    assert_exactly_once(&data, "gw", &report);
    let s = status(&data, "gw");
    assert!(
        s["reconnects"].as_u64().unwrap_or(0) >= 1,
        "the gateway restart was noticed: {s}"
    );
    let printed = serve.stop();
    assert!(printed.contains("stopped:"), "{printed}");
    gateway.stop(&rt);
}

fn kinesis_round_trip(endpoint_var: &str, stream: &str) {
    kinesis_round_trip_with(
        endpoint_var,
        stream,
        &format!("env:{AWS_PREFIX}"),
        &[],
        None,
    );
}

/// The round trip with the runtime's credentials named by `credentials`,
/// `env` given to it, and the endpoint's private CA in `ca_bundle`.
fn kinesis_round_trip_with(
    endpoint_var: &str,
    stream: &str,
    credentials: &str,
    env: &[(&str, &std::ffi::OsStr)],
    ca_bundle: Option<&str>,
) {
    let endpoint = std::env::var(endpoint_var)
        .unwrap_or_else(|_| panic!("{endpoint_var} is not set: run the tests through scripts/test.sh (scripts/peers.sh starts the servers)"));
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = wardwatch_cloud::KinesisClient::new(wardwatch_cloud::KinesisConfig {
        endpoint: endpoint.clone(),
        region: "eu-west-2".into(),
        credentials: wardwatch_cloud::Credentials {
            access_key_id: "AKIDWARDWATCHTEST".into(),
            secret_access_key: "wardwatch-test-secret".into(),
            session_token: None,
        }
        .into(),
        timeout: std::time::Duration::from_secs(20),
        ca_bundle: ca_bundle.map(str::to_owned),
    })
    .expect("client");
    rt.block_on(async {
        client
            .create_stream(stream, 2)
            .await
            .expect("create stream");
        client
            .wait_for_active(stream, Duration::from_secs(30))
            .await
            .expect("active");
    });
    let mut args = vec![
        "sources",
        "add",
        "kinesis",
        "cloud",
        "--endpoint",
        &endpoint,
        "--stream",
        stream,
        "--credentials",
        credentials,
    ];
    if let Some(ca) = ca_bundle {
        args.extend(["--ca-bundle", ca]);
    }
    let o = ctl(&data, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let serve = Serve::start_with(&data, env);
    let mut sink = wardwatch_sim::KinesisSink::new(client, stream);
    let sim = rt.spawn(async move {
        run_sim(
            generator(6, 40, 0.02),
            &mut sink,
            Pace::Speedup(8.0),
            std::future::pending(),
        )
        .await
    });
    std::thread::sleep(Duration::from_millis(2500));
    serve.kill();
    let serve = Serve::start_with(&data, env);
    let report = rt.block_on(sim).expect("sim task").expect("sim run");
    assert_exactly_once(&data, "cloud", &report);
    serve.stop();
}

#[test]
fn kinesis_stream_on_kinesalite_is_stored_exactly_once_across_a_sigkill() {
    kinesis_round_trip(
        "WARDWATCH_KINESALITE_URL",
        &format!("vitals-{}", std::process::id()),
    );
}

#[test]
fn kinesis_credentials_can_come_from_the_aws_chain_with_a_named_profile() {
    // A shared credentials file as `aws configure` writes it; nothing in
    // the environment's AWS_* keys.
    let home = crate::private_tempdir();
    let creds = home.path().join("credentials");
    std::fs::write(
        &creds,
        "[ward-runtime]\naws_access_key_id = AKIDWARDWATCHPROFILE\naws_secret_access_key = wardwatch-profile-secret\n",
    )
    .expect("credentials file");
    let config = home.path().join("config");
    std::fs::write(&config, "[profile ward-runtime]\nregion = eu-west-2\n").expect("config");
    kinesis_round_trip_with(
        "WARDWATCH_KINESALITE_URL",
        &format!("vitals-chain-{}", std::process::id()),
        "aws:ward-runtime",
        &[
            ("AWS_SHARED_CREDENTIALS_FILE", creds.as_os_str()),
            ("AWS_CONFIG_FILE", config.as_os_str()),
        ],
        None,
    );
}

#[test]
fn kinesis_behind_a_private_ca_is_read_with_its_ca_bundle() {
    let ca =
        std::env::var("WARDWATCH_SEAWEEDFS_CA_BUNDLE").expect("the test CA (scripts/peers.sh)");
    kinesis_round_trip_with(
        "WARDWATCH_KINESALITE_HTTPS_URL",
        &format!("vitals-tls-{}", std::process::id()),
        &format!("env:{AWS_PREFIX}"),
        &[],
        Some(&ca),
    );
}

#[test]
fn kinesis_stream_on_moto_is_stored_exactly_once_across_a_sigkill() {
    kinesis_round_trip(
        "WARDWATCH_MOTO_URL",
        &format!("vitals-{}", std::process::id()),
    );
}

#[test]
fn mitdb_100_replayed_through_the_stream_is_stored_bit_exact() {
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let mrn = store(&data).patients().expect("patients")[0].mrn.clone();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let log = SharedLog::new(10_000);
    let gateway = Gateway::start(&rt, "127.0.0.1:0", log.clone());
    assert!(
        ctl(&data, &["sources", "add", "sse", "gw", &gateway.url()])
            .status
            .success()
    );
    let hea = testdata("mitdb/100.hea");
    let start = Utc::now() - chrono::Duration::minutes(31);
    let mut opts = EcgReplayOptions::new(mrn.clone(), start);
    opts.lead = Some("MLII".into());
    let replay = EcgReplay::open(&hea, opts).expect("replay");
    let mut sink = log.clone();
    let report = rt
        .block_on(run_sim(
            replay,
            &mut sink,
            Pace::AsFastAsPossible,
            std::future::pending(),
        ))
        .expect("replay run");
    assert_eq!(report.ecg_samples, 650_000);
    let serve = Serve::start(&data);
    let s = wait_for(&data, "gw", report.emitted_total, Duration::from_secs(120));
    serve.stop();
    assert_eq!(s["stored"].as_u64(), Some(report.ecg), "{s}");
    let stored: Vec<i32> = store(&data)
        .ecg_samples(&mrn, 131_330, start - chrono::Duration::seconds(1))
        .expect("read back")
        .iter()
        .flat_map(|b| {
            b.samples
                .iter()
                .map(|x| x.expect("record 100 has no invalid samples"))
        })
        .collect();
    let record = wardwatch_wfdb::Record::open(&hea).expect("100.hea");
    let raw = record
        .read_raw(record.signal_index("MLII").expect("MLII"))
        .expect("raw");
    assert_eq!(stored.len(), 650_000);
    assert!(stored == raw, "stored samples differ from the recording");
    gateway.stop(&rt);
}

#[test]
fn an_unreachable_source_is_a_technical_alarm_not_silence() {
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let dead = format!("http://127.0.0.1:{}/streams/vitals", free_port());
    assert!(
        ctl(&data, &["sources", "add", "sse", "dead", &dead])
            .status
            .success()
    );
    let serve = Serve::start(&data);
    let deadline = Instant::now() + Duration::from_secs(30);
    let alarm = loop {
        let o = ctl(&data, &["alarms", "list", "--json"]);
        let list: Value = serde_json::from_slice(&o.stdout).expect("json");
        if let Some(a) = list
            .as_array()
            .and_then(|l| l.iter().find(|a| a["key"] == "tech:source:dead").cloned())
        {
            break a;
        }
        assert!(
            Instant::now() < deadline,
            "no technical alarm for an unreachable source: {list}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    serve.stop();
    assert_eq!(alarm["priority"], "technical");
    assert!(
        alarm["message"]
            .as_str()
            .unwrap_or("")
            .contains("unreachable"),
        "{alarm}"
    );
    let s = status(&data, "dead");
    assert!(s["reconnects"].as_u64().unwrap_or(0) >= 2, "{s}");
}

/// Issue 8: two runtimes on one store each scored half of every ECG (false
/// bradycardia, missed AF). The second now refuses at once, naming the first.
#[test]
fn a_second_serve_on_the_same_store_is_refused_and_names_the_holder() {
    let dir = crate::private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    let first = Serve::start(&data);
    let pid = first.pid();
    let deadline = Instant::now() + Duration::from_secs(60);
    while wardwatch_runtime::lock::holder(&data).is_none() {
        assert!(
            Instant::now() < deadline,
            "the first runtime never took its lock"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = ctl(&data, &["serve"]);
    assert_eq!(o.status.code(), Some(1), "the second serve ran");
    let err = stderr(&o);
    assert!(err.contains("already runs"), "{err}");
    assert!(err.contains(&format!("PID {pid}")), "{err}");
    // The first one is unaffected and stops cleanly.
    first.stop();
    assert!(wardwatch_runtime::lock::holder(&data).is_none());
}

/// Issue 8: a registry import during `serve` failed 7 times in 8 with a raw
/// SQLite error (a read transaction that could not be promoted), and two
/// concurrent imports failed long before the busy timeout. Every other
/// writer — imports, acknowledgements, source and user changes — now
/// succeeds while the runtime streams, and the stream is still stored
/// exactly once.
#[test]
fn imports_acks_and_admin_changes_all_succeed_while_the_runtime_streams() {
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let registry = dir.path().join("registry.csv");
    let o = ctl(
        &data,
        &[
            "demo",
            "export",
            "--count",
            "2000",
            "-o",
            registry.to_str().expect("utf8"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let mut ward = StreamingWard::start(&data, 24, 90, 6.0, GatewayOptions::default());
    let serve = Serve::start(&data);
    // Two imports at once, again and again, beside the stream, plus
    // acknowledgements and admin changes from a third process.
    let importers: Vec<_> = (0..2)
        .map(|_| {
            let data = data.clone();
            let registry = registry.clone();
            std::thread::spawn(move || {
                (0..4)
                    .map(|_| {
                        ctl(
                            &data,
                            &["import", "patients", registry.to_str().expect("utf8")],
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut admin = Vec::new();
    for i in 0..6 {
        admin.push(ctl(
            &data,
            &[
                "users",
                "add",
                &format!("nurse{i}"),
                "--role",
                "clinician",
                "--new-password-file",
                crate::pw_file(),
            ],
        ));
        admin.push(ctl(&data, &["alarms", "list", "--active"]));
    }
    for o in importers
        .into_iter()
        .flat_map(|t| t.join().expect("importer"))
        .chain(admin)
    {
        assert!(
            o.status.success(),
            "a writer failed beside the runtime: {}",
            stderr(&o)
        );
    }
    let report = ward.sim_report();
    assert_exactly_once(&data, "gw", &report);
    serve.stop();
    ward.stop();
}

/// Issue 8: when another process held the store's write lock long enough,
/// the runtime gave up and exited for good. It now waits as long as it
/// takes and resumes, with nothing lost and nothing doubled. (The old limit
/// was minutes of 10 s busy timeouts plus backoff, too long for a test; this
/// pins the wait-and-resume path across three busy timeouts.)
#[test]
fn the_runtime_waits_out_a_held_write_lock_and_loses_nothing() {
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let mut ward = StreamingWard::start(&data, 8, 60, 2.0, GatewayOptions::default());
    let serve = Serve::start(&data);
    wait_for(&data, "gw", 1, Duration::from_secs(60));
    // Another process takes the write lock and keeps it through several of
    // the runtime's busy timeouts (10 s each).
    let other = wardwatch_core::store::cipher::connect(&data).expect("open");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let held = Instant::now();
    // Loud, not silent: the heartbeat says the store is blocked (the ward
    // also gets a technical notification, which the store cannot hold).
    let deadline = held + Duration::from_secs(120);
    loop {
        let beat: Value = std::fs::read(data.join("heartbeat.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or(Value::Null);
        if beat["state"] == "store_blocked" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the heartbeat never said so: {beat}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    if let Some(rest) = Duration::from_secs(32).checked_sub(held.elapsed()) {
        std::thread::sleep(rest);
    }
    other.execute_batch("COMMIT").expect("release it");
    drop(other);
    let report = ward.sim_report();
    assert_exactly_once(&data, "gw", &report);
    // Once the store takes writes again, the episode is on the record.
    let o = ctl(&data, &["alarms", "list", "--json"]);
    let alarms: Value = serde_json::from_slice(&o.stdout).expect("json");
    let episode = alarms
        .as_array()
        .expect("alarms")
        .iter()
        .find(|a| a["key"] == "tech:store")
        .unwrap_or_else(|| panic!("no store-blocked alarm: {alarms:#}"));
    assert_eq!(episode["priority"], "technical");
    assert!(episode["condition_ended"].is_string(), "{episode}");
    // Still the same runtime, running: it stops cleanly when asked.
    serve.stop();
    ward.stop();
}

/// A small tmpfs of the test's own, unmounted when the test ends.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> SmallDisk {
        std::fs::create_dir_all(at).expect("mount point");
        let o = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .output()
            .expect("run mount");
        assert!(
            o.status.success(),
            "mounting a small tmpfs needs root (scripts/test.sh runs as root): {}",
            stderr(&o)
        );
        SmallDisk(at.to_owned())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the disk under `path` until it refuses more.
fn fill(path: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("ballast");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).and_then(|()| f.sync_data()).is_ok() {}
}

/// Issue 8: a full disk stopped the runtime for good. It now waits, says so
/// (technical notice, service status), and resumes when space is freed,
/// with nothing lost and nothing doubled.
#[test]
fn a_full_disk_makes_the_runtime_wait_and_resume_with_nothing_lost() {
    let dir = crate::private_tempdir();
    let disk = SmallDisk::mount(&dir.path().join("disk"), "48m");
    let data = new_ward(&disk.0);
    let mut ward = StreamingWard::start(&data, 8, 60, 2.0, GatewayOptions::default());
    // The service manager's socket lives off the full disk, so the status
    // still gets through when nothing can be written there.
    let socket_path = dir.path().join("notify.sock");
    let manager =
        std::os::unix::net::UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    manager
        .set_read_timeout(Some(Duration::from_secs(120)))
        .expect("timeout");
    let serve = Serve::start_with(&data, &[("NOTIFY_SOCKET", socket_path.as_os_str())]);
    let wait_status = |want: &str| {
        let mut buf = [0u8; 4096];
        loop {
            let n = manager
                .recv(&mut buf)
                .unwrap_or_else(|e| panic!("no `{want}` from serve: {e}"));
            if String::from_utf8_lossy(&buf[..n]).contains(want) {
                return;
            }
        }
    };
    wait_status("READY=1");
    wait_for(&data, "gw", 1, Duration::from_secs(60));
    let ballast = disk.0.join("ballast");
    fill(&ballast);
    wait_status("STATUS=store blocked");
    std::fs::remove_file(&ballast).expect("free the disk");
    wait_status("STATUS=running");
    let report = ward.sim_report();
    assert_exactly_once(&data, "gw", &report);
    serve.stop();
    ward.stop();
}

/// Issue 8: a workstation whose clock disagrees with the stream's server
/// puts wrong times on every alarm; the runtime now raises that as a
/// technical alarm instead of carrying on silently.
#[test]
fn a_source_server_whose_clock_disagrees_raises_a_technical_alarm() {
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let skewed = GatewayOptions {
        clock_offset: chrono::Duration::seconds(90),
        ..GatewayOptions::default()
    };
    let ward = StreamingWard::start(&data, 2, 20, 1.0, skewed);
    let serve = Serve::start(&data);
    let deadline = Instant::now() + Duration::from_secs(60);
    let alarm = loop {
        let o = ctl(&data, &["alarms", "list", "--active", "--json"]);
        let alarms: Value = serde_json::from_slice(&o.stdout).expect("json");
        if let Some(a) = alarms
            .as_array()
            .and_then(|a| a.iter().find(|a| a["key"] == "tech:clock:gw").cloned())
        {
            break a;
        }
        assert!(Instant::now() < deadline, "no clock alarm: {alarms:#}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(alarm["priority"], "technical");
    let message = alarm["message"].as_str().unwrap_or_default();
    // 90 s, give or take the `Date` header's whole seconds and the trip.
    let seconds: i64 = message
        .split("differ by ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no skew in {message}"));
    assert!((80..=95).contains(&seconds), "{message}");
    serve.stop();
    ward.stop();
}

/// Issue 9, item 10: there was no backup and no check. An admin sets a
/// scheduled backup (a bad value refused at the keyboard), the runtime
/// writes one at start, a manual backup works while it runs, a restore is
/// refused while it runs and brings the store back once it is stopped.
#[test]
fn backups_run_beside_the_runtime_and_a_restore_waits_for_it_to_stop() {
    let dir = crate::private_tempdir();
    let data = dir.path().join("data");
    let nightly = dir.path().join("nightly");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    let o = ctl(&data, &["settings", "set", "backup.keep", "0"]);
    assert_eq!(o.status.code(), Some(1), "a keep of 0 is refused");
    assert!(stderr(&o).contains("from 1 to 1000"), "{}", stderr(&o));
    let o = ctl(&data, &["settings", "set", "backup.dir", "relative/path"]);
    assert_eq!(o.status.code(), Some(1), "a relative path is refused");
    let nightly_text = nightly.to_str().expect("utf-8 path");
    let o = ctl(&data, &["settings", "set", "backup.dir", nightly_text]);
    assert!(o.status.success(), "{}", stderr(&o));

    let serve = Serve::start(&data);
    let deadline = Instant::now() + Duration::from_secs(120);
    while wardwatch_runtime::upkeep::backups_in(&nightly).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the runtime wrote no scheduled backup"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let manual = dir.path().join("manual.db");
    let o = ctl(&data, &["store", "backup", manual.to_str().expect("utf-8")]);
    assert!(
        o.status.success(),
        "backup beside the runtime: {}",
        stderr(&o)
    );
    let o = ctl(&data, &["store", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(crate::stdout(&o).contains("store ok"));

    let o = ctl(
        &data,
        &["store", "restore", manual.to_str().expect("utf-8")],
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "a restore under a running runtime"
    );
    assert!(stderr(&o).contains("already runs"), "{}", stderr(&o));
    serve.stop();

    // A change after the backup, then the restore takes the store back.
    let o = ctl(
        &data,
        &[
            "users",
            "add",
            "late.nurse",
            "--role",
            "clinician",
            "--new-password-file",
            crate::pw_file(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = ctl(
        &data,
        &["store", "restore", manual.to_str().expect("utf-8")],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let users = crate::stdout(&ctl(&data, &["users", "list"]));
    assert!(!users.contains("late.nurse"), "{users}");
    let audit = crate::stdout(&ctl(&data, &["audit", "--limit", "5"]));
    assert!(audit.contains("store.restore"), "{audit}");
}

/// The files of `dir`, recursively, as (path relative to `dir`, bytes).
pub(crate) fn files_with_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(dir).expect("list").flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(root, &p, out);
            } else if let Ok(bytes) = std::fs::read(&p) {
                let rel = p.strip_prefix(root).unwrap_or(&p).display().to_string();
                out.push((rel, bytes));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn after_a_live_run_a_sync_and_a_reindex_no_file_of_the_data_directory_shows_a_patient() {
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let o = ctl(&data, &["patients", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let listed: Value = serde_json::from_slice(&o.stdout).expect("json");
    let mut needles: Vec<String> = Vec::new();
    for p in listed.as_array().expect("patients") {
        needles.push(p["mrn"].as_str().expect("mrn").to_owned());
        // Every part of a name of four letters or more.
        let name = p["name"].as_str().expect("name");
        needles.extend(
            name.split(|c: char| !c.is_alphabetic())
                .filter(|w| w.chars().count() >= 4)
                .map(str::to_owned),
        );
    }
    assert!(needles.len() >= 16, "{needles:?}");

    // The runtime writes its log, heartbeat and store; alarms fire.
    let mut ward = StreamingWard::start(&data, 8, 30, 6.0, GatewayOptions::default());
    let serve = Serve::start(&data);
    let report = ward.sim_report();
    let s = wait_for(&data, "gw", report.emitted_total, Duration::from_secs(120));
    assert_eq!(s["stored"].as_u64(), Some(report.valid_total()), "{s}");
    serve.stop();
    ward.stop();
    // The lake's spool, a sync to the embedded folder target, the
    // catalogue's index, a backup kept in the data directory.
    for args in [
        vec!["sync", "run", "--once", "--flush"],
        vec!["catalog", "refresh"],
        vec![
            "store",
            "backup",
            data.join("backup.db").to_str().expect("utf8"),
        ],
        vec!["store", "check"],
    ] {
        let o = ctl(&data, &args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        if args[1] == "check" {
            assert!(
                crate::stdout(&o).contains("encrypted (SQLCipher"),
                "{}",
                crate::stdout(&o)
            );
        }
    }
    let files = files_with_bytes(&data);
    for want in [
        "wardwatch.db",
        "logs/",
        "catalog/",
        "lake/curated/",
        "backup.db",
    ] {
        assert!(
            files.iter().any(|(f, _)| f.starts_with(want)),
            "{want} was written: {:?}",
            files.iter().map(|(f, _)| f).collect::<Vec<_>>()
        );
    }
    for (file, bytes) in &files {
        // The embedded lake target stands in for object storage: its raw
        // and cleaned zones are the records as received, identifiable by
        // design (SECURITY.md); everything else must be clean.
        if file.starts_with("lake/raw/") || file.starts_with("lake/cleaned/") {
            continue;
        }
        for needle in &needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in clear in {file}"
            );
        }
    }
}

/// Issue 16's soak: `serve` fell over a minute behind, the gateway's replay
/// buffer no longer held what it asked for, and those records were skipped
/// with nothing counted or alarmed. The gateway's `gap` event is now
/// counted per source, raises a latched technical alarm, and is not
/// counted again after a restart.
#[test]
fn records_a_gateway_no_longer_holds_are_counted_and_alarmed_once() {
    const CAPACITY: usize = 200;
    let dir = crate::private_tempdir();
    let data = new_ward(dir.path());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let addr = format!("127.0.0.1:{}", free_port());
    let log = SharedLog::new(CAPACITY);
    let gateway = Gateway::start(&rt, &addr, log.clone());
    assert!(
        ctl(&data, &["sources", "add", "sse", "gw", &gateway.url()])
            .status
            .success()
    );
    let publish = |patients: usize, seconds: u64| {
        let mut sink = log.clone();
        rt.block_on(run_sim(
            generator(patients, seconds, 0.0),
            &mut sink,
            Pace::AsFastAsPossible,
            std::future::pending(),
        ))
        .expect("sim run")
        .emitted_total
    };
    let read_up_to = |last: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = status(&data, "gw");
            if s["last_sequence"].as_str() == Some(&last.to_string()) {
                return s;
            }
            assert!(Instant::now() < deadline, "not read up to {last}: {s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    };

    // The runtime reads everything, then stops; meanwhile the ward goes on
    // and the gateway keeps only its newest CAPACITY records.
    let first = publish(1, 3);
    assert!(first > 0 && (first as usize) < CAPACITY, "{first}");
    let serve = Serve::start(&data);
    read_up_to(first);
    serve.stop();
    let second = publish(2, 30);
    assert!(second as usize > CAPACITY, "{second}");
    let lost = second - CAPACITY as u64;
    let (from, to) = (first + 1, first + lost);

    let serve = Serve::start(&data);
    let s = read_up_to(log.last_id());
    assert_eq!(
        (s["gaps"].as_u64(), s["lost"].as_u64()),
        (Some(1), Some(lost)),
        "{s}"
    );
    let said = s["last_error"].as_str().unwrap_or_default();
    assert!(
        said.contains(&format!("lost records {from}–{to} ({lost} records)")),
        "{said}"
    );
    let o = ctl(&data, &["alarms", "list", "--active", "--json"]);
    let alarms: Value = serde_json::from_slice(&o.stdout).expect("json");
    let alarm = alarms
        .as_array()
        .and_then(|a| a.iter().find(|a| a["key"] == "tech:lost:gw").cloned())
        .unwrap_or_else(|| panic!("no technical alarm for lost records: {alarms:#}"));
    assert_eq!(alarm["priority"], "technical");
    assert_eq!(
        alarm["state"], "active",
        "latched until acknowledged: {alarm}"
    );
    let message = alarm["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("{lost} records")), "{message}");
    let printed = serve.stop();
    assert!(printed.contains("stopped:"), "{printed}");

    // Restarted, the runtime resumes after the gap: not counted again.
    let third = publish(1, 2);
    assert!(third > 0);
    let serve = Serve::start(&data);
    let s = read_up_to(log.last_id());
    assert_eq!(
        (s["gaps"].as_u64(), s["lost"].as_u64()),
        (Some(1), Some(lost)),
        "{s}"
    );
    serve.stop();
    gateway.stop(&rt);
}
