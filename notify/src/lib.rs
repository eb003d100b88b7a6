//! Native desktop notifications for Wardwatch alarms.
//!
//! The alarm engine decides *that* a clinician must be told; this crate only
//! carries an [`AlarmNotice`] to the desktop's notification daemon and reports
//! back whether it got there. It never is the alarm: the in-app alarm list
//! stays the source of truth, and a notice that cannot be delivered comes back
//! as an [`Error`] whose [`kind`](Error::kind) is [`ErrorKind::Unavailable`],
//! on which the caller raises a technical (INOP) alarm.
//!
//! Two [`Notifier`]s exist:
//! - [`DesktopNotifier`] speaks the freedesktop notification protocol over the
//!   D-Bus session bus (through `notify-rust`'s pure-Rust zbus backend, no
//!   libdbus). Every call returns within a bounded time even when the bus or
//!   the daemon hangs.
//! - [`RecordingNotifier`] keeps notices in memory: the notifier for headless
//!   runs, and what other crates' tests inject.
//!
//! Invariant: no notice text (title, body, patient MRN) is ever logged or put
//! into an error; logs carry alarm ids, notification ids and priorities only.

mod desktop;
mod error;
mod notice;
mod recording;

pub use desktop::{ActionHandler, DesktopNotifier, DesktopNotifierBuilder};
pub use error::{Error, ErrorKind, Operation};
pub use notice::{ActionInvoked, AlarmNotice, NoticeAction, Priority};
pub use recording::{RecordedNotice, RecordingNotifier};

/// What the daemon answered for a delivered notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Delivered {
    /// The daemon's id for the shown notification: pass it as
    /// [`AlarmNotice::replaces`] to update it in place, or to
    /// [`Notifier::close`] to take it down.
    pub notification_id: u32,
}

/// Shows and takes down alarm notifications.
///
/// Calls block, but never for longer than the implementation's bound (for
/// [`DesktopNotifier`], its call timeout): the alarm engine may call this
/// from its own loop.
pub trait Notifier: Send + Sync {
    /// Shows `notice`, or updates the notification it
    /// [`replaces`](AlarmNotice::replaces).
    fn notify(&self, notice: &AlarmNotice) -> Result<Delivered, Error>;

    /// Takes a shown notification down, e.g. once its alarm is acknowledged.
    /// Closing one that is already gone is not an error.
    fn close(&self, notification_id: u32) -> Result<(), Error>;

    /// How many calls from as many threads this notifier works on at once,
    /// so a caller with a burst of notices may make that many and not wait
    /// for each in turn. Default 1: one after the other, in order.
    fn max_in_flight(&self) -> usize {
        1
    }

    /// How many of this notifier's notifications the desktop shows now,
    /// when it can tell (the daemon reports each one closed, expired or
    /// dismissed); `None` when it cannot. A caller with a flood of alarms
    /// uses it to keep the screen readable (and the daemon quick).
    fn on_screen(&self) -> Option<usize> {
        None
    }
}

impl<N: Notifier + ?Sized> Notifier for std::sync::Arc<N> {
    fn notify(&self, notice: &AlarmNotice) -> Result<Delivered, Error> {
        (**self).notify(notice)
    }

    fn close(&self, notification_id: u32) -> Result<(), Error> {
        (**self).close(notification_id)
    }

    fn max_in_flight(&self) -> usize {
        (**self).max_in_flight()
    }

    fn on_screen(&self) -> Option<usize> {
        (**self).on_screen()
    }
}

impl<N: Notifier + ?Sized> Notifier for Box<N> {
    fn notify(&self, notice: &AlarmNotice) -> Result<Delivered, Error> {
        (**self).notify(notice)
    }

    fn close(&self, notification_id: u32) -> Result<(), Error> {
        (**self).close(notification_id)
    }

    fn max_in_flight(&self) -> usize {
        (**self).max_in_flight()
    }

    fn on_screen(&self) -> Option<usize> {
        (**self).on_screen()
    }
}
