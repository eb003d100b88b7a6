//! Parsing of WFDB header (`.hea`) files into plain data.
//!
//! The grammar follows PhysioNet's `header(5)` specification: an optional run of
//! `#` comment lines anywhere, one *record line*
//! (`name[/segments] signals [fs[/counter[(base)]] [samples [time [date]]]]`),
//! then either one *signal line* per signal
//! (`file format[xspf][:skew][+offset] [gain[(baseline)][/units] [resolution
//! [zero [initial [checksum [block [description]]]]]]]`) or, for a
//! multi-segment record, one *segment line* (`name samples`) per segment.
//! Parsing is pure (text in, [`Header`] out) so it can be tested on strings; the
//! path is only carried along for error messages.

use std::path::Path;

use crate::error::{Error, Result};

/// Gain WFDB assumes when a header gives none or gives 0 ("uncalibrated").
pub const DEFAULT_GAIN: f64 = 200.0;
/// Sampling frequency WFDB assumes when the record line gives none.
pub const DEFAULT_FS_HZ: f64 = 250.0;

/// A parsed header: a single-segment record (with `signals`) or a
/// multi-segment record (with `segments`).
#[derive(Debug, Clone, PartialEq)]
pub struct Header {
    pub record_name: String,
    /// `Some(n)` for a multi-segment header (`name/n` on the record line).
    pub segment_count: Option<usize>,
    pub signal_count: usize,
    pub fs_hz: f64,
    pub counter_freq_hz: Option<f64>,
    pub base_counter: Option<f64>,
    /// Samples per signal (frames); `None` when the header leaves it out or
    /// gives 0, in which case readers derive it from the data file's size.
    pub samples_per_signal: Option<u64>,
    pub base_time: Option<String>,
    pub base_date: Option<String>,
    pub signals: Vec<SignalSpec>,
    pub segments: Vec<SegmentSpec>,
    /// Comment lines without the leading `#`, trimmed.
    pub comments: Vec<String>,
}

/// One signal line.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalSpec {
    /// Data file name relative to the header's folder; `~` means no data.
    pub file_name: String,
    /// WFDB storage format code (212, 16, 80, …; 0 for "no data").
    pub format: u16,
    pub samples_per_frame: u32,
    pub skew: u32,
    /// Bytes to skip at the start of the data file (e.g. 24 for a `.mat` header).
    pub byte_offset: u64,
    /// ADC units per physical unit; [`DEFAULT_GAIN`] when the header gives 0 or none.
    pub gain_adu_per_unit: f64,
    /// Whether the header gave a non-zero gain (WFDB calls the rest uncalibrated).
    pub calibrated: bool,
    /// ADC value that corresponds to 0 physical units.
    pub baseline_adu: i32,
    pub units: String,
    pub adc_resolution_bits: u32,
    pub adc_zero: i32,
    pub initial_value: Option<i32>,
    /// 16-bit sum of all samples of this signal, when the header carries one.
    pub checksum: Option<i16>,
    pub block_size: u32,
    pub description: String,
}

impl SignalSpec {
    /// True when the signal has no data file (layout headers, `~`).
    pub fn has_no_data(&self) -> bool {
        self.file_name == "~" || self.format == 0
    }
}

/// One segment line of a multi-segment header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentSpec {
    /// Segment record name; `~` marks a gap of `samples` samples with no data.
    pub name: String,
    pub samples: u64,
}

impl SegmentSpec {
    pub fn is_gap(&self) -> bool {
        self.name == "~"
    }
}

impl Header {
    /// Parses header text. `path` is used only to give errors their context.
    pub fn parse(text: &str, path: &Path) -> Result<Header> {
        let err = |line: usize, message: String| Error::Header {
            path: path.to_path_buf(),
            line,
            message,
        };
        let mut comments = Vec::new();
        let mut lines = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let trimmed = raw.trim();
            if let Some(c) = trimmed.strip_prefix('#') {
                comments.push(c.trim().to_string());
            } else if !trimmed.is_empty() {
                lines.push((i + 1, trimmed));
            }
        }
        let Some(&(record_line_no, record_line)) = lines.first() else {
            return Err(err(
                1,
                "no record line (the file is empty or only comments)".into(),
            ));
        };
        let mut header = parse_record_line(record_line).map_err(|m| err(record_line_no, m))?;
        header.comments = comments;
        let body = &lines[1..];
        if let Some(nseg) = header.segment_count {
            if body.len() < nseg {
                let line = body.last().map_or(record_line_no, |l| l.0) + 1;
                return Err(err(
                    line,
                    format!(
                        "record line announces {nseg} segments, {} segment lines found",
                        body.len()
                    ),
                ));
            }
            for &(no, line) in &body[..nseg] {
                header
                    .segments
                    .push(parse_segment_line(line).map_err(|m| err(no, m))?);
            }
        } else {
            let nsig = header.signal_count;
            if body.len() < nsig {
                let line = body.last().map_or(record_line_no, |l| l.0) + 1;
                return Err(err(
                    line,
                    format!(
                        "record line announces {nsig} signals, {} signal lines found",
                        body.len()
                    ),
                ));
            }
            for &(no, line) in &body[..nsig] {
                header
                    .signals
                    .push(parse_signal_line(line).map_err(|m| err(no, m))?);
            }
        }
        Ok(header)
    }

    /// True for a multi-segment header.
    pub fn is_multi_segment(&self) -> bool {
        self.segment_count.is_some()
    }
}

fn parse_num<T: std::str::FromStr>(token: &str, what: &str) -> Result<T, String> {
    token
        .parse::<T>()
        .map_err(|_| format!("{what} `{token}` is not a valid number"))
}

fn parse_record_line(line: &str) -> Result<Header, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let name_tok = tokens.first().copied().unwrap_or_default();
    let (record_name, segment_count) = match name_tok.split_once('/') {
        Some((name, n)) => (
            name.to_string(),
            Some(parse_num::<usize>(n, "segment count")?),
        ),
        None => (name_tok.to_string(), None),
    };
    if record_name.is_empty() {
        return Err("record line has no record name".into());
    }
    let signal_count = match tokens.get(1) {
        Some(t) => parse_num::<usize>(t, "signal count")?,
        None => return Err("record line has no signal count".into()),
    };
    let (mut fs_hz, mut counter_freq_hz, mut base_counter) = (DEFAULT_FS_HZ, None, None);
    if let Some(t) = tokens.get(2) {
        let (fs, counter) = match t.split_once('/') {
            Some((fs, c)) => (fs, Some(c)),
            None => (*t, None),
        };
        fs_hz = parse_num::<f64>(fs, "sampling frequency")?;
        if !(fs_hz.is_finite() && fs_hz > 0.0) {
            return Err(format!("sampling frequency `{fs}` must be positive"));
        }
        if let Some(c) = counter {
            let (cf, base) = match c.split_once('(') {
                Some((cf, rest)) => {
                    let base = rest
                        .strip_suffix(')')
                        .ok_or_else(|| format!("base counter value in `{c}` lacks `)`"))?;
                    (cf, Some(parse_num::<f64>(base, "base counter value")?))
                }
                None => (c, None),
            };
            counter_freq_hz = Some(parse_num::<f64>(cf, "counter frequency")?);
            base_counter = base;
        }
    }
    let samples_per_signal = match tokens.get(3) {
        Some(t) => Some(parse_num::<u64>(t, "number of samples")?).filter(|&n| n > 0),
        None => None,
    };
    Ok(Header {
        record_name,
        segment_count,
        signal_count,
        fs_hz,
        counter_freq_hz,
        base_counter,
        samples_per_signal,
        base_time: tokens.get(4).map(|s| s.to_string()),
        base_date: tokens.get(5).map(|s| s.to_string()),
        signals: Vec::new(),
        segments: Vec::new(),
        comments: Vec::new(),
    })
}

fn parse_segment_line(line: &str) -> Result<SegmentSpec, String> {
    let mut tokens = line.split_whitespace();
    let name = tokens.next().unwrap_or_default().to_string();
    let samples = match tokens.next() {
        Some(t) => parse_num::<u64>(t, "segment length")?,
        None => return Err(format!("segment line `{line}` has no length")),
    };
    Ok(SegmentSpec { name, samples })
}

/// Splits `16x2:3+24` into (format, samples per frame, skew, byte offset).
fn parse_format_spec(spec: &str) -> Result<(u16, u32, u32, u64), String> {
    let end_of = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n = end_of(spec);
    let format = parse_num::<u16>(&spec[..n], "format")?;
    let mut rest = &spec[n..];
    let (mut spf, mut skew, mut offset) = (1u32, 0u32, 0u64);
    if let Some(r) = rest.strip_prefix('x') {
        let n = end_of(r);
        spf = parse_num::<u32>(&r[..n], "samples per frame")?;
        if spf == 0 {
            return Err("samples per frame must be at least 1".into());
        }
        rest = &r[n..];
    }
    if let Some(r) = rest.strip_prefix(':') {
        let n = end_of(r);
        skew = parse_num::<u32>(&r[..n], "skew")?;
        rest = &r[n..];
    }
    if let Some(r) = rest.strip_prefix('+') {
        let n = end_of(r);
        offset = parse_num::<u64>(&r[..n], "byte offset")?;
        rest = &r[n..];
    }
    if !rest.is_empty() {
        return Err(format!("unexpected `{rest}` in format field `{spec}`"));
    }
    Ok((format, spf, skew, offset))
}

/// Splits `0.833333(-100)/mmHg` into (gain, baseline, units).
fn parse_gain_spec(spec: &str) -> Result<(f64, Option<i32>, Option<String>), String> {
    let (before_units, units) = match spec.split_once('/') {
        Some((g, u)) => (g, Some(u.to_string())),
        None => (spec, None),
    };
    let (gain, baseline) = match before_units.split_once('(') {
        Some((g, b)) => {
            let b = b
                .strip_suffix(')')
                .ok_or_else(|| format!("baseline in `{spec}` lacks `)`"))?;
            (g, Some(parse_num::<i32>(b, "baseline")?))
        }
        None => (before_units, None),
    };
    let gain = parse_num::<f64>(gain, "ADC gain")?;
    if !gain.is_finite() || gain < 0.0 {
        return Err(format!("ADC gain `{spec}` must be a non-negative number"));
    }
    Ok((gain, baseline, units))
}

fn parse_signal_line(line: &str) -> Result<SignalSpec, String> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let file_name = tokens.first().copied().unwrap_or_default().to_string();
    let format_tok = tokens
        .get(1)
        .ok_or_else(|| format!("signal line `{line}` has no format"))?;
    let (format, samples_per_frame, skew, byte_offset) = parse_format_spec(format_tok)?;
    let (gain, baseline, units) = match tokens.get(2) {
        Some(t) => parse_gain_spec(t)?,
        None => (0.0, None, None),
    };
    let int_field = |i: usize, what: &str| -> Result<Option<i32>, String> {
        tokens.get(i).map(|t| parse_num::<i32>(t, what)).transpose()
    };
    let adc_resolution_bits = match int_field(3, "ADC resolution")? {
        Some(r) if r > 0 => r as u32,
        _ => default_resolution(format),
    };
    let adc_zero = int_field(4, "ADC zero")?.unwrap_or(0);
    let initial_value = int_field(5, "initial value")?;
    // Headers write the checksum as a signed 16-bit number; wrap anything wider.
    let checksum = int_field(6, "checksum")?.map(|c| c as i16);
    let block_size = int_field(7, "block size")?.unwrap_or(0).max(0) as u32;
    let description = tokens.get(8..).map(|d| d.join(" ")).unwrap_or_default();
    Ok(SignalSpec {
        file_name,
        format,
        samples_per_frame,
        skew,
        byte_offset,
        gain_adu_per_unit: if gain == 0.0 { DEFAULT_GAIN } else { gain },
        calibrated: gain != 0.0,
        baseline_adu: baseline.unwrap_or(adc_zero),
        units: units.unwrap_or_else(|| "mV".to_string()),
        adc_resolution_bits,
        adc_zero,
        initial_value,
        checksum,
        block_size,
        description,
    })
}

fn default_resolution(format: u16) -> u32 {
    match format {
        80 => 8,
        212 => 12,
        _ => 16,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Header> {
        Header::parse(text, Path::new("t.hea"))
    }

    #[test]
    fn mitdb_style_header_with_comments_first_and_last() {
        let h = parse(
            "# unnecessary comment\n100 2 360 650000\n\
             100.dat 212 200 11 1024 995 -22131 0 MLII\n\n\
             100.dat 212 200 11 1024 1011 20052 0 V5\n# 69 M 1085 1629 x1\n",
        )
        .unwrap();
        assert_eq!(h.record_name, "100");
        assert_eq!(h.fs_hz, 360.0);
        assert_eq!(h.samples_per_signal, Some(650_000));
        assert_eq!(h.signals.len(), 2);
        let s = &h.signals[0];
        assert_eq!(
            (s.format, s.gain_adu_per_unit, s.baseline_adu),
            (212, 200.0, 1024)
        );
        assert_eq!((s.initial_value, s.checksum), (Some(995), Some(-22131)));
        assert_eq!(s.units, "mV");
        assert!(s.calibrated);
        assert_eq!(h.signals[1].description, "V5");
        assert_eq!(h.comments, ["unnecessary comment", "69 M 1085 1629 x1"]);
    }

    #[test]
    fn mat_container_offset_and_units() {
        let h = parse("a103l 3 250 82500\na103l.mat 16+24 1.052e+04/mV 16 0 9127 -301 0 V\n");
        // Record line says 3 signals but only one line follows.
        assert!(matches!(h, Err(Error::Header { line: 3, .. })), "{h:?}");
        let h = parse("a 1 250 82500\na.mat 16+24 1.052e+04/mV 16 0 9127 -301 0 ECG V\n").unwrap();
        let s = &h.signals[0];
        assert_eq!((s.format, s.byte_offset), (16, 24));
        assert_eq!(s.gain_adu_per_unit, 10520.0);
        assert_eq!(s.description, "ECG V");
    }

    #[test]
    fn counter_frequency_and_baseline_in_parentheses() {
        let h = parse(
            "n 1 0.0166666666667/125(7) 1936 31:25.894 10/10/2896\n\
             x.dat 80x2:3+5 0.833333(-100)/mmHg 8 0 120 28192 0 ABP\n",
        )
        .unwrap();
        assert!((h.fs_hz - 1.0 / 60.0).abs() < 1e-9);
        assert_eq!(
            (h.counter_freq_hz, h.base_counter),
            (Some(125.0), Some(7.0))
        );
        assert_eq!(h.base_date.as_deref(), Some("10/10/2896"));
        let s = &h.signals[0];
        assert_eq!((s.samples_per_frame, s.skew, s.byte_offset), (2, 3, 5));
        assert_eq!((s.baseline_adu, s.adc_zero), (-100, 0));
        assert_eq!(s.units, "mmHg");
    }

    #[test]
    fn multi_segment_layout() {
        let h = parse("r/3 4 125 100 00:31:25.894\nlay 0\n~ 30\nseg_1 70\n").unwrap();
        assert_eq!(h.segment_count, Some(3));
        assert!(h.segments[1].is_gap());
        assert_eq!(
            h.segments[2],
            SegmentSpec {
                name: "seg_1".into(),
                samples: 70
            }
        );
    }

    #[test]
    fn defaults_when_fields_are_missing() {
        let h = parse("r 1\nr.dat 16\n").unwrap();
        assert_eq!(h.fs_hz, DEFAULT_FS_HZ);
        assert_eq!(h.samples_per_signal, None);
        let s = &h.signals[0];
        assert_eq!(
            (s.gain_adu_per_unit, s.adc_resolution_bits, s.checksum),
            (DEFAULT_GAIN, 16, None)
        );
    }

    #[test]
    fn malformed_lines_name_the_line() {
        let cases = [
            ("", 1),
            ("# only a comment\n", 1),
            ("r two\n", 1),
            ("r 1 -5\n", 1),
            ("r 1 360\nr.dat 212y2\n", 2),
            ("r 1 360\nr.dat 212 200(3/mV\n", 2),
            ("r 1 360\n\nr.dat 212 abc\n", 3),
            ("r 1 360\nr.dat 212 200 12 zero\n", 2),
            ("r/2 1 360\nseg 10\nseg2\n", 3),
            ("r/2 1 360\nseg 10\n", 3),
            ("r 1 360\nr.dat 16x0\n", 2),
        ];
        for (text, line) in cases {
            match parse(text) {
                Err(Error::Header {
                    line: l,
                    ref message,
                    ..
                }) => {
                    assert_eq!(l, line, "{text:?}: {message}")
                }
                other => panic!("{text:?} gave {other:?}"),
            }
        }
    }
}
