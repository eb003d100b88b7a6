//! Issue 5's end-to-end checks: a scripted ward through the real runtime
//! raises exactly the expected alarms, one per episode, with the right
//! priorities, as real notifications on D-Bus (dunst, under
//! scripts/notifyd.sh); the false-alarm record a103l raises no asystole.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use wardwatch_sim::{
    EcgReplay, EcgReplayOptions, Generator, GeneratorConfig, Pace, Scenario, SharedLog, SimPatient,
    run_sim,
};

use crate::stream::{Gateway, Serve, wait_for};
use crate::{ctl, stderr, testdata};

fn alarms(data: &Path) -> Vec<Value> {
    let o = ctl(data, &["alarms", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice::<Value>(&o.stdout)
        .expect("json")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn require_session_bus() {
    assert!(
        std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some(),
        "no session bus: run the tests through scripts/test.sh, or `scripts/notifyd.sh run -- cargo test`"
    );
}

const SCENARIO: &str = r#"{"episodes": [
  {"bed": 0, "kind": "asystole", "start_s": 360, "duration_s": 20},
  {"bed": 1, "kind": "tachycardia", "start_s": 360, "duration_s": 60, "params": {"hr": 170}},
  {"bed": 2, "kind": "atrial_fibrillation", "start_s": 360, "duration_s": 120, "params": {"hr": 110}},
  {"bed": 3, "kind": "desaturation", "start_s": 360, "duration_s": 90, "params": {"spo2": 80}},
  {"bed": 4, "kind": "sensor_disconnect", "start_s": 360, "duration_s": 60},
  {"bed": 5, "kind": "bradycardia", "start_s": 360, "duration_s": 60, "params": {"hr": 35}}
]}"#;

/// What a scripted ward run through the real runtime left: its alarms and
/// every Notify call seen on the session bus.
struct WardRun {
    alarms: Vec<Value>,
    bus: String,
    printed: String,
    /// Per bed index, the waveforms (MDC codes) its heart rate came from.
    hr_sources: Vec<BTreeSet<u32>>,
}

/// Runs `beds` demo patients for `duration_s` simulated seconds at 20×
/// through the SSE gateway into `wardwatchctl serve`, with `scenario` (and
/// the pleth when `pleth`), watching the bus for Notify calls as an
/// independent witness.
fn run_ward(scenario: &str, beds: usize, duration_s: u64, pleth: bool) -> WardRun {
    require_session_bus();
    let dir = crate::private_tempdir();
    let data = dir.path().join("data");
    assert!(
        ctl(&data, &["demo", "load", "--seed", "42"])
            .status
            .success()
    );
    let scenario_path = dir.path().join("scenario.json");
    std::fs::write(&scenario_path, scenario).expect("write scenario");

    let capture = dir.path().join("notify.txt");
    let mut monitor = Command::new("dbus-monitor")
        .args([
            "--session",
            "interface='org.freedesktop.Notifications',member='Notify'",
        ])
        .stdout(std::fs::File::create(&capture).expect("capture file"))
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-monitor (Debian package dbus) must be installed");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let log = SharedLog::new(1_000_000);
    let gateway = Gateway::start(&rt, "127.0.0.1:0", log.clone());
    assert!(
        ctl(&data, &["sources", "add", "sse", "ward", &gateway.url()])
            .status
            .success()
    );
    let serve = Serve::start(&data);

    let start = Utc::now() - chrono::Duration::seconds(duration_s as i64 + 20);
    let mut config = GeneratorConfig::new(
        SimPatient::from_demo(beds, 42, start.date_naive()),
        11,
        start,
    );
    config.duration_s = Some(duration_s);
    config.pleth = pleth;
    config.scenario = Scenario::from_file(&scenario_path).expect("scenario");
    let mut sink = log.clone();
    let report = rt
        .block_on(run_sim(
            Generator::new(config).expect("generator"),
            &mut sink,
            Pace::Speedup(20.0),
            std::future::pending(),
        ))
        .expect("sim");
    let s = wait_for(
        &data,
        "ward",
        report.emitted_total,
        Duration::from_secs(120),
    );
    assert_eq!(s["stored"].as_u64(), Some(report.valid_total()), "{s}");
    std::thread::sleep(Duration::from_secs(3)); // let the last notices go out
    let printed = serve.stop();
    let _ = monitor.kill();
    let _ = monitor.wait();
    gateway.stop(&rt);
    let store = wardwatch_core::store::Store::open_dir(&data).expect("store");
    let hr_sources = store.patients().expect("patients")[..beds]
        .iter()
        .map(|p| {
            store
                .scores(&p.mrn, Some("ecg_hr"), 100_000)
                .expect("scores")
                .into_iter()
                .filter_map(|r| match r.score {
                    wardwatch_core::model::ScoreDetail::EcgHr { lead } => Some(lead),
                    _ => None,
                })
                .collect()
        })
        .collect();
    WardRun {
        alarms: alarms(&data),
        bus: std::fs::read_to_string(&capture).expect("capture"),
        printed,
        hr_sources,
    }
}

/// (bed, key, priority) of every patient alarm.
fn patient_alarms(all: &[Value]) -> BTreeSet<(String, String, String)> {
    all.iter()
        .filter(|a| !a["mrn"].is_null())
        .map(|a| {
            (
                a["bed"].as_str().unwrap_or("").to_owned(),
                a["key"].as_str().unwrap_or("").to_owned(),
                a["priority"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

fn alarm_set(expected: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    expected
        .iter()
        .map(|(b, k, p)| ((*b).to_owned(), (*k).to_owned(), (*p).to_owned()))
        .collect()
}

#[test]
fn scripted_ward_raises_exactly_the_expected_alarms_as_real_notifications() {
    // Ten simulated minutes of six beds, episodes from minute six.
    let WardRun {
        alarms: all,
        bus,
        printed,
        ..
    } = run_ward(SCENARIO, 6, 600, false);
    let patient = patient_alarms(&all);
    let expected = alarm_set(&[
        ("1", "asystole", "high"),
        ("2", "extreme_tachycardia", "high"),
        ("3", "af_onset", "medium"),
        ("3", "af_termination", "low"),
        ("4", "spo2_low", "medium"),
        ("5", "tech:sensor_off", "technical"),
        ("6", "extreme_bradycardia", "high"),
    ]);
    assert_eq!(patient, expected, "alarms raised: {all:#?}");
    let per_patient = all.iter().filter(|a| !a["mrn"].is_null()).count();
    assert_eq!(
        per_patient,
        expected.len(),
        "one alarm per episode: {all:#?}"
    );
    assert!(
        all.iter().all(|a| a["key"] != "tech:notifications"),
        "notifications failed: {all:#?}"
    );

    // Each alarm went out as a real notification; high ones as critical.
    for a in all.iter().filter(|a| !a["mrn"].is_null()) {
        let message = a["message"].as_str().unwrap_or("");
        assert!(
            bus.contains(message),
            "no Notify for `{message}` on the bus"
        );
    }
    assert!(
        bus.contains("\"urgency\"") && bus.contains("byte 2"),
        "no critical-urgency notification on the bus"
    );
    assert!(printed.contains("notifications"), "{printed}");
    println!("serve: {printed}");
}

/// Issue 15 end to end, with the pleth streamed: bed 1's ECG lead comes
/// off unnoticed (a flat line: an asystole to the ECG alone) while the
/// heart and the pleth beat on — a technical "ECG artefact" alarm (the
/// asystole suppressed, pulse present), no asystole; bed 2's true asystole (no pulse either)
/// raises the high alarm on D-Bus as before, saying the pleth confirmed it.
#[test]
fn with_the_pleth_a_lead_off_is_a_technical_alarm_and_a_true_asystole_still_alarms_high() {
    const PLETH_SCENARIO: &str = r#"{"episodes": [
      {"bed": 0, "kind": "lead_off", "start_s": 120, "duration_s": 20},
      {"bed": 1, "kind": "asystole", "start_s": 120, "duration_s": 20}
    ]}"#;
    let WardRun {
        alarms: all,
        bus,
        hr_sources,
        ..
    } = run_ward(PLETH_SCENARIO, 3, 200, true);
    // While the lead is off, the heart rate is the pleth's pulse rate.
    assert!(hr_sources[0].contains(&150_452), "{hr_sources:?}");
    assert_eq!(hr_sources[2], BTreeSet::from([131_330]), "{hr_sources:?}");
    let patient = patient_alarms(&all);
    let expected = alarm_set(&[
        ("1", "tech:ecg_artefact", "technical"),
        ("2", "asystole", "high"),
    ]);
    assert_eq!(patient, expected, "alarms raised: {all:#?}");
    let message = |key: &str| {
        all.iter()
            .find(|a| a["key"] == key)
            .and_then(|a| a["message"].as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let artefact = message("tech:ecg_artefact");
    assert!(
        artefact.starts_with("ECG artefact: asystole on II, suppressed (pulse present)")
            && artefact.contains("PLETH pulse at"),
        "{artefact}"
    );
    let asystole = message("asystole");
    assert!(
        asystole.contains("confirmed by PLETH no pulse"),
        "{asystole}"
    );
    for m in [&artefact, &asystole] {
        assert!(bus.contains(m.as_str()), "no Notify for `{m}` on the bus");
    }
}

#[test]
fn false_asystole_record_a103l_raises_no_asystole_alarm() {
    require_session_bus();
    let dir = crate::private_tempdir();
    let data = dir.path().join("data");
    assert!(
        ctl(&data, &["demo", "load", "--seed", "42"])
            .status
            .success()
    );
    let store = wardwatch_core::store::Store::open_dir(&data).expect("store");
    let mrn = store.patients().expect("patients")[0].mrn.clone();
    drop(store);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let log = SharedLog::new(100_000);
    let gateway = Gateway::start(&rt, "127.0.0.1:0", log.clone());
    assert!(
        ctl(&data, &["sources", "add", "sse", "replay", &gateway.url()])
            .status
            .success()
    );
    let start = Utc::now() - chrono::Duration::seconds(340);
    let replay = EcgReplay::open(
        testdata("challenge2015/a103l.hea"),
        EcgReplayOptions::new(mrn, start),
    )
    .expect("a103l");
    let mut sink = log.clone();
    let serve = Serve::start(&data);
    let report = rt
        .block_on(run_sim(
            replay,
            &mut sink,
            Pace::Speedup(10.0),
            std::future::pending(),
        ))
        .expect("replay");
    assert_eq!(report.ecg_samples, 82_500);
    let s = wait_for(
        &data,
        "replay",
        report.emitted_total,
        Duration::from_secs(120),
    );
    assert_eq!(s["stored"].as_u64(), Some(report.ecg), "{s}");
    std::thread::sleep(Duration::from_secs(2));
    serve.stop();
    gateway.stop(&rt);
    let all = alarms(&data);
    assert!(
        all.iter().all(|a| a["key"] != "asystole"),
        "asystole alarm on a103l: {all:#?}"
    );
    assert!(
        all.iter().all(|a| a["priority"] != "high"),
        "no life-threatening alarm on a103l: {all:#?}"
    );
}

#[test]
fn a_clinicians_alert_reaches_the_patient_messages_stream() {
    let endpoint = std::env::var("WARDWATCH_KINESALITE_URL")
        .expect("WARDWATCH_KINESALITE_URL is not set: run the tests through scripts/test.sh");
    let dir = crate::private_tempdir();
    let data = dir.path().join("data");
    assert!(
        ctl(&data, &["demo", "load", "--seed", "42"])
            .status
            .success()
    );
    let store = wardwatch_core::store::Store::open_dir(&data).expect("store");
    let patient = store
        .patients()
        .expect("patients")
        .into_iter()
        .find(|p| p.alert_consent)
        .expect("a consenting patient");
    let at = Utc::now();
    let event = wardwatch_core::alarms::ConditionEvent {
        mrn: Some(patient.mrn.clone()),
        key: "spo2_low".into(),
        started: true,
        priority: wardwatch_core::alarms::Priority::Medium,
        latched: false,
        message: "SpO2 86 < 90".into(),
        at,
    };
    let alarm = store
        .apply_condition(&event, at)
        .expect("apply")
        .expect("notice")
        .alarm_id;
    drop(store);

    let stream = format!("patient-messages-{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let credentials = wardwatch_cloud::Credentials {
        access_key_id: "AKIDWARDWATCHTEST".into(),
        secret_access_key: "wardwatch-test-secret".into(),
        session_token: None,
    };
    let client = wardwatch_cloud::KinesisClient::new(wardwatch_cloud::KinesisConfig {
        endpoint: endpoint.clone(),
        region: "eu-west-2".into(),
        credentials: credentials.into(),
        timeout: std::time::Duration::from_secs(20),
        ca_bundle: None,
    })
    .expect("client");
    rt.block_on(async {
        client.create_stream(&stream, 1).await.expect("create");
        client
            .wait_for_active(&stream, Duration::from_secs(30))
            .await
            .expect("active");
    });
    let o = ctl(
        &data,
        &[
            "messages",
            "configure",
            "--endpoint",
            &endpoint,
            "--stream",
            &stream,
            "--credentials",
            "env:WARDWATCH_TEST_AWS",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--user",
            "admin",
            "--password-file",
            crate::pw_file(),
            "alarms",
            "notify-patient",
            &alarm.to_string(),
            "--message",
            "Please press your call button",
        ])
        .env("WARDWATCH_TEST_AWS_ACCESS_KEY_ID", "AKIDWARDWATCHTEST")
        .env(
            "WARDWATCH_TEST_AWS_SECRET_ACCESS_KEY",
            "wardwatch-test-secret",
        )
        .output()
        .expect("run");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        stderr(&o)
    );
    // Queued, not sent: delivery is the runtime's job, and with none
    // running the command says so instead of staying silent.
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no runtime is running"),
        "{}",
        stderr(&o)
    );
    let listed = ctl(&data, &["messages", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed[0]["state"], "queued");

    // The runtime delivers it on its own.
    let serve = Serve::start(&data);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let state = loop {
        let listed = ctl(&data, &["messages", "list", "--json"]);
        let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
        let state = listed[0]["state"].as_str().unwrap_or_default().to_owned();
        if state == "sent" || std::time::Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    serve.stop();
    assert_eq!(state, "sent");
    let audit = ctl(&data, &["audit", "--json", "--limit", "1000"]);
    let audit: Value = serde_json::from_slice(&audit.stdout).expect("json");
    assert!(
        audit.as_array().expect("entries").iter().any(|e| {
            e["action"] == "patient.message_delivered"
                && e["actor"] == "@runtime"
                && e["target"] == patient.mrn.as_str()
        }),
        "{audit:#}"
    );

    // What the gateway will read: one Communication for that patient.
    let records = rt.block_on(async {
        let shard = client.list_shards(&stream).await.expect("shards")[0]
            .shard_id
            .clone();
        let it = client
            .get_shard_iterator(&stream, &shard, wardwatch_cloud::IteratorStart::TrimHorizon)
            .await
            .expect("iterator");
        client.get_records(&it, 100).await.expect("records").records
    });
    assert_eq!(records.len(), 1);
    let msg: Value = serde_json::from_slice(&records[0].data).expect("json");
    assert_eq!(msg["resourceType"], "Communication");
    assert_eq!(msg["subject"]["identifier"]["value"], patient.mrn.as_str());
    assert_eq!(
        msg["payload"][0]["contentString"],
        "Please press your call button"
    );
    let listed = ctl(&data, &["messages", "list", "--json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed[0]["state"], "sent");
    assert_eq!(
        listed[0]["sequence"].as_str(),
        Some(records[0].sequence_number.as_str())
    );
}
