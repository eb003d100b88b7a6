//! Import of the hospital's patient registry: a CSV export (`csv`) or a FHIR R4
//! `Bundle` (`fhir`). Both parse into `PatientRecord`s plus per-entry errors;
//! `apply` stores the good records in one transaction, upserting by MRN.
//!
//! The rules a user can rely on:
//! - the good rows of a file with some bad rows are stored; every bad row is
//!   reported with its line (CSV) or entry number (FHIR) and the reason;
//! - a file that cannot be read or parsed as a whole changes nothing;
//! - importing the same file again changes nothing (records equal to the stored
//!   ones are not written);
//! - a file changes only what it carries: a CSV column absent from the header,
//!   a FHIR resource type absent from the Bundle, or a Wardwatch extension
//!   absent from a Patient leaves that field of a stored patient as it was
//!   (`PatientRecord::over`); an empty cell in a column the file has clears
//!   the field, and the report names every field cleared that way;
//! - the CSV and the FHIR form of the same patients give the same store.

pub mod csv;
pub mod fhir;

use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::{Carried, PatientRecord};
use crate::store::UpsertOutcome;

/// The two registry formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Fhir,
}

impl Format {
    /// Chooses by extension, else by the first non-blank byte (`{` is FHIR JSON).
    pub fn detect(path: &Path, bytes: &[u8]) -> Result<Format> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "csv" => return Ok(Format::Csv),
            Some(e) if e == "json" => return Ok(Format::Fhir),
            _ => {}
        }
        match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{') => Ok(Format::Fhir),
            Some(_) if bytes.starts_with(b"mrn") => Ok(Format::Csv),
            _ => Err(Error::UnknownFormat {
                path: path.to_owned(),
            }),
        }
    }
}

/// One rejected row or entry: where it is in the file and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// "line 7" for CSV, "entry 3 (Patient/p-0003)" for FHIR.
    pub location: String,
    /// The MRN, when the row got far enough to have one.
    pub mrn: Option<String>,
    pub reason: String,
}

/// What parsing a file produced, before anything is stored.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Good records, each with where it came from and the fields its file
    /// carries.
    pub records: Vec<(String, PatientRecord, Carried)>,
    pub rejected: Vec<Rejected>,
}

impl Parsed {
    /// Rejects later records whose MRN an earlier one in the same file used.
    pub(crate) fn reject_duplicate_mrns(&mut self) {
        let mut seen = std::collections::HashMap::<String, String>::new();
        let mut kept = Vec::with_capacity(self.records.len());
        for (location, record, carried) in std::mem::take(&mut self.records) {
            match seen.get(&record.mrn) {
                Some(first) => self.rejected.push(Rejected {
                    reason: format!("MRN `{}` already appears at {first}", record.mrn),
                    mrn: Some(record.mrn),
                    location,
                }),
                None => {
                    seen.insert(record.mrn.clone(), location.clone());
                    kept.push((location, record, carried));
                }
            }
        }
        self.records = kept;
    }

    /// Moves records that fail `PatientRecord::validate` to the rejected list.
    pub(crate) fn validate(&mut self, today: NaiveDate) {
        let mut kept = Vec::with_capacity(self.records.len());
        for (location, record, carried) in std::mem::take(&mut self.records) {
            match record.validate(today) {
                Ok(()) => kept.push((location, record, carried)),
                Err(e) => self.rejected.push(Rejected {
                    location,
                    mrn: Some(record.mrn),
                    reason: e.to_string(),
                }),
            }
        }
        self.records = kept;
    }
}

/// The result of an import, as the CLI and the UI report it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub format: Format,
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub rejected: Vec<Rejected>,
    /// Stored fields an empty cell (or an empty list) in this file cleared.
    pub cleared: Vec<Cleared>,
}

/// A patient whose file emptied fields that were stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cleared {
    pub location: String,
    pub mrn: String,
    pub fields: Vec<&'static str>,
}

impl ImportReport {
    pub fn is_clean(&self) -> bool {
        self.rejected.is_empty()
    }

    /// `outcomes` are in the order of `records` (location, MRN).
    pub(crate) fn new(
        format: Format,
        records: &[(String, String)],
        outcomes: Vec<(UpsertOutcome, Vec<&'static str>)>,
        rejected: Vec<Rejected>,
    ) -> Self {
        let count = |o| outcomes.iter().filter(|(x, _)| *x == o).count();
        ImportReport {
            format,
            inserted: count(UpsertOutcome::Inserted),
            updated: count(UpsertOutcome::Updated),
            unchanged: count(UpsertOutcome::Unchanged),
            rejected,
            cleared: records
                .iter()
                .zip(outcomes.iter())
                .filter(|(_, (_, fields))| !fields.is_empty())
                .map(|((location, mrn), (_, fields))| Cleared {
                    location: location.clone(),
                    mrn: mrn.clone(),
                    fields: fields.clone(),
                })
                .collect(),
        }
    }
}

/// Parses `bytes` in `format`; a whole-file problem is an `Err`, row problems
/// are in `Parsed::rejected`.
pub fn parse(path: &Path, format: Format, bytes: &[u8], today: NaiveDate) -> Result<Parsed> {
    let mut parsed = match format {
        Format::Csv => csv::parse(path, bytes)?,
        Format::Fhir => fhir::parse(path, bytes)?,
    };
    parsed.validate(today);
    parsed.reject_duplicate_mrns();
    parsed.rejected.sort_by_key(|r| location_order(&r.location));
    Ok(parsed)
}

/// Sorts "line 10" after "line 9" and "entry 10" after "entry 9".
fn location_order(location: &str) -> (u64, String) {
    let number = location
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    (number, location.to_owned())
}

/// The largest registry file read: a 10,000-bed hospital's full export is
/// a few megabytes. Enforced while reading, so `/dev/zero` or a runaway
/// export stops here instead of exhausting memory (issue 9, item 8).
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Reads a whole file of at most [`MAX_FILE_BYTES`], naming it in the error.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let io = |source| Error::ReadFile {
        path: path.to_owned(),
        source,
    };
    let too_big = || Error::InvalidFile {
        path: path.to_owned(),
        format: "registry file",
        reason: format!(
            "larger than the {} MiB limit for a registry file: split the export",
            MAX_FILE_BYTES >> 20
        ),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    if file.metadata().map_err(io)?.len() > MAX_FILE_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Parses an optional decimal number, naming the field in the error.
pub(crate) fn parse_number(what: &'static str, s: &str) -> Result<Option<f64>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(Some(v)),
        _ => Err(Error::InvalidInput {
            what,
            reason: format!("`{s}` is not a number"),
        }),
    }
}

/// Parses an RFC 3339 instant, truncated to whole milliseconds (the store's
/// resolution, so a re-import compares equal).
pub(crate) fn parse_instant(
    what: &'static str,
    s: &str,
) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| Error::InvalidInput {
        what,
        reason: format!("`{s}` is not an RFC 3339 date-time ({e})"),
    })?;
    Ok(chrono::DateTime::from_timestamp_millis(
        t.timestamp_millis(),
    ))
}

pub(crate) fn parse_date(what: &'static str, s: &str) -> Result<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| Error::InvalidInput {
        what,
        reason: format!("`{}` is not a date in the form YYYY-MM-DD", s.trim()),
    })
}
