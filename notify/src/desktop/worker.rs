//! The one thread that talks to D-Bus for a [`DesktopNotifier`](super::DesktopNotifier).
//!
//! It runs a single async loop that takes requests from the notifier and,
//! at the same time, listens for what becomes of each shown notification.
//!
//! Up to [`IN_FLIGHT`] new notifications are on their way to the daemon at
//! once. Each show opens a connection and takes several round trips through
//! the bus daemon to the notification daemon; on a busy machine each of them
//! waits to be scheduled, so shown one behind the other, a burst of alarms
//! queued for seconds (issue 16: 120 alarms within 5 s, 40–90 ms a show).
//! A request about a notification already shown (an update in place, a
//! close) waits until no show is in flight, so it never overtakes the show
//! it is about.
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

/// How many new notifications may be on their way to the daemon at once
/// ([`DesktopNotifier::max_in_flight`](super::DesktopNotifier)).
pub(crate) const IN_FLIGHT: usize = 4;

pub(crate) struct Config {
    pub(crate) app_name: String,
    pub(crate) max_tracked: usize,
    pub(crate) on_action: Option<ActionHandler>,
    /// Where the count of tracked notifications is published
    /// ([`DesktopNotifier::on_screen`](super::DesktopNotifier)).
    pub(crate) on_screen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
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

/// A show that has had its answer from the daemon.
struct Shown {
    notice: AlarmNotice,
    opens_patient: bool,
    reply: SyncSender<Result<Delivered, Error>>,
    result: Result<NotificationHandle, notify_rust::error::Error>,
}

type Showing = LocalBoxFuture<'static, Box<Shown>>;

enum Event {
    Command(Option<Command>),
    Shown(Box<Shown>),
    Heard(Option<(u32, u64, Heard)>),
}

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
        showing: FuturesUnordered::new(),
        held: None,
        next_serial: 0,
    };
    let mut inbox_open = true;
    loop {
        // After every event, before waiting for the next.
        state
            .config
            .on_screen
            .store(state.tracked.len(), std::sync::atomic::Ordering::Relaxed);
        // A held request waits for the shows in flight; it goes first once
        // they are done, before anything newer.
        if state.showing.is_empty()
            && let Some(command) = state.held.take()
        {
            state.handle(command).await;
            continue;
        }
        if !inbox_open && state.showing.is_empty() {
            break;
        }
        let taking = inbox_open && state.held.is_none() && state.showing.len() < IN_FLIGHT;
        // Scoped so that the futures (and their borrows) are gone before the
        // event is handled.
        let event = {
            let inbox = &mut inbox;
            let command = pin!(async move {
                if taking {
                    Event::Command(inbox.next().await)
                } else {
                    future::pending().await
                }
            });
            let showing = &mut state.showing;
            let shown = pin!(async move {
                // An empty FuturesUnordered is ready at once with None: wait
                // for something else instead of spinning.
                match showing.next().await {
                    Some(shown) => Event::Shown(shown),
                    None => future::pending().await,
                }
            });
            let listeners = &mut state.listeners;
            let heard = pin!(async move {
                if listeners.is_empty() {
                    future::pending().await
                } else {
                    Event::Heard(listeners.next().await)
                }
            });
            match future::select(command, future::select(shown, heard)).await {
                Either::Left((event, _)) => event,
                Either::Right((Either::Left((event, _)), _)) => event,
                Either::Right((Either::Right((event, _)), _)) => event,
            }
        };
        match event {
            // The notifier is gone: finish the shows in flight, then stop.
            Event::Command(None) => inbox_open = false,
            Event::Command(Some(command)) => state.take(command).await,
            Event::Shown(shown) => state.shown(shown),
            Event::Heard(Some((id, serial, heard))) => state.heard(id, serial, heard),
            Event::Heard(None) => {}
        }
    }
}

struct State {
    config: Config,
    tracked: HashMap<u32, Tracked>,
    listeners: FuturesUnordered<Listener>,
    /// New notifications on their way to the daemon, at most [`IN_FLIGHT`].
    showing: FuturesUnordered<Showing>,
    /// A request about a shown notification, waiting for `showing` to empty.
    held: Option<Command>,
    next_serial: u64,
}

impl State {
    /// Starts a new notification's show and goes on; holds a request about a
    /// shown one until no show is in flight, and does it at once otherwise.
    async fn take(&mut self, command: Command) {
        match command {
            Command::Show {
                notice,
                deadline,
                reply,
            } if notice.replaces.is_none() => {
                if !gave_up(&notice, deadline) {
                    let show = self.start_show(notice, reply);
                    self.showing.push(show);
                }
            }
            command if self.showing.is_empty() => self.handle(command).await,
            command => self.held = Some(command),
        }
    }

    /// Shows or closes one notification and waits for the daemon.
    async fn handle(&mut self, command: Command) {
        match command {
            Command::Show {
                notice,
                deadline,
                reply,
            } => {
                if !gave_up(&notice, deadline) {
                    let shown = self.start_show(notice, reply).await;
                    self.shown(shown);
                }
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

    /// The show of `notice`, answered to `reply` by [`State::shown`].
    fn start_show(
        &self,
        notice: AlarmNotice,
        reply: SyncSender<Result<Delivered, Error>>,
    ) -> Showing {
        let opens_patient = notice.patient_mrn.is_some() && self.config.on_action.is_some();
        let notification = notification_for(&notice, &self.config.app_name, opens_patient);
        async move {
            let result = notification.show_async().await;
            Box::new(Shown {
                notice,
                opens_patient,
                reply,
                result,
            })
        }
        .boxed_local()
    }

    /// A show has its answer from the daemon: track the notification and
    /// tell the caller.
    fn shown(&mut self, shown: Box<Shown>) {
        let Shown {
            notice,
            opens_patient,
            reply,
            result,
        } = *shown;
        let result = match result {
            Ok(handle) => {
                let notification_id = handle.id();
                self.replace_tracked(notification_id);
                self.track(notification_id, &notice, opens_patient, Rc::new(handle));
                Ok(Delivered { notification_id })
            }
            Err(e) => Err(Error::from_dbus(
                Operation::Notify,
                Some(notice.alarm_id),
                e,
            )),
        };
        // The caller may have timed out meanwhile; nothing to do then.
        let _ = reply.try_send(result);
    }

    /// Lets go of what was tracked under `notification_id`: the daemon has
    /// just shown a notification under it (updated in place, or the id came
    /// round again) and now answers the new connection, so the old listener
    /// would wait forever.
    fn replace_tracked(&mut self, notification_id: u32) {
        if let Some(old) = self.tracked.remove(&notification_id) {
            old.abort.abort();
        }
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

/// Whether the caller of a show has given up (and raised a technical alarm):
/// showing it now would surprise, not help.
fn gave_up(notice: &AlarmNotice, deadline: Instant) -> bool {
    let late = Instant::now() >= deadline;
    if late {
        tracing::debug!(
            alarm = notice.alarm_id,
            "dropping a notice whose caller gave up"
        );
    }
    late
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
