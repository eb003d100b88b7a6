//! The API layer: plain functions taking a `Ctx` and typed inputs, called by
//! the desktop shell's commands and by `wardwatchctl` alike, so neither front
//! end holds logic. Roles are checked here, in the backend, and every read of
//! patient data and every change is written to the audit log with its user.

use std::path::Path;
use std::sync::Arc;

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::json;

use crate::clock::Clock;
use crate::error::{Error, Result};
use crate::import::{self, Format, ImportReport};
use crate::ingest::source::SourceConfig;
use crate::model::{MedicationClass, PatientRecord, PatientSummary};
use crate::store::{AuditEntry, Quarantined, Role, SourceStatus, Store, User};

/// Who is acting: a registered, active user and their role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    pub username: String,
    pub role: Role,
}

/// What every API call needs: the store, who is acting, and the time.
#[derive(Debug)]
pub struct Ctx {
    pub store: Store,
    pub actor: Actor,
    pub clock: Arc<dyn Clock>,
}

impl Ctx {
    /// Opens the store in `data_dir` and resolves `username` to a registered
    /// user. On a store with no users yet, the first user becomes its admin
    /// (and that is audited): whoever creates the data directory owns it.
    pub fn open(data_dir: &Path, username: &str, clock: Arc<dyn Clock>) -> Result<Ctx> {
        let store = Store::open_dir(data_dir)?;
        let now = clock.now();
        let user = match store.user(username)? {
            Some(u) if u.active => u,
            Some(_) | None if store.user_count()? > 0 => {
                return Err(Error::UnknownUser {
                    user: username.to_owned(),
                });
            }
            _ => {
                let user = User {
                    username: username.to_owned(),
                    display_name: username.to_owned(),
                    role: Role::Admin,
                    active: true,
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
            actor: Actor {
                username: user.username,
                role: user.role,
            },
            clock,
        })
    }

    fn require(&self, needed: Role, action: &'static str) -> Result<()> {
        if self.actor.role >= needed {
            Ok(())
        } else {
            Err(Error::Forbidden {
                user: self.actor.username.clone(),
                role: self.actor.role.as_str(),
                action,
                needed: needed.as_str(),
            })
        }
    }

    fn audit(&self, action: &str, target: Option<&str>, detail: serde_json::Value) -> Result<()> {
        self.store
            .append_audit(&self.audit_entry(action, target, detail))
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
    pub age_years: u32,
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
    let records: Vec<PatientRecord> = parsed.records.into_iter().map(|(_, r)| r).collect();
    let mut entry = ctx.audit_entry(action, None, json!({}));
    // the audit detail is written with the outcome counts, in the same transaction
    let now = ctx.clock.now();
    let provisional = ImportReport::new(format, &[], parsed.rejected);
    entry.detail = json!({ "records": records.len(), "rejected": provisional.rejected.len() });
    let outcomes = ctx.store.upsert_patients(&records, &entry, now)?;
    let report = ImportReport::new(format, &outcomes, provisional.rejected);
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
            .map(|r| ("demo".to_owned(), r))
            .collect(),
        rejected: Vec::new(),
    };
    store_records(ctx, Format::Csv, parsed, "demo.load_ward")
}

/// Registers a user or changes their role.
pub fn put_user(ctx: &Ctx, username: &str, role: Role) -> Result<()> {
    ctx.require(Role::Admin, "manage users")?;
    if username.is_empty()
        || !username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(Error::InvalidInput {
            what: "username",
            reason: format!("`{username}` must be letters, digits, `.`, `_` or `-`"),
        });
    }
    let user = User {
        username: username.to_owned(),
        display_name: username.to_owned(),
        role,
        active: true,
    };
    ctx.store.put_user(&user, ctx.clock.now())?;
    ctx.audit(
        "users.put",
        Some(username),
        json!({ "role": role.as_str() }),
    )
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
    let url = match config {
        SourceConfig::Sse { url, .. } => url,
        SourceConfig::Kinesis {
            endpoint,
            credentials,
            stream,
            ..
        } => {
            if !credentials.starts_with("env:") || credentials.len() <= 4 {
                return Err(Error::InvalidInput {
                    what: "credentials",
                    reason: format!(
                        "`{credentials}` must be `env:PREFIX` (keys are read from PREFIX_ACCESS_KEY_ID and PREFIX_SECRET_ACCESS_KEY)"
                    ),
                });
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
            reason: format!("`{url}` must start with http:// or https://"),
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
    ctx.store.sources()
}

/// Per source: counters, last sequence, lag (no patient data).
pub fn ingest_status(ctx: &Ctx) -> Result<Vec<SourceStatus>> {
    ctx.require(Role::Viewer, "read ingestion status")?;
    ctx.store.source_status()
}

/// Quarantined records (admin: they may hold patient data).
pub fn quarantine(ctx: &Ctx, limit: usize) -> Result<Vec<Quarantined>> {
    ctx.require(Role::Admin, "read the quarantine")?;
    let q = ctx.store.quarantine(limit)?;
    ctx.audit("quarantine.read", None, json!({ "count": q.len() }))?;
    Ok(q)
}
