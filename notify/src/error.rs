//! The crate's one error type, and the [`ErrorKind`] callers branch on.
//!
//! The kind is what matters clinically: [`ErrorKind::Unavailable`] means the
//! clinician did not get to see the notice, so the caller raises a technical
//! alarm and keeps the in-app alarm list as the place to look. Messages never
//! include notice text, only ids and priorities.

use std::fmt;
use std::time::Duration;

/// What the notifier was doing when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    Notify,
    Close,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Notify => "showing a notification",
            Operation::Close => "closing a notification",
        })
    }
}

/// What a caller should do about an [`Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No session bus, no notification daemon, or no answer in time: raise a
    /// technical alarm; the in-app alarm list still holds the alarm.
    Unavailable,
    /// The daemon answered and refused this notice.
    Rejected,
    /// Anything else (e.g. the notifier could not start its worker thread).
    Other,
}

/// A failure to show or close a notification.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "no notification service reachable while {op} (alarm {alarm_id:?}): {source}: \
         start a notification daemon in the desktop session or check DBUS_SESSION_BUS_ADDRESS"
    )]
    Unavailable {
        op: Operation,
        alarm_id: Option<i64>,
        #[source]
        source: notify_rust::error::Error,
    },

    #[error(
        "the notification service did not answer within {waited:?} while {op} (alarm {alarm_id:?}): \
         the session bus or the notification daemon is hung; the in-app alarm list is unaffected"
    )]
    TimedOut {
        op: Operation,
        alarm_id: Option<i64>,
        waited: Duration,
    },

    #[error(
        "{pending} notification requests are already waiting for the session bus while {op} \
         (alarm {alarm_id:?}): the bus or the notification daemon is hung"
    )]
    Backlog {
        op: Operation,
        alarm_id: Option<i64>,
        pending: usize,
    },

    #[error(
        "the notification worker has stopped while {op} (alarm {alarm_id:?}): \
         create a new DesktopNotifier"
    )]
    WorkerGone {
        op: Operation,
        alarm_id: Option<i64>,
    },

    #[error(
        "the notification daemon refused the notice for alarm {alarm_id:?} while {op}: {source}"
    )]
    Rejected {
        op: Operation,
        alarm_id: Option<i64>,
        #[source]
        source: notify_rust::error::Error,
    },

    #[error("could not start the notification worker thread: {source}")]
    Spawn {
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// How the caller should react; see [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Unavailable { .. }
            | Error::TimedOut { .. }
            | Error::Backlog { .. }
            // A notifier whose worker is gone delivers nothing: to the
            // clinician that is the same as no daemon.
            | Error::WorkerGone { .. } => ErrorKind::Unavailable,
            Error::Rejected { .. } => ErrorKind::Rejected,
            Error::Spawn { .. } => ErrorKind::Other,
        }
    }

    /// Sorts a `notify-rust` failure into [`Error::Rejected`] or
    /// [`Error::Unavailable`].
    ///
    /// `notify-rust` does not expose its error's kind, only its text, so this
    /// looks for the D-Bus error names with which a daemon refuses a call.
    /// Everything else — no bus, no daemon owning the name, a broken
    /// connection — counts as unavailable, which is also the safe default:
    /// it makes the caller raise a technical alarm.
    pub(crate) fn from_dbus(
        op: Operation,
        alarm_id: Option<i64>,
        source: notify_rust::error::Error,
    ) -> Error {
        const REFUSALS: [&str; 3] = [
            "org.freedesktop.DBus.Error.InvalidArgs",
            "org.freedesktop.DBus.Error.NotSupported",
            "org.freedesktop.DBus.Error.LimitsExceeded",
        ];
        let text = source.to_string();
        if REFUSALS.iter().any(|name| text.contains(name)) {
            Error::Rejected {
                op,
                alarm_id,
                source,
            }
        } else {
            Error::Unavailable {
                op,
                alarm_id,
                source,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daemon_refusal_is_rejected_and_anything_else_unavailable() {
        let refused = Error::from_dbus(
            Operation::Notify,
            Some(1),
            notify_rust::error::Error::from("org.freedesktop.DBus.Error.InvalidArgs: bad hints"),
        );
        assert_eq!(refused.kind(), ErrorKind::Rejected);

        let no_daemon = Error::from_dbus(
            Operation::Notify,
            Some(1),
            notify_rust::error::Error::from(
                "org.freedesktop.DBus.Error.ServiceUnknown: The name is not activatable",
            ),
        );
        assert_eq!(no_daemon.kind(), ErrorKind::Unavailable);
    }

    #[test]
    fn messages_are_lowercase_and_say_what_to_do() {
        let e = Error::from_dbus(
            Operation::Notify,
            Some(4),
            notify_rust::error::Error::from("No such file or directory (os error 2)"),
        );
        let text = e.to_string();
        assert!(text.starts_with("no notification service"), "{text}");
        assert!(text.contains("DBUS_SESSION_BUS_ADDRESS"), "{text}");
    }
}
