//! The data a notification carries: an alarm's priority, its text, and the
//! action a clinician can take from the notification.
//!
//! [`AlarmNotice`]'s `Debug` output leaves out its text and MRN on purpose, so
//! that a stray `?notice` in a log line cannot leak patient data.

use std::fmt;

/// Alarm priority: the alarm engine's own type (`wardwatch_core::alarms`),
/// so the grade an alarm is raised with is the grade it is shown with.
/// Technical (INOP) conditions — a lead off, a monitor gone quiet, this very
/// notifier failing — are a priority of their own, never mistaken for a
/// patient alarm.
pub use wardwatch_core::alarms::Priority;

/// One alarm, as a notification shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct AlarmNotice {
    /// The alarm engine's id; comes back in [`ActionInvoked`].
    pub alarm_id: i64,
    pub priority: Priority,
    /// One line, e.g. `*** Bed 4 ASYSTOLE`; shown as given (the notifier
    /// does not add the priority marker).
    pub title: String,
    /// e.g. `HR 0 — no beat for 6 s · Varga, Joan (WW100045)`; plain text.
    pub body: String,
    /// When set, the notification offers "Open patient" (where the daemon
    /// supports actions and an action handler is installed).
    pub patient_mrn: Option<String>,
    /// A shown notification to update in place instead of showing a new one.
    pub replaces: Option<u32>,
}

impl AlarmNotice {
    pub fn new(
        alarm_id: i64,
        priority: Priority,
        title: impl Into<String>,
        body: impl Into<String>,
    ) -> Self {
        AlarmNotice {
            alarm_id,
            priority,
            title: title.into(),
            body: body.into(),
            patient_mrn: None,
            replaces: None,
        }
    }

    /// Links the notice to a patient, which enables "Open patient".
    pub fn for_patient(mut self, mrn: impl Into<String>) -> Self {
        self.patient_mrn = Some(mrn.into());
        self
    }

    /// Makes the notice update the shown notification `notification_id`.
    pub fn replacing(mut self, notification_id: u32) -> Self {
        self.replaces = Some(notification_id);
        self
    }
}

impl fmt::Debug for AlarmNotice {
    // Hand-written so that the text and MRN (patient data) never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AlarmNotice")
            .field("alarm_id", &self.alarm_id)
            .field("priority", &self.priority)
            .field("title", &format_args!("<{} bytes>", self.title.len()))
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field(
                "patient_mrn",
                &self
                    .patient_mrn
                    .as_ref()
                    .map(|_| format_args!("<redacted>")),
            )
            .field("replaces", &self.replaces)
            .finish()
    }
}

/// What a clinician did on a notification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoticeAction {
    /// "Open patient", or a click on the notification itself (the daemon's
    /// default action), on a notice that has a patient.
    OpenPatient,
}

/// An action a clinician invoked on a shown notification.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActionInvoked {
    /// The [`AlarmNotice::alarm_id`] of the notice that was shown.
    pub alarm_id: i64,
    pub notification_id: u32,
    pub action: NoticeAction,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_patient_text() {
        let notice = AlarmNotice::new(
            7,
            Priority::High,
            "*** Bed 4 ASYSTOLE",
            "HR 0 · Varga, Joan (WW100045)",
        )
        .for_patient("WW100045")
        .replacing(3);
        let shown = format!("{notice:?}");
        for secret in ["Bed 4", "ASYSTOLE", "Varga", "WW100045"] {
            assert!(!shown.contains(secret), "{secret} leaked into {shown}");
        }
        assert!(shown.contains("alarm_id: 7"), "{shown}");
        assert!(shown.contains("replaces: Some(3)"), "{shown}");
    }

    #[test]
    fn markers_follow_the_alarm_display_convention() {
        assert_eq!(Priority::High.marker(), "***");
        assert_eq!(Priority::Medium.marker(), "**");
        assert_eq!(Priority::Low.marker(), "*");
        assert_eq!(Priority::Technical.marker(), "INOP");
    }
}
