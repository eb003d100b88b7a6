//! [`DesktopNotifier`]: alarm notices as freedesktop notifications on the
//! D-Bus session bus, with every call bounded in time.
//!
//! `notify-rust` talks to the bus without a timeout of its own, so a hung bus
//! or daemon would block a caller forever. Here all D-Bus traffic happens on
//! one worker thread (see `worker`), and a caller hands it a request and waits
//! for the answer at most [`DesktopNotifierBuilder::call_timeout`]. A request
//! the worker reaches after its caller gave up is dropped, not sent late, and
//! the queue in front of the worker is short, so a hung bus costs callers one
//! timeout each, then fast [`ErrorKind::Unavailable`](crate::ErrorKind) errors,
//! and never a growing pile of threads or memory.

mod worker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self as std_mpsc, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_channel::mpsc;

use crate::{ActionInvoked, AlarmNotice, Delivered, Error, Notifier, Operation};

/// Called on the notifier's worker thread for each action a clinician takes
/// on a notification. Keep it short (hand the event to a channel): while it
/// runs, no notification is shown. Calling the same notifier from inside it
/// only ever times out.
pub type ActionHandler = Box<dyn Fn(ActionInvoked) + Send + Sync>;

/// How many requests may wait for the worker. A handful covers a burst of
/// alarms; more only means waiting on a bus that is not answering.
const QUEUE_DEPTH: usize = 16;

/// Configures a [`DesktopNotifier`].
pub struct DesktopNotifierBuilder {
    app_name: String,
    call_timeout: Duration,
    max_tracked: usize,
    on_action: Option<ActionHandler>,
}

impl std::fmt::Debug for DesktopNotifierBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DesktopNotifierBuilder")
            .field("app_name", &self.app_name)
            .field("call_timeout", &self.call_timeout)
            .field("max_tracked", &self.max_tracked)
            .field("on_action", &self.on_action.is_some())
            .finish()
    }
}

impl Default for DesktopNotifierBuilder {
    fn default() -> Self {
        DesktopNotifierBuilder {
            app_name: "Wardwatch".to_owned(),
            call_timeout: Duration::from_secs(2),
            max_tracked: 128,
            on_action: None,
        }
    }
}

impl DesktopNotifierBuilder {
    /// The application name the daemon shows and groups by. Default `Wardwatch`.
    pub fn app_name(mut self, name: impl Into<String>) -> Self {
        self.app_name = name.into();
        self
    }

    /// The longest a [`Notifier`] call waits for the bus. Default 2 s, the
    /// time within which an alarm must be seen on D-Bus.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// How many shown notifications the notifier keeps a line to (to close
    /// them and hear their actions). Past this, the oldest is let go: it stays
    /// on screen but can no longer be closed or acted on through this
    /// notifier. Default 128; at least 1.
    pub fn max_tracked(mut self, max: usize) -> Self {
        self.max_tracked = max.max(1);
        self
    }

    /// Receives actions. Without a handler, notices offer no "Open patient"
    /// button: a button that does nothing would mislead.
    pub fn on_action(mut self, handler: ActionHandler) -> Self {
        self.on_action = Some(handler);
        self
    }

    /// Starts the worker thread. Nothing touches the bus until the first
    /// notice, so this succeeds without a desktop session.
    pub fn build(self) -> Result<DesktopNotifier, Error> {
        let (commands, inbox) = mpsc::channel(QUEUE_DEPTH);
        let on_screen = Arc::new(AtomicUsize::new(0));
        let config = worker::Config {
            app_name: self.app_name,
            max_tracked: self.max_tracked,
            on_action: self.on_action,
            on_screen: Arc::clone(&on_screen),
        };
        std::thread::Builder::new()
            .name("wardwatch-notify".to_owned())
            .spawn(move || worker::run(inbox, config))
            .map_err(|source| Error::Spawn { source })?;
        Ok(DesktopNotifier {
            commands: Mutex::new(commands),
            call_timeout: self.call_timeout,
            on_screen,
        })
    }
}

/// Shows alarm notices through the desktop's notification daemon.
///
/// Per priority: High is urgency critical, resident, and never expires (it
/// stays until closed, e.g. when the alarm is acknowledged); Medium and
/// Technical are normal; Low is low and transient (kept out of the daemon's
/// history). Patient alarms carry category `x-wardwatch.alarm`, technical
/// conditions `x-wardwatch.technical`, so a daemon can tell them apart.
///
/// Dropping the notifier stops its worker once the worker is free; shown
/// notifications stay on screen.
#[derive(Debug)]
pub struct DesktopNotifier {
    commands: Mutex<mpsc::Sender<worker::Command>>,
    call_timeout: Duration,
    /// The notifications the worker has a line to (shown and not yet
    /// closed, expired or dismissed), as it last counted them.
    on_screen: Arc<AtomicUsize>,
}

impl DesktopNotifier {
    /// A notifier with default settings and no action handler.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A notifier whose notices for a patient offer "Open patient", with
    /// `handler` receiving the clicks.
    pub fn with_action_handler(handler: ActionHandler) -> Result<Self, Error> {
        Self::builder().on_action(handler).build()
    }

    pub fn builder() -> DesktopNotifierBuilder {
        DesktopNotifierBuilder::default()
    }

    /// Queues `make(reply)` for the worker and waits for its answer.
    fn call<T>(
        &self,
        op: Operation,
        alarm_id: Option<i64>,
        make: impl FnOnce(Instant, std_mpsc::SyncSender<Result<T, Error>>) -> worker::Command,
    ) -> Result<T, Error> {
        let deadline = Instant::now() + self.call_timeout;
        // One slot: the worker answers once and must never block doing so.
        let (reply, answer) = std_mpsc::sync_channel(1);
        let command = make(deadline, reply);
        {
            // A panic elsewhere cannot leave a channel sender half-updated.
            let mut commands = self.commands.lock().unwrap_or_else(PoisonError::into_inner);
            if let Err(e) = commands.try_send(command) {
                return Err(if e.is_full() {
                    Error::Backlog {
                        op,
                        alarm_id,
                        pending: QUEUE_DEPTH,
                    }
                } else {
                    Error::WorkerGone { op, alarm_id }
                });
            }
        }
        match answer.recv_timeout(self.call_timeout) {
            Ok(result) => result,
            Err(RecvTimeoutError::Timeout) => Err(Error::TimedOut {
                op,
                alarm_id,
                waited: self.call_timeout,
            }),
            Err(RecvTimeoutError::Disconnected) => Err(Error::WorkerGone { op, alarm_id }),
        }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, notice: &AlarmNotice) -> Result<Delivered, Error> {
        let started = Instant::now();
        let result = self.call(
            Operation::Notify,
            Some(notice.alarm_id),
            |deadline, reply| worker::Command::Show {
                notice: notice.clone(),
                deadline,
                reply,
            },
        );
        match &result {
            Ok(delivered) => tracing::debug!(
                alarm = notice.alarm_id,
                priority = %notice.priority,
                notification = delivered.notification_id,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "notification shown"
            ),
            Err(e) => tracing::warn!(
                alarm = notice.alarm_id,
                priority = %notice.priority,
                kind = ?e.kind(),
                error = %e,
                "notification not shown"
            ),
        }
        result
    }

    fn close(&self, notification_id: u32) -> Result<(), Error> {
        let result = self.call(Operation::Close, None, |deadline, reply| {
            worker::Command::Close {
                notification_id,
                deadline,
                reply,
            }
        });
        if let Err(e) = &result {
            tracing::warn!(notification = notification_id, kind = ?e.kind(), error = %e, "notification not closed");
        }
        result
    }

    /// New notifications go to the daemon [`worker::IN_FLIGHT`] at a time;
    /// an update in place or a close waits for them (see `worker`).
    fn max_in_flight(&self) -> usize {
        worker::IN_FLIGHT
    }

    /// The notifications shown and not yet closed: the daemon tells each
    /// notification's connection when it is closed, expired or dismissed.
    /// Up to `max_tracked`; shows still on their way are not counted.
    fn on_screen(&self) -> Option<usize> {
        Some(self.on_screen.load(Ordering::Relaxed))
    }
}
