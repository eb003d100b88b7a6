//! The one thread that talks to D-Bus for a [`DesktopNotifier`](super::DesktopNotifier).
//!
//! It runs a single async loop that takes requests from the notifier and,
//! at the same time, listens for what becomes of each shown notification.
//!
//! Why a listener per notification rather than one for all: daemons such as
//! dunst send `ActionInvoked` and `NotificationClosed` only to the connection
//! that sent the `Notify`, and `notify-rust` opens a fresh connection for each
//! notification. So each shown notification keeps its `notify-rust` handle
//! (and with it its connection), and a future waits on it. All those futures
//! run on this thread; they end when the notification closes, when it is
//! replaced, or when more than `max_tracked` are open (oldest first), so
//! neither threads nor connections grow without bound.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::pin::pin;
use std::rc::Rc;
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use futures_channel::mpsc;
use futures_util::FutureExt;
use futures_util::future::{self, AbortHandle, Either, LocalBoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};
use notify_rust::{Hint, Notification, NotificationHandle, NotificationResponse, Timeout, Urgency};

use super::ActionHandler;
use crate::{ActionInvoked, AlarmNotice, Delivered, Error, NoticeAction, Operation, Priority};

/// The action key for "Open patient".
const OPEN_PATIENT: &str = "open";

pub(crate) struct Config {
    pub(crate) app_name: String,
    pub(crate) max_tracked: usize,
    pub(crate) on_action: Option<ActionHandler>,
}

pub(crate) enum Command {
    Show {
        notice: AlarmNotice,
        deadline: Instant,
        reply: SyncSender<Result<Delivered, Error>>,
    },
    Close {
        notification_id: u32,
        deadline: Instant,
        reply: SyncSender<Result<(), Error>>,
    },
}

/// A shown notification this worker still has a line to.
struct Tracked {
    alarm_id: i64,
    priority: Priority,
    handle: Rc<NotificationHandle>,
    /// Stops the listener; the listener's own copy of `serial` tells a
    /// finished listener of this entry from one of an entry it replaced.
    abort: AbortHandle,
    serial: u64,
    opens_patient: bool,
}

/// How a listener ended.
enum Heard {
    Response(NotificationResponse),
    /// The connection closed before the daemon said anything.
    Silence,
    Aborted,
    /// `notify-rust` panics where it cannot register its signal match (e.g.
    /// the bus went away just then); that must not take the worker down.
    Panicked,
}

type Listener = LocalBoxFuture<'static, (u32, u64, Heard)>;

/// Runs the worker until the notifier is dropped.
pub(crate) fn run(inbox: mpsc::Receiver<Command>, config: Config) {
    // zbus's own executor: the connections notify-rust opens here are then
    // driven by this thread, not by a helper thread.
    zbus::block_on(event_loop(inbox, config));
    tracing::debug!("notification worker stopped");
}

async fn event_loop(mut inbox: mpsc::Receiver<Command>, config: Config) {
    let mut state = State {
        config,
        tracked: HashMap::new(),
        listeners: FuturesUnordered::new(),
        next_serial: 0,
    };
    loop {
        // Scoped so that both futures (and their borrows) are gone before the
        // event is handled.
        let event = {
            let listeners = &mut state.listeners;
            let heard = pin!(async move {
                if listeners.is_empty() {
                    // An empty FuturesUnordered is ready at once with None;
                    // wait for a command instead of spinning.
                    future::pending::<Option<(u32, u64, Heard)>>().await
                } else {
                    listeners.next().await
                }
            });
            match future::select(inbox.next(), heard).await {
                Either::Left((command, _)) => Either::Left(command),
                Either::Right((heard, _)) => Either::Right(heard),
            }
        };
        match event {
            Either::Left(None) => break,
            Either::Left(Some(command)) => state.handle(command).await,
            Either::Right(Some((id, serial, heard))) => state.heard(id, serial, heard),
            Either::Right(None) => {}
        }
    }
}

struct State {
    config: Config,
    tracked: HashMap<u32, Tracked>,
    listeners: FuturesUnordered<Listener>,
    next_serial: u64,
}

impl State {
    async fn handle(&mut self, command: Command) {
        match command {
            Command::Show {
                notice,
                deadline,
                reply,
            } => {
                if Instant::now() >= deadline {
                    // The caller has given up and raised a technical alarm;
                    // showing it now would surprise, not help.
                    tracing::debug!(
                        alarm = notice.alarm_id,
                        "dropping a notice whose caller gave up"
                    );
                    return;
                }
                let result = self.show(&notice).await;
                // The caller may have timed out meanwhile; nothing to do then.
                let _ = reply.try_send(result);
            }
            Command::Close {
                notification_id,
                deadline,
                reply,
            } => {
                if Instant::now() >= deadline {
                    return;
                }
                self.close(notification_id).await;
                let _ = reply.try_send(Ok(()));
            }
        }
    }

    async fn show(&mut self, notice: &AlarmNotice) -> Result<Delivered, Error> {
        let opens_patient = notice.patient_mrn.is_some() && self.config.on_action.is_some();
        let notification = notification_for(notice, &self.config.app_name, opens_patient);
        let handle = notification
            .show_async()
            .await
            .map_err(|e| Error::from_dbus(Operation::Notify, Some(notice.alarm_id), e))?;
        let notification_id = handle.id();
        if let Some(old) = self.tracked.remove(&notification_id) {
            // Updated in place: the daemon now answers the new connection,
            // so the old listener would wait forever.
            old.abort.abort();
        }
        self.track(notification_id, notice, opens_patient, Rc::new(handle));
        Ok(Delivered { notification_id })
    }

    async fn close(&mut self, notification_id: u32) {
        match self.tracked.remove(&notification_id) {
            Some(tracked) => {
                tracked.abort.abort();
                // notify-rust reports no outcome for CloseNotification.
                tracked.handle.close_async().await;
                tracing::debug!(
                    notification = notification_id,
                    alarm = tracked.alarm_id,
                    "notification closed"
                );
            }
            None => {
                // Already closed by the daemon or the user, or let go past
                // `max_tracked`: nothing this notifier can take down.
                tracing::debug!(
                    notification = notification_id,
                    "no open notification to close"
                );
            }
        }
    }

    fn track(
        &mut self,
        id: u32,
        notice: &AlarmNotice,
        opens_patient: bool,
        handle: Rc<NotificationHandle>,
    ) {
        while self.tracked.len() >= self.config.max_tracked {
            let Some(oldest) = self
                .tracked
                .iter()
                .min_by_key(|(_, t)| t.serial)
                .map(|(id, _)| *id)
            else {
                break;
            };
            if let Some(gone) = self.tracked.remove(&oldest) {
                gone.abort.abort();
                tracing::warn!(
                    notification = oldest,
                    alarm = gone.alarm_id,
                    priority = %gone.priority,
                    "letting go of the oldest open notification: it can no longer be closed from here"
                );
            }
        }
        let (serial, abort) = self.listen(id, Rc::clone(&handle));
        self.tracked.insert(
            id,
            Tracked {
                alarm_id: notice.alarm_id,
                priority: notice.priority,
                handle,
                abort,
                serial,
                opens_patient,
            },
        );
    }

    fn listen(&mut self, id: u32, handle: Rc<NotificationHandle>) -> (u64, AbortHandle) {
        self.next_serial += 1;
        let serial = self.next_serial;
        let (waiting, abort) = future::abortable(async move {
            let mut response = None;
            handle
                .wait_for_action_async(|r: &NotificationResponse| response = Some(r.clone()))
                .await;
            response
        });
        let listener = AssertUnwindSafe(waiting).catch_unwind().map(move |ended| {
            let heard = match ended {
                Ok(Ok(Some(response))) => Heard::Response(response),
                Ok(Ok(None)) => Heard::Silence,
                Ok(Err(future::Aborted)) => Heard::Aborted,
                Err(_) => Heard::Panicked,
            };
            (id, serial, heard)
        });
        self.listeners.push(listener.boxed_local());
        (serial, abort)
    }

    fn heard(&mut self, id: u32, serial: u64, heard: Heard) {
        if matches!(heard, Heard::Aborted) {
            return;
        }
        let Some(tracked) = self.tracked.get(&id).filter(|t| t.serial == serial) else {
            return;
        };
        match heard {
            Heard::Response(NotificationResponse::Default)
            | Heard::Response(NotificationResponse::Action(_))
            | Heard::Response(NotificationResponse::Reply(_)) => {
                if tracked.opens_patient {
                    let event = ActionInvoked {
                        alarm_id: tracked.alarm_id,
                        notification_id: id,
                        action: NoticeAction::OpenPatient,
                    };
                    tracing::info!(
                        notification = id,
                        alarm = tracked.alarm_id,
                        "open patient from notification"
                    );
                    if let Some(handler) = &self.config.on_action {
                        // The handler is the caller's code; its panic must
                        // not end notifications for the whole app.
                        if std::panic::catch_unwind(AssertUnwindSafe(|| handler(event))).is_err() {
                            tracing::error!(notification = id, "the action handler panicked");
                        }
                    }
                }
                // The notification may still be on screen (a resident high
                // one always is) and must stay closable, so listen again. If
                // the daemon did close it, the close may come before the new
                // listener and be missed; the entry then lingers until closed
                // or let go past `max_tracked`.
                let handle = Rc::clone(&tracked.handle);
                let (serial, abort) = self.listen(id, handle);
                if let Some(tracked) = self.tracked.get_mut(&id) {
                    tracked.serial = serial;
                    tracked.abort = abort;
                }
            }
            Heard::Response(NotificationResponse::Closed(reason)) => {
                tracing::debug!(
                    notification = id,
                    ?reason,
                    "notification closed by the daemon"
                );
                self.tracked.remove(&id);
            }
            Heard::Panicked => {
                tracing::warn!(
                    notification = id,
                    "lost the listener of a notification (bus error)"
                );
                self.tracked.remove(&id);
            }
            Heard::Silence | Heard::Aborted => {
                self.tracked.remove(&id);
            }
        }
    }
}

/// The freedesktop notification for `notice`.
fn notification_for(notice: &AlarmNotice, app_name: &str, opens_patient: bool) -> Notification {
    let mut n = Notification::new();
    n.appname(app_name)
        // Control and bidirectional characters (a hostile stream's text in
        // a technical alarm) are shown escaped, never obeyed.
        .summary(&wardwatch_core::text::printable(&notice.title))
        // The spec lets daemons read the body as markup (dunst does), so a
        // `&` or `<` in a name would garble or hide the text.
        .body(&escape_markup(&wardwatch_core::text::printable(
            &notice.body,
        )))
        .urgency(urgency(notice.priority))
        .hint(Hint::Category(category(notice.priority).to_owned()));
    match notice.priority {
        Priority::High => {
            // Stays until the app closes it (alarm acknowledged), also after
            // "Open patient" is clicked.
            n.hint(Hint::Resident(true)).timeout(Timeout::Never);
        }
        Priority::Low => {
            n.hint(Hint::Transient(true));
        }
        Priority::Medium | Priority::Technical => {}
    }
    if opens_patient {
        n.action(OPEN_PATIENT, "Open patient");
    }
    if let Some(id) = notice.replaces {
        n.id(id);
    }
    n
}

fn urgency(priority: Priority) -> Urgency {
    match priority {
        Priority::High => Urgency::Critical,
        Priority::Medium | Priority::Technical => Urgency::Normal,
        Priority::Low => Urgency::Low,
    }
}

fn category(priority: Priority) -> &'static str {
    match priority {
        Priority::Technical => "x-wardwatch.technical",
        Priority::High | Priority::Medium | Priority::Low => "x-wardwatch.alarm",
    }
}

fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(n: &Notification, pred: impl Fn(&Hint) -> bool) -> Option<&Hint> {
        n.hints.iter().find(|h| pred(h))
    }

    #[test]
    fn high_is_critical_resident_and_never_expires() {
        let notice = AlarmNotice::new(1, Priority::High, "*** Bed 4 ASYSTOLE", "HR 0");
        let n = notification_for(&notice, "Wardwatch", false);
        assert!(hint(&n, |h| *h == Hint::Urgency(Urgency::Critical)).is_some());
        assert!(hint(&n, |h| *h == Hint::Resident(true)).is_some());
        assert_eq!(n.timeout, Timeout::Never);
        assert!(
            n.actions.is_empty(),
            "no action without a patient and a handler"
        );
    }

    #[test]
    fn technical_conditions_are_kept_apart_from_patient_alarms() {
        let inop = notification_for(
            &AlarmNotice::new(2, Priority::Technical, "INOP", "x"),
            "W",
            false,
        );
        let low = notification_for(
            &AlarmNotice::new(3, Priority::Low, "* Bed 1", "x"),
            "W",
            false,
        );
        assert!(
            hint(&inop, |h| *h
                == Hint::Category("x-wardwatch.technical".into()))
            .is_some()
        );
        assert!(hint(&inop, |h| *h == Hint::Urgency(Urgency::Normal)).is_some());
        assert!(hint(&low, |h| *h == Hint::Category("x-wardwatch.alarm".into())).is_some());
        assert!(hint(&low, |h| *h == Hint::Transient(true)).is_some());
    }

    #[test]
    fn open_patient_only_with_a_patient() {
        let notice =
            AlarmNotice::new(1, Priority::Medium, "** Bed 2", "SpO2 85").for_patient("WW1");
        let n = notification_for(&notice, "W", true);
        assert_eq!(
            n.actions,
            vec!["open".to_owned(), "Open patient".to_owned()]
        );
    }

    #[test]
    fn body_markup_is_escaped() {
        assert_eq!(
            escape_markup("O'Hara & <Sons>"),
            "O'Hara &amp; &lt;Sons&gt;"
        );
    }

    #[test]
    fn control_and_bidi_characters_are_shown_not_obeyed() {
        let notice = AlarmNotice::new(
            1,
            Priority::Technical,
            "Source gw\u{1b}[2J down",
            "error: \u{202e}txt.exe & more",
        );
        let n = notification_for(&notice, "W", false);
        assert!(!n.summary.contains('\u{1b}') && n.summary.contains("\\u{1b}"));
        assert!(!n.body.contains('\u{202e}') && n.body.contains("&amp;"));
    }
}
