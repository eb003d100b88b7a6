//! Patient records: upsert by MRN (idempotent: a record equal to the stored
//! one is not written), read one, list all.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use super::{AuditEntry, Store, audit, from_ms, to_ms};
use crate::error::{Error, Result, SqlContext};
use crate::model::{Baseline, Carried, PatientRecord, Sex, spo2_scale_from_number};

/// What an upsert did to one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpsertOutcome {
    Inserted,
    Updated,
    Unchanged,
}

const LIST_TABLES: [&str; 3] = [
    "patient_conditions",
    "patient_medications",
    "patient_allergies",
];

impl Store {
    /// Upserts `records` by MRN in one transaction together with the audit
    /// entry: either all are stored and audited, or nothing changes. Of a
    /// patient already stored, only the fields a record's file carries
    /// change ([`PatientRecord::over`]). Returns what happened to each, and
    /// which stored fields it emptied.
    pub fn upsert_patients(
        &mut self,
        records: &[(PatientRecord, Carried)],
        audit_entry: &AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<Vec<(UpsertOutcome, Vec<&'static str>)>> {
        let sealer = self.sealer()?.clone();
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .ctx("starting the import")?;
        let mut outcomes = Vec::with_capacity(records.len());
        for (record, carried) in records {
            outcomes.push(upsert_one(&tx, record, *carried, now)?);
        }
        let head = audit::append(&tx, &sealer, audit_entry)?;
        // Emptied before the commit: should the commit fail, a record read
        // after it is read again rather than served from before.
        self.patient_cache.borrow_mut().forget();
        tx.commit().ctx("committing the import")?;
        sealer.record_head(&head);
        Ok(outcomes)
    }

    /// The patient's record, or None for an MRN not in the store. Served
    /// from [`PatientCache`] while no patient record has changed since it
    /// was read.
    pub fn patient(&self, mrn: &str) -> Result<Option<PatientRecord>> {
        self.check_patient_cache()?;
        Ok(self.cached_patient(mrn)?.map(|r| (*r).clone()))
    }

    /// The records of `mrns`, in their order (None for an MRN not in the
    /// store), shared with [`PatientCache`]: one check that no record
    /// changed for them all, and no copies. For the live scorer, which
    /// reads every scored patient's record at each batch (a check and a
    /// copy per patient were 6 % of its thread at 10,000 patients).
    pub fn patients_shared(&self, mrns: &[&str]) -> Result<Vec<Option<Arc<PatientRecord>>>> {
        self.check_patient_cache()?;
        mrns.iter().map(|mrn| self.cached_patient(mrn)).collect()
    }

    /// Empties the cache when a patient record changed since it was
    /// checked last.
    fn check_patient_cache(&self) -> Result<()> {
        let seen = (data_version(&self.conn)?, self.conn.total_changes());
        let mut cache = self.patient_cache.borrow_mut();
        if cache.seen != Some(seen) {
            // Something was committed since: a record only if the count
            // of patient changes moved.
            let changes = patient_changes(&self.conn)?;
            if cache.changes != Some(changes) {
                cache.records.clear();
                cache.changes = Some(changes);
            }
            cache.seen = Some(seen);
        }
        Ok(())
    }

    /// The record from the cache, else from the store (and then kept),
    /// as of the last [`Store::check_patient_cache`].
    fn cached_patient(&self, mrn: &str) -> Result<Option<Arc<PatientRecord>>> {
        if let Some(record) = self.patient_cache.borrow().records.get(mrn) {
            return Ok(Some(Arc::clone(record)));
        }
        let found = read_by_mrn(&self.conn, mrn)?.map(|(_, record)| Arc::new(record));
        if let Some(record) = &found {
            let mut cache = self.patient_cache.borrow_mut();
            if cache.records.len() >= PatientCache::MAX {
                cache.records.clear();
            }
            cache.records.insert(mrn.to_owned(), Arc::clone(record));
        }
        Ok(found)
    }

    /// Every patient, ordered by ward, bed, then MRN.
    pub fn patients(&self) -> Result<Vec<PatientRecord>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {PATIENT_COLUMNS} FROM patients
                 ORDER BY ward IS NULL, ward, length(bed), bed, mrn"
            ))
            .ctx("listing patients")?;
        let rows = stmt
            .query_map([], row_to_parts)
            .ctx("listing patients")?
            .collect::<rusqlite::Result<Vec<_>>>()
            .ctx("listing patients")?;
        let mut lists = all_lists(&self.conn)?;
        rows.into_iter()
            .map(|(id, parts)| {
                let [c, m, a] = LIST_TABLES.map(|t| lists.remove(&(t, id)).unwrap_or_default());
                parts.into_record(c, m, a)
            })
            .collect()
    }

    pub fn patient_count(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM patients", [], |r| r.get(0))
            .ctx("counting patients")
    }
}

const PATIENT_COLUMNS: &str = "id, mrn, family_name, given_name, birth_date, sex, ward, bed, \
     attending, spo2_scale, alert_consent, baseline_hr, baseline_rr, baseline_sbp, \
     baseline_spo2, baseline_temp_c, admitted_ms, discharged_ms";

/// A patients row before its lists are attached and its text fields parsed.
struct Parts {
    mrn: String,
    family_name: String,
    given_name: String,
    birth_date: Option<String>,
    sex: String,
    ward: Option<String>,
    bed: Option<String>,
    attending: Option<String>,
    spo2_scale: i64,
    alert_consent: bool,
    baseline: Baseline,
    admitted_ms: Option<i64>,
    discharged_ms: Option<i64>,
}

fn row_to_parts(r: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Parts)> {
    Ok((
        r.get(0)?,
        Parts {
            mrn: r.get(1)?,
            family_name: r.get(2)?,
            given_name: r.get(3)?,
            birth_date: r.get(4)?,
            sex: r.get(5)?,
            ward: r.get(6)?,
            bed: r.get(7)?,
            attending: r.get(8)?,
            spo2_scale: r.get(9)?,
            alert_consent: r.get(10)?,
            baseline: Baseline {
                hr_bpm: r.get(11)?,
                rr_per_min: r.get(12)?,
                sbp_mmhg: r.get(13)?,
                spo2_pct: r.get(14)?,
                temp_c: r.get(15)?,
            },
            admitted_ms: r.get(16)?,
            discharged_ms: r.get(17)?,
        },
    ))
}

impl Parts {
    fn into_record(
        self,
        conditions: Vec<String>,
        medications: Vec<String>,
        allergies: Vec<String>,
    ) -> Result<PatientRecord> {
        let birth_date = self
            .birth_date
            .map(|b| NaiveDate::parse_from_str(&b, "%Y-%m-%d"))
            .transpose()
            .map_err(|e| Error::InvalidInput {
                what: "stored birth date",
                reason: e.to_string(),
            })?;
        Ok(PatientRecord {
            mrn: self.mrn,
            family_name: self.family_name,
            given_name: self.given_name,
            birth_date,
            sex: Sex::parse(&self.sex)?,
            ward: self.ward,
            bed: self.bed,
            attending: self.attending,
            conditions,
            medications,
            allergies,
            baseline: self.baseline,
            spo2_scale: spo2_scale_from_number(self.spo2_scale)?,
            alert_consent: self.alert_consent,
            admitted_at: self.admitted_ms.map(from_ms),
            discharged_at: self.discharged_ms.map(from_ms),
        })
    }
}

/// Patient records this connection read, so that the live scorer's NEWS2
/// and cardiac risk, which need the record for every batch of every
/// patient, do not read four tables each time (6 % of the writer thread's
/// time in the pipeline benchmark at 1,000 patients). A record is served
/// only while nothing changed it:
/// - every change to `patients` or its lists, by any connection, adds one
///   to `patient_changes.version` (migration 22's triggers, in the same
///   transaction), and a new count empties the cache;
/// - the count is read again only when something was committed since it
///   was last read: another connection's commit changes SQLite's `PRAGMA
///   data_version` (<https://sqlite.org/pragma.html#pragma_data_version>),
///   this connection's own writes its `total_changes`. Commits that touch
///   no record (the runtime's alarms, lake and deliveries, many a second)
///   no longer empty it;
/// - [`Store::upsert_patients`] empties it too, before its commit.
///
/// Unknown MRNs are not held, and the cache holds at most `MAX` records.
#[derive(Debug, Default)]
pub(crate) struct PatientCache {
    /// `data_version` and `total_changes` when `changes` was read.
    seen: Option<(i64, u64)>,
    /// `patient_changes.version` the records agree with.
    changes: Option<i64>,
    records: std::collections::HashMap<String, Arc<PatientRecord>>,
}

impl PatientCache {
    const MAX: usize = 20_000;

    fn forget(&mut self) {
        self.seen = None;
        self.changes = None;
        self.records.clear();
    }
}

/// How many changes patient records have had (migration 22).
fn patient_changes(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("SELECT version FROM patient_changes WHERE id = 1")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("reading the count of patient changes")
}

/// SQLite's count of commits by other connections to this database.
pub(super) fn data_version(conn: &Connection) -> Result<i64> {
    conn.prepare_cached("PRAGMA data_version")
        .and_then(|mut s| s.query_row([], |r| r.get(0)))
        .ctx("reading the store's data version")
}

fn read_by_mrn(conn: &Connection, mrn: &str) -> Result<Option<(i64, PatientRecord)>> {
    let found = conn
        .prepare_cached(&format!(
            "SELECT {PATIENT_COLUMNS} FROM patients WHERE mrn = ?1"
        ))
        .ctx("reading a patient")?
        .query_row([mrn], row_to_parts)
        .optional()
        .ctx("reading a patient")?;
    let Some((id, parts)) = found else {
        return Ok(None);
    };
    let [c, m, a] = [
        read_list(conn, LIST_TABLES[0], id)?,
        read_list(conn, LIST_TABLES[1], id)?,
        read_list(conn, LIST_TABLES[2], id)?,
    ];
    Ok(Some((id, parts.into_record(c, m, a)?)))
}

fn read_list(conn: &Connection, table: &str, patient_id: i64) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT display FROM {table} WHERE patient_id = ?1 ORDER BY position"
        ))
        .ctx("reading a patient's lists")?;
    stmt.query_map([patient_id], |r| r.get(0))
        .ctx("reading a patient's lists")?
        .collect::<rusqlite::Result<_>>()
        .ctx("reading a patient's lists")
}

type Lists = std::collections::HashMap<(&'static str, i64), Vec<String>>;

fn all_lists(conn: &Connection) -> Result<Lists> {
    let mut lists = Lists::new();
    for table in LIST_TABLES {
        let mut stmt = conn
            .prepare(&format!(
                "SELECT patient_id, display FROM {table} ORDER BY patient_id, position"
            ))
            .ctx("reading patients' lists")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
            .ctx("reading patients' lists")?;
        for row in rows {
            let (id, display) = row.ctx("reading patients' lists")?;
            lists.entry((table, id)).or_default().push(display);
        }
    }
    Ok(lists)
}

fn upsert_one(
    tx: &Transaction<'_>,
    r: &PatientRecord,
    carried: Carried,
    now: DateTime<Utc>,
) -> Result<(UpsertOutcome, Vec<&'static str>)> {
    let existing = read_by_mrn(tx, &r.mrn)?;
    let merged;
    let (r, cleared) = match &existing {
        Some((_, stored)) => {
            merged = r.clone().over(stored, carried);
            if merged == *stored {
                return Ok((UpsertOutcome::Unchanged, Vec::new()));
            }
            let cleared = merged.cleared_from(stored);
            (&merged, cleared)
        }
        None => (r, Vec::new()),
    };
    let b = &r.baseline;
    let values = params![
        r.mrn,
        r.family_name,
        r.given_name,
        r.birth_date.map(|b| b.format("%Y-%m-%d").to_string()),
        r.sex.as_str(),
        r.ward,
        r.bed,
        r.attending,
        r.spo2_scale.number(),
        r.alert_consent,
        b.hr_bpm,
        b.rr_per_min,
        b.sbp_mmhg,
        b.spo2_pct,
        b.temp_c,
        r.admitted_at.map(to_ms),
        r.discharged_at.map(to_ms),
        to_ms(now),
    ];
    let (id, outcome) = match existing {
        Some((id, _)) => {
            tx.prepare_cached(
                "UPDATE patients SET mrn = ?1, family_name = ?2, given_name = ?3,
                   birth_date = ?4, sex = ?5, ward = ?6, bed = ?7, attending = ?8,
                   spo2_scale = ?9, alert_consent = ?10, baseline_hr = ?11,
                   baseline_rr = ?12, baseline_sbp = ?13, baseline_spo2 = ?14,
                   baseline_temp_c = ?15, admitted_ms = ?16, discharged_ms = ?17,
                   updated_ms = ?18
                 WHERE mrn = ?1",
            )
            .and_then(|mut stmt| stmt.execute(values))
            .ctx("updating a patient")?;
            for table in LIST_TABLES {
                tx.execute(&format!("DELETE FROM {table} WHERE patient_id = ?1"), [id])
                    .ctx("replacing a patient's lists")?;
            }
            (id, UpsertOutcome::Updated)
        }
        None => {
            tx.prepare_cached(
                "INSERT INTO patients (mrn, family_name, given_name, birth_date, sex, ward,
                   bed, attending, spo2_scale, alert_consent, baseline_hr, baseline_rr,
                   baseline_sbp, baseline_spo2, baseline_temp_c, admitted_ms, discharged_ms,
                   updated_ms, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15,
                   ?16, ?17, ?18, ?18)",
            )
            .and_then(|mut stmt| stmt.execute(values))
            .ctx("inserting a patient")?;
            (tx.last_insert_rowid(), UpsertOutcome::Inserted)
        }
    };
    if r.discharged_at.is_some() {
        // A patient's own alarm limits end with the admission.
        tx.execute(
            "DELETE FROM patient_alarm_limits WHERE patient_id = ?1",
            [id],
        )
        .ctx("reverting alarm limits at discharge")?;
    }
    for (table, list) in LIST_TABLES
        .iter()
        .zip([&r.conditions, &r.medications, &r.allergies])
    {
        let mut stmt = tx
            .prepare_cached(&format!(
                "INSERT INTO {table} (patient_id, position, display) VALUES (?1, ?2, ?3)"
            ))
            .ctx("writing a patient's lists")?;
        for (position, display) in list.iter().enumerate() {
            stmt.execute(params![id, position as i64, display])
                .ctx("writing a patient's lists")?;
        }
    }
    Ok((outcome, cleared))
}
