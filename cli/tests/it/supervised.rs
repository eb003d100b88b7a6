//! Supervised operation (issue 8): the shipped systemd unit verifies and is
//! hardened, and `serve` speaks the sd_notify protocol to a real
//! `NOTIFY_SOCKET` (CI has no systemd as PID 1, so the test plays the
//! service manager): READY once started, watchdog pings while the writer
//! moves, STOPPING on SIGTERM, a heartbeat file for other monitors, and a
//! log that outlives the process.

use std::os::unix::net::UnixDatagram;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::stream::Serve;
use crate::{ctl, stderr};

fn unit_for_this_build(dir: &std::path::Path) -> std::path::PathBuf {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/wardwatch.service"
    ))
    .expect("deploy/wardwatch.service");
    // verify checks that ExecStart's binary exists: point it at this build
    // (the Debian package installs it as /usr/bin/wardwatchctl).
    assert!(unit.contains("ExecStart=/usr/bin/wardwatchctl "), "{unit}");
    let unit = unit.replace("/usr/bin/wardwatchctl", env!("CARGO_BIN_EXE_wardwatchctl"));
    let path = dir.join("wardwatch.service");
    std::fs::write(&path, unit).expect("write the unit");
    path
}

#[test]
fn the_systemd_unit_verifies_cleanly_and_is_hardened() {
    let dir = crate::private_tempdir();
    let unit = unit_for_this_build(dir.path());
    let o = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/setup.sh installs it)");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim(), "", "verify warned");
    // Exposure ≤ 2.0 on systemd's 0–10 scale ("OK"); the threshold is ×10.
    let o = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze security");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn serve_tells_a_notify_socket_it_is_ready_alive_and_stopping() {
    let dir = crate::private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    let socket_path = dir.path().join("notify.sock");
    let manager = UnixDatagram::bind(&socket_path).expect("bind the notify socket");
    manager
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    // Killed if the test fails, so no runtime outlives it.
    let serve = Serve::start_with(
        &data,
        &[
            ("NOTIFY_SOCKET", socket_path.as_os_str()),
            ("WATCHDOG_USEC", std::ffi::OsStr::new("2000000")),
            // The log file is checked below: keep the runtime's info lines.
            ("WARDWATCH_LOG", std::ffi::OsStr::new("info")),
        ],
    );
    let mut heard = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(heard.iter().any(|m: &String| m.contains("READY=1"))
        && heard.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2)
    {
        assert!(Instant::now() < deadline, "heard only {heard:?}");
        let n = manager.recv(&mut buf).expect("a notification");
        heard.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(heard[0].contains("READY=1"), "READY first: {heard:?}");
    assert!(
        heard[0].contains(&format!("MAINPID={}", serve.pid())),
        "{heard:?}"
    );
    let beat: serde_json::Value = serde_json::from_slice(
        &std::fs::read(data.join("heartbeat.json")).expect("heartbeat.json"),
    )
    .expect("heartbeat json");
    assert_eq!(beat["state"], "ok");
    assert_eq!(beat["pid"], serve.pid());
    // What a monitoring script asks: is this store watched?
    let o = ctl(&data, &["status", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let status: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(status["watched"], true, "{status}");
    assert!(
        status["holder"]
            .as_str()
            .is_some_and(|h| h.contains(&format!("PID {}", serve.pid()))),
        "{status}"
    );

    serve.stop_with("-TERM");
    let mut stopping = false;
    while let Ok(n) = manager.recv(&mut buf) {
        if String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1") {
            stopping = true;
            break;
        }
    }
    assert!(stopping, "no STOPPING=1 before exit");
    // Nothing watches the store now: `status` says so in its exit code, and
    // an alarm list warns that it is not being updated.
    let o = ctl(&data, &["status"]);
    assert_eq!(
        o.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("none is running"));
    let o = ctl(&data, &["alarms", "list", "--active"]);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("no runtime is running"),
        "{}",
        stderr(&o)
    );

    // What the runtime did survives it: JSON lines in the store's rotated
    // log, without the ward's names or MRNs.
    let log = std::fs::read_to_string(data.join("logs/wardwatch.log")).expect("the log file");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "runtime starting"),
        "{log}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "runtime stopped"),
        "{log}"
    );
    let ward: serde_json::Value =
        serde_json::from_slice(&ctl(&data, &["patients", "list", "--json"]).stdout).expect("json");
    for p in ward.as_array().expect("patients") {
        let name = p["name"].as_str().expect("a name");
        let mut words: Vec<&str> = name.split(", ").collect();
        words.push(p["mrn"].as_str().expect("an MRN"));
        // Short names would match ordinary words of the log's own text.
        for w in words.into_iter().filter(|w| w.len() >= 4) {
            assert!(!log.contains(w), "the log names a patient: {w}");
        }
    }
}
