//! Full-rate history read back from the lake: a patient's numeric samples
//! over a short window whose samples have left the store (it keeps
//! `retention.raw_numerics_hours` of them; minute rollups stay for its
//! life). The cleaned zone holds every stored observation, one canonical
//! FHIR line each, in objects keyed by the observation's day and ward
//! (docs/data-lake.md), so a window's objects are those of its days: still
//! pending ones from the store's outbox, synced ones from the target.
//!
//! Lines are skimmed before they are parsed — only those naming the
//! patient, and no ECG (`valueSampledData`, most of the bytes) — and
//! decoded with the ingest's own decoder, so a value reads back exactly as
//! it was stored.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Duration, Utc};
use wardwatch_core::ingest::observation::{self, Body, Reading};
use wardwatch_core::model::Vital;
use wardwatch_core::store::Store;
use wardwatch_core::store::lake::LakeTarget;

use crate::error::{Error, Fault};
use crate::target::Target;

/// What a read found: the samples, and what it took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LakeSamples {
    /// `(vital, ms since the epoch, value)` inside the window.
    pub samples: Vec<(Vital, i64, f64)>,
    pub objects: usize,
    /// Compressed bytes read.
    pub bytes: u64,
}

/// The days (UTC, `YYYY-MM-DD`) that `[from, to)` touches.
fn days(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut out = Vec::new();
    let mut day = from.date_naive();
    let last = (to - Duration::milliseconds(1)).max(from).date_naive();
    while day <= last {
        out.push(day.format("%Y-%m-%d").to_string());
        match day.succ_opt() {
            Some(next) => day = next,
            None => break,
        }
    }
    out
}

/// `mrn`'s numeric samples over `[from, to)` from the cleaned zone of the
/// store in `data_dir` and its target. An object that cannot be read (the
/// target unreachable, archived, damaged) is an error naming it: a partial
/// history is never shown as a whole one.
pub async fn cleaned_samples(
    data_dir: &Path,
    mrn: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<LakeSamples, Error> {
    // The store first, and let go of it before any request: its
    // connection is not for sharing across awaits.
    let (pending, synced) = {
        let store = Store::open_dir(data_dir).map_err(|e| Error::store("lake", &e))?;
        let mut pending = Vec::new();
        // Synced keys by the target that holds them.
        let mut synced: BTreeMap<Option<String>, Vec<String>> = BTreeMap::new();
        for day in days(from, to) {
            let objects = store
                .lake_objects(&format!("cleaned/observations/date={day}/"))
                .map_err(|e| Error::store("lake", &e))?;
            for o in objects {
                if o.synced {
                    synced.entry(o.target).or_default().push(o.key);
                } else {
                    let data = store
                        .lake_object_data(&o.key)
                        .map_err(|e| Error::store("lake", &e))?;
                    pending.push((o.key, data));
                }
            }
        }
        let targets = store.lake_targets().map_err(|e| Error::store("lake", &e))?;
        let mut by_target = Vec::new();
        for (name, keys) in synced {
            by_target.push((holder(&targets, data_dir, name.as_deref())?, keys));
        }
        (pending, by_target)
    };
    let mut out = LakeSamples::default();
    let take = |key: &str, data: &[u8], out: &mut LakeSamples| -> Result<(), Error> {
        out.objects += 1;
        out.bytes += data.len() as u64;
        let text = zstd::stream::decode_all(data).map_err(|e| {
            Error::new(
                "lake",
                Fault::Refused,
                format!("object {key} is not zstd: {e}"),
            )
        })?;
        samples_in(&text, mrn, from, to, &mut out.samples);
        Ok(())
    };
    for (key, data) in &pending {
        take(key, data, &mut out)?;
    }
    for (t, keys) in synced {
        let target = Target::open(&t, None).await?;
        for key in &keys {
            let data = target.get(key).await?;
            take(key, &data, &mut out)?;
        }
    }
    out.samples.sort_by_key(|&(v, t, _)| (t, v.code()));
    Ok(out)
}

/// The target named `name` that an object was synced to: the configured one
/// (or the embedded default), or another still listed. One no longer
/// configured is an error naming it: its objects cannot be read from here.
fn holder(
    targets: &[LakeTarget],
    data_dir: &Path,
    name: Option<&str>,
) -> Result<LakeTarget, Error> {
    if let Some(t) = targets.iter().find(|t| Some(t.name.as_str()) == name) {
        return Ok(t.clone());
    }
    let current = crate::configured_target(targets, data_dir)?;
    match name {
        None => Ok(current),
        Some(n) if n == current.name => Ok(current),
        Some(n) => Err(Error::config(
            n,
            format!(
                "lake objects went to target `{n}`, which is no longer configured: add it again to read them (`wardwatchctl sync targets add`)"
            ),
        )),
    }
}

/// The numeric samples of `mrn` within `[from, to)` in one object's lines.
fn samples_in(
    text: &[u8],
    mrn: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: &mut Vec<(Vital, i64, f64)>,
) {
    let needle = format!("\"{}\"", mrn.replace('\\', "\\\\").replace('"', "\\\""));
    // Decoded as of the window's end: the decoder refuses times in the
    // future of its "now", and a cleaned line was accepted once already.
    let now = to + Duration::minutes(1);
    for line in text.split(|&b| b == b'\n') {
        if line.is_empty()
            || !contains(line, needle.as_bytes())
            || contains(line, b"valueSampledData")
        {
            continue;
        }
        let Ok(obs) = observation::decode(line, now) else {
            continue;
        };
        if obs.mrn != mrn || obs.effective < from || obs.effective >= to {
            continue;
        }
        if let Body::Numeric(readings) = obs.body {
            let t = obs.effective.timestamp_millis();
            for (vital, reading) in readings {
                if let Reading::Value(v) = reading {
                    out.push((vital, t, v));
                }
            }
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_window_touches_the_days_it_spans() {
        let t = |d, h| {
            Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0)
                .single()
                .expect("time")
        };
        assert_eq!(days(t(3, 22), t(4, 1)), ["2026-11-03", "2026-11-04"]);
        assert_eq!(days(t(3, 1), t(3, 2)), ["2026-11-03"]);
        // A window ending at midnight does not touch the next day.
        assert_eq!(days(t(3, 22), t(4, 0)), ["2026-11-03"]);
    }
}
