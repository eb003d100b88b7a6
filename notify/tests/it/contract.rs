//! The behaviour every `Notifier` shares, run against each implementation
//! (the recording one in memory, the desktop one against the real daemon).

use wardwatch_notify::{
    AlarmNotice, DesktopNotifier, Error, Notifier, Priority, RecordingNotifier,
};

use crate::{bus, unique_title};

fn keeps_the_contract(notifier: &dyn Notifier) -> Result<(), Error> {
    let first = notifier.notify(&AlarmNotice::new(
        1,
        Priority::Medium,
        unique_title("**", "SPO2 LOW"),
        "SpO2 86 %",
    ))?;
    let updated = notifier.notify(
        &AlarmNotice::new(
            1,
            Priority::Medium,
            unique_title("**", "SPO2 LOW"),
            "SpO2 84 %",
        )
        .replacing(first.notification_id),
    )?;
    assert_eq!(
        updated, first,
        "an update in place keeps the notification id"
    );

    let other = notifier.notify(&AlarmNotice::new(
        2,
        Priority::Low,
        unique_title("*", "NIBP DUE"),
        "last NIBP 4 h ago",
    ))?;
    assert_ne!(other, first, "a new notice gets a new id");

    notifier.close(first.notification_id)?;
    notifier.close(first.notification_id)?;
    notifier.close(other.notification_id)?;
    // An id this notifier never handed out is simply not open.
    notifier.close(4_000_000_000)?;
    Ok(())
}

#[test]
fn recording_notifier_keeps_the_contract() -> Result<(), Error> {
    let recording = RecordingNotifier::new();
    keeps_the_contract(&recording)?;
    assert!(recording.open().is_empty());
    assert_eq!(recording.notices().len(), 2);
    Ok(())
}

#[test]
fn desktop_notifier_keeps_the_contract() -> Result<(), Error> {
    bus::require_daemon();
    let _daemon = bus::exclusive();
    keeps_the_contract(&DesktopNotifier::new()?)
}
