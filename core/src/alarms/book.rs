//! The alarm book: condition episodes become stored alarms, one row per
//! episode. It decides what to notify (new alarms, reminders, escalations),
//! respects silences (a higher priority breaks through) and carries out the
//! clinicians' actions. Every action is audited by the API layer that calls it.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::conditions::{ConditionEvent, PatientLimits, Priority, Rules};
use crate::error::{Error, Result, SqlContext};
use crate::store::{Store, from_ms, to_ms};

/// Why a notification is sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NoticeKind {
    New,
    Reminder,
    Escalation { to: String },
}

/// A notification to deliver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub alarm_id: i64,
    pub priority: Priority,
    pub kind: NoticeKind,
    /// "*** Bed 4 HR 134 > 130"
    pub title: String,
    /// "Varga, Joan (WW100045) · Cardio A"
    pub body: String,
    pub mrn: Option<String>,
}

/// An alarm as the lists show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmView {
    pub id: i64,
    pub mrn: Option<String>,
    pub patient: Option<String>,
    pub ward: Option<String>,
    pub bed: Option<String>,
    pub key: String,
    pub priority: Priority,
    pub state: String,
    pub latched: bool,
    pub message: String,
    pub raised: DateTime<Utc>,
    pub updated: DateTime<Utc>,
    pub condition_ended: Option<DateTime<Utc>>,
    pub acked_by: Option<String>,
    pub acked: Option<DateTime<Utc>>,
    pub note: Option<String>,
    pub notify_count: i64,
    pub escalated_to: Option<String>,
    pub annotation: Option<String>,
    /// The patient this alarm's data was moved to: it was raised on data
    /// filed under the wrong patient (`devices move`).
    pub misfiled_to: Option<String>,
}

/// An active alarm with when it was last notified, when it escalated, and
/// its patient's row id.
type ActiveAlarm = (AlarmView, Option<i64>, Option<i64>, Option<i64>);

/// A false-alarm review label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Annotation {
    True,
    False,
    NonActionable,
}

impl Annotation {
    pub fn as_str(self) -> &'static str {
        match self {
            Annotation::True => "true",
            Annotation::False => "false",
            Annotation::NonActionable => "non_actionable",
        }
    }
}

const VIEW_COLUMNS: &str = "a.id, p.mrn, p.family_name || ', ' || p.given_name, p.ward, p.bed, a.key, a.priority, \
     a.state, a.latched, a.message, a.raised_ms, a.updated_ms, a.condition_ended_ms, a.acked_by, a.acked_ms, \
     a.note, a.notify_count, a.escalated_to, a.annotation, json_extract(a.detail, '$.misfiled.moved_to')";

/// How many columns `VIEW_COLUMNS` selects: a query that adds its own reads
/// them from here on.
const VIEW_COLUMN_COUNT: usize = 20;

fn view(r: &rusqlite::Row<'_>) -> rusqlite::Result<AlarmView> {
    let priority: String = r.get(6)?;
    Ok(AlarmView {
        id: r.get(0)?,
        mrn: r.get(1)?,
        patient: r.get(2)?,
        ward: r.get(3)?,
        bed: r.get(4)?,
        key: r.get(5)?,
        priority: Priority::parse(&priority).unwrap_or(Priority::Technical),
        state: r.get(7)?,
        latched: r.get(8)?,
        message: r.get(9)?,
        raised: from_ms(r.get(10)?),
        updated: from_ms(r.get(11)?),
        condition_ended: r.get::<_, Option<i64>>(12)?.map(from_ms),
        acked_by: r.get(13)?,
        acked: r.get::<_, Option<i64>>(14)?.map(from_ms),
        note: r.get(15)?,
        notify_count: r.get(16)?,
        escalated_to: r.get(17)?,
        annotation: r.get(18)?,
        misfiled_to: r.get(19)?,
    })
}

impl AlarmView {
    pub fn notice(&self, kind: NoticeKind) -> Notice {
        let bed = self
            .bed
            .as_deref()
            .map(|b| format!("Bed {b} "))
            .unwrap_or_default();
        let title = match &kind {
            NoticeKind::Escalation { to } => format!(
                "{} {bed}{} — escalated to {to}",
                self.priority.marker(),
                self.message
            ),
            NoticeKind::Reminder => format!(
                "{} {bed}{} (unacknowledged)",
                self.priority.marker(),
                self.message
            ),
            NoticeKind::New => format!("{} {bed}{}", self.priority.marker(), self.message),
        };
        let body = match (&self.patient, &self.mrn) {
            (Some(name), Some(mrn)) => {
                format!("{name} ({mrn}) · {}", self.ward.as_deref().unwrap_or(""))
            }
            _ => "Wardwatch system".to_owned(),
        };
        Notice {
            alarm_id: self.id,
            priority: self.priority,
            kind,
            title,
            body,
            mrn: self.mrn.clone(),
        }
    }
}

impl Store {
    pub fn alarm(&self, id: i64) -> Result<Option<AlarmView>> {
        self.conn
            .query_row(
                &format!("SELECT {VIEW_COLUMNS} FROM alarms a LEFT JOIN patients p ON p.id = a.patient_id WHERE a.id = ?1"),
                [id],
                view,
            )
            .optional()
            .ctx("reading an alarm")
    }

    /// Whether alarm `id` is still active (not acknowledged nor resolved);
    /// `None` if there is no such alarm. One row by its key: the notifier
    /// asks it of every alarm on the desktop each second.
    pub fn alarm_is_active(&self, id: i64) -> Result<Option<bool>> {
        self.conn
            .prepare_cached("SELECT state = 'active' FROM alarms WHERE id = ?1")
            .and_then(|mut s| s.query_row([id], |r| r.get(0)).optional())
            .ctx("reading an alarm's state")
    }

    /// Alarms, newest first; `open_only` leaves out resolved ones.
    pub fn alarms(&self, open_only: bool, limit: usize) -> Result<Vec<AlarmView>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {VIEW_COLUMNS} FROM alarms a LEFT JOIN patients p ON p.id = a.patient_id
                 WHERE (?1 = 0 OR a.state != 'resolved') ORDER BY a.raised_ms DESC, a.id DESC LIMIT ?2"
            ))
            .ctx("listing alarms")?;
        let rows = stmt
            .query_map(params![open_only, limit as i64], view)
            .ctx("listing alarms")?;
        rows.collect::<rusqlite::Result<_>>().ctx("listing alarms")
    }

    fn open_alarm(
        &self,
        patient_id: Option<i64>,
        key: &str,
    ) -> Result<Option<(i64, bool, String)>> {
        self.conn
            .prepare_cached(
                "SELECT id, latched, state FROM alarms WHERE patient_id IS ?1 AND key = ?2 AND state != 'resolved'
                 ORDER BY id DESC LIMIT 1",
            )
            .and_then(|mut s| s.query_row(params![patient_id, key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
            .ctx("finding an open alarm")
    }

    fn silenced(
        &self,
        patient_id: Option<i64>,
        priority: Priority,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        let Some(pid) = patient_id else {
            return Ok(false);
        };
        let row: Option<(i64, String)> = self
            .conn
            .prepare_cached(
                "SELECT until_ms, max_priority FROM alarm_silences WHERE patient_id = ?1",
            )
            .and_then(|mut s| {
                s.query_row([pid], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
            })
            .ctx("reading a silence")?;
        Ok(match row {
            Some((until, max)) => {
                to_ms(now) < until && Priority::parse(&max).is_some_and(|m| priority <= m)
            }
            None => false,
        })
    }

    /// Applies one condition episode; returns the notification to send for a
    /// new alarm (none when silenced or when it continues an open episode).
    pub fn apply_condition(
        &self,
        ev: &ConditionEvent,
        now: DateTime<Utc>,
    ) -> Result<Option<Notice>> {
        let patient_id: Option<i64> = match &ev.mrn {
            Some(mrn) => {
                let id = self
                    .conn
                    .prepare_cached("SELECT id FROM patients WHERE mrn = ?1")
                    .and_then(|mut s| s.query_row([mrn], |r| r.get(0)).optional())
                    .ctx("resolving a patient")?;
                if id.is_none() {
                    return Ok(None);
                }
                id
            }
            None => None,
        };
        let open = self.open_alarm(patient_id, &ev.key)?;
        if ev.started {
            match open {
                // The same episode: a latched alarm, not yet acknowledged,
                // whose condition came back.
                Some((id, true, state)) if state == "active" => {
                    self.conn
                        .execute(
                            "UPDATE alarms SET condition_ended_ms = NULL, updated_ms = ?2 WHERE id = ?1",
                            params![id, to_ms(now)],
                        )
                        .ctx("continuing an alarm")?;
                    return Ok(None);
                }
                // An acknowledged alarm (or one whose end was never seen, after
                // a restart) must not swallow a new episode: close it and raise.
                Some((id, _, _)) => {
                    self.conn
                        .execute(
                            "UPDATE alarms SET state = 'resolved', updated_ms = ?2,
                               condition_ended_ms = coalesce(condition_ended_ms, ?2) WHERE id = ?1",
                            params![id, to_ms(ev.at)],
                        )
                        .ctx("closing a previous episode")?;
                }
                None => {}
            }
            self.conn
                .execute(
                    "INSERT INTO alarms (patient_id, key, priority, state, latched, message, raised_ms, updated_ms,
                       last_notified_ms)
                     VALUES (?1, ?2, ?3, 'active', ?4, ?5, ?6, ?6, ?6)",
                    params![patient_id, ev.key, ev.priority.as_str(), ev.latched, ev.message, to_ms(ev.at)],
                )
                .ctx("raising an alarm")?;
            let id = self.conn.last_insert_rowid();
            if self.silenced(patient_id, ev.priority, now)? {
                return Ok(None);
            }
            let alarm = self.alarm(id)?.ok_or(Error::InvalidInput {
                what: "alarm",
                reason: format!("alarm {id} vanished"),
            })?;
            return Ok(Some(alarm.notice(NoticeKind::New)));
        }
        if let Some((id, latched, state)) = open {
            // Latched and not yet acknowledged: keep it active, note the end.
            let resolve = !latched || state == "acknowledged";
            self.conn
                .execute(
                    "UPDATE alarms SET condition_ended_ms = ?2, updated_ms = ?2,
                       state = CASE WHEN ?3 THEN 'resolved' ELSE state END WHERE id = ?1",
                    params![id, to_ms(ev.at), resolve],
                )
                .ctx("ending an alarm condition")?;
        }
        Ok(None)
    }

    /// Reminders for unacknowledged alarms and escalations that are due.
    pub fn due_notices(&self, rules: &Rules, now: DateTime<Utc>) -> Result<Vec<Notice>> {
        let mut out = Vec::new();
        // Runs every second: one query over the active alarms only (the
        // `alarms_open` index), never the whole history.
        let active: Vec<ActiveAlarm> = {
            let mut stmt = self
                .conn
                .prepare_cached(&format!(
                    "SELECT {VIEW_COLUMNS}, a.last_notified_ms, a.escalated_ms, a.patient_id
                     FROM alarms a LEFT JOIN patients p ON p.id = a.patient_id WHERE a.state = 'active'"
                ))
                .ctx("reading active alarms")?;
            let rows = stmt
                .query_map([], |r| {
                    let n = VIEW_COLUMN_COUNT;
                    Ok((view(r)?, r.get(n)?, r.get(n + 1)?, r.get(n + 2)?))
                })
                .ctx("reading active alarms")?;
            rows.collect::<rusqlite::Result<_>>()
                .ctx("reading active alarms")?
        };
        for (alarm, last_notified, escalated_ms, patient_id) in active {
            let escalates = matches!(alarm.priority, Priority::High | Priority::Medium);
            if escalates && escalated_ms.is_none() && now - alarm.raised >= rules.escalate_after {
                self.conn
                    .execute(
                        "UPDATE alarms SET escalated_ms = ?2, escalated_to = ?3, updated_ms = ?2 WHERE id = ?1",
                        params![alarm.id, to_ms(now), rules.escalate_to],
                    )
                    .ctx("escalating an alarm")?;
                out.push(alarm.notice(NoticeKind::Escalation {
                    to: rules.escalate_to.clone(),
                }));
                continue;
            }
            let since = last_notified.map(from_ms).unwrap_or(alarm.raised);
            if now - since >= rules.reminder_every
                && !self.silenced(patient_id, alarm.priority, now)?
            {
                // Marked when queued, in the engine's time: a slow notifier
                // must not get the same reminder again every second.
                self.conn
                    .execute(
                        "UPDATE alarms SET last_notified_ms = ?2 WHERE id = ?1",
                        params![alarm.id, to_ms(now)],
                    )
                    .ctx("recording a reminder")?;
                out.push(alarm.notice(NoticeKind::Reminder));
            }
        }
        Ok(out)
    }

    /// Records that a notification for `alarm_id` went out.
    pub fn mark_notified(&self, alarm_id: i64, now: DateTime<Utc>) -> Result<()> {
        self.conn
            .execute(
                "UPDATE alarms SET notify_count = notify_count + 1, updated_ms = max(updated_ms, ?2) WHERE id = ?1",
                params![alarm_id, to_ms(now)],
            )
            .ctx("recording a notification")?;
        Ok(())
    }

    /// Acknowledges: reminders and escalation stop; an alarm whose condition
    /// has ended is resolved.
    pub fn ack_alarm(
        &self,
        id: i64,
        user: &str,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<AlarmView> {
        let n = self
            .conn
            .execute(
                "UPDATE alarms SET acked_by = ?2, acked_ms = ?3, note = coalesce(?4, note), updated_ms = ?3,
                   state = CASE WHEN condition_ended_ms IS NOT NULL THEN 'resolved' ELSE 'acknowledged' END
                 WHERE id = ?1 AND state = 'active'",
                params![id, user, to_ms(now), note],
            )
            .ctx("acknowledging an alarm")?;
        let alarm = self.alarm(id)?.ok_or_else(|| Error::InvalidInput {
            what: "alarm",
            reason: format!("no alarm {id}: `wardwatchctl alarms list` shows them"),
        })?;
        if n == 0 {
            return Err(Error::InvalidInput {
                what: "alarm",
                reason: format!("alarm {id} is {} already", alarm.state),
            });
        }
        Ok(alarm)
    }

    /// Resolves an alarm by hand (e.g. a technical condition fixed at the bedside).
    /// Resolves an alarm whose condition has ended (e.g. a latched alarm
    /// reviewed after the fact). While the condition is still present the
    /// alarm cannot be resolved by hand, only acknowledged: it resolves when
    /// the condition ends, so it can never be hidden while true.
    pub fn resolve_alarm(&self, id: i64, user: &str, now: DateTime<Utc>) -> Result<AlarmView> {
        let n = self
            .conn
            .execute(
                "UPDATE alarms SET state = 'resolved', updated_ms = ?3,
                   acked_by = coalesce(acked_by, ?2), acked_ms = coalesce(acked_ms, ?3)
                 WHERE id = ?1 AND condition_ended_ms IS NOT NULL",
                params![id, user, to_ms(now)],
            )
            .ctx("resolving an alarm")?;
        let alarm = self.alarm(id)?.ok_or_else(|| Error::InvalidInput {
            what: "alarm",
            reason: format!("no alarm {id}"),
        })?;
        if n == 0 {
            return Err(Error::InvalidInput {
                what: "alarm",
                reason: format!(
                    "alarm {id}'s condition is still present: acknowledge it; it resolves when the condition ends"
                ),
            });
        }
        Ok(alarm)
    }

    /// At start-up the condition detector knows nothing: close every open
    /// alarm except latched ones still awaiting acknowledgement, so that a
    /// condition still present is raised afresh instead of being absorbed by
    /// a stale row. Returns how many were closed.
    pub fn reconcile_alarms_at_start(&self, now: DateTime<Utc>) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE alarms SET state = 'resolved', updated_ms = ?1,
                   condition_ended_ms = coalesce(condition_ended_ms, ?1)
                 WHERE state != 'resolved' AND NOT (latched = 1 AND state = 'active')",
                [to_ms(now)],
            )
            .ctx("reconciling alarms at start")
    }

    pub fn annotate_alarm(
        &self,
        id: i64,
        annotation: Annotation,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<AlarmView> {
        self.conn
            .execute(
                "UPDATE alarms SET annotation = ?2, annotated_by = ?3, updated_ms = ?4 WHERE id = ?1",
                params![id, annotation.as_str(), user, to_ms(now)],
            )
            .ctx("annotating an alarm")?;
        self.alarm(id)?.ok_or_else(|| Error::InvalidInput {
            what: "alarm",
            reason: format!("no alarm {id}"),
        })
    }

    /// Silences a patient's alarms up to `max_priority` until `until`.
    pub fn silence_patient(
        &self,
        mrn: &str,
        until: DateTime<Utc>,
        max_priority: Priority,
        user: &str,
    ) -> Result<()> {
        let n = self
            .conn
            .execute(
                "INSERT INTO alarm_silences (patient_id, until_ms, max_priority, by_user)
                 SELECT id, ?2, ?3, ?4 FROM patients WHERE mrn = ?1
                 ON CONFLICT (patient_id) DO UPDATE SET until_ms = excluded.until_ms,
                   max_priority = excluded.max_priority, by_user = excluded.by_user",
                params![mrn, to_ms(until), max_priority.as_str(), user],
            )
            .ctx("silencing alarms")?;
        if n == 0 {
            return Err(Error::PatientNotFound {
                mrn: mrn.to_owned(),
            });
        }
        Ok(())
    }
}

/// The ward's alarm rules key in `settings` (JSON of [`Rules`]).
pub const RULES_SETTING: &str = "alarms.rules";

/// A patient's own limit: vital, low, high (`None`: the ward's on that side).
pub type PatientLimit = (crate::model::Vital, Option<f64>, Option<f64>);

/// How a change treats one side of a patient's limit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LimitEdit {
    /// Leave this side as it is.
    Keep,
    /// The patient's own limit on this side.
    Set(f64),
    /// Back to the ward's limit on this side.
    Ward,
}

/// One vital's limits for a patient: the sides a clinician set for them
/// and the limits that apply (the ward's where they set none).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LimitView {
    pub vital: crate::model::Vital,
    pub own_low: Option<f64>,
    pub own_high: Option<f64>,
    pub low: Option<f64>,
    pub high: Option<f64>,
}

impl Store {
    /// The ward's alarm rules: the stored ones, else the defaults.
    pub fn alarm_rules(&self) -> Result<Rules> {
        match self.setting(RULES_SETTING)? {
            None => Ok(Rules::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| Error::InvalidInput {
                what: "alarm rules",
                reason: format!("stored `{RULES_SETTING}` is invalid: {e}"),
            }),
        }
    }

    /// Everything that moves a patient's limits away from the ward's: their
    /// SpO2 scale and baseline SBP from the record, and a clinician's own
    /// limits. `None` for an unknown patient.
    pub fn alarm_limits_of(&self, mrn: &str) -> Result<Option<PatientLimits>> {
        let Some(p) = self.patient(mrn)? else {
            return Ok(None);
        };
        let mut limits = PatientLimits {
            spo2_scale2: p.spo2_scale == crate::model::Spo2Scale::Two,
            baseline_sbp: p.baseline.sbp_mmhg,
            ..PatientLimits::NONE
        };
        for (vital, low, high) in self.patient_limits(mrn)? {
            if let Some(slot) = limits.overrides.get_mut(vital.code() as usize) {
                *slot = Some((low, high));
            }
        }
        Ok(Some(limits))
    }

    /// A patient's own alarm limits (vital, low, high).
    pub fn patient_limits(&self, mrn: &str) -> Result<Vec<PatientLimit>> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT l.vital, l.low, l.high FROM patient_alarm_limits l JOIN patients p ON p.id = l.patient_id
                 WHERE p.mrn = ?1",
            )
            .ctx("reading alarm limits")?;
        let rows = stmt
            .query_map([mrn], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?, r.get(2)?)))
            .ctx("reading alarm limits")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("reading alarm limits")?;
        Ok(rows
            .into_iter()
            .filter_map(|(v, lo, hi)| crate::model::Vital::from_code(v).map(|v| (v, lo, hi)))
            .collect())
    }

    /// Changes one side or both of a patient's own limit for `vital` and
    /// returns the limits before and after. Refuses (and changes nothing)
    /// a value that is not finite or not plausible for the vital, and a
    /// result where the low limit is not below the high one.
    #[allow(clippy::too_many_arguments)]
    pub fn set_patient_limit(
        &self,
        mrn: &str,
        vital: crate::model::Vital,
        low: LimitEdit,
        high: LimitEdit,
        user: &str,
        now: DateTime<Utc>,
    ) -> Result<(LimitView, LimitView)> {
        let invalid = |reason: String| Error::InvalidInput {
            what: "alarm limit",
            reason,
        };
        let rules = self.alarm_rules()?;
        if rules.limit_for(vital, &PatientLimits::NONE).is_none() {
            return Err(invalid(format!("{} has no alarm limits", vital.label())));
        }
        let (min, max) = vital.plausible_range();
        for (side, edit) in [("low", low), ("high", high)] {
            if let LimitEdit::Set(v) = edit
                && !(v.is_finite() && (min..=max).contains(&v))
            {
                return Err(invalid(format!(
                    "{side} {v} for {}: a limit must be a number from {min} to {max} {}",
                    vital.label(),
                    vital.unit()
                )));
            }
        }
        // Immediate: read, merge and write under the write lock, so two
        // clinicians changing the two sides at once both count.
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )
        .ctx("setting an alarm limit")?;
        let Some(mut limits) = self.alarm_limits_of(mrn)? else {
            return Err(Error::PatientNotFound {
                mrn: mrn.to_owned(),
            });
        };
        let view = |limits: &PatientLimits| {
            let (own_low, own_high) =
                limits.overrides[vital.code() as usize].unwrap_or((None, None));
            let applies = rules.limit_for(vital, limits);
            LimitView {
                vital,
                own_low,
                own_high,
                low: applies.and_then(|l| l.low),
                high: applies.and_then(|l| l.high),
            }
        };
        let before = view(&limits);
        let apply = |edit: LimitEdit, own: Option<f64>| match edit {
            LimitEdit::Keep => own,
            LimitEdit::Set(v) => Some(v),
            LimitEdit::Ward => None,
        };
        let own = (apply(low, before.own_low), apply(high, before.own_high));
        limits.overrides[vital.code() as usize] = Some(own);
        let after = view(&limits);
        if let (Some(l), Some(h)) = (after.low, after.high)
            && l >= h
        {
            return Err(invalid(format!(
                "{} low {l} must be below high {h}",
                vital.label()
            )));
        }
        tx.execute(
            "INSERT INTO patient_alarm_limits (patient_id, vital, low, high, set_by, set_ms)
             SELECT id, ?2, ?3, ?4, ?5, ?6 FROM patients WHERE mrn = ?1
             ON CONFLICT (patient_id, vital) DO UPDATE SET low = excluded.low, high = excluded.high,
               set_by = excluded.set_by, set_ms = excluded.set_ms",
            params![mrn, vital.code(), own.0, own.1, user, to_ms(now)],
        )
        .ctx("setting an alarm limit")?;
        tx.commit().ctx("setting an alarm limit")?;
        Ok((before, after))
    }
}
