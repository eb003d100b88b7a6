//! Test access to the real session bus and notification daemon: a check that
//! one is there, a `dbus-monitor` that records every `Notify` call and
//! notification signal, and `dunstctl` for the daemon's own view.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Tests that look at the daemon's display (positions, counts) take this so
/// they do not see each other's notifications.
static DAEMON: Mutex<()> = Mutex::new(());

pub fn exclusive() -> MutexGuard<'static, ()> {
    DAEMON.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fails the test unless a session bus is set and a notification daemon owns
/// `org.freedesktop.Notifications` on it.
pub fn require_daemon() {
    const HOW: &str = "run these tests next to a notification daemon: \
                       scripts/notifyd.sh run -- cargo test -p wardwatch-notify";
    let address = std::env::var("DBUS_SESSION_BUS_ADDRESS").unwrap_or_default();
    assert!(
        !address.is_empty(),
        "DBUS_SESSION_BUS_ADDRESS is not set: {HOW}"
    );
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--print-reply",
            "--dest=org.freedesktop.DBus",
            "/org/freedesktop/DBus",
            "org.freedesktop.DBus.NameHasOwner",
            "string:org.freedesktop.Notifications",
        ])
        .output()
        .expect("dbus-send runs (Debian package dbus)");
    let reply = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && reply.contains("boolean true"),
        "no notification daemon owns org.freedesktop.Notifications on {address}: {HOW}"
    );
}

/// One message as `dbus-monitor` prints it.
#[derive(Debug, Clone)]
pub struct Msg {
    /// `method call` or `signal`.
    pub kind: String,
    /// Seconds since the Unix epoch, as the bus daemon stamped it.
    pub time: f64,
    pub member: String,
    /// Argument lines, whitespace collapsed: `string "x"`, `uint32 5`, ...
    pub args: Vec<String>,
}

fn unquote(line: &str) -> Option<&str> {
    line.strip_prefix("string \"")?.strip_suffix('"')
}

impl Msg {
    /// Whether every argument of a message of known shape has been read;
    /// `None` for other messages, which end when the output pauses.
    /// dbus-monitor marks no end of a message, and a pause alone is not
    /// one: the reader may be descheduled in the middle of a message.
    fn complete(&self) -> Option<bool> {
        match (self.kind.as_str(), self.member.as_str()) {
            // Notify ends with its expire timeout, the only top-level int32
            // (hint values are printed as `variant int32 …`).
            ("method call", "Notify") => Some(
                self.args.len() >= 8 && self.args.last().is_some_and(|l| l.starts_with("int32 ")),
            ),
            ("signal", "NotificationClosed" | "ActionInvoked" | "ActivationToken") => {
                Some(self.args.len() >= 2)
            }
            ("signal", "NameLost" | "NameAcquired") => Some(!self.args.is_empty()),
            _ => None,
        }
    }

    fn is_notify(&self) -> bool {
        self.kind == "method call" && self.member == "Notify"
    }

    pub fn summary(&self) -> Option<&str> {
        self.args.get(3).and_then(|l| unquote(l))
    }

    pub fn body(&self) -> Option<&str> {
        self.args.get(4).and_then(|l| unquote(l))
    }

    pub fn app_name(&self) -> Option<&str> {
        self.args.first().and_then(|l| unquote(l))
    }

    pub fn replaces_id(&self) -> Option<u32> {
        self.args.get(1)?.strip_prefix("uint32 ")?.parse().ok()
    }

    pub fn expire_timeout(&self) -> Option<i32> {
        self.args.last()?.strip_prefix("int32 ")?.parse().ok()
    }

    /// The action keys and labels, in order.
    pub fn actions(&self) -> Vec<String> {
        let Some(start) = self.args.iter().position(|l| l == "array [") else {
            return Vec::new();
        };
        self.args[start + 1..]
            .iter()
            .take_while(|l| *l != "]")
            .filter_map(|l| unquote(l).map(str::to_owned))
            .collect()
    }

    /// The value line of hint `name`, e.g. `byte 2` or `boolean true`.
    pub fn hint(&self, name: &str) -> Option<&str> {
        let key = format!("string \"{name}\"");
        let at = self.args.iter().position(|l| *l == key)?;
        self.args.get(at + 1)?.strip_prefix("variant ")
    }

    pub fn urgency(&self) -> Option<u8> {
        self.hint("urgency")?.strip_prefix("byte ")?.parse().ok()
    }

    /// For `NotificationClosed`: (id, reason).
    pub fn closed(&self) -> Option<(u32, u32)> {
        if self.kind != "signal" || self.member != "NotificationClosed" {
            return None;
        }
        let id = self.args.first()?.strip_prefix("uint32 ")?.parse().ok()?;
        let reason = self.args.get(1)?.strip_prefix("uint32 ")?.parse().ok()?;
        Some((id, reason))
    }
}

/// A running `dbus-monitor` on the session bus.
pub struct Monitor {
    child: Child,
    /// Raw output lines; a message is complete when all its arguments are
    /// there (`Msg::complete`), when the next one starts, or, for messages
    /// of unknown shape, when output pauses (dbus-monitor marks no end).
    lines: Receiver<String>,
    current: Option<Msg>,
    seen: Vec<Msg>,
}

impl Monitor {
    /// Starts monitoring `Notify` calls and notification signals, and returns
    /// once the monitor is attached (so nothing sent after is missed).
    pub fn start() -> Monitor {
        let mut child = Command::new("dbus-monitor")
            .args([
                "--session",
                "type='method_call',interface='org.freedesktop.Notifications',member='Notify'",
                "type='signal',interface='org.freedesktop.Notifications'",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-monitor runs (Debian package dbus)");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut monitor = Monitor {
            child,
            lines,
            current: None,
            seen: Vec::new(),
        };
        // dbus-monitor turns into a monitor by giving up its own name; the
        // NameLost for it is the first thing it prints once attached.
        monitor
            .wait_for(Duration::from_secs(30), |m| m.member == "NameLost")
            .expect("dbus-monitor attached to the session bus");
        monitor.seen.clear();
        monitor
    }

    /// The first message so far or within `timeout` that `pred` accepts.
    pub fn wait_for(&mut self, timeout: Duration, pred: impl Fn(&Msg) -> bool) -> Option<Msg> {
        if let Some(m) = self.seen.iter().find(|m| pred(m)) {
            return Some(m.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let complete = match self.lines.recv_timeout(left.min(Duration::from_millis(50))) {
                Ok(line) if line.starts_with(' ') => {
                    if let Some(msg) = self.current.as_mut() {
                        msg.args
                            .push(line.split_whitespace().collect::<Vec<_>>().join(" "));
                    }
                    if self.current.as_ref().and_then(Msg::complete) == Some(true) {
                        self.current.take()
                    } else {
                        None
                    }
                }
                Ok(line) => std::mem::replace(&mut self.current, parse_header(&line)),
                // A pause ends only a message whose shape is unknown.
                Err(RecvTimeoutError::Timeout) => {
                    if self
                        .current
                        .as_ref()
                        .is_some_and(|m| m.complete().is_none())
                    {
                        self.current.take()
                    } else {
                        None
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    if let Some(m) = self.current.take() {
                        self.seen.push(m);
                    }
                    return self.seen.iter().find(|m| pred(m)).cloned();
                }
            };
            if let Some(m) = complete {
                let hit = pred(&m);
                self.seen.push(m.clone());
                if hit {
                    return Some(m);
                }
            }
            if left.is_zero() {
                return None;
            }
        }
    }

    /// The `Notify` call whose summary is `summary`.
    pub fn notify_call(&mut self, summary: &str) -> Msg {
        self.wait_for(Duration::from_secs(30), |m| {
            m.is_notify() && m.summary() == Some(summary)
        })
        .unwrap_or_else(|| panic!("no Notify call for {summary:?} seen on the bus"))
    }

    /// The `NotificationClosed` signal for `id`, if one comes within `timeout`.
    pub fn closed(&mut self, id: u32, timeout: Duration) -> Option<u32> {
        self.wait_for(timeout, |m| m.closed().is_some_and(|(i, _)| i == id))
            .and_then(|m| m.closed())
            .map(|(_, reason)| reason)
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn parse_header(line: &str) -> Option<Msg> {
    let kind = if line.starts_with("method call ") {
        "method call"
    } else if line.starts_with("signal ") {
        "signal"
    } else {
        return None;
    };
    let field = |name: &str| {
        line.split([' ', ';'])
            .find_map(|part| part.strip_prefix(name))
            .map(str::to_owned)
    };
    Some(Msg {
        kind: kind.to_owned(),
        time: field("time=")?.parse().ok()?,
        member: field("member=").unwrap_or_default(),
        args: Vec::new(),
    })
}

/// Runs `dunstctl` with `args` and returns its standard output.
pub fn dunstctl(args: &[&str]) -> String {
    let out = Command::new("dunstctl")
        .args(args)
        .output()
        .expect("dunstctl runs (Debian package dunst)");
    assert!(out.status.success(), "dunstctl {args:?} failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// How many notifications dunst shows right now.
pub fn displayed() -> u32 {
    dunstctl(&["count", "displayed"])
        .trim()
        .parse()
        .expect("dunstctl count displayed prints a number")
}

/// Waits until dunst shows `n` notifications; returns what it last counted.
pub fn wait_displayed(n: u32, timeout: Duration) -> u32 {
    let deadline = Instant::now() + timeout;
    loop {
        let now = displayed();
        if now == n || Instant::now() >= deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// dunst's history entry for notification `id`, as JSON.
pub fn history_entry(id: u32) -> Option<serde_json::Value> {
    let history: serde_json::Value =
        serde_json::from_str(&dunstctl(&["history"])).expect("dunstctl history prints JSON");
    history["data"][0]
        .as_array()?
        .iter()
        .find(|e| e["id"]["data"].as_i64() == Some(i64::from(id)))
        .cloned()
}
