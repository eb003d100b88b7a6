//! Offline ECG analysis of a file, for `wardwatchctl ecg analyze` and for
//! validators: loads a WFDB record (formats 212, 16, 80) or a one-column text
//! file of samples, then runs the same analysis the live pipeline uses.

use std::path::Path;

use ndarray::ArrayView1;
use wardwatch_score::EcgReport;
use wardwatch_wfdb::Record;

use crate::error::{Error, Result};
use crate::import::read_file;

/// Which signal of a WFDB record to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalChoice {
    /// The first signal.
    First,
    Index(usize),
    /// By its description in the header, e.g. `MLII` or `II`.
    Name(String),
}

impl SignalChoice {
    /// `"2"` is an index, anything else a name.
    pub fn parse(s: &str) -> SignalChoice {
        s.parse()
            .map_or_else(|_| SignalChoice::Name(s.to_owned()), SignalChoice::Index)
    }
}

/// Analyses `path`: a `.hea` WFDB header, else one sample per line (mV) at
/// `fs_hz`, which such files cannot state themselves.
pub fn analyze_ecg_file(
    path: &Path,
    fs_hz: Option<f64>,
    signal: &SignalChoice,
) -> Result<EcgReport> {
    let (samples_mv, fs_hz) = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hea"))
    {
        let record = Record::open(path)?;
        let index = match signal {
            SignalChoice::First => 0,
            SignalChoice::Index(i) => *i,
            SignalChoice::Name(name) => {
                record
                    .signal_index(name)
                    .ok_or_else(|| Error::InvalidInput {
                        what: "signal",
                        reason: format!(
                            "`{name}` is not in `{}`; it has {}",
                            path.display(),
                            record
                                .signals()
                                .iter()
                                .map(|s| s.description.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    })?
            }
        };
        if index >= record.signals().len() {
            return Err(Error::InvalidInput {
                what: "signal",
                reason: format!(
                    "index {index} is out of range: `{}` has {} signals (0-based)",
                    path.display(),
                    record.signals().len()
                ),
            });
        }
        if let Some(f) = fs_hz
            && (f - record.fs_hz()).abs() > 1e-9
        {
            return Err(Error::InvalidInput {
                what: "--fs",
                reason: format!(
                    "the record states {} Hz; omit --fs for WFDB records",
                    record.fs_hz()
                ),
            });
        }
        (record.physical(index)?, record.fs_hz())
    } else {
        let fs_hz = fs_hz.ok_or_else(|| Error::InvalidInput {
            what: "sampling frequency",
            reason: format!(
                "`{}` is a sample column: give its rate with --fs HZ",
                path.display()
            ),
        })?;
        let bytes = read_file(path)?;
        let text = String::from_utf8(bytes).map_err(|_| Error::InvalidFile {
            path: path.to_owned(),
            format: "sample column",
            reason: "is not UTF-8 text".into(),
        })?;
        (wardwatch_score::parse_sample_column(&text)?, fs_hz)
    };
    Ok(wardwatch_score::analyze_ecg(
        ArrayView1::from(&samples_mv[..]),
        fs_hz,
    )?)
}

/// Every ECG lead (signals in mV), pleth (`PLETH`) and arterial pressure
/// (`ABP`, `ART`) of a WFDB record analysed together: each life-threatening
/// ECG finding confirmed or suppressed by the other signals, the decision
/// the live runtime takes (`wardwatch_score::bedside`). `None` for a sample
/// column, which holds one lead only.
pub fn analyze_record_signals(
    path: &Path,
) -> Result<Option<wardwatch_score::bedside::BedsideReport>> {
    use wardwatch_score::bedside::{Channel, ChannelKind, analyze_bedside};
    if !path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("hea"))
    {
        return Ok(None);
    }
    let record = Record::open(path)?;
    let mut channels = Vec::new();
    let mut data = Vec::new();
    for (i, s) in record.signals().iter().enumerate() {
        let Some(kind) = ChannelKind::of_signal(&s.description, &s.units) else {
            continue;
        };
        channels.push(Channel {
            name: s.description.clone(),
            kind,
            fs_hz: record.fs_hz(),
        });
        data.push(record.physical(i)?);
    }
    if !channels.iter().any(|c| c.kind == ChannelKind::Ecg) {
        return Err(Error::InvalidInput {
            what: "record",
            reason: format!("`{}` has no ECG signal (in mV)", path.display()),
        });
    }
    Ok(Some(analyze_bedside(channels, &data)?))
}
