//! The alarm book through the API: escalation, acknowledgement and its audit,
//! latching, silences, alerts to patients only with consent.

use chrono::{DateTime, Duration, TimeZone, Utc};
use wardwatch_core::alarms::{ConditionEvent, NoticeKind, Priority, Rules};
use wardwatch_core::api;
use wardwatch_core::store::Role;

use crate::ctx;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 7, 0, 0)
        .single()
        .expect("time")
}

fn ev(
    mrn: &str,
    key: &str,
    started: bool,
    priority: Priority,
    latched: bool,
    at: DateTime<Utc>,
) -> ConditionEvent {
    ConditionEvent {
        mrn: Some(mrn.into()),
        key: key.into(),
        started,
        priority,
        latched,
        message: format!("{key} test"),
        at,
    }
}

#[test]
fn unacknowledged_high_alarm_escalates_once_and_acknowledgement_is_audited() {
    let dir = crate::private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 4).expect("demo");
    api::put_user(&admin, "nurse.kim", Role::Clinician).expect("user");
    let mrn = crate::store_of(&admin).patients().expect("patients")[0]
        .mrn
        .clone();
    let rules = Rules::default();
    let store = &crate::store_of(&admin);

    let notice = store
        .apply_condition(
            &ev(&mrn, "asystole", true, Priority::High, true, t0()),
            t0(),
        )
        .expect("apply");
    let notice = notice.expect("a new alarm is notified");
    assert!(notice.title.starts_with("*** Bed "), "{}", notice.title);
    assert_eq!(notice.priority, Priority::High);
    // The same episode again: no second alarm.
    assert!(
        store
            .apply_condition(
                &ev(&mrn, "asystole", true, Priority::High, true, t0()),
                t0()
            )
            .expect("apply")
            .is_none()
    );
    store.mark_notified(notice.alarm_id, t0()).expect("mark");

    assert!(
        store
            .due_notices(&rules, t0() + Duration::minutes(1))
            .expect("due")
            .is_empty()
    );
    let due = store
        .due_notices(&rules, t0() + rules.escalate_after + Duration::seconds(1))
        .expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(
        due[0].kind,
        NoticeKind::Escalation {
            to: rules.escalate_to.clone()
        }
    );
    let later = store
        .due_notices(&rules, t0() + rules.escalate_after + Duration::seconds(30))
        .expect("due");
    assert!(
        later
            .iter()
            .all(|n| !matches!(n.kind, NoticeKind::Escalation { .. })),
        "escalates once"
    );

    // The condition ends but the alarm is latched: still active until acknowledged.
    store
        .apply_condition(
            &ev(
                &mrn,
                "asystole",
                false,
                Priority::High,
                true,
                t0() + Duration::minutes(4),
            ),
            t0(),
        )
        .expect("end");
    let a = store.alarm(notice.alarm_id).expect("read").expect("alarm");
    assert_eq!(a.state, "active");
    assert_eq!(a.escalated_to.as_deref(), Some(rules.escalate_to.as_str()));

    let nurse = ctx(dir.path(), "nurse.kim");
    let acked = api::ack_alarm(&nurse, notice.alarm_id, Some("patient reviewed")).expect("ack");
    assert_eq!(
        acked.state, "resolved",
        "acknowledged after the condition ended"
    );
    assert_eq!(acked.acked_by.as_deref(), Some("nurse.kim"));
    assert!(
        store
            .due_notices(&rules, t0() + Duration::hours(1))
            .expect("due")
            .is_empty(),
        "nothing after ack"
    );
    let audit = api::recent_audit(&admin, 10).expect("audit");
    let entry = audit
        .iter()
        .find(|e| e.action == "alarm.ack")
        .expect("ack audited");
    assert_eq!(entry.actor, "nurse.kim");
    assert!(entry.target.as_deref().is_some_and(|t| t.contains(&mrn)));
    assert!(
        api::ack_alarm(&nurse, notice.alarm_id, None).is_err(),
        "acknowledging twice is refused"
    );
}

#[test]
fn a_silence_holds_back_equal_priorities_but_a_higher_one_breaks_through() {
    let dir = crate::private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 4).expect("demo");
    let mrn = crate::store_of(&admin).patients().expect("patients")[1]
        .mrn
        .clone();
    api::silence_patient(&admin, &mrn, 5, Priority::Medium).expect("silence");
    let now = crate::clock().0;
    let store = &crate::store_of(&admin);
    let quiet = store
        .apply_condition(
            &ev(&mrn, "spo2_low", true, Priority::Medium, false, now),
            now,
        )
        .expect("apply");
    assert!(
        quiet.is_none(),
        "a medium alarm under a medium silence is not notified"
    );
    assert_eq!(
        store.alarms(true, 10).expect("list").len(),
        1,
        "but it is in the alarm list"
    );
    let loud = store
        .apply_condition(&ev(&mrn, "asystole", true, Priority::High, true, now), now)
        .expect("apply");
    assert!(loud.is_some(), "a high alarm breaks through");
}

#[test]
fn alerts_reach_only_patients_who_consented_and_only_by_a_clinician() {
    let dir = crate::private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 4).expect("demo");
    api::put_user(&admin, "viewer", Role::Viewer).expect("user");
    let patients = crate::store_of(&admin).patients().expect("patients");
    let yes = patients
        .iter()
        .find(|p| p.alert_consent)
        .expect("a consenting patient");
    let no = patients
        .iter()
        .find(|p| !p.alert_consent)
        .expect("a non-consenting patient");
    let now = crate::clock().0;
    let a_yes = crate::store_of(&admin)
        .apply_condition(
            &ev(&yes.mrn, "hr_high", true, Priority::Medium, false, now),
            now,
        )
        .expect("a")
        .expect("n");
    let a_no = crate::store_of(&admin)
        .apply_condition(
            &ev(&no.mrn, "hr_high", true, Priority::Medium, false, now),
            now,
        )
        .expect("a")
        .expect("n");

    let e = api::notify_patient(&admin, a_no.alarm_id, "Please press your call button")
        .expect_err("no consent");
    assert_eq!(e.kind(), wardwatch_core::ErrorKind::PermissionDenied);
    let viewer = ctx(dir.path(), "viewer");
    assert!(
        api::notify_patient(&viewer, a_yes.alarm_id, "hello").is_err(),
        "viewers cannot alert patients"
    );
    let id = api::notify_patient(&admin, a_yes.alarm_id, "Please press your call button")
        .expect("queued");
    let queued = crate::store_of(&admin).pending_messages().expect("pending");
    assert_eq!(queued.len(), 1);
    assert_eq!(
        (
            queued[0].id,
            queued[0].state.as_str(),
            queued[0].mrn.as_str()
        ),
        (id, "queued", yes.mrn.as_str())
    );
    let audit = api::recent_audit(&admin, 10).expect("audit");
    assert!(
        audit.iter().any(|e| e.action == "patient.message_refused"
            && e.target.as_deref() == Some(no.mrn.as_str()))
    );
    assert!(audit.iter().any(|e| e.action == "patient.message" && e.target.as_deref() == Some(yes.mrn.as_str())));
}

#[test]
fn an_acknowledged_alarm_does_not_swallow_the_next_episode_and_cannot_be_hidden_while_true() {
    let dir = crate::private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 4).expect("demo");
    let mrn = crate::store_of(&admin).patients().expect("patients")[2]
        .mrn
        .clone();
    let store = &crate::store_of(&admin);
    let first = store
        .apply_condition(
            &ev(&mrn, "spo2_low", true, Priority::Medium, false, t0()),
            t0(),
        )
        .expect("apply")
        .expect("notice");
    let e = api::resolve_alarm(&admin, first.alarm_id).expect_err("condition still present");
    assert!(e.to_string().contains("acknowledge"), "{e}");
    api::ack_alarm(&admin, first.alarm_id, None).expect("ack");
    // The end of that episode was never seen (say, Wardwatch restarted); a new
    // desaturation hours later is a new alarm, notified again.
    let later = t0() + Duration::hours(3);
    let second = store
        .apply_condition(
            &ev(&mrn, "spo2_low", true, Priority::Medium, false, later),
            later,
        )
        .expect("apply")
        .expect("a new episode is notified");
    assert_ne!(second.alarm_id, first.alarm_id);
    assert_eq!(
        store
            .alarm(first.alarm_id)
            .expect("read")
            .expect("alarm")
            .state,
        "resolved"
    );
    // At start-up, open non-latched alarms are closed; a latched one awaiting
    // acknowledgement stays.
    let latched = store
        .apply_condition(
            &ev(&mrn, "asystole", true, Priority::High, true, later),
            later,
        )
        .expect("apply")
        .expect("notice");
    assert_eq!(
        store.reconcile_alarms_at_start(later).expect("reconcile"),
        1
    );
    assert_eq!(
        store
            .alarm(second.alarm_id)
            .expect("read")
            .expect("alarm")
            .state,
        "resolved"
    );
    assert_eq!(
        store
            .alarm(latched.alarm_id)
            .expect("read")
            .expect("alarm")
            .state,
        "active"
    );
}

/// Issue 9, item 1: `alarms limit MRN --vital hr --high 150` removed the low
/// limit, so HR 30 raised no alarm; NaN was accepted and disabled both.
#[test]
fn setting_one_side_of_a_limit_keeps_the_other_and_bad_limits_change_nothing() {
    use wardwatch_core::alarms::{ConditionTracker, Input, LimitEdit};
    use wardwatch_core::model::Vital;

    let dir = crate::private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 2).expect("demo");
    let store = crate::store_of(&admin);
    let mrn = store.patients().expect("patients")[0].mrn.clone();

    let after = api::set_alarm_limit(
        &admin,
        &mrn,
        Vital::HeartRate,
        LimitEdit::Keep,
        LimitEdit::Set(150.0),
    )
    .expect("set the high limit");
    assert_eq!((after.low, after.high), (Some(40.0), Some(150.0)));
    assert_eq!((after.own_low, after.own_high), (None, Some(150.0)));
    let after = api::set_alarm_limit(
        &admin,
        &mrn,
        Vital::HeartRate,
        LimitEdit::Set(35.0),
        LimitEdit::Keep,
    )
    .expect("set the low limit");
    assert_eq!((after.low, after.high), (Some(35.0), Some(150.0)));

    // A patient at 30/min alarms under the limits the store now holds.
    let mut tracker = ConditionTracker::new(Rules::default());
    let limits = store.alarm_limits_of(&mrn).expect("read").expect("known");
    tracker.set_patient_limits(&mrn, limits);
    let events: Vec<_> = (0..30)
        .flat_map(|s| {
            tracker.observe(&Input::Reading {
                mrn: mrn.clone(),
                vital: Vital::HeartRate,
                value: Some(30.0),
                at: t0() + Duration::seconds(s),
            })
        })
        .collect();
    assert!(
        events.iter().any(|e| e.started && e.key == "hr_low"),
        "{events:?}"
    );

    // Refused, and nothing changes: not a number, infinite, implausible,
    // inverted against the other side.
    for (low, high) in [
        (LimitEdit::Keep, LimitEdit::Set(f64::NAN)),
        (LimitEdit::Set(f64::INFINITY), LimitEdit::Keep),
        (LimitEdit::Set(-5.0), LimitEdit::Keep),
        (LimitEdit::Set(160.0), LimitEdit::Keep),
        (LimitEdit::Keep, LimitEdit::Set(30.0)),
    ] {
        let err =
            api::set_alarm_limit(&admin, &mrn, Vital::HeartRate, low, high).expect_err("refused");
        assert_eq!(err.kind(), wardwatch_core::ErrorKind::InvalidInput, "{err}");
    }
    let limits = api::alarm_limits(&admin, &mrn).expect("limits");
    let hr = limits
        .iter()
        .find(|l| l.vital == Vital::HeartRate)
        .expect("hr limits");
    assert_eq!((hr.low, hr.high), (Some(35.0), Some(150.0)));

    // Back to the ward's high limit; the low one stays the patient's.
    let after = api::set_alarm_limit(
        &admin,
        &mrn,
        Vital::HeartRate,
        LimitEdit::Keep,
        LimitEdit::Ward,
    )
    .expect("reset the high limit");
    assert_eq!((after.low, after.high), (Some(35.0), Some(130.0)));

    // Each change is audited with the limits before and after it.
    let audit = api::recent_audit(&admin, 50).expect("audit");
    let changes: Vec<_> = audit
        .iter()
        .filter(|e| e.action == "alarms.set_limit")
        .collect();
    assert_eq!(changes.len(), 3, "refusals change nothing: {changes:?}");
    let reset = changes
        .iter()
        .find(|e| e.detail["before"]["own_high"] == 150.0 && e.detail["before"]["own_low"] == 35.0)
        .expect("the reset is audited");
    assert_eq!(reset.detail["after"]["high"], 130.0);
    assert_eq!(reset.detail["after"]["own_high"], serde_json::Value::Null);
    assert_eq!(reset.detail["after"]["low"], 35.0);
}

/// An alarm list past the 500 newest, for an admin counting a flood (a
/// benchmark, an incident review): as many as asked, newest first, and a
/// limit out of range is refused with the range.
#[test]
fn an_alarm_list_gives_as_many_as_asked_within_its_range() {
    let dir = crate::private_tempdir();
    let mut admin = ctx(dir.path(), "admin");
    api::load_demo_ward(&mut admin, 4).expect("demo");
    let mrn = crate::store_of(&admin).patients().expect("patients")[0]
        .mrn
        .clone();
    let store = &crate::store_of(&admin);
    let count = api::ALARMS_LISTED + 20;
    for i in 0..count {
        let at = t0() + Duration::seconds(i as i64);
        store
            .apply_condition(
                &ev(
                    &mrn,
                    &format!("tech:test{i}"),
                    true,
                    Priority::Technical,
                    false,
                    at,
                ),
                at,
            )
            .expect("apply");
    }
    let newest = api::list_alarms(&admin, false).expect("list");
    assert_eq!(newest.len(), api::ALARMS_LISTED);
    assert_eq!(newest[0].key, format!("tech:test{}", count - 1));
    let all = api::list_alarms_up_to(&admin, false, 10_000).expect("list");
    assert_eq!(all.len(), count);
    assert_eq!(all[0].key, newest[0].key);
    for limit in [0, api::ALARMS_LISTED_MAX + 1] {
        let e = api::list_alarms_up_to(&admin, false, limit).expect_err("out of range");
        assert_eq!(e.kind(), wardwatch_core::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("100000"), "{e}");
    }
}
