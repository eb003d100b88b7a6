//! What the live scorer derives from a patient's data, as typed values: the
//! one contract between scoring, the alarm engine, the API and the UI.
//! Stages pass these values to each other; JSON is only their form in the
//! store's `scores.detail` column and at the UI edge, where a row reads
//! `{"kind": "news2", "detail": {…}}` as before.

use serde::{Deserialize, Serialize};
use wardwatch_score::News2Score;
use wardwatch_score::ecg::rhythm::{Finding, FindingKind};
use wardwatch_score::risk::CardiacRisk;

/// A score row's content, by kind (the `scores.kind` column).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "detail", rename_all = "snake_case")]
pub enum ScoreDetail {
    /// NEWS2 (RCP 2017) with its sub-scores and response; the row's value is
    /// the aggregate.
    News2(News2Score),
    /// The combined cardiac risk with its contributors; value 0–100.
    CardiacRisk(CardiacRisk),
    /// Heart rate from the best evidence of the bed; value in beats/min.
    /// `lead` is the MDC code it comes from: an ECG lead, or a pleth or
    /// arterial line (150452, 150032, 150016) while the lead shows no beats.
    EcgHr { lead: u32 },
    /// A rhythm finding starting, ending or suppressed; value 1 at onset,
    /// 0 at the end or when suppressed.
    EcgEvent(EcgEvent),
}

/// A rhythm finding's onset or end, on one lead (`lead`: its MDC code,
/// e.g. 131330 for lead II). A life-threatening finding the bed's other
/// signals contradicted (a regular pulse during an "asystole") is
/// `Suppressed` instead of an onset, with the decision's `reason` (which
/// signals said what); if they stop contradicting it, its `Onset` follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EcgEvent {
    Onset {
        lead: u32,
        finding: Finding,
    },
    End {
        lead: u32,
        kind: FindingKind,
    },
    Suppressed {
        lead: u32,
        finding: Finding,
        reason: String,
    },
}

impl EcgEvent {
    pub fn kind(&self) -> FindingKind {
        match self {
            EcgEvent::Onset { finding, .. } | EcgEvent::Suppressed { finding, .. } => finding.kind,
            EcgEvent::End { kind, .. } => *kind,
        }
    }

    pub fn is_onset(&self) -> bool {
        matches!(self, EcgEvent::Onset { .. })
    }
}

impl ScoreDetail {
    pub const NEWS2: &'static str = "news2";
    pub const CARDIAC_RISK: &'static str = "cardiac_risk";
    pub const ECG_HR: &'static str = "ecg_hr";
    pub const ECG_EVENT: &'static str = "ecg_event";

    /// The `scores.kind` this detail is stored under.
    pub fn kind(&self) -> &'static str {
        match self {
            ScoreDetail::News2(_) => ScoreDetail::NEWS2,
            ScoreDetail::CardiacRisk(_) => ScoreDetail::CARDIAC_RISK,
            ScoreDetail::EcgHr { .. } => ScoreDetail::ECG_HR,
            ScoreDetail::EcgEvent(_) => ScoreDetail::ECG_EVENT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_score_reads_back_as_it_was_written_in_the_ui_shape() {
        let event = ScoreDetail::EcgEvent(EcgEvent::End {
            lead: 131_330,
            kind: FindingKind::AtrialFibrillation,
        });
        let json = serde_json::to_value(&event).expect("json");
        assert_eq!(json["kind"], "ecg_event");
        assert_eq!(json["detail"]["event"], "end");
        assert_eq!(json["detail"]["kind"], "atrial_fibrillation");
        let back: ScoreDetail = serde_json::from_value(json).expect("back");
        assert_eq!(back, event);
        assert_eq!(back.kind(), ScoreDetail::ECG_EVENT);
    }
}
