//! [`RecordingNotifier`]: the notifier for runs without a desktop.
//!
//! It does what a daemon does as far as the caller can tell — hands out ids,
//! updates in place, closes — and keeps everything in memory, so headless runs
//! lose nothing and other crates' tests can assert what would have been shown.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{AlarmNotice, Delivered, Error, Notifier};

/// A notice as the [`RecordingNotifier`] holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedNotice {
    pub notification_id: u32,
    /// The latest version (an update in place overwrites it).
    pub notice: AlarmNotice,
    /// How many times it was shown or updated.
    pub deliveries: u32,
    /// Taken down through [`Notifier::close`].
    pub closed: bool,
}

/// Keeps notices in memory instead of showing them.
#[derive(Debug, Default)]
pub struct RecordingNotifier {
    state: Mutex<State>,
    /// Whether it tells how many notices are open ([`Notifier::on_screen`]).
    tells_on_screen: bool,
}

#[derive(Debug, Default)]
struct State {
    last_id: u32,
    notices: Vec<RecordedNotice>,
}

impl RecordingNotifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// One that tells its caller how many of its notices are open, as a
    /// desktop notifier does ([`Notifier::on_screen`]); `new` does not.
    pub fn telling_on_screen() -> Self {
        RecordingNotifier {
            tells_on_screen: true,
            ..Self::default()
        }
    }

    /// Every notice so far, in the order first shown.
    pub fn notices(&self) -> Vec<RecordedNotice> {
        self.lock().notices.clone()
    }

    /// The notices not closed yet, in the order first shown.
    pub fn open(&self) -> Vec<RecordedNotice> {
        self.lock()
            .notices
            .iter()
            .filter(|n| !n.closed)
            .cloned()
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a plain list that no panic can leave half-written.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Notifier for RecordingNotifier {
    fn notify(&self, notice: &AlarmNotice) -> Result<Delivered, Error> {
        let mut state = self.lock();
        // Like the freedesktop spec: replacing an id that is unknown or gone
        // shows a new notification under a new id.
        if let Some(id) = notice.replaces
            && let Some(shown) = state
                .notices
                .iter_mut()
                .find(|n| n.notification_id == id && !n.closed)
        {
            shown.notice = notice.clone();
            shown.deliveries += 1;
            return Ok(Delivered {
                notification_id: id,
            });
        }
        state.last_id = state.last_id.wrapping_add(1).max(1);
        let notification_id = state.last_id;
        state.notices.push(RecordedNotice {
            notification_id,
            notice: notice.clone(),
            deliveries: 1,
            closed: false,
        });
        Ok(Delivered { notification_id })
    }

    fn close(&self, notification_id: u32) -> Result<(), Error> {
        if let Some(shown) = self
            .lock()
            .notices
            .iter_mut()
            .find(|n| n.notification_id == notification_id)
        {
            shown.closed = true;
        }
        Ok(())
    }

    fn on_screen(&self) -> Option<usize> {
        self.tells_on_screen
            .then(|| self.lock().notices.iter().filter(|n| !n.closed).count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Priority;

    #[test]
    fn replaces_updates_in_place_and_close_takes_down() -> Result<(), Error> {
        let rec = RecordingNotifier::new();
        let first = rec.notify(&AlarmNotice::new(1, Priority::High, "a", "b"))?;
        let other = rec.notify(&AlarmNotice::new(2, Priority::Low, "c", "d"))?;
        assert_ne!(first, other);

        let again = rec.notify(
            &AlarmNotice::new(1, Priority::High, "a2", "b2").replacing(first.notification_id),
        )?;
        assert_eq!(again, first);
        let notices = rec.notices();
        assert_eq!(notices.len(), 2);
        assert_eq!(notices[0].notice.title, "a2");
        assert_eq!(notices[0].deliveries, 2);

        rec.close(first.notification_id)?;
        let open: Vec<u32> = rec.open().iter().map(|n| n.notification_id).collect();
        assert_eq!(open, vec![other.notification_id]);

        // Replacing a closed notification shows a new one, as a daemon would.
        let revived = rec.notify(
            &AlarmNotice::new(1, Priority::High, "a3", "b3").replacing(first.notification_id),
        )?;
        assert_ne!(revived, first);
        Ok(())
    }
}
