//! Alerts a clinician sends on to a patient: queued in the store (only with
//! the patient's consent, only by a clinician's action), then delivered (by
//! `wardwatch-runtime`) to the cloud as a FHIR `Communication` on a Kinesis stream the gateway reads
//! for the patient's app. Delivery state (queued → sent, or failed with the
//! error and retried) is tracked per message.

use chrono::{DateTime, Utc};
use rusqlite::params;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::{Error, Result, SqlContext};
use crate::store::{Store, from_ms, to_ms};

/// Where patient messages go (settings `messages.*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDestination {
    pub endpoint: String,
    pub stream: String,
    pub region: String,
    /// `env:PREFIX`, `keyring:NAME` or `aws` / `aws:PROFILE`, as for sources.
    pub credentials: String,
    /// A PEM file of CA certificates to trust beside the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_bundle: Option<String>,
}

const SETTING: &str = "messages.destination";

/// A message as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientMessage {
    pub id: i64,
    pub mrn: String,
    pub alarm_id: Option<i64>,
    pub sent_by: String,
    pub message: String,
    pub state: String,
    pub created: DateTime<Utc>,
    /// The last change of state (queued, or the last delivery attempt).
    pub updated: DateTime<Utc>,
    pub attempts: i64,
    pub sequence: Option<String>,
    pub last_error: Option<String>,
}

impl Store {
    pub fn message_destination(&self) -> Result<Option<MessageDestination>> {
        match self.setting(SETTING)? {
            None => Ok(None),
            Some(json) => serde_json::from_str(&json)
                .map(Some)
                .map_err(|e| Error::InvalidInput {
                    what: "stored message destination",
                    reason: e.to_string(),
                }),
        }
    }

    pub fn set_message_destination(&self, d: &MessageDestination) -> Result<()> {
        self.set_setting(SETTING, &json!(d).to_string())
    }

    pub fn queue_message(
        &self,
        mrn: &str,
        alarm_id: Option<i64>,
        user: &str,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        self.conn
            .execute(
                "INSERT INTO patient_messages (patient_id, alarm_id, sent_by, message, state, created_ms, updated_ms)
                 SELECT id, ?2, ?3, ?4, 'queued', ?5, ?5 FROM patients WHERE mrn = ?1",
                params![mrn, alarm_id, user, text, to_ms(now)],
            )
            .ctx("queueing a patient message")?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Messages not yet sent (queued, or failed and due a retry).
    pub fn pending_messages(&self) -> Result<Vec<PatientMessage>> {
        self.messages_where("m.state != 'sent'")
    }

    pub fn messages(&self) -> Result<Vec<PatientMessage>> {
        self.messages_where("1")
    }

    fn messages_where(&self, cond: &str) -> Result<Vec<PatientMessage>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT m.id, p.mrn, m.alarm_id, m.sent_by, m.message, m.state, m.created_ms, m.attempts,
                   m.sequence, m.last_error, m.updated_ms
                 FROM patient_messages m JOIN patients p ON p.id = m.patient_id WHERE {cond} ORDER BY m.id"
            ))
            .ctx("reading patient messages")?;
        let rows = stmt
            .query_map([], |r| {
                Ok(PatientMessage {
                    id: r.get(0)?,
                    mrn: r.get(1)?,
                    alarm_id: r.get(2)?,
                    sent_by: r.get(3)?,
                    message: r.get(4)?,
                    state: r.get(5)?,
                    created: from_ms(r.get(6)?),
                    attempts: r.get(7)?,
                    sequence: r.get(8)?,
                    last_error: r.get(9)?,
                    updated: from_ms(r.get(10)?),
                })
            })
            .ctx("reading patient messages")?;
        rows.collect::<rusqlite::Result<_>>()
            .ctx("reading patient messages")
    }

    pub fn mark_message(
        &self,
        id: i64,
        outcome: std::result::Result<&str, &str>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (state, seq, err) = match outcome {
            Ok(seq) => ("sent", Some(seq), None),
            Err(e) => ("failed", None, Some(e)),
        };
        self.conn
            .execute(
                "UPDATE patient_messages SET state = ?2, sequence = coalesce(?3, sequence), last_error = ?4,
                   attempts = attempts + 1, updated_ms = ?5 WHERE id = ?1",
                params![id, state, seq, err, to_ms(now)],
            )
            .ctx("recording a message delivery")?;
        Ok(())
    }
}

/// The record put on the stream: a FHIR R4 `Communication` to the patient.
pub fn communication(m: &PatientMessage, now: DateTime<Utc>) -> Vec<u8> {
    json!({
        "resourceType": "Communication",
        "id": format!("wardwatch-msg-{}", m.id),
        "status": "completed",
        "category": [{"text": "alert"}],
        "priority": "urgent",
        "subject": {"identifier": {"value": m.mrn}},
        "recipient": [{"identifier": {"value": m.mrn}}],
        "sent": now.to_rfc3339(),
        "payload": [{"contentString": m.message}],
    })
    .to_string()
    .into_bytes()
}
