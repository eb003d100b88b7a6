//! The API layer: plain functions taking a `Ctx` and typed inputs, called by
//! the desktop shell's commands and by `wardwatchctl` alike, so neither front
//! end holds logic. Roles are checked here, in the backend, and every read of
//! patient data and every change is written to the audit log with its user.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use crate::alarms::{AlarmView, Annotation, LimitEdit, LimitView, Priority};
use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::import::{self, Format, ImportReport};
use crate::ingest::source::SourceConfig;
use crate::model::{Carried, MedicationClass, PatientRecord, PatientSummary};
use crate::model::{ScoreDetail, Vital};
use crate::store::{
    AuditEntry, AuditKeys, AuditVerification, Quarantined, Role, ScoreRow, SourceStatus, Store,
    User,
};

/// The name the runtime acts under in the audit trail. The `@` keeps it
/// apart from every registrable user name.
pub const SERVICE_ACTOR: &str = "@runtime";

/// The login client of the headless runtime (`wardwatchctl serve`): the
/// only one a service account may log in with.
pub const SERVICE_CLIENT: &str = "service";

/// Who is acting: a registered, active user and their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub username: String,
    pub role: Role,
}

/// What every API call needs: the store, who is acting, and the time.
#[derive(Debug)]
pub struct Ctx {
    /// Private: front ends reach the store only through this module's
    /// functions, which check roles and audit.
    store: Store,
    /// Where the audit keys are (for `verify_audit`).
    keys: AuditKeys,
    pub actor: Actor,
    pub clock: Arc<dyn Clock>,
    /// When each polled read was last audited (see `audit_coalesced`).
    audited: std::cell::RefCell<AuditedReads>,
}

/// When each (action, target) read was last audited.
type AuditedReads =
    std::collections::HashMap<(String, Option<String>), chrono::DateTime<chrono::Utc>>;

/// Repeated identical reads by one user (a live view polling) are audited
/// once per this period: the trail still shows who watched what, and when.
pub const AUDIT_COALESCE: chrono::Duration = chrono::Duration::minutes(10);

impl Ctx {
    /// Opens the store in `data_dir`, seals its audit trail with the keys in
    /// `keys` (see `store::AuditKeys`: a folder outside the data directory),
    /// and resolves `username` to a registered, active user, **taking the
    /// name on trust**: no password. For tests and the demo store only;
    /// the front ends log users in with [`Ctx::login`] and [`Ctx::resume`]. On a store
    /// with no users yet, the first user becomes its admin (and that is
    /// audited): whoever creates the data directory owns it. A name that is
    /// not registered, or not active, is refused and the attempt audited.
    ///
    /// A folder without a store is an error (`ErrorKind::NoStore`): only
    /// [`Ctx::create`] makes one.
    pub fn open(
        data_dir: &Path,
        keys: &AuditKeys,
        username: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Ctx> {
        Ctx::with_store(Store::open_dir(data_dir)?, keys, username, clock)
    }

    /// Creates the store in `data_dir` (or opens the existing one) and
    /// resolves `username` as [`Ctx::open`] does: on a new store, that user
    /// becomes its admin. A new store is encrypted, its key saved in the key
    /// folder (`store::cipher`).
    pub fn create(
        data_dir: &Path,
        keys: &AuditKeys,
        username: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Ctx> {
        Ctx::with_store(
            Store::create_dir_encrypted(data_dir, keys.dir())?,
            keys,
            username,
            clock,
        )
    }

    fn with_store(
        mut store: Store,
        keys: &AuditKeys,
        username: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Ctx> {
        let now = clock.now();
        // What the trail records of a refused name: bounded, never a flood.
        let attempted: String = username.chars().take(64).collect();
        store.seal_with(keys, &attempted, now)?;
        let refuse = |store: &Store, action: &str, err: Error| -> Result<Ctx> {
            store.append_audit(&AuditEntry {
                at: now,
                actor: attempted.clone(),
                action: action.into(),
                target: None,
                detail: json!({}),
            })?;
            Err(err)
        };
        let user = crate::text::printable(username).into_owned();
        let user = match store.user(username)? {
            Some(u) if u.active => u,
            Some(_) => {
                return refuse(&store, "access.inactive_user", Error::InactiveUser { user });
            }
            None if store.user_count()? > 0 => {
                return refuse(&store, "access.unknown_user", Error::UnknownUser { user });
            }
            None => {
                validate_username(username)?;
                let user = User {
                    username: username.to_owned(),
                    display_name: username.to_owned(),
                    role: Role::Admin,
                    active: true,
                    service: false,
                };
                store.put_user(&user, now)?;
                store.append_audit(&AuditEntry {
                    at: now,
                    actor: username.to_owned(),
                    action: "users.bootstrap_admin".into(),
                    target: Some(username.to_owned()),
                    detail: json!({}),
                })?;
                tracing::info!(user = %username, "first user registered as admin");
                user
            }
        };
        Ok(Ctx {
            store,
            keys: keys.clone(),
            actor: Actor {
                username: user.username,
                role: user.role,
            },
            clock,
            audited: Default::default(),
        })
    }

    /// Creates a store whose first admin is `username` with `password`
    /// (checked by `auth::check_password`), and opens it as them: store
    /// creation that asks for the admin's password.
    pub fn create_admin(
        data_dir: &Path,
        keys: &AuditKeys,
        username: &str,
        password: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Ctx> {
        validate_username(username)?;
        crate::auth::check_password(username, password)?;
        let hash = crate::auth::hash_password(password)?;
        let store = Store::create_dir_encrypted(data_dir, keys.dir())?;
        if store.user_count()? > 0 {
            return Err(Error::InvalidInput {
                what: "store",
                reason: "it has users already: log in, or ask its admin".into(),
            });
        }
        let ctx = Ctx::with_store(store, keys, username, clock)?;
        ctx.store
            .set_password_hash(username, &hash, ctx.clock.now())?;
        ctx.audit(
            "users.password_set",
            Some(username),
            json!({ "by": "creation" }),
        )?;
        Ok(ctx)
    }

    /// Logs `username` in with `password` and opens a session for
    /// `client` (`cli`, `desktop`); returns the context and the session's
    /// token (shown once; the store keeps its SHA-256). A wrong password,
    /// an unknown or deactivated name and a user without a password are all
    /// the same `LoginFailed` (and take as long), so nobody learns which
    /// names exist; each is audited, and consecutive failures lock the
    /// account with back-off (`auth::lock_for`).
    pub fn login(
        data_dir: &Path,
        keys: &AuditKeys,
        username: &str,
        password: &str,
        client: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<(Ctx, String)> {
        Ctx::login_with(data_dir, keys, username, password, client, clock, None)
    }

    /// [`Ctx::login`], asking `directory` (when given, and the
    /// `ldap.directory` setting configures one) for a user without a local
    /// password: the directory's bind decides, its groups give the role
    /// (see `crate::directory`). A user the directory lets in for the first
    /// time is registered with that role, and a changed role is updated;
    /// both are audited.
    pub fn login_with(
        data_dir: &Path,
        keys: &AuditKeys,
        username: &str,
        password: &str,
        client: &str,
        clock: Arc<dyn Clock>,
        directory: Option<&dyn crate::directory::Directory>,
    ) -> Result<(Ctx, String)> {
        let mut store = Store::open_dir(data_dir)?;
        let now = clock.now();
        let attempted: String = username.chars().take(USERNAME_MAX).collect();
        store.seal_with(keys, &attempted, now)?;
        let audit = |store: &Store, action: &str, detail: serde_json::Value| {
            store.append_audit(&AuditEntry {
                at: now,
                actor: attempted.clone(),
                action: action.into(),
                target: None,
                detail,
            })
        };
        let found = store.user_auth(username)?;
        if let Some(until) = found
            .as_ref()
            .and_then(|a| a.locked_until)
            .filter(|u| *u > now)
        {
            audit(&store, "login.locked", json!({ "client": client }))?;
            return Err(Error::AccountLocked {
                until: until.format("%Y-%m-%d %H:%M:%S").to_string(),
            });
        }
        let local = found.as_ref().and_then(|a| a.password_hash.as_deref());
        let configured = match (local, directory) {
            (None, Some(d)) => store
                .setting(crate::directory::SETTING)?
                .and_then(|json| crate::directory::DirectoryConfig::parse(&json).ok())
                .map(|c| (c, d)),
            _ => None,
        };
        // The directory's verdict: the user's entry and role.
        let mut from_directory = None;
        let ok = match (local, configured) {
            (Some(hash), _) => crate::auth::verify_password(hash, password),
            // A name Wardwatch could never register is not sent to the
            // directory at all.
            (None, Some((config, d))) if validate_username(username).is_ok() => {
                match d.authenticate(&config, username, password) {
                    Ok(Some(entry)) => match config.role_for(&entry.groups) {
                        Some(role) => {
                            from_directory = Some((entry, role));
                            true
                        }
                        None => {
                            audit(
                                &store,
                                "login.no_directory_role",
                                json!({ "client": client, "groups": entry.groups.len() }),
                            )?;
                            false
                        }
                    },
                    Ok(None) => false,
                    Err(e) => {
                        audit(&store, "login.directory_error", json!({ "client": client }))?;
                        return Err(e);
                    }
                }
            }
            (None, _) => {
                crate::auth::verify_nothing(password);
                false
            }
        };
        // A directory user seen for the first time is active; a name an
        // admin deactivated stays refused.
        let active = match &found {
            Some(a) => a.user.active,
            None => from_directory.is_some(),
        };
        // A service account never logs in interactively: refused like a
        // wrong password (nobody learns it is one), audited as what it is.
        if ok && found.as_ref().is_some_and(|a| a.user.service) && client != SERVICE_CLIENT {
            audit(
                &store,
                "login.service_interactive",
                json!({ "client": client }),
            )?;
            return Err(Error::LoginFailed);
        }
        if !(ok && active) {
            let failures = match &found {
                Some(_) => Some(store.note_login_failure(username, now)?),
                None => None,
            };
            audit(
                &store,
                "login.failed",
                json!({
                    "client": client,
                    "failures": failures.map(|f| f.0),
                    "locked": failures.and_then(|f| f.1).is_some(),
                }),
            )?;
            return Err(Error::LoginFailed);
        }
        if let Some((entry, role)) = &from_directory {
            validate_username(username)?;
            let before = found.as_ref().map(|a| a.user.role);
            if before != Some(*role) {
                store.put_user(
                    &User {
                        username: username.to_owned(),
                        display_name: entry
                            .display_name
                            .clone()
                            .unwrap_or_else(|| username.to_owned()),
                        role: *role,
                        active: true,
                        service: false,
                    },
                    now,
                )?;
                store.append_audit(&AuditEntry {
                    at: now,
                    actor: attempted.clone(),
                    action: "users.role_from_directory".into(),
                    target: Some(username.to_owned()),
                    detail: json!({
                        "from": before.map(Role::as_str),
                        "to": role.as_str(),
                    }),
                })?;
            }
        }
        store.note_login_success(username)?;
        let (token, digest) = crate::auth::new_token()?;
        store.create_session(&digest, username, client, now)?;
        let ctx = Ctx::with_store(store, keys, username, clock)?;
        ctx.audit(
            "login.ok",
            None,
            json!({
                "client": client,
                "via": if from_directory.is_some() { "directory" } else { "local" },
            }),
        )?;
        Ok((ctx, token))
    }

    /// Opens the store as the user of a session that has not ended
    /// (`auth::SESSION_IDLE`, `auth::SESSION_MAX`), marking it used when
    /// its last recorded use is over a minute old (`Store::session_alive`):
    /// a script that runs a command every second (a monitoring check of
    /// `wardwatchctl ingest status`) does not commit a write for each, and
    /// each such commit makes the runtime's writer read its cached pages
    /// and open blocks again (issue 16).
    pub fn resume(
        data_dir: &Path,
        keys: &AuditKeys,
        token: &str,
        clock: Arc<dyn Clock>,
    ) -> Result<Ctx> {
        let mut store = Store::open_dir(data_dir)?;
        let now = clock.now();
        let Some(username) = store.session_alive(&crate::auth::token_digest(token), now)? else {
            return Err(Error::SessionEnded);
        };
        store.seal_with(keys, &username, now)?;
        Ctx::with_store(store, keys, &username, clock).map_err(|e| match e {
            Error::UnknownUser { .. } | Error::InactiveUser { .. } => Error::SessionEnded,
            e => e,
        })
    }

    /// The runtime's own context: it acts as the service account
    /// [`SERVICE_ACTOR`] (never a registered user; the name cannot be
    /// registered), so what it does on its own (delivering patient messages)
    /// is audited under that name.
    pub fn service(data_dir: &Path, keys: &AuditKeys, clock: Arc<dyn Clock>) -> Result<Ctx> {
        let mut store = Store::open_dir(data_dir)?;
        store.seal_with(keys, SERVICE_ACTOR, clock.now())?;
        Ok(Ctx {
            store,
            keys: keys.clone(),
            actor: Actor {
                username: SERVICE_ACTOR.to_owned(),
                role: Role::Admin,
            },
            clock,
            audited: Default::default(),
        })
    }

    /// The data directory this context's store lives in.
    pub fn data_dir(&self) -> &Path {
        self.store.path().parent().unwrap_or(Path::new("."))
    }

    /// The data role's own work (the lake, the catalogue, archival), which
    /// admins may do too and the clinical roles do not need.
    fn require_data(&self, action: &'static str) -> Result<()> {
        if matches!(self.actor.role, Role::Data | Role::Admin) {
            Ok(())
        } else {
            Err(self.deny(action, "data (or admin)"))
        }
    }

    fn require(&self, needed: Role, action: &'static str) -> Result<()> {
        if self.actor.role >= needed {
            Ok(())
        } else {
            Err(self.deny(action, needed.as_str()))
        }
    }

    /// The refusal of `action`, audited (coalesced like polled reads: a
    /// view that keeps asking is one entry per period, not a flood). A
    /// refusal that cannot be audited is still refused, and logged.
    fn deny(&self, action: &'static str, needed: &'static str) -> Error {
        let detail = json!({ "role": self.actor.role.as_str(), "needed": needed });
        if let Err(e) = self.audit_coalesced_with("access.denied", Some(action), detail) {
            tracing::error!(error = %e, "a refusal could not be audited");
        }
        Error::Forbidden {
            user: self.actor.username.clone(),
            role: self.actor.role.as_str(),
            action,
            needed,
        }
    }

    fn audit(&self, action: &str, target: Option<&str>, detail: serde_json::Value) -> Result<()> {
        self.store
            .append_audit(&self.audit_entry(action, target, detail))
    }

    /// Audits a polled read at most once per `AUDIT_COALESCE`.
    fn audit_coalesced(&self, action: &str, target: Option<&str>) -> Result<()> {
        self.audit_coalesced_with(action, target, json!({}))
    }

    /// [`Ctx::audit_coalesced`] with more detail.
    fn audit_coalesced_with(
        &self,
        action: &str,
        target: Option<&str>,
        mut detail: serde_json::Value,
    ) -> Result<()> {
        let now = self.clock.now();
        let key = (action.to_owned(), target.map(str::to_owned));
        let due = self
            .audited
            .borrow()
            .get(&key)
            .is_none_or(|last| now - *last >= AUDIT_COALESCE);
        if due {
            detail["coalesced_minutes"] = json!(AUDIT_COALESCE.num_minutes());
            self.audit(action, target, detail)?;
            self.audited.borrow_mut().insert(key, now);
        }
        Ok(())
    }

    fn audit_entry(
        &self,
        action: &str,
        target: Option<&str>,
        detail: serde_json::Value,
    ) -> AuditEntry {
        AuditEntry {
            at: self.clock.now(),
            actor: self.actor.username.clone(),
            action: action.to_owned(),
            target: target.map(str::to_owned),
            detail,
        }
    }

    fn today(&self) -> NaiveDate {
        self.clock.now().date_naive()
    }
}

/// The ward overview: every patient in the store.
pub fn list_patients(ctx: &Ctx) -> Result<Vec<PatientSummary>> {
    ctx.require(Role::Viewer, "list patients")?;
    let today = ctx.today();
    let list: Vec<PatientSummary> = ctx
        .store
        .patients()?
        .iter()
        .map(|r| PatientSummary::of(r, today))
        .collect();
    ctx.audit("patients.list", None, json!({ "count": list.len() }))?;
    Ok(list)
}

/// One patient's full record, as the detail view shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientView {
    #[serde(flatten)]
    pub record: PatientRecord,
    /// `None`: the birth date is unknown.
    pub age_years: Option<u32>,
    pub medication_classes: Vec<MedicationClass>,
}

pub fn show_patient(ctx: &Ctx, mrn: &str) -> Result<PatientView> {
    ctx.require(Role::Viewer, "read a patient record")?;
    let record = ctx
        .store
        .patient(mrn)?
        .ok_or_else(|| Error::PatientNotFound {
            mrn: mrn.to_owned(),
        })?;
    ctx.audit("patient.read", Some(mrn), json!({}))?;
    Ok(PatientView {
        age_years: record.age_years(ctx.today()),
        medication_classes: record.medication_classes(),
        record,
    })
}

/// Imports a registry file (CSV or FHIR R4 Bundle). Good records are stored in
/// one transaction with the audit entry; rejected rows are in the report. A file
/// that cannot be read or parsed is an error and changes nothing.
pub fn import_patients(ctx: &mut Ctx, path: &Path) -> Result<ImportReport> {
    ctx.require(Role::Admin, "import the patient registry")?;
    let bytes = import::read_file(path)?;
    let format = Format::detect(path, &bytes)?;
    let parsed = import::parse(path, format, &bytes, ctx.today())?;
    store_records(ctx, format, parsed, "patients.import")
}

/// Stores already-parsed records (the import and the demo ward share this).
fn store_records(
    ctx: &mut Ctx,
    format: Format,
    parsed: import::Parsed,
    action: &str,
) -> Result<ImportReport> {
    let located: Vec<(String, String)> = parsed
        .records
        .iter()
        .map(|(location, r, _)| (location.clone(), r.mrn.clone()))
        .collect();
    let records: Vec<(PatientRecord, Carried)> = parsed
        .records
        .into_iter()
        .map(|(_, r, carried)| (r, carried))
        .collect();
    // the audit detail is written with the outcome counts, in the same transaction
    let entry = ctx.audit_entry(
        action,
        None,
        json!({ "records": records.len(), "rejected": parsed.rejected.len() }),
    );
    let now = ctx.clock.now();
    let outcomes = ctx.store.upsert_patients(&records, &entry, now)?;
    let report = ImportReport::new(format, &located, outcomes, parsed.rejected);
    tracing::info!(
        inserted = report.inserted,
        updated = report.updated,
        unchanged = report.unchanged,
        rejected = report.rejected.len(),
        "patient registry imported"
    );
    Ok(report)
}

/// Loads the demo ward (deterministic from `seed`) into the store.
pub fn load_demo_ward(ctx: &mut Ctx, seed: u64) -> Result<ImportReport> {
    ctx.require(Role::Admin, "load the demo ward")?;
    let records = crate::demo::ward(seed, ctx.today());
    let parsed = import::Parsed {
        records: records
            .into_iter()
            .map(|r| ("demo".to_owned(), r, Carried::ALL))
            .collect(),
        rejected: Vec::new(),
    };
    store_records(ctx, Format::Csv, parsed, "demo.load_ward")
}

/// Back-fills minute history for the demo ward (admin): the first bed's
/// patient gets `long_days` of history (a patient monitored for a year:
/// the history view's showcase), every other patient `days`; hours that
/// already hold data are kept. Returns the hours written.
pub fn backfill_demo_history(
    ctx: &mut Ctx,
    days: u32,
    long_days: u32,
    raw_hours: u32,
) -> Result<usize> {
    ctx.require(Role::Admin, "back-fill the demo history")?;
    if days > 3660 || long_days > 3660 {
        return Err(Error::InvalidInput {
            what: "days",
            reason: "at most 3660 days (ten years) of history".into(),
        });
    }
    let raw_window = ctx.store.retention()?.raw_numerics;
    if i64::from(raw_hours) * 3_600_000 > raw_window.num_milliseconds() {
        return Err(Error::InvalidInput {
            what: "raw hours",
            reason: format!(
                "at most the raw-numeric window ({} h): older readings are pruned",
                raw_window.num_hours()
            ),
        });
    }
    let now = ctx.clock.now();
    let mut records = ctx.store.patients()?;
    records.sort_by(|a, b| a.bed.cmp(&b.bed).then(a.mrn.cmp(&b.mrn)));
    let mut written = 0;
    for (i, record) in records.iter().enumerate() {
        let span = if i == 0 { long_days } else { days };
        if span == 0 && raw_hours == 0 {
            continue;
        }
        // Up to the last full hour: the live stream fills the hour in progress.
        let to = chrono::DateTime::from_timestamp_millis(
            now.timestamp_millis().div_euclid(3_600_000) * 3_600_000,
        )
        .unwrap_or(now);
        let raw_from = to - chrono::Duration::hours(i64::from(raw_hours));
        let from = (to - chrono::Duration::days(i64::from(span))).min(raw_from);
        if ctx
            .store
            .oldest_rollup(&record.mrn)?
            .is_some_and(|oldest| oldest <= from)
        {
            continue; // an earlier back-fill reached this far already
        }
        let raw_from = (raw_hours > 0).then_some(raw_from);
        let hours = crate::demo::history_hours(record, from, to, raw_from, 0x5EED ^ i as u64);
        written += ctx.store.backfill_rollups(&record.mrn, &hours)?;
    }
    ctx.audit(
        "demo.backfill_history",
        None,
        json!({ "days": days, "long_days": long_days, "raw_hours": raw_hours, "hours": written }),
    )?;
    Ok(written)
}

/// What a nurse charts by hand at one time (every field optional, at
/// least one given): the NEWS2 parameters no monitor streams, and manual
/// measurements.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    /// When it was observed; now if not given. At most 24 h ago, and not in
    /// the future.
    pub observed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// ACVPU: `A`, `C` (new confusion), `V`, `P` or `U`.
    pub consciousness: Option<String>,
    /// Supplemental oxygen in L/min; 0 = breathing room air.
    pub o2_flow_lpm: Option<f64>,
    /// The oxygen device (nasal cannula, simple mask, venturi 28 %, …).
    pub o2_device: Option<String>,
    pub systolic_bp: Option<f64>,
    pub diastolic_bp: Option<f64>,
    pub temperature_c: Option<f64>,
    pub resp_rate: Option<f64>,
    pub heart_rate: Option<f64>,
    pub spo2: Option<f64>,
    pub note: Option<String>,
}

/// How far back an observation may be charted.
pub const CHART_MAX_AGE: chrono::Duration = chrono::Duration::hours(24);

/// Charts observations for `mrn` (clinician): validated like a streamed
/// record (plausible ranges, ACVPU letters), stored with who charted them,
/// audited, and ingested by the runtime as the source `charted` — so they
/// count towards NEWS2 (charted values stay valid for
/// `wardwatch_runtime::scoring::CHARTED_FRESH`). Returns the rows' ids.
pub fn chart_observations(ctx: &mut Ctx, mrn: &str, chart: &Chart) -> Result<Vec<i64>> {
    use crate::ingest::observation::{Body, Observation, Reading};
    ctx.require(Role::Clinician, "chart observations")?;
    if ctx.store.patient(mrn)?.is_none() {
        return Err(Error::PatientNotFound {
            mrn: mrn.to_owned(),
        });
    }
    let bad = |what: &'static str, reason: String| Error::InvalidInput { what, reason };
    let now = ctx.clock.now();
    let observed = chart.observed_at.unwrap_or(now);
    if observed > now + chrono::Duration::minutes(2) {
        return Err(bad("observed_at", format!("{observed} is in the future")));
    }
    if now - observed > CHART_MAX_AGE {
        return Err(bad(
            "observed_at",
            format!("{observed} is more than 24 h ago: chart it in the patient's notes"),
        ));
    }
    let checked = |vital: Vital, v: Option<f64>| -> Result<Option<f64>> {
        let Some(v) = v else { return Ok(None) };
        let (lo, hi) = vital.plausible_range();
        if !v.is_finite() || v < lo || v > hi {
            return Err(Error::InvalidInput {
                what: "observation",
                reason: format!(
                    "{} {v} {} is outside {lo}–{hi}: check the value",
                    vital.label(),
                    vital.unit()
                ),
            });
        }
        Ok(Some(v))
    };
    let mut groups: Vec<Vec<(Vital, Reading)>> = Vec::new();
    if let Some(level) = &chart.consciousness {
        let index = ["A", "C", "V", "P", "U"]
            .iter()
            .position(|l| l.eq_ignore_ascii_case(level.trim()))
            .ok_or_else(|| {
                bad(
                    "consciousness",
                    format!("`{level}` is not an ACVPU level (A, C, V, P or U)"),
                )
            })?;
        groups.push(vec![(Vital::Consciousness, Reading::Value(index as f64))]);
    }
    if let Some(flow) = checked(Vital::O2FlowLpm, chart.o2_flow_lpm)? {
        groups.push(vec![(Vital::O2FlowLpm, Reading::Value(flow))]);
    } else if chart
        .o2_device
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty())
    {
        return Err(bad(
            "o2_flow_lpm",
            "an oxygen device needs its flow in L/min".into(),
        ));
    }
    match (
        checked(Vital::SystolicBp, chart.systolic_bp)?,
        checked(Vital::DiastolicBp, chart.diastolic_bp)?,
    ) {
        (Some(s), Some(d)) if d < s => groups.push(vec![
            (Vital::SystolicBp, Reading::Value(s)),
            (Vital::DiastolicBp, Reading::Value(d)),
        ]),
        (Some(s), Some(d)) => {
            return Err(bad(
                "blood pressure",
                format!("diastolic {d} must be below systolic {s}"),
            ));
        }
        (None, None) => {}
        _ => {
            return Err(bad(
                "blood pressure",
                "a blood pressure needs both systolic and diastolic".into(),
            ));
        }
    }
    for (vital, v) in [
        (Vital::TemperatureC, chart.temperature_c),
        (Vital::RespRate, chart.resp_rate),
        (Vital::HeartRate, chart.heart_rate),
        (Vital::Spo2, chart.spo2),
    ] {
        if let Some(v) = checked(vital, v)? {
            groups.push(vec![(vital, Reading::Value(v))]);
        }
    }
    if groups.is_empty() {
        return Err(bad(
            "observation",
            "nothing to chart: give at least one value".into(),
        ));
    }
    let text = |s: &Option<String>, what: &'static str| -> Result<Option<String>> {
        match s.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) if s.chars().count() > 500 => Err(bad(what, "at most 500 characters".into())),
            other => Ok(other.map(str::to_owned)),
        }
    };
    let device = text(&chart.o2_device, "o2_device")?;
    let note = text(&chart.note, "note")?;
    let detail = match (&device, &note) {
        (None, None) => None,
        _ => Some(json!({ "o2_device": device, "note": note }).to_string()),
    };
    let mut fhir = Vec::new();
    for readings in groups {
        let id: [u8; 12] = crate::auth::random_bytes("a charted observation's id")?;
        let obs = Observation {
            id: format!(
                "charted-{}",
                id.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
            mrn: mrn.to_owned(),
            device: None,
            effective: observed,
            body: Body::Numeric(readings),
        };
        fhir.push(crate::ingest::cleaned::to_fhir(
            &obs,
            crate::store::charted::CHARTED_SOURCE,
        ));
    }
    let vitals: Vec<&str> = [
        chart.consciousness.as_ref().map(|_| "acvpu"),
        chart.o2_flow_lpm.map(|_| "o2"),
        chart.systolic_bp.map(|_| "bp"),
        chart.temperature_c.map(|_| "temp"),
        chart.resp_rate.map(|_| "rr"),
        chart.heart_rate.map(|_| "hr"),
        chart.spo2.map(|_| "spo2"),
    ]
    .into_iter()
    .flatten()
    .collect();
    let user = ctx.actor.username.clone();
    let ids = ctx
        .store
        .insert_charted(mrn, observed, now, &user, detail.as_deref(), &fhir)?;
    ctx.audit(
        "observation.chart",
        Some(mrn),
        json!({ "vitals": vitals, "observed": observed, "ids": ids }),
    )?;
    Ok(ids)
}

/// `mrn`'s observations charted in the last `hours` (1–168), newest first.
pub fn charted_observations(
    ctx: &Ctx,
    mrn: &str,
    hours: u32,
) -> Result<Vec<crate::store::charted::Charted>> {
    ctx.require(Role::Viewer, "see charted observations")?;
    if ctx.store.patient(mrn)?.is_none() {
        return Err(Error::PatientNotFound {
            mrn: mrn.to_owned(),
        });
    }
    let since = ctx.clock.now() - chrono::Duration::hours(i64::from(hours.clamp(1, 168)));
    let rows = ctx.store.charted_for(mrn, since, 200)?;
    ctx.audit_coalesced("patient.charted", Some(mrn))?;
    Ok(rows)
}

/// The longest window one history request may cover.
pub const HISTORY_MAX_DAYS: i64 = 5 * 366;

/// The ward overview's sparkline of one patient: the last minutes' heart
/// rate and SpO2, one mean per minute (`None` where nothing was measured).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub mrn: String,
    pub t_ms: Vec<i64>,
    pub heart_rate: Vec<Option<f64>>,
    pub spo2: Vec<Option<f64>>,
}

/// Every patient's trend over the last `minutes` (5–240), from the minute
/// rollups: one call for the whole overview.
pub fn ward_trends(ctx: &Ctx, minutes: u32) -> Result<Vec<Trend>> {
    ctx.require(Role::Viewer, "see live vitals")?;
    let minutes = i64::from(minutes.clamp(5, 240));
    let now = ctx.clock.now();
    // Whole minutes, the one in progress included.
    let to =
        chrono::DateTime::from_timestamp_millis((now.timestamp_millis() / 60_000 + 1) * 60_000)
            .unwrap_or(now);
    let from = to - chrono::Duration::minutes(minutes);
    let mut out = Vec::new();
    for record in ctx.store.patients()? {
        // Minute rollups always (the sample window starts after `to`).
        let h = ctx.store.history_of(
            &record.mrn,
            from,
            to,
            minutes as u32,
            to,
            &[Vital::HeartRate, Vital::Spo2],
        )?;
        let series = |v: Vital| {
            h.series
                .iter()
                .find(|s| s.vital == v)
                .map_or_else(|| vec![None; h.t_ms.len()], |s| s.mean.clone())
        };
        out.push(Trend {
            mrn: record.mrn.clone(),
            heart_rate: series(Vital::HeartRate),
            spo2: series(Vital::Spo2),
            t_ms: h.t_ms,
        });
    }
    ctx.audit_coalesced("ward.trends", None)?;
    Ok(out)
}

/// The history window as CSV for export (`History::to_csv`), audited as an
/// export of the patient's data (never coalesced: each export is a copy).
pub fn export_history(
    ctx: &Ctx,
    mrn: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    columns: u32,
) -> Result<String> {
    ctx.require(Role::Clinician, "export a patient's history")?;
    let history = patient_history(ctx, mrn, from, to, columns)?;
    let csv = history.to_csv();
    ctx.audit(
        "patient.export",
        Some(mrn),
        json!({ "from": from, "to": to, "bytes": csv.len(), "format": "csv" }),
    )?;
    Ok(csv)
}

/// One patient's vitals and NEWS2 over `[from, to)`, decimated to
/// `columns` bins (the chart's width in pixels; 16–4096): full-rate
/// samples for windows up to three hours still within the raw retention,
/// minute rollups otherwise. Audited as a read of the patient (coalesced:
/// zooming is many reads of one chart).
pub fn patient_history(
    ctx: &Ctx,
    mrn: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    columns: u32,
) -> Result<crate::store::history::History> {
    ctx.require(Role::Viewer, "see a patient's history")?;
    if to <= from {
        return Err(Error::InvalidInput {
            what: "history window",
            reason: format!("`to` ({to}) must be after `from` ({from})"),
        });
    }
    if to - from > chrono::Duration::days(HISTORY_MAX_DAYS) {
        return Err(Error::InvalidInput {
            what: "history window",
            reason: format!("at most {HISTORY_MAX_DAYS} days at once"),
        });
    }
    if !(16..=4096).contains(&columns) {
        return Err(Error::InvalidInput {
            what: "columns",
            reason: format!("16 to 4096 columns, not {columns}"),
        });
    }
    if ctx.store.patient(mrn)?.is_none() {
        return Err(Error::PatientNotFound {
            mrn: mrn.to_owned(),
        });
    }
    let samples_since = ctx.clock.now() - ctx.store.retention()?.raw_numerics;
    let history = ctx.store.history(mrn, from, to, columns, samples_since)?;
    ctx.audit_coalesced("patient.history", Some(mrn))?;
    Ok(history)
}

/// Allows a read of `mrn`'s full-rate samples over `[from, to)` back from
/// the lake, for a window whose samples have left the store (at most three
/// hours, as full-rate history in the store): checks the role, the window
/// and the patient, and audits the read. The caller reads the lake
/// (`wardwatch_sync::history::cleaned_samples`, async) and bins what it
/// found with [`history_from_lake`].
pub fn plan_lake_history(
    ctx: &Ctx,
    mrn: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<()> {
    ctx.require(Role::Viewer, "see a patient's history")?;
    if to <= from {
        return Err(Error::InvalidInput {
            what: "history window",
            reason: format!("`to` ({to}) must be after `from` ({from})"),
        });
    }
    if (to - from).num_milliseconds() > crate::store::history::SAMPLES_MAX_SPAN_MS {
        return Err(Error::InvalidInput {
            what: "history window",
            reason: "full-rate data from the lake: at most 3 hours at once (zoom in)".into(),
        });
    }
    ctx.store.known_patient_id(mrn)?;
    ctx.audit(
        "patient.history_lake",
        Some(mrn),
        json!({ "from": from, "to": to }),
    )
}

/// Bins full-rate `samples` read back from the lake (after
/// [`plan_lake_history`]) into `columns` like [`patient_history`]; NEWS2
/// and the cardiac risk come from the store.
pub fn history_from_lake(
    ctx: &Ctx,
    mrn: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    columns: u32,
    samples: &[(crate::model::Vital, i64, f64)],
) -> Result<crate::store::history::History> {
    ctx.require(Role::Viewer, "see a patient's history")?;
    if !(16..=4096).contains(&columns) {
        return Err(Error::InvalidInput {
            what: "columns",
            reason: format!("16 to 4096 columns, not {columns}"),
        });
    }
    ctx.store
        .history_of_samples(mrn, from, to, columns, samples)
}

/// Checks the store (admin): SQLite's `quick_check`, or with `thorough`
/// the full `integrity_check`. Returns the problems found; empty when sound.
pub fn check_store(ctx: &Ctx, thorough: bool) -> Result<Vec<String>> {
    ctx.require(Role::Admin, "check the store")?;
    let problems = ctx.store.check(thorough)?;
    ctx.audit(
        "store.check",
        None,
        json!({ "thorough": thorough, "problems": problems.len() }),
    )?;
    Ok(problems)
}

/// Where the store's bytes are (admin): per table, free pages, the WAL.
pub fn store_space(ctx: &Ctx) -> Result<crate::store::Space> {
    ctx.require(Role::Admin, "measure the store")?;
    let space = ctx.store.space()?;
    ctx.audit(
        "store.space",
        None,
        json!({ "file_bytes": space.file_bytes, "free_bytes": space.free_bytes }),
    )?;
    Ok(space)
}

/// Writes a checked, owner-only copy of the store to `dest` (admin), while
/// a runtime may keep writing (see `store::backup`).
pub fn backup_store(ctx: &Ctx, dest: &Path) -> Result<crate::store::backup::Backup> {
    ctx.require(Role::Admin, "back up the store")?;
    let backup = ctx.store.backup_to(dest)?;
    ctx.audit(
        "store.backup",
        None,
        json!({ "path": dest.display().to_string(), "bytes": backup.bytes }),
    )?;
    Ok(backup)
}

/// The id of the key the store is encrypted with (admin); None in clear.
pub fn store_key_id(ctx: &Ctx) -> Result<Option<String>> {
    ctx.require(Role::Admin, "read the store's encryption")?;
    Ok(ctx.store.key_id().map(str::to_owned))
}

/// The keys this store needs (admin): its SQLCipher key ids (newest
/// first, from the data directory's key list) and the ids of the keys that
/// sealed its audit trail (oldest first).
pub fn store_keys(ctx: &Ctx) -> Result<(Vec<String>, Vec<String>)> {
    ctx.require(Role::Admin, "list the store's keys")?;
    let store_ids = crate::store::cipher::marker(ctx.data_dir())?
        .map(|m| m.key_ids)
        .unwrap_or_default();
    Ok((store_ids, ctx.store.audit_key_ids()?))
}

/// Records that keys moved between the key folder and the OS keyring
/// (admin): `action` is `keys.to_keyring` or `keys.to_folder`, `ids` the
/// keys' ids (never the keys).
pub fn record_key_move(ctx: &Ctx, action: &str, ids: &[String]) -> Result<()> {
    ctx.require(Role::Admin, "move the store's keys")?;
    if !matches!(
        action,
        "keys.to_keyring" | "keys.to_folder" | "keys.cloud_set" | "keys.cloud_remove"
    ) {
        return Err(Error::InvalidInput {
            what: "key move",
            reason: format!("unknown action `{action}`"),
        });
    }
    ctx.audit(action, None, json!({ "keys": ids }))
}

/// Encrypts a store kept in clear (`rotate` false), or rotates an
/// encrypted store's key (`rotate` true), in place (admin; see
/// `store::cipher`). The new key is `key` when the caller keeps it (a
/// systemd credential) or derives it from a passphrase, else a new one
/// saved in the key folder. The caller
/// holds the runtime lock. Encrypting an encrypted store, or rotating the
/// key of one in clear, is refused with the command to use. Audited.
pub fn rekey_store(
    ctx: Ctx,
    rotate: bool,
    key: Option<crate::store::cipher::NewKey>,
) -> Result<crate::store::Rekeyed> {
    let action = if rotate {
        "store.rekey"
    } else {
        "store.encrypt"
    };
    ctx.require(
        Role::Admin,
        if rotate {
            "rotate the store's key"
        } else {
            "encrypt the store"
        },
    )?;
    match (rotate, ctx.store.key_id()) {
        (false, Some(id)) => {
            return Err(Error::InvalidInput {
                what: "store",
                reason: format!(
                    "it is encrypted already (key {id}); `wardwatchctl store rekey` rotates its key"
                ),
            });
        }
        (true, None) => {
            return Err(Error::InvalidInput {
                what: "store",
                reason: "it is in clear: `wardwatchctl store encrypt` encrypts it".into(),
            });
        }
        _ => {}
    }
    let Ctx {
        store,
        keys,
        actor,
        clock,
        ..
    } = ctx;
    let (mut store, done) = store.rekey(keys.dir(), key)?;
    let now = clock.now();
    store.seal_with(&keys, &actor.username, now)?;
    store.append_audit(&AuditEntry {
        at: now,
        actor: actor.username.clone(),
        action: action.into(),
        target: None,
        detail: json!({ "old_key": done.old_key_id, "new_key": done.new_key_id }),
    })?;
    Ok(done)
}

/// Replaces the store with `backup` (admin of the current store). The
/// caller holds the runtime lock (`wardwatchctl store restore` does), and
/// the restored store records who restored it. Returns where the replaced
/// database was kept.
pub fn restore_store(ctx: Ctx, backup: &Path) -> Result<std::path::PathBuf> {
    ctx.require(Role::Admin, "restore the store")?;
    let (data_dir, keys, user, now) = (
        ctx.data_dir().to_owned(),
        ctx.keys.clone(),
        ctx.actor.username.clone(),
        ctx.clock.now(),
    );
    drop(ctx);
    crate::store::backup::restore(&data_dir, &keys, backup, &user, now)
}

/// The changeable settings with their stored values (admin).
pub fn settings(ctx: &Ctx) -> Result<Vec<(&'static str, &'static str, Option<String>)>> {
    ctx.require(Role::Admin, "read the settings")?;
    crate::settings::SETTINGS
        .iter()
        .map(|s| Ok((s.key, s.holds, ctx.store.setting(s.key)?)))
        .collect()
}

/// Sets (`Some`) or removes (`None`: back to the default) a setting after
/// checking it (admin, audited with the values before and after). The
/// runtime reads settings at start: restart it for a change to apply.
pub fn set_setting(ctx: &Ctx, key: &str, value: Option<&str>) -> Result<()> {
    ctx.require(Role::Admin, "change the settings")?;
    match value {
        Some(v) => crate::settings::check(key, v)?,
        None => drop(crate::settings::known(key)?),
    }
    let before = ctx.store.setting(key)?;
    match value {
        Some(v) => ctx.store.set_setting(key, v.trim())?,
        None => {
            ctx.store.unset_setting(key)?;
        }
    }
    ctx.audit(
        "settings.set",
        Some(key),
        json!({ "before": before, "after": value.map(str::trim) }),
    )
}

/// The ward's alarm rules as they apply (the defaults when none are
/// stored) and whether an admin stored them (admin).
pub fn ward_rules(ctx: &Ctx) -> Result<(crate::alarms::Rules, bool)> {
    ctx.require(Role::Admin, "read the ward's alarm rules")?;
    let stored = ctx.store.setting("alarms.rules")?.is_some();
    Ok((ctx.store.alarm_rules()?, stored))
}

/// Replaces the ward's alarm rules (admin; checked by `Rules::check`,
/// audited with the rules before and after, as `settings.set`). The running
/// runtime applies them within `wardwatch_runtime`'s rules refresh.
pub fn set_ward_rules(ctx: &Ctx, rules: &crate::alarms::Rules) -> Result<()> {
    let json = serde_json::to_string(rules).map_err(|e| Error::InvalidInput {
        what: "alarm rules",
        reason: e.to_string(),
    })?;
    set_setting(ctx, "alarms.rules", Some(&json))
}

/// Every device with the patient it reports for now.
pub fn devices(ctx: &Ctx) -> Result<Vec<crate::store::devices::DeviceView>> {
    ctx.require(Role::Viewer, "list devices")?;
    ctx.store.devices()
}

/// Whom a device measured, and when: the stream's assignments and every
/// correction.
pub fn device_history(ctx: &Ctx, device: &str) -> Result<Vec<crate::store::devices::Assignment>> {
    ctx.require(Role::Viewer, "read a device's history")?;
    ctx.audit_coalesced("devices.history", Some(device))?;
    ctx.store.device_history(device)
}

/// Moves one device's data over `[since, until)` from one patient to
/// another (a monitor left assigned to the bed's previous patient), in one
/// transaction with its audit entry; see `Store::move_device_data`. Only
/// data still held at full rate (`retention.raw_numerics_hours`) can move.
pub fn move_device_data(
    ctx: &mut Ctx,
    m: &crate::store::devices::DataMove<'_>,
) -> Result<crate::store::devices::MoveReport> {
    ctx.require(Role::Clinician, "move data between patients")?;
    let now = ctx.clock.now();
    let raw_since = now - ctx.store.retention()?.raw_numerics;
    let entry = ctx.audit_entry(
        "devices.move_data",
        Some(m.from_mrn),
        json!({
            "device": m.device,
            "to": m.to_mrn,
            "since": m.since.to_rfc3339(),
            "until": m.until.to_rfc3339(),
        }),
    );
    let user = ctx.actor.username.clone();
    ctx.store.move_device_data(m, raw_since, &user, &entry, now)
}

/// The longest user name accepted.
pub const USERNAME_MAX: usize = 64;

/// A user name: 1 to [`USERNAME_MAX`] ASCII letters, digits, `.`, `_` or
/// `-`, starting with a letter or digit. Nothing a terminal or a log could
/// take for anything but a name.
pub fn validate_username(username: &str) -> Result<()> {
    let ok = !username.is_empty()
        && username.len() <= USERNAME_MAX
        && username.starts_with(|c: char| c.is_ascii_alphanumeric())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput {
            what: "username",
            reason: format!(
                "{:?} must be 1 to {USERNAME_MAX} letters, digits, `.`, `_` or `-`, starting with a letter or digit",
                username.chars().take(80).collect::<String>()
            ),
        })
    }
}

/// Refuses a change that would leave the store without an active admin.
fn keep_an_admin(ctx: &Ctx, username: &str, still_admin: bool) -> Result<()> {
    let is_admin = ctx
        .store
        .user(username)?
        .is_some_and(|u| u.active && u.role == Role::Admin);
    if is_admin && !still_admin {
        let admins = ctx
            .store
            .users()?
            .iter()
            .filter(|u| u.active && u.role == Role::Admin)
            .count();
        if admins <= 1 {
            return Err(Error::InvalidInput {
                what: "user change",
                reason: format!(
                    "`{username}` is the last active admin: make another admin first, or nobody could manage this store"
                ),
            });
        }
    }
    Ok(())
}

/// Makes a registered user a service account (admin): it then logs in
/// only for the headless runtime (`Ctx::login_with` with client
/// [`SERVICE_CLIENT`]), never at a terminal or in the app; or makes it a
/// person again. Their sessions end. Audited.
pub fn set_user_service(ctx: &Ctx, username: &str, service: bool) -> Result<()> {
    ctx.require(Role::Admin, "manage users")?;
    ctx.store.set_user_service(username, service)?;
    ctx.audit(
        "users.service",
        Some(username),
        json!({ "service": service }),
    )
}

/// Checks a cloud credentials spec: `env:PREFIX` (the keys are read from
/// PREFIX_ACCESS_KEY_ID and PREFIX_SECRET_ACCESS_KEY), `keyring:NAME`
/// (kept in the OS keyring by `wardwatchctl keys cloud-set NAME`), or `aws`
/// / `aws:PROFILE` (the standard AWS chain). Never the keys themselves.
pub fn check_credentials_spec(spec: &str) -> Result<()> {
    let named = |rest: &str| {
        !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    let ok = spec == "aws"
        || match spec.split_once(':') {
            Some(("env", rest)) => !rest.is_empty(),
            Some(("keyring", rest)) => named(rest),
            Some(("aws", rest)) => named(rest),
            _ => false,
        };
    if ok {
        return Ok(());
    }
    Err(Error::InvalidInput {
        what: "credentials",
        // Not echoed: what was typed there may be a key.
        reason: "must be `env:PREFIX` (keys read from PREFIX_ACCESS_KEY_ID and PREFIX_SECRET_ACCESS_KEY), `keyring:NAME` (kept in the OS keyring) or `aws` / `aws:PROFILE` (the AWS chain: environment, profiles, SSO, roles), never the keys themselves".into(),
    })
}

/// Registers a user or changes their role (a deactivated user stays
/// deactivated). The last active admin cannot be demoted.
pub fn put_user(ctx: &Ctx, username: &str, role: Role) -> Result<()> {
    ctx.require(Role::Admin, "manage users")?;
    validate_username(username)?;
    keep_an_admin(ctx, username, role == Role::Admin)?;
    let existing = ctx.store.user(username)?;
    let user = User {
        username: username.to_owned(),
        display_name: username.to_owned(),
        role,
        active: existing.as_ref().is_none_or(|u| u.active),
        service: existing.as_ref().is_some_and(|u| u.service),
    };
    ctx.store.put_user(&user, ctx.clock.now())?;
    ctx.audit(
        "users.put",
        Some(username),
        json!({ "role": role.as_str(), "previous_role": existing.map(|u| u.role.as_str()) }),
    )
}

/// Deactivates (`active` false) or reactivates a user. A deactivated user
/// can no longer open the store; their name stays in the audit trail and
/// cannot be registered anew by someone else. The last active admin
/// cannot be deactivated.
pub fn set_user_active(ctx: &Ctx, username: &str, active: bool) -> Result<()> {
    ctx.require(Role::Admin, "manage users")?;
    let Some(mut user) = ctx.store.user(username)? else {
        return Err(Error::UserNotFound {
            user: crate::text::printable(username).into_owned(),
        });
    };
    if !active {
        keep_an_admin(ctx, username, false)?;
    }
    user.active = active;
    ctx.store.put_user(&user, ctx.clock.now())?;
    if !active {
        ctx.store.end_sessions_of(username)?;
    }
    ctx.audit(
        if active {
            "users.activate"
        } else {
            "users.deactivate"
        },
        Some(username),
        json!({ "role": user.role.as_str() }),
    )
}

/// Whether `ctx`'s session `token` is still open (not logged out, not idle
/// past `auth::SESSION_IDLE`, not past `auth::SESSION_MAX`, its user not
/// deactivated and their password unchanged): `SessionEnded` otherwise. For
/// a front end that holds a `Ctx` across calls (the desktop app), on every
/// call.
pub fn check_session(ctx: &Ctx, token: &str) -> Result<()> {
    let now = ctx.clock.now();
    match ctx
        .store
        .session_alive(&crate::auth::token_digest(token), now)?
    {
        Some(user) if user == ctx.actor.username => Ok(()),
        _ => Err(Error::SessionEnded),
    }
}

/// When `ctx`'s session `token` ends at the latest (`auth::SESSION_MAX`
/// after login), so a window can warn before it locks; `None` once ended.
pub fn session_expires(ctx: &Ctx, token: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
    ctx.store.session_expires(&crate::auth::token_digest(token))
}

/// Ends the session `token` (its user's own logout).
pub fn logout(ctx: &Ctx, token: &str) -> Result<()> {
    let ended = ctx.store.end_session(&crate::auth::token_digest(token))?;
    ctx.audit("logout", None, json!({ "ended": ended }))
}

/// Sets `username`'s password (admin; a reset also lifts a lock) and ends
/// their sessions. Users change their own with [`change_password`].
pub fn set_password(ctx: &Ctx, username: &str, password: &str) -> Result<()> {
    ctx.require(Role::Admin, "set other users' passwords")?;
    if ctx.store.user(username)?.is_none() {
        return Err(Error::UserNotFound {
            user: crate::text::printable(username).into_owned(),
        });
    }
    crate::auth::check_password(username, password)?;
    let hash = crate::auth::hash_password(password)?;
    ctx.store
        .set_password_hash(username, &hash, ctx.clock.now())?;
    ctx.audit(
        "users.password_set",
        Some(username),
        json!({ "by": "admin" }),
    )
}

/// Registers the demo ward's documented accounts (`demo::DEMO_ACCOUNTS`,
/// password `demo::DEMO_PASSWORD`) where missing (admin): for the demo
/// store only.
pub fn ensure_demo_accounts(ctx: &Ctx) -> Result<()> {
    ctx.require(Role::Admin, "create the demo accounts")?;
    for (name, role) in crate::demo::DEMO_ACCOUNTS {
        if ctx.store.user(name)?.is_none() {
            put_user(ctx, name, *role)?;
            set_password(ctx, name, crate::demo::DEMO_PASSWORD)?;
        }
    }
    Ok(())
}

/// Changes the acting user's own password, given the current one; ends
/// their other sessions.
pub fn change_password(ctx: &Ctx, current: &str, new: &str) -> Result<()> {
    let name = ctx.actor.username.clone();
    let known = ctx
        .store
        .user_auth(&name)?
        .and_then(|a| a.password_hash)
        .is_some_and(|h| crate::auth::verify_password(&h, current));
    if !known {
        ctx.audit("users.password_change_refused", Some(&name), json!({}))?;
        return Err(Error::LoginFailed);
    }
    crate::auth::check_password(&name, new)?;
    let hash = crate::auth::hash_password(new)?;
    ctx.store.set_password_hash(&name, &hash, ctx.clock.now())?;
    ctx.audit("users.password_changed", Some(&name), json!({}))
}

pub fn list_users(ctx: &Ctx) -> Result<Vec<User>> {
    ctx.require(Role::Admin, "list users")?;
    ctx.store.users()
}

/// The newest audit entries (admins only).
pub fn recent_audit(ctx: &Ctx, limit: usize) -> Result<Vec<AuditEntry>> {
    ctx.require(Role::Admin, "read the audit log")?;
    ctx.store.recent_audit(limit)
}

/// The audit chain's id (admins): the lake keeps its heads under
/// `_audit/CHAIN/`.
pub fn audit_chain(ctx: &Ctx) -> Result<String> {
    ctx.require(Role::Admin, "verify the audit log")?;
    ctx.store.audit_chain_id()
}

/// Records that `ctx`'s user starts the runtime on this store: a viewer,
/// a clinician or an admin (the headless service runs as its store's
/// admin); the data role works with the catalogue and the lake, not live
/// patients, and is refused.
pub fn runtime_start(ctx: &Ctx, host: &str) -> Result<()> {
    ctx.require(Role::Viewer, "start the runtime")?;
    ctx.audit(
        "runtime.start",
        None,
        json!({ "host": host, "pid": std::process::id() }),
    )
}

/// Records that the runtime `ctx`'s user started has stopped, and how.
pub fn runtime_stop(ctx: &Ctx, outcome: &str) -> Result<()> {
    ctx.audit(
        "runtime.stop",
        None,
        json!({ "outcome": outcome, "pid": std::process::id() }),
    )
}

/// Checks the whole audit trail against its seals and the head kept
/// outside the store (admins only); the check itself is audited.
pub fn verify_audit(ctx: &Ctx) -> Result<AuditVerification> {
    verify_audit_with(ctx, &[])
}

/// [`verify_audit`], also against heads kept elsewhere (the lake's), each
/// named by where it is kept.
pub fn verify_audit_with(
    ctx: &Ctx,
    elsewhere: &[(String, crate::store::AuditHead)],
) -> Result<AuditVerification> {
    ctx.require(Role::Admin, "verify the audit log")?;
    let v = ctx.store.verify_audit_with(&ctx.keys, elsewhere)?;
    ctx.audit(
        "audit.verify",
        None,
        json!({ "entries": v.entries, "verified": v.verified, "problems": v.problems.len() }),
    )?;
    Ok(v)
}

/// Adds or replaces a stream source (admin).
pub fn put_source(ctx: &Ctx, config: &SourceConfig) -> Result<()> {
    ctx.require(Role::Admin, "configure stream sources")?;
    let name = config.name();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::InvalidInput {
            what: "source name",
            reason: format!("`{name}` must be letters, digits, `.`, `_` or `-`"),
        });
    }
    if name == crate::store::charted::CHARTED_SOURCE {
        return Err(Error::InvalidInput {
            what: "source name",
            reason: format!(
                "`{name}` is the built-in source of observations charted by hand: choose another name"
            ),
        });
    }
    let url = match config {
        SourceConfig::Sse { url, .. } => url,
        SourceConfig::Kinesis {
            endpoint,
            credentials,
            stream,
            ca_bundle,
            ..
        } => {
            check_credentials_spec(credentials)?;
            if let Some(ca) = ca_bundle {
                check_ca_bundle(ca).map_err(|reason| Error::InvalidInput {
                    what: "a Kinesis source",
                    reason,
                })?;
            }
            if stream.is_empty() {
                return Err(Error::InvalidInput {
                    what: "stream",
                    reason: "is empty".into(),
                });
            }
            endpoint
        }
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(Error::InvalidInput {
            what: "source URL",
            reason: format!(
                "`{}` must start with http:// or https://",
                crate::text::redact_secrets(url)
            ),
        });
    }
    if crate::text::url_has_secret(url) {
        return Err(Error::InvalidInput {
            what: "source URL",
            reason: format!(
                "`{}` holds a credential: a secret in a URL would be shown by lists, status, alarms, the audit trail and logs; give the gateway's address without it",
                crate::text::redact_secrets(url)
            ),
        });
    }
    ctx.store.put_source(config, ctx.clock.now())?;
    ctx.audit("sources.put", Some(name), json!({ "config": config }))
}

pub fn remove_source(ctx: &Ctx, name: &str) -> Result<()> {
    ctx.require(Role::Admin, "configure stream sources")?;
    if !ctx.store.remove_source(name)? {
        return Err(Error::InvalidInput {
            what: "source",
            reason: format!("no source named `{name}`: `wardwatchctl sources list` shows them"),
        });
    }
    ctx.audit("sources.remove", Some(name), json!({}))
}

pub fn list_sources(ctx: &Ctx) -> Result<Vec<SourceConfig>> {
    ctx.require(Role::Viewer, "list stream sources")?;
    // A credential stored before they were refused is never shown.
    Ok(ctx
        .store
        .sources()?
        .into_iter()
        .map(|c| match c {
            SourceConfig::Sse { name, url } => SourceConfig::Sse {
                name,
                url: crate::text::redact_secrets(&url).into_owned(),
            },
            other => other,
        })
        .collect())
}

/// Per source: counters, last sequence, lag (no patient data).
pub fn ingest_status(ctx: &Ctx) -> Result<Vec<SourceStatus>> {
    ctx.require(Role::Viewer, "read ingestion status")?;
    let mut status = ctx.store.source_status()?;
    for s in &mut status {
        if let Some(e) = &mut s.last_error {
            *e = crate::text::redact_secrets(e).into_owned();
        }
    }
    Ok(status)
}

/// Quarantined records (admin: they may hold patient data).
pub fn quarantine(ctx: &Ctx, limit: usize) -> Result<Vec<Quarantined>> {
    ctx.require(Role::Admin, "read the quarantine")?;
    let q = ctx.store.quarantine(limit)?;
    ctx.audit("quarantine.read", None, json!({ "count": q.len() }))?;
    Ok(q)
}

/// One vital as the live views show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VitalNow {
    pub vital: Vital,
    pub label: &'static str,
    pub unit: &'static str,
    /// `None`: the sensor reports no signal.
    pub value: Option<f64>,
    pub at: chrono::DateTime<chrono::Utc>,
    pub age_s: i64,
    /// Older than a monitor would show as current (2 min for continuous
    /// vitals, 1 h for intermittent ones).
    pub stale: bool,
}

/// A patient's current state: the record fused with the latest vitals and
/// scores.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatientLive {
    pub mrn: String,
    pub vitals: Vec<VitalNow>,
    pub news2: Option<ScoreRow>,
    pub cardiac_risk: Option<ScoreRow>,
    pub ecg_hr: Option<ScoreRow>,
    pub ecg_events: Vec<ScoreRow>,
}

fn live(ctx: &Ctx, mrn: &str) -> Result<PatientLive> {
    let now = ctx.clock.now();
    let vitals = ctx
        .store
        .latest_vitals(mrn)?
        .into_iter()
        .map(|l| {
            let age_s = (now - l.at).num_seconds().max(0);
            let limit = match l.vital {
                Vital::HeartRate | Vital::Spo2 | Vital::RespRate => 120,
                _ => 3600,
            };
            VitalNow {
                vital: l.vital,
                label: l.vital.label(),
                unit: l.vital.unit(),
                value: l.value,
                at: l.at,
                age_s,
                stale: age_s > limit,
            }
        })
        .collect();
    Ok(PatientLive {
        mrn: mrn.to_owned(),
        vitals,
        news2: ctx.store.latest_score(mrn, ScoreDetail::NEWS2)?,
        cardiac_risk: ctx.store.latest_score(mrn, ScoreDetail::CARDIAC_RISK)?,
        ecg_hr: ctx.store.latest_score(mrn, ScoreDetail::ECG_HR)?,
        ecg_events: ctx.store.scores(mrn, Some(ScoreDetail::ECG_EVENT), 5)?,
    })
}

/// Live state of every patient on the store (the ward overview's tiles).
/// Polled by the UI: audited once per user per 10 minutes.
pub fn ward_live(ctx: &Ctx) -> Result<Vec<PatientLive>> {
    ctx.require(Role::Viewer, "see live vitals")?;
    let mrns: Vec<String> = ctx.store.patients()?.into_iter().map(|p| p.mrn).collect();
    let out = mrns
        .iter()
        .map(|m| live(ctx, m))
        .collect::<Result<Vec<_>>>()?;
    ctx.audit_coalesced("ward.live", None)?;
    Ok(out)
}

/// Live state of one patient (the detail view).
pub fn patient_live(ctx: &Ctx, mrn: &str) -> Result<PatientLive> {
    ctx.require(Role::Viewer, "see live vitals")?;
    if ctx.store.patient(mrn)?.is_none() {
        return Err(Error::PatientNotFound {
            mrn: mrn.to_owned(),
        });
    }
    let out = live(ctx, mrn)?;
    ctx.audit_coalesced("patient.live", Some(mrn))?;
    Ok(out)
}

/// The last `seconds` of one ECG lead in mV (NaN where missing), for the
/// live strip, with the patient's pulse wave under it when one is streamed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcgStrip {
    pub lead: u32,
    pub fs_hz: f64,
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    pub samples_mv: Vec<f64>,
    /// The pleth, else the arterial pressure, over the same seconds.
    pub pulse: Option<PulseStrip>,
}

/// The last seconds of a pulse waveform in its own unit (NaN where
/// missing): the pleth in arbitrary units, an arterial pressure in mmHg.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PulseStrip {
    /// Its MDC code and name.
    pub code: u32,
    pub name: &'static str,
    /// `{arb'U}` or `mm[Hg]`.
    pub unit: &'static str,
    pub fs_hz: f64,
    pub start: Option<chrono::DateTime<chrono::Utc>>,
    pub samples: Vec<f64>,
}

/// The last `seconds` of waveform `code` of `mrn` (values as stored:
/// `origin + factor × sample`), its rate and first sample's time.
fn wave_strip(
    ctx: &Ctx,
    mrn: &str,
    code: u32,
    seconds: u32,
) -> Result<(f64, Option<chrono::DateTime<chrono::Utc>>, Vec<f64>)> {
    let from = ctx.clock.now() - chrono::Duration::seconds(i64::from(seconds.clamp(1, 60)) + 10);
    let blocks = ctx.store.ecg_samples(mrn, code, from)?;
    let mut start = blocks.first().map(|b| b.start);
    let fs_hz = blocks.last().map_or(0.0, |b| 1e9 / b.period_ns as f64);
    let mut samples = Vec::new();
    for b in &blocks {
        samples.extend(
            b.samples
                .iter()
                .map(|s| s.map_or(f64::NAN, |x| b.origin_mv + b.factor_mv * f64::from(x))),
        );
    }
    let keep = (fs_hz * f64::from(seconds)) as usize;
    if samples.len() > keep {
        let drop = samples.len() - keep;
        samples.drain(..drop);
        if let (Some(s), true) = (start, fs_hz > 0.0) {
            start = Some(s + chrono::Duration::nanoseconds((drop as f64 * 1e9 / fs_hz) as i64));
        }
    }
    Ok((fs_hz, start, samples))
}

pub fn ecg_strip(ctx: &Ctx, mrn: &str, seconds: u32) -> Result<EcgStrip> {
    ctx.require(Role::Viewer, "see live ECG")?;
    const LEAD_II: u32 = 131_330;
    let (fs_hz, start, samples_mv) = wave_strip(ctx, mrn, LEAD_II, seconds)?;
    let mut pulse = None;
    for wave in crate::model::codes::PULSE_WAVES {
        let (fs_hz, start, samples) = wave_strip(ctx, mrn, wave.mdc, seconds)?;
        if !samples.is_empty() {
            pulse = Some(PulseStrip {
                code: wave.mdc,
                name: wave.mdc_name,
                unit: wave.ucum,
                fs_hz,
                start,
                samples,
            });
            break;
        }
    }
    ctx.audit_coalesced("patient.ecg", Some(mrn))?;
    Ok(EcgStrip {
        lead: LEAD_II,
        fs_hz,
        start,
        samples_mv,
        pulse,
    })
}

/// Alarms, newest first (`open_only`: not yet resolved).
pub fn list_alarms(ctx: &Ctx, open_only: bool) -> Result<Vec<AlarmView>> {
    list_alarms_up_to(ctx, open_only, ALARMS_LISTED)
}

/// The alarms a list shows unless asked for more: the newest.
pub const ALARMS_LISTED: usize = 500;
/// The most alarms one list returns.
pub const ALARMS_LISTED_MAX: usize = 100_000;

/// [`list_alarms`], the newest `limit` (1 to `ALARMS_LISTED_MAX`).
pub fn list_alarms_up_to(ctx: &Ctx, open_only: bool, limit: usize) -> Result<Vec<AlarmView>> {
    ctx.require(Role::Viewer, "see alarms")?;
    if !(1..=ALARMS_LISTED_MAX).contains(&limit) {
        return Err(Error::InvalidInput {
            what: "limit",
            reason: format!("give 1 to {ALARMS_LISTED_MAX} alarms"),
        });
    }
    let list = ctx.store.alarms(open_only, limit)?;
    ctx.audit_coalesced("alarms.list", None)?;
    Ok(list)
}

/// A bed as a locked workstation shows it: where it is and its worst active
/// alarm, never who lies in it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockedBed {
    pub ward: Option<String>,
    pub bed: Option<String>,
    /// The worst active alarm.
    pub alarm: Option<LockedAlarm>,
}

/// An alarm as a locked workstation shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LockedAlarm {
    pub priority: Priority,
    /// Its kind (`hr_high`, `tech:source`, …): no value, no name.
    pub kind: String,
}

/// The ward overview of a locked workstation (the runtime's own context,
/// which the desktop app holds while nobody is logged in): every bed and
/// technical condition with its worst active alarm, and no name, MRN,
/// value or action. A central station never hides an alarm, and a locked
/// screen shows no patient data.
pub fn locked_overview(ctx: &Ctx) -> Result<Vec<LockedBed>> {
    ctx.require(Role::Admin, "see the locked ward overview")?;
    let alarms = ctx.store.alarms(true, 500)?;
    let mut beds: Vec<LockedBed> = ctx
        .store
        .patients()?
        .into_iter()
        .map(|p| LockedBed {
            ward: p.ward,
            bed: p.bed,
            alarm: None,
        })
        .collect();
    for a in alarms.iter().filter(|a| a.state != "resolved") {
        let at = beds
            .iter_mut()
            .find(|b| a.mrn.is_some() && b.ward == a.ward && b.bed == a.bed);
        match at {
            Some(b) => {
                if b.alarm.as_ref().is_none_or(|l| a.priority > l.priority) {
                    b.alarm = Some(LockedAlarm {
                        priority: a.priority,
                        kind: a.key.clone(),
                    });
                }
            }
            None => beds.push(LockedBed {
                ward: a.ward.clone(),
                bed: a.bed.clone(),
                alarm: Some(LockedAlarm {
                    priority: a.priority,
                    kind: a.key.clone(),
                }),
            }),
        }
    }
    Ok(beds)
}

fn alarm_target(alarm: &AlarmView) -> String {
    match &alarm.mrn {
        Some(mrn) => format!("alarm {} ({mrn})", alarm.id),
        None => format!("alarm {}", alarm.id),
    }
}

/// Acknowledges an alarm: its reminders and escalation stop.
pub fn ack_alarm(ctx: &Ctx, id: i64, note: Option<&str>) -> Result<AlarmView> {
    ctx.require(Role::Clinician, "acknowledge alarms")?;
    let alarm = ctx
        .store
        .ack_alarm(id, &ctx.actor.username, note, ctx.clock.now())?;
    ctx.audit(
        "alarm.ack",
        Some(&alarm_target(&alarm)),
        json!({ "key": alarm.key, "state": alarm.state, "note": note.is_some() }),
    )?;
    Ok(alarm)
}

pub fn resolve_alarm(ctx: &Ctx, id: i64) -> Result<AlarmView> {
    ctx.require(Role::Clinician, "resolve alarms")?;
    let alarm = ctx
        .store
        .resolve_alarm(id, &ctx.actor.username, ctx.clock.now())?;
    ctx.audit(
        "alarm.resolve",
        Some(&alarm_target(&alarm)),
        json!({ "key": alarm.key }),
    )?;
    Ok(alarm)
}

/// Labels an alarm for false-alarm review.
pub fn annotate_alarm(ctx: &Ctx, id: i64, annotation: Annotation) -> Result<AlarmView> {
    ctx.require(Role::Clinician, "annotate alarms")?;
    let alarm = ctx
        .store
        .annotate_alarm(id, annotation, &ctx.actor.username, ctx.clock.now())?;
    ctx.audit(
        "alarm.annotate",
        Some(&alarm_target(&alarm)),
        json!({ "annotation": annotation.as_str() }),
    )?;
    Ok(alarm)
}

/// Silences a patient's alarms up to `max_priority` for `minutes`; a higher
/// priority still notifies.
pub fn silence_patient(ctx: &Ctx, mrn: &str, minutes: u32, max_priority: Priority) -> Result<()> {
    ctx.require(Role::Clinician, "silence alarms")?;
    if !(1..=120).contains(&minutes) {
        return Err(Error::InvalidInput {
            what: "silence",
            reason: format!("{minutes} minutes: silence for 1 to 120 minutes"),
        });
    }
    let until = ctx.clock.now() + chrono::Duration::minutes(i64::from(minutes));
    ctx.store
        .silence_patient(mrn, until, max_priority, &ctx.actor.username)?;
    ctx.audit(
        "alarms.silence",
        Some(mrn),
        json!({ "minutes": minutes, "max_priority": max_priority.as_str() }),
    )
}

/// Sets a patient's own limit for a vital (reverts at discharge).
pub fn set_alarm_limit(
    ctx: &Ctx,
    mrn: &str,
    vital: Vital,
    low: LimitEdit,
    high: LimitEdit,
) -> Result<LimitView> {
    ctx.require(Role::Clinician, "set alarm limits")?;
    let (before, after) =
        ctx.store
            .set_patient_limit(mrn, vital, low, high, &ctx.actor.username, ctx.clock.now())?;
    ctx.audit(
        "alarms.set_limit",
        Some(mrn),
        json!({ "vital": vital, "before": before, "after": after }),
    )?;
    Ok(after)
}

/// A patient's limits for every vital that has them (see [`LimitView`]).
pub fn alarm_limits(ctx: &Ctx, mrn: &str) -> Result<Vec<LimitView>> {
    ctx.require(Role::Viewer, "read alarm limits")?;
    let rules = ctx.store.alarm_rules()?;
    let Some(limits) = ctx.store.alarm_limits_of(mrn)? else {
        return Err(Error::PatientNotFound {
            mrn: mrn.to_owned(),
        });
    };
    ctx.audit_coalesced("alarms.read_limits", Some(mrn))?;
    Ok(Vital::ALL
        .into_iter()
        .filter_map(|vital| {
            let applies = rules.limit_for(vital, &limits)?;
            let (own_low, own_high) =
                limits.overrides[vital.code() as usize].unwrap_or((None, None));
            Some(LimitView {
                vital,
                own_low,
                own_high,
                low: applies.low,
                high: applies.high,
            })
        })
        .collect())
}

/// A clinician sends an alert on to the patient of an alarm. Only with the
/// patient's recorded consent; queued here, delivered by the runtime
/// (`wardwatch-runtime`, through [`messages_due`] and
/// [`record_message_delivery`]).
pub fn notify_patient(ctx: &Ctx, alarm_id: i64, text: &str) -> Result<i64> {
    ctx.require(Role::Clinician, "send alerts to patients")?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 500 {
        return Err(Error::InvalidInput {
            what: "message",
            reason: "must be 1 to 500 characters".into(),
        });
    }
    let alarm = ctx
        .store
        .alarm(alarm_id)?
        .ok_or_else(|| Error::InvalidInput {
            what: "alarm",
            reason: format!("no alarm {alarm_id}: `wardwatchctl alarms list` shows them"),
        })?;
    let mrn = alarm.mrn.clone().ok_or_else(|| Error::InvalidInput {
        what: "alarm",
        reason: format!("alarm {alarm_id} is a system condition, not a patient's"),
    })?;
    let patient = ctx
        .store
        .patient(&mrn)?
        .ok_or_else(|| Error::PatientNotFound { mrn: mrn.clone() })?;
    if !patient.alert_consent {
        ctx.audit(
            "patient.message_refused",
            Some(&mrn),
            json!({ "alarm": alarm_id, "reason": "no consent" }),
        )?;
        return Err(Error::Forbidden {
            user: ctx.actor.username.clone(),
            role: ctx.actor.role.as_str(),
            action: "alert a patient who has not consented to alerts",
            needed: "the patient's consent (registry field alert_consent)",
        });
    }
    let id = ctx.store.queue_message(
        &mrn,
        Some(alarm_id),
        &ctx.actor.username,
        text,
        ctx.clock.now(),
    )?;
    ctx.audit(
        "patient.message",
        Some(&mrn),
        json!({ "alarm": alarm_id, "message": id, "chars": text.chars().count() }),
    )?;
    Ok(id)
}

/// Whether a destination for patient messages is configured.
pub fn messaging_configured(ctx: &Ctx) -> Result<bool> {
    ctx.require(Role::Clinician, "read the messaging configuration")?;
    Ok(ctx.store.message_destination()?.is_some())
}

/// Sets where patient messages go (admin).
pub fn configure_messages(ctx: &Ctx, dest: &crate::messages::MessageDestination) -> Result<()> {
    ctx.require(Role::Admin, "configure patient messaging")?;
    check_credentials_spec(&dest.credentials)?;
    if let Some(ca) = &dest.ca_bundle {
        check_ca_bundle(ca).map_err(|reason| Error::InvalidInput {
            what: "the message destination",
            reason,
        })?;
    }
    ctx.store.set_message_destination(dest)?;
    ctx.audit(
        "messages.configure",
        None,
        json!({ "endpoint": dest.endpoint, "stream": dest.stream }),
    )
}

pub fn list_messages(ctx: &Ctx) -> Result<Vec<crate::messages::PatientMessage>> {
    ctx.require(Role::Clinician, "read patient messages")?;
    let list = ctx.store.messages()?;
    ctx.audit_coalesced("patient.messages_list", None)?;
    Ok(list)
}

/// How many sources are configured: whether a workstation has anything to
/// run. Counts only, no configuration, so no role is needed.
pub fn configured_source_count(ctx: &Ctx) -> Result<usize> {
    Ok(ctx.store.sources()?.len())
}

/// Longest wait between delivery attempts of a failed patient message.
pub const MESSAGE_RETRY_MAX: chrono::Duration = chrono::Duration::minutes(5);

/// When a failed message is due its next attempt: 2^attempts seconds after
/// the last one, at most [`MESSAGE_RETRY_MAX`].
pub fn message_retry_due(m: &crate::messages::PatientMessage) -> chrono::DateTime<chrono::Utc> {
    let wait = chrono::Duration::seconds(1_i64 << m.attempts.clamp(0, 16)).min(MESSAGE_RETRY_MAX);
    m.updated + wait
}

/// What the runtime should deliver now: the destination (if configured) and
/// the queued messages plus the failed ones whose retry is due. For the
/// runtime's service context (admin).
pub fn messages_due(
    ctx: &Ctx,
) -> Result<(
    Option<crate::messages::MessageDestination>,
    Vec<crate::messages::PatientMessage>,
)> {
    ctx.require(Role::Admin, "deliver patient messages")?;
    let now = ctx.clock.now();
    let due = ctx
        .store
        .pending_messages()?
        .into_iter()
        .filter(|m| m.state == "queued" || message_retry_due(m) <= now)
        .collect();
    Ok((ctx.store.message_destination()?, due))
}

/// Records one delivery attempt of a patient message (the stream's sequence
/// number, or the error) and audits it. Audit details hold identifiers and
/// counts, never the text.
pub fn record_message_delivery(
    ctx: &Ctx,
    message: &crate::messages::PatientMessage,
    outcome: std::result::Result<&str, &str>,
) -> Result<()> {
    ctx.require(Role::Admin, "deliver patient messages")?;
    ctx.store
        .mark_message(message.id, outcome, ctx.clock.now())?;
    let (action, detail) = match outcome {
        Ok(_) => (
            "patient.message_delivered",
            json!({ "message": message.id, "attempts": message.attempts + 1 }),
        ),
        Err(_) => (
            "patient.message_failed",
            json!({ "message": message.id, "attempts": message.attempts + 1 }),
        ),
    };
    ctx.audit(action, Some(&message.mrn), detail)
}

/// Tells a front end when the store changed (anyone's commit: the runtime's
/// batches and alarms, another workstation's acknowledgement), so it can
/// refresh on change instead of polling on a timer. Holds its own
/// connection and reads no patient data, so it needs no role.
#[derive(Debug)]
pub struct StoreWatch {
    store: Store,
    seen: i64,
}

impl StoreWatch {
    pub fn open(data_dir: &Path) -> Result<StoreWatch> {
        let store = Store::open_dir(data_dir)?;
        let seen = store.data_version()?;
        Ok(StoreWatch { store, seen })
    }

    /// Whether another connection committed since the last call.
    pub fn changed(&mut self) -> Result<bool> {
        let now = self.store.data_version()?;
        let changed = now != self.seen;
        self.seen = now;
        Ok(changed)
    }
}

/// A lake target as an admin gives it (`wardwatchctl sync targets add`).
#[derive(Debug, Clone, Default)]
pub struct TargetSpec {
    pub name: String,
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub storage_class: Option<String>,
    pub sse: Option<String>,
    pub sse_kms_key: Option<String>,
    pub profile: Option<String>,
    /// An absolute path to a PEM file of CA certificates to trust.
    pub ca_bundle: Option<String>,
    /// An Iceberg REST catalog for the curated tables (s3:// targets).
    pub iceberg_catalog: Option<String>,
    /// The SigV4 service the catalog's requests are signed for.
    pub iceberg_signing: Option<String>,
    /// The curated tables' namespace in the catalog (default `wardwatch`).
    pub iceberg_namespace: Option<String>,
}

/// SigV4 service names an Iceberg REST catalog may want its requests
/// signed for: SeaweedFS and other S3-compatible servers (`s3`), AWS S3
/// Tables (`s3tables`), AWS Glue's Iceberg REST endpoint (`glue`).
pub const ICEBERG_SIGNING: &[&str] = &["s3", "s3tables", "glue"];

/// Storage classes a target may write new objects in; archive classes are
/// for the lifecycle rules (`archive apply`), where reads are not instant.
pub const LAKE_WRITE_CLASSES: &[&str] = &[
    "STANDARD",
    "STANDARD_IA",
    "INTELLIGENT_TIERING",
    "ONEZONE_IA",
    "GLACIER_IR",
];

fn bad_target(reason: String) -> Error {
    Error::InvalidInput {
        what: "a lake target",
        reason,
    }
}

/// Checks that `ca` is an absolute path to a readable PEM file of
/// certificates (a hospital's own CA); the reason when it is not.
pub fn check_ca_bundle(ca: &str) -> std::result::Result<(), String> {
    let pem = std::fs::read(ca)
        .map_err(|e| format!("CA bundle {ca}: {e} (an absolute path to a PEM file)"))?;
    if !Path::new(ca).is_absolute() || !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----")
    {
        return Err(format!(
            "CA bundle {ca}: an absolute path to a PEM file of certificates"
        ));
    }
    Ok(())
}

/// Checks a target's spec: a short name; `file:///absolute/dir` or
/// `s3://bucket[/prefix]` with a valid bucket name; no credentials in any
/// field (they come from the AWS chain); an endpoint over http(s); a class
/// and encryption S3 knows.
fn check_target(t: &TargetSpec) -> Result<()> {
    let name_ok = !t.name.is_empty()
        && t.name.len() <= 64
        && t.name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if !name_ok {
        return Err(bad_target(format!(
            "name {:?}: 1–64 letters, digits, `-`, `_` or `.`",
            t.name
        )));
    }
    let no_secret = |what: &str, v: &str| -> Result<()> {
        let lower = v.to_ascii_lowercase();
        if v.contains('@')
            || [
                "secret",
                "token",
                "password",
                "signature",
                "x-amz-credential",
            ]
            .iter()
            .any(|s| lower.contains(s))
        {
            return Err(bad_target(format!(
                "the {what} seems to carry a credential: credentials come from the AWS chain (environment, profile, role), never from a URL"
            )));
        }
        if v.chars().any(char::is_control) {
            return Err(bad_target(format!("the {what} holds control characters")));
        }
        Ok(())
    };
    no_secret("URL", &t.url)?;
    if let Some(path) = t.url.strip_prefix("file://") {
        if !Path::new(path).is_absolute() {
            return Err(bad_target(format!(
                "`{}`: a folder target is file:///absolute/path",
                t.url
            )));
        }
    } else if let Some(rest) = t.url.strip_prefix("s3://") {
        let bucket = rest.split('/').next().unwrap_or("");
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.'))
            && bucket.as_bytes()[0].is_ascii_alphanumeric();
        if !bucket_ok {
            return Err(bad_target(format!(
                "bucket `{bucket}`: 3–63 lower-case letters, digits, `-` or `.` (S3 bucket naming rules)"
            )));
        }
    } else {
        return Err(bad_target(format!(
            "`{}` is neither file:///absolute/dir nor s3://bucket[/prefix]",
            t.url
        )));
    }
    if let Some(e) = &t.endpoint {
        no_secret("endpoint", e)?;
        if !(e.starts_with("https://") || e.starts_with("http://")) {
            return Err(bad_target(format!(
                "endpoint `{e}`: an http:// or https:// URL"
            )));
        }
    }
    if let Some(c) = &t.storage_class
        && !LAKE_WRITE_CLASSES.contains(&c.as_str())
    {
        return Err(bad_target(format!(
            "storage class `{c}`: one of {} (archive classes are set by the lifecycle rules, not for writing)",
            LAKE_WRITE_CLASSES.join(", ")
        )));
    }
    if let Some(s) = &t.sse
        && !matches!(s.as_str(), "AES256" | "aws:kms")
    {
        return Err(bad_target(format!(
            "server-side encryption `{s}`: AES256 (SSE-S3) or aws:kms (SSE-KMS)"
        )));
    }
    if t.sse_kms_key.is_some() && t.sse.as_deref() != Some("aws:kms") {
        return Err(bad_target("a KMS key needs --sse aws:kms".into()));
    }
    if let Some(ca) = &t.ca_bundle {
        check_ca_bundle(ca).map_err(bad_target)?;
    }
    if let Some(c) = &t.iceberg_catalog {
        no_secret("Iceberg catalog URL", c)?;
        if !(c.starts_with("https://") || c.starts_with("http://")) {
            return Err(bad_target(format!(
                "Iceberg catalog `{c}`: the http:// or https:// URL of an Iceberg REST catalog (the part before /v1)"
            )));
        }
    }
    if let Some(n) = &t.iceberg_namespace {
        let ok = (1..=64).contains(&n.len())
            && n.as_bytes()[0].is_ascii_lowercase()
            && n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !ok {
            return Err(bad_target(format!(
                "Iceberg namespace {n:?}: 1–64 lower-case letters, digits or `_`, starting with a letter"
            )));
        }
    }
    if (t.iceberg_signing.is_some() || t.iceberg_namespace.is_some()) && t.iceberg_catalog.is_none()
    {
        return Err(bad_target(
            "--iceberg-signing and --iceberg-namespace need --iceberg-catalog".into(),
        ));
    }
    if let Some(s) = &t.iceberg_signing
        && !ICEBERG_SIGNING.contains(&s.as_str())
    {
        return Err(bad_target(format!(
            "Iceberg catalog signing `{s}`: one of {}",
            ICEBERG_SIGNING.join(", ")
        )));
    }
    if t.url.starts_with("file://")
        && (t.endpoint.is_some()
            || t.iceberg_catalog.is_some()
            || t.storage_class.is_some()
            || t.sse.is_some()
            || t.profile.is_some()
            || t.ca_bundle.is_some())
    {
        return Err(bad_target(
            "endpoint, storage class, encryption, profile, CA bundle and Iceberg catalog apply to s3:// targets only".into(),
        ));
    }
    Ok(())
}

/// The configured lake targets (no credentials are stored): the data role
/// and admins may see where the data lives.
pub fn lake_targets(ctx: &Ctx) -> Result<Vec<crate::store::lake::LakeTarget>> {
    ctx.require_data("list lake targets")?;
    ctx.store.lake_targets()
}

/// Adds the lake target (admin, audited). Wardwatch syncs to one target.
pub fn add_lake_target(ctx: &Ctx, spec: &TargetSpec) -> Result<()> {
    ctx.require(Role::Admin, "configure the data lake")?;
    check_target(spec)?;
    if let Some(t) = ctx.store.lake_targets()?.first() {
        return Err(bad_target(format!(
            "target `{}` is configured; Wardwatch syncs to one target: remove it first",
            t.name
        )));
    }
    ctx.store.add_lake_target(&crate::store::lake::LakeTarget {
        name: spec.name.clone(),
        url: spec.url.clone(),
        endpoint: spec.endpoint.clone(),
        region: spec.region.clone(),
        storage_class: spec.storage_class.clone(),
        sse: spec.sse.clone(),
        sse_kms_key: spec.sse_kms_key.clone(),
        profile: spec.profile.clone(),
        ca_bundle: spec.ca_bundle.clone(),
        iceberg_catalog: spec.iceberg_catalog.clone(),
        iceberg_signing: spec.iceberg_signing.clone(),
        iceberg_namespace: spec.iceberg_namespace.clone(),
        created: ctx.clock.now(),
        created_by: ctx.actor.username.clone(),
    })?;
    ctx.audit(
        "sync.target_add",
        Some(&spec.name),
        json!({ "url": spec.url, "endpoint": spec.endpoint, "storage_class": spec.storage_class, "sse": spec.sse, "ca_bundle": spec.ca_bundle, "iceberg_catalog": spec.iceberg_catalog, "iceberg_signing": spec.iceberg_signing, "iceberg_namespace": spec.iceberg_namespace }),
    )
}

/// Removes a lake target (admin, audited). Pending objects stay pending for
/// the next target.
pub fn remove_lake_target(ctx: &Ctx, name: &str) -> Result<()> {
    ctx.require(Role::Admin, "configure the data lake")?;
    if !ctx.store.remove_lake_target(name)? {
        return Err(bad_target(format!("no target named `{name}`")));
    }
    ctx.audit("sync.target_remove", Some(name), json!({}))
}

/// The lake's outbox at a glance.
pub fn lake_status(ctx: &Ctx) -> Result<crate::store::lake::LakeStatus> {
    ctx.require_data("read the sync status")?;
    ctx.store.lake_status_at(ctx.clock.now())
}

/// Checks that the user may run a sync by hand (admin) and audits it; the
/// sync engine then opens the store itself, as the runtime does.
pub fn authorize_sync(ctx: &Ctx, flush: bool) -> Result<()> {
    ctx.require(Role::Admin, "run the sync")?;
    ctx.audit("sync.run", None, json!({ "flush": flush }))
}

/// Checks that the user may use the dataset catalogue for `action` and
/// audits it with `detail` (the query, the entry). Reading it (`search`,
/// `show`, `schemas`, `history`) is for the data and admin roles: it
/// describes the lake, not patients, and clinical roles have no need of
/// it. Changing it (`refresh`, `reindex`, `annotate`) is for admins.
pub fn authorize_catalog(ctx: &Ctx, action: &str, detail: serde_json::Value) -> Result<()> {
    match action {
        "search" | "show" | "schemas" | "history" => {
            ctx.require_data("use the dataset catalogue")?;
        }
        _ => ctx.require(Role::Admin, "change the dataset catalogue")?,
    }
    ctx.audit(&format!("catalog.{action}"), None, detail)
}

/// Checks that the user may act on the archival rules or restore archived
/// data (`action`: "apply" or "restore"; admin) and audits it; `show` needs
/// the data role or admin.
pub fn authorize_archive(ctx: &Ctx, action: &str, key: Option<&str>) -> Result<()> {
    match action {
        "show" => ctx.require_data("read the archival rules"),
        "apply" => {
            ctx.require(Role::Admin, "apply the archival rules")?;
            ctx.audit("archive.apply", None, json!({}))
        }
        _ => {
            ctx.require(Role::Admin, "restore archived data")?;
            ctx.audit("archive.restore", key, json!({}))
        }
    }
}
