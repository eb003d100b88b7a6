//! With no way to the daemon, `notify` returns `Unavailable` promptly instead
//! of hanging or crashing: no bus at all, a bus with no notification daemon,
//! and a bus that accepts the connection and then never answers. Also here,
//! because it too needs a process of its own to measure: many notices cost a
//! bounded number of threads and connections.
//!
//! notify-rust reads the bus address only from `DBUS_SESSION_BUS_ADDRESS`, so
//! each case runs the notifier in a child process (this test binary,
//! filtered to [`probe`]) with that variable pointed elsewhere.

use std::io::{BufRead, BufReader};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use wardwatch_notify::{AlarmNotice, DesktopNotifier, Notifier, Priority};

const PROBE_ENV: &str = "WARDWATCH_NOTIFY_PROBE";

/// What the child saw for one `notify` call.
struct Attempt {
    kind: String,
    elapsed_ms: u64,
}

/// The attempts, for a failure's message (how long each took helps to read
/// a failure; no test asserts it).
fn shown(attempts: &[Attempt]) -> String {
    attempts
        .iter()
        .map(|a| format!("{} after {} ms", a.kind, a.elapsed_ms))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Which session bus the child process sees.
#[derive(Clone, Copy)]
enum Bus<'a> {
    /// This process's own (the real daemon's).
    Inherited,
    /// `DBUS_SESSION_BUS_ADDRESS` unset.
    Unset,
    At(&'a str),
}

/// Runs [`probe`] in a child on `bus` and returns each attempt's outcome.
/// The child is killed if it outlives `limit`.
fn run_probe(bus: Bus<'_>, attempts: u32, limit: Duration) -> Vec<Attempt> {
    let lines = run_child(bus, &attempts.to_string(), limit);
    let found: Vec<Attempt> = lines
        .iter()
        .filter_map(|l| l.find("PROBE ").map(|at| &l[at + "PROBE ".len()..]))
        .map(|l| Attempt {
            kind: field(l, "kind="),
            elapsed_ms: field(l, "elapsed_ms=").parse().unwrap_or(u64::MAX),
        })
        .collect();
    assert_eq!(
        found.len(),
        attempts as usize,
        "child output: {}",
        lines.join("\n")
    );
    found
}

/// The value of `name=` in a space-separated line.
fn field(line: &str, name: &str) -> String {
    line.split(' ')
        .find_map(|p| p.strip_prefix(name))
        .unwrap_or_default()
        .to_owned()
}

/// Runs [`probe`] in a child on `bus` and returns its output lines. The
/// child is killed if it outlives `limit`.
fn run_child(bus: Bus<'_>, what: &str, limit: Duration) -> Vec<String> {
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "unavailable::probe",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(PROBE_ENV, what)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    match bus {
        Bus::Inherited => &mut cmd,
        Bus::At(address) => cmd.env("DBUS_SESSION_BUS_ADDRESS", address),
        Bus::Unset => cmd.env_remove("DBUS_SESSION_BUS_ADDRESS"),
    };
    let started = Instant::now();
    let mut child = cmd.spawn().expect("the test binary runs as a child");
    let stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    loop {
        if child.try_wait().expect("child status").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the notifier hung: its process was still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reader.join().expect("reader thread")
}

/// The child half: tries `WARDWATCH_NOTIFY_PROBE` notices and prints how each
/// went (or, for `resources`, what many notices cost the process). Does
/// nothing when run on its own.
#[test]
#[ignore = "run in a child process by the other tests in this module"]
fn probe() {
    let Ok(what) = std::env::var(PROBE_ENV) else {
        return;
    };
    if what == "resources" {
        probe_resources();
        return;
    }
    let Ok(attempts) = what.parse::<u32>() else {
        return;
    };
    let notifier = match DesktopNotifier::new() {
        Ok(n) => n,
        Err(e) => {
            println!("PROBE kind=build-failed elapsed_ms=0 ({e})");
            return;
        }
    };
    for attempt in 0..attempts {
        let notice = AlarmNotice::new(
            i64::from(attempt),
            Priority::High,
            "*** Bed 1 ASYSTOLE",
            "HR 0",
        );
        let started = Instant::now();
        let result = notifier.notify(&notice);
        let elapsed_ms = started.elapsed().as_millis();
        let kind = match &result {
            Ok(_) => "Delivered".to_owned(),
            Err(e) => format!("{:?}", e.kind()),
        };
        // The error text is for a human reading a failed test's output.
        let detail = result.err().map(|e| e.to_string()).unwrap_or_default();
        println!("PROBE kind={kind} elapsed_ms={elapsed_ms} {detail}");
    }
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("wardwatch-notify-{}-{name}", std::process::id()))
}

#[test]
fn no_bus_socket_is_unavailable() {
    let missing = scratch("no-such-bus");
    let attempts = run_probe(
        Bus::At(&format!("unix:path={}", missing.display())),
        2,
        Duration::from_secs(20),
    );
    for a in &attempts {
        assert_eq!(a.kind, "Unavailable", "{}", shown(&attempts));
    }
}

#[test]
fn no_bus_address_is_unavailable() {
    let attempts = run_probe(Bus::Unset, 1, Duration::from_secs(20));
    assert_eq!(attempts[0].kind, "Unavailable", "{}", shown(&attempts));
}

#[test]
fn bus_without_notification_daemon_is_unavailable() {
    // A private bus with no service files, so nothing (dunst ships one) can
    // be auto-started to own the name.
    let dir = scratch("empty-bus");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let config = dir.join("bus.conf");
    std::fs::write(
        &config,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
            dir.join("bus").display()
        ),
    )
    .expect("bus config written");
    let mut daemon = Command::new("dbus-daemon")
        .arg(format!("--config-file={}", config.display()))
        .args(["--nofork", "--print-address"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("dbus-daemon runs (Debian package dbus)");
    let mut address = String::new();
    BufReader::new(daemon.stdout.take().expect("piped stdout"))
        .read_line(&mut address)
        .expect("dbus-daemon prints its address");

    let attempts = run_probe(Bus::At(address.trim()), 1, Duration::from_secs(20));
    let _ = daemon.kill();
    let _ = daemon.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(attempts[0].kind, "Unavailable", "{}", shown(&attempts));
}

#[test]
fn hung_bus_times_out_instead_of_blocking() {
    // Accepts connections and never says a word: a bus daemon that hangs.
    let path = scratch("hung-bus");
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).expect("bind a socket in the temp dir");
    listener
        .set_nonblocking(true)
        .expect("nonblocking listener");
    let stop = Arc::new(AtomicBool::new(false));
    let holder = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => held.push(conn),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        })
    };

    let attempts = run_probe(
        Bus::At(&format!("unix:path={}", path.display())),
        3,
        Duration::from_secs(30),
    );
    stop.store(true, Ordering::Relaxed);
    let _ = holder.join();
    let _ = std::fs::remove_file(&path);
    for a in &attempts {
        // Each attempt ends (the probe's limit catches a hang) as
        // Unavailable; how fast is the call timeout's business, and a test
        // on a busy machine does not time it.
        assert_eq!(a.kind, "Unavailable", "{}", shown(&attempts));
    }
}

/// Threads and open files of this process.
fn threads_and_fds() -> (usize, usize) {
    let count = |dir: &str| std::fs::read_dir(dir).map(|d| d.count()).unwrap_or(0);
    (count("/proc/self/task"), count("/proc/self/fd"))
}

fn probe_resources() {
    const TRACKED: usize = 8;
    let Ok(notifier) = DesktopNotifier::builder()
        .max_tracked(TRACKED)
        .on_action(Box::new(|_| {}))
        .build()
    else {
        println!("RESOURCES build-failed");
        return;
    };
    let show = |n: usize| -> usize {
        (0..n)
            .filter(|&i| {
                let notice =
                    AlarmNotice::new(i as i64, Priority::High, format!("*** Bed {i} VFIB"), "x")
                        .for_patient("WW1");
                notifier.notify(&notice).is_ok()
            })
            .count()
    };
    // Fill the tracked set first so the baseline already holds its lines.
    let warm = show(TRACKED * 2);
    let (threads_before, fds_before) = threads_and_fds();
    let shown = show(100);
    // Let-go connections close when the worker next polls their aborted
    // listeners, which on a busy machine can trail the last notice. A leak
    // never comes down; a lagging close does, so wait (bounded) for the
    // counts to settle and report the lowest seen.
    let settle_until = Instant::now() + Duration::from_secs(30);
    let (mut threads_after, mut fds_after) = threads_and_fds();
    while (threads_after > threads_before || fds_after > fds_before + 8)
        && Instant::now() < settle_until
    {
        std::thread::sleep(Duration::from_millis(50));
        let (t, f) = threads_and_fds();
        threads_after = threads_after.min(t);
        fds_after = fds_after.min(f);
    }
    println!(
        "RESOURCES shown={} threads_before={threads_before} threads_after={threads_after} \
         fds_before={fds_before} fds_after={fds_after}",
        warm + shown
    );
}

#[test]
fn many_resident_notices_hold_a_bounded_number_of_threads_and_connections() {
    crate::bus::require_daemon();
    let _daemon = crate::bus::exclusive();
    let lines = run_child(Bus::Inherited, "resources", Duration::from_secs(60));
    // High notices never expire; take them down for the tests after this.
    crate::bus::dunstctl(&["close-all"]);
    let line = lines
        .iter()
        .find_map(|l| l.find("RESOURCES ").map(|at| &l[at..]))
        .unwrap_or_else(|| panic!("child output: {}", lines.join("\n")));
    eprintln!("{line}");
    let number = |name: &str| field(line, name).parse::<usize>().unwrap_or(usize::MAX);
    assert_eq!(number("shown="), 116, "{line}");
    assert!(
        number("threads_after=") <= number("threads_before="),
        "threads grew with notices: {line}"
    );
    // Each tracked notice holds one bus connection; past max_tracked the
    // oldest are let go, so 100 more notices add none (a few fds of slack
    // for the runtime's own; a leak would add about 100).
    assert!(
        number("fds_after=") <= number("fds_before=") + 8,
        "connections grew with notices: {line}"
    );
}
