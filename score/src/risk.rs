//! A combined cardiac-risk score that says why: NEWS2, rhythm findings, heart
//! rate far from the patient's baseline, a multivariate trend deviation and
//! low heart-rate variability each add points, listed as contributors.
//!
//! This is a transparent ranking heuristic for the ward view, **not a
//! validated clinical score**: its weights are design choices to be
//! calibrated on outcome data. They are chosen so that (a) a life-threatening
//! rhythm alone reaches the "high" band, (b) NEWS2 ≥ 7 (emergency response)
//! alone reaches "high", and (c) trend and HRV terms can raise but never alone
//! dominate the score. Low HRV follows Kleiger et al., Am. J. Cardiol.
//! 59:256, 1987 (SDNN < 50 ms and mortality after myocardial infarction; that
//! study used 24-h SDNN, so short-term values are a weak signal here).
//!
//! [`cardiac_risk_cohort`] computes the same score for many patients at once
//! from a feature matrix; [`cardiac_risk`] explains one.

use std::fmt;

use ndarray::{Array1, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::ecg::rhythm::FindingKind;

/// Inputs for one patient; `None` means not available (adds no points and is
/// listed as missing).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RiskInput {
    pub news2_aggregate: Option<u8>,
    /// Rhythm findings active now.
    pub active_findings: Vec<FindingKind>,
    /// Heart-rate z-score against the patient's baseline.
    pub hr_z: Option<f64>,
    /// Multivariate deviation d² / degrees of freedom (see `trend`).
    pub trend_d2_per_dof: Option<f64>,
    pub sdnn_ms: Option<f64>,
}

/// Column order of the cohort feature matrix.
pub const FEATURES: [&str; 8] = [
    "news2_aggregate",
    "asystole",
    "extreme_bradycardia",
    "extreme_tachycardia",
    "atrial_fibrillation",
    "hr_z",
    "trend_d2_per_dof",
    "sdnn_ms",
];

fn points(feature: usize, v: f64) -> f64 {
    if !v.is_finite() {
        return 0.0;
    }
    match feature {
        0 => 10.0 * v.clamp(0.0, 20.0), // NEWS2 7 → 70
        1 => 100.0 * v.clamp(0.0, 1.0),
        2 | 3 => 70.0 * v.clamp(0.0, 1.0),
        4 => 30.0 * v.clamp(0.0, 1.0),
        5 => (5.0 * (v.abs() - 2.0)).clamp(0.0, 20.0),
        6 => (5.0 * (v - 1.0)).clamp(0.0, 20.0),
        7 => (10.0 * (50.0 - v) / 50.0).clamp(0.0, 10.0),
        _ => 0.0,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskLevel {
    Low,
    Elevated,
    High,
}

/// One reason for the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contributor {
    pub feature: String,
    pub points: f64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardiacRisk {
    /// 0–100.
    pub score: f64,
    pub level: RiskLevel,
    /// Contributors with points, largest first.
    pub contributors: Vec<Contributor>,
    pub missing: Vec<String>,
}

fn level(score: f64) -> RiskLevel {
    if score >= 50.0 {
        RiskLevel::High
    } else if score >= 20.0 {
        RiskLevel::Elevated
    } else {
        RiskLevel::Low
    }
}

impl RiskInput {
    /// The input as a feature row (NaN for missing), in [`FEATURES`] order.
    pub fn features(&self) -> Array1<f64> {
        let has = |k: FindingKind| f64::from(u8::from(self.active_findings.contains(&k)));
        Array1::from(vec![
            self.news2_aggregate.map_or(f64::NAN, f64::from),
            has(FindingKind::Asystole),
            has(FindingKind::ExtremeBradycardia),
            has(FindingKind::ExtremeTachycardia),
            has(FindingKind::AtrialFibrillation),
            self.hr_z.unwrap_or(f64::NAN),
            self.trend_d2_per_dof.unwrap_or(f64::NAN),
            self.sdnn_ms.unwrap_or(f64::NAN),
        ])
    }
}

/// Scores and explains one patient.
pub fn cardiac_risk(input: &RiskInput) -> CardiacRisk {
    let f = input.features();
    let mut contributors: Vec<Contributor> = f
        .iter()
        .enumerate()
        .filter_map(|(j, &v)| {
            let p = points(j, v);
            (p > 0.0).then(|| Contributor {
                feature: FEATURES[j].to_owned(),
                points: p,
                detail: match j {
                    0 => format!("NEWS2 aggregate {v}"),
                    1..=4 => format!("{} active", FEATURES[j].replace('_', " ")),
                    5 => format!("heart rate {v:+.1} SD from baseline"),
                    6 => format!("vital signs jointly {v:.1}× their usual deviation"),
                    _ => format!("SDNN {v:.0} ms (low variability)"),
                },
            })
        })
        .collect();
    contributors.sort_by(|a, b| b.points.total_cmp(&a.points));
    let score = contributors
        .iter()
        .map(|c| c.points)
        .sum::<f64>()
        .min(100.0);
    let mut missing = Vec::new();
    if input.news2_aggregate.is_none() {
        missing.push(FEATURES[0].to_owned());
    }
    for (j, v) in [
        (5, input.hr_z),
        (6, input.trend_d2_per_dof),
        (7, input.sdnn_ms),
    ] {
        if v.is_none() {
            missing.push(FEATURES[j].to_owned());
        }
    }
    CardiacRisk {
        score,
        level: level(score),
        contributors,
        missing,
    }
}

/// The same score for every row of a patients × [`FEATURES`] matrix.
pub fn cardiac_risk_cohort(features: ArrayView2<f64>) -> Array1<f64> {
    let mut total = Array1::<f64>::zeros(features.nrows());
    for (j, column) in features.axis_iter(Axis(1)).enumerate() {
        total += &column.mapv(|v| points(j, v));
    }
    total.mapv(|t| t.min(100.0))
}

impl fmt::Display for CardiacRisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cardiac risk {:.0}/100 ({:?})", self.score, self.level)?;
        for c in &self.contributors {
            write!(f, "\n  +{:>3.0}  {}", c.points, c.detail)?;
        }
        if !self.missing.is_empty() {
            write!(f, "\n  not available: {}", self.missing.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use ndarray::stack;

    #[test]
    fn bands_and_explanations() {
        let calm = cardiac_risk(&RiskInput {
            news2_aggregate: Some(1),
            hr_z: Some(0.5),
            trend_d2_per_dof: Some(1.0),
            sdnn_ms: Some(80.0),
            ..Default::default()
        });
        assert_eq!(calm.level, RiskLevel::Low);
        assert_eq!(calm.contributors.len(), 1);
        let emergency = cardiac_risk(&RiskInput {
            news2_aggregate: Some(7),
            ..Default::default()
        });
        assert_eq!(emergency.level, RiskLevel::High);
        assert_eq!(emergency.missing, ["hr_z", "trend_d2_per_dof", "sdnn_ms"]);
        let vt = cardiac_risk(&RiskInput {
            active_findings: vec![FindingKind::ExtremeTachycardia],
            hr_z: Some(4.0),
            ..Default::default()
        });
        assert_eq!(vt.level, RiskLevel::High);
        assert_eq!(vt.contributors[0].feature, "extreme_tachycardia");
        assert!(vt.to_string().contains("+ 10  heart rate +4.0 SD"), "{vt}");
        let worst = cardiac_risk(&RiskInput {
            news2_aggregate: Some(20),
            active_findings: vec![FindingKind::Asystole],
            ..Default::default()
        });
        assert_eq!(worst.score, 100.0);
    }

    #[test]
    fn cohort_matches_single_patient_scores() {
        let inputs = [
            RiskInput {
                news2_aggregate: Some(3),
                sdnn_ms: Some(20.0),
                ..Default::default()
            },
            RiskInput {
                active_findings: vec![FindingKind::AtrialFibrillation],
                hr_z: Some(-3.0),
                ..Default::default()
            },
            RiskInput::default(),
        ];
        let rows: Vec<Array1<f64>> = inputs.iter().map(RiskInput::features).collect();
        let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
        let m = stack(Axis(0), &views).unwrap();
        let cohort = cardiac_risk_cohort(m.view());
        for (i, input) in inputs.iter().enumerate() {
            assert!((cohort[i] - cardiac_risk(input).score).abs() < 1e-12);
        }
        assert_eq!(cohort[2], 0.0);
    }
}
