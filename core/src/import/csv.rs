//! The registry's CSV export. Columns are found by their header name (any
//! order, case-insensitive); the columns are documented in `docs/import.md`
//! and in `COLUMNS` below. Lists (conditions, medications, allergies) are
//! separated by `|`, since `;` and `,` occur inside prescription text.

use std::path::Path;

use super::{Parsed, Rejected, parse_date, parse_instant, parse_number};
use crate::error::{Error, Result};
use crate::model::{
    Baseline, Carried, PatientRecord, RecordField, Sex, Spo2Scale, spo2_scale_from_number,
};

/// Every column the importer knows, in the order `write` emits them.
/// The first five are required columns; a `birth_date` or `sex` cell may be
/// empty (unknown). A column a file lacks leaves that field of a stored
/// patient unchanged (`FIELDS`).
pub const COLUMNS: [&str; 20] = [
    "mrn",
    "family_name",
    "given_name",
    "birth_date",
    "sex",
    "ward",
    "bed",
    "attending",
    "conditions",
    "medications",
    "allergies",
    "baseline_hr",
    "baseline_rr",
    "baseline_sbp",
    "baseline_spo2",
    "baseline_temp_c",
    "spo2_scale",
    "alert_consent",
    "admitted_at",
    "discharged_at",
];
const REQUIRED: usize = 5;

/// The record field each of `COLUMNS` carries (the MRN is the key).
const FIELDS: [Option<RecordField>; COLUMNS.len()] = {
    use RecordField as F;
    [
        None,
        Some(F::Name),
        Some(F::Name),
        Some(F::BirthDate),
        Some(F::Sex),
        Some(F::Ward),
        Some(F::Bed),
        Some(F::Attending),
        Some(F::Conditions),
        Some(F::Medications),
        Some(F::Allergies),
        Some(F::BaselineHr),
        Some(F::BaselineRr),
        Some(F::BaselineSbp),
        Some(F::BaselineSpo2),
        Some(F::BaselineTemp),
        Some(F::Spo2Scale),
        Some(F::AlertConsent),
        Some(F::AdmittedAt),
        Some(F::DischargedAt),
    ]
};
const LIST_SEPARATOR: char = '|';

pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let invalid = |reason: String| Error::InvalidFile {
        path: path.to_owned(),
        format: "CSV registry",
        reason,
    };
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes); // Excel's BOM
    // The whole file or nothing: storing the rows that happen to be ASCII
    // and rejecting the rest would leave a half-imported registry.
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(invalid(not_utf8(bytes, e)));
    }
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| invalid(format!("cannot read the header line: {e}")))?
        .clone();
    // column index in the file for each entry of COLUMNS
    let mut index = [None::<usize>; COLUMNS.len()];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == name) {
            Some(k) if index[k].is_some() => {
                return Err(invalid(format!(
                    "column `{name}` appears twice in the header"
                )));
            }
            Some(k) => index[k] = Some(i),
            None => {
                return Err(invalid(format!(
                    "unknown column `{name}` in the header; known columns: {}",
                    COLUMNS.join(", ")
                )));
            }
        }
    }
    if let Some(k) = (0..REQUIRED).find(|k| index[*k].is_none()) {
        return Err(invalid(format!(
            "the header lacks the required column `{}` (required: {})",
            COLUMNS[k],
            COLUMNS[..REQUIRED].join(", ")
        )));
    }

    let carried = (0..COLUMNS.len())
        .filter(|k| index[*k].is_some())
        .filter_map(|k| FIELDS[k])
        .fold(Carried::NONE, Carried::with);
    let mut parsed = Parsed::default();
    let mut record = ::csv::StringRecord::new();
    loop {
        let line = reader.position().line() + 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(line, |p| p.line());
                let location = format!("line {line}");
                let field = |k: usize| index[k].and_then(|i| record.get(i)).unwrap_or("").trim();
                if record.iter().all(|f| f.trim().is_empty()) {
                    continue; // blank line
                }
                match row_to_record(&field) {
                    Ok(r) => parsed.records.push((location, r, carried)),
                    Err(e) => parsed.rejected.push(Rejected {
                        location,
                        mrn: Some(field(0).to_owned()).filter(|m| !m.is_empty()),
                        reason: e.to_string(),
                    }),
                }
            }
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                if matches!(e.kind(), ::csv::ErrorKind::Io(_)) {
                    return Err(invalid(format!("cannot read line {line}: {e}")));
                }
                parsed.rejected.push(Rejected {
                    location: format!("line {line}"),
                    mrn: None,
                    reason: csv_error_reason(&e),
                });
            }
        }
    }
    Ok(parsed)
}

/// Why a file is not UTF-8, and what it probably is.
fn not_utf8(bytes: &[u8], e: std::str::Utf8Error) -> String {
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return "is UTF-16 (it starts with a UTF-16 byte-order mark): export it as UTF-8".into();
    }
    let at = e.valid_up_to();
    let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
    // Every byte that breaks UTF-8 is 0x80 or above; in a registry export
    // that is almost always a Western single-byte code page.
    format!(
        "is not UTF-8 (byte 0x{:02X} on line {line}; it looks like ISO-8859-1 or Windows-1252): nothing was imported; export the file as UTF-8 and import it again",
        bytes[at]
    )
}

fn csv_error_reason(e: &::csv::Error) -> String {
    match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("has {len} fields, the header has {expected_len}"),
        ::csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
        _ => e.to_string(),
    }
}

fn row_to_record<'a>(field: &dyn Fn(usize) -> &'a str) -> Result<PatientRecord> {
    let required = |k: usize| -> Result<String> {
        let v = field(k);
        if v.is_empty() {
            Err(Error::InvalidInput {
                what: COLUMNS[k],
                reason: "is empty but required".into(),
            })
        } else {
            Ok(v.to_owned())
        }
    };
    let optional = |k: usize| Some(field(k).to_owned()).filter(|v| !v.is_empty());
    let list = |k: usize| -> Vec<String> {
        field(k)
            .split(LIST_SEPARATOR)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    Ok(PatientRecord {
        mrn: required(0)?,
        family_name: required(1)?,
        given_name: required(2)?,
        birth_date: match field(3) {
            "" => None,
            s => Some(parse_date("birth_date", s)?),
        },
        sex: Sex::parse(field(4))?,
        ward: optional(5),
        bed: optional(6),
        attending: optional(7),
        conditions: list(8),
        medications: list(9),
        allergies: list(10),
        baseline: Baseline {
            hr_bpm: parse_number("baseline_hr", field(11))?,
            rr_per_min: parse_number("baseline_rr", field(12))?,
            sbp_mmhg: parse_number("baseline_sbp", field(13))?,
            spo2_pct: parse_number("baseline_spo2", field(14))?,
            temp_c: parse_number("baseline_temp_c", field(15))?,
        },
        spo2_scale: match field(16) {
            "" => Spo2Scale::One,
            s => spo2_scale_from_number(s.parse().map_err(|_| Error::InvalidInput {
                what: "spo2_scale",
                reason: format!("`{s}` is not 1 or 2"),
            })?)?,
        },
        alert_consent: parse_bool("alert_consent", field(17))?,
        admitted_at: parse_instant("admitted_at", field(18))?,
        discharged_at: parse_instant("discharged_at", field(19))?,
    })
}

fn parse_bool(what: &'static str, s: &str) -> Result<bool> {
    match s.to_ascii_lowercase().as_str() {
        "" | "no" | "n" | "false" | "0" => Ok(false),
        "yes" | "y" | "true" | "1" => Ok(true),
        other => Err(Error::InvalidInput {
            what,
            reason: format!("`{other}` is not yes or no"),
        }),
    }
}

/// Writes records in the importer's format (the demo's export, benchmarks).
pub fn write(records: &[PatientRecord], out: impl std::io::Write) -> Result<()> {
    let mut w = ::csv::Writer::from_writer(out);
    let io = |e: ::csv::Error| Error::InvalidInput {
        what: "CSV output",
        reason: e.to_string(),
    };
    w.write_record(COLUMNS).map_err(io)?;
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let time = |t: Option<chrono::DateTime<chrono::Utc>>| {
        t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
            .unwrap_or_default()
    };
    let sep = LIST_SEPARATOR.to_string();
    for r in records {
        w.write_record([
            r.mrn.clone(),
            r.family_name.clone(),
            r.given_name.clone(),
            r.birth_date
                .map(|b| b.format("%Y-%m-%d").to_string())
                .unwrap_or_default(),
            r.sex.as_str().to_owned(),
            r.ward.clone().unwrap_or_default(),
            r.bed.clone().unwrap_or_default(),
            r.attending.clone().unwrap_or_default(),
            r.conditions.join(&sep),
            r.medications.join(&sep),
            r.allergies.join(&sep),
            num(r.baseline.hr_bpm),
            num(r.baseline.rr_per_min),
            num(r.baseline.sbp_mmhg),
            num(r.baseline.spo2_pct),
            num(r.baseline.temp_c),
            r.spo2_scale.number().to_string(),
            if r.alert_consent { "yes" } else { "no" }.to_owned(),
            time(r.admitted_at),
            time(r.discharged_at),
        ])
        .map_err(io)?;
    }
    w.flush().map_err(|e| Error::InvalidInput {
        what: "CSV output",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Parsed> {
        parse(Path::new("t.csv"), s.as_bytes())
    }

    #[test]
    fn columns_are_matched_by_header_name_in_any_order() -> Result<()> {
        let p =
            parse_str("sex,MRN,birth_date,given_name,family_name\nF,A1,1960-02-03,Ada,Byron\n")?;
        assert!(p.rejected.is_empty(), "{:?}", p.rejected);
        let r = &p.records[0].1;
        assert_eq!(
            (r.mrn.as_str(), r.given_name.as_str(), r.sex),
            ("A1", "Ada", Sex::Female)
        );
        assert_eq!(r.spo2_scale, Spo2Scale::One);
        Ok(())
    }

    #[test]
    fn missing_required_column_rejects_the_whole_file() {
        let e = parse_str("mrn,family_name,given_name,sex\nA1,B,C,F\n");
        assert!(
            matches!(e, Err(Error::InvalidFile { reason, .. }) if reason.contains("birth_date"))
        );
    }

    #[test]
    fn misspelt_column_is_named() {
        let e = parse_str("mrn,family_name,given_name,birth_date,sex,wrad\n");
        assert!(matches!(e, Err(Error::InvalidFile { reason, .. }) if reason.contains("`wrad`")));
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_good_rows_kept() -> Result<()> {
        let p = parse_str(
            "mrn,family_name,given_name,birth_date,sex,baseline_hr\n\
             A1,B,C,1960-01-01,F,70\n\
             A2,B,C,1960-13-01,F,70\n\
             A3,B,C,1960-01-01,F,fast\n\
             A4,B,C\n\
             A5,B,C,1960-01-01,M,\n",
        )?;
        let mrns: Vec<_> = p.records.iter().map(|(_, r, _)| r.mrn.as_str()).collect();
        assert_eq!(mrns, ["A1", "A5"]);
        let where_: Vec<_> = p.rejected.iter().map(|r| r.location.as_str()).collect();
        assert_eq!(where_, ["line 3", "line 4", "line 5"]);
        assert!(p.rejected[0].reason.contains("1960-13-01"));
        assert!(p.rejected[1].reason.contains("fast"));
        assert!(p.rejected[2].reason.contains("fields"));
        Ok(())
    }
}
