//! `wardwatch`, the desktop shell: a Tauri 2 window over `wardwatch-core`.
//!
//! Each command decodes its input, calls `wardwatch_core::api` and encodes the
//! result; errors reach the UI as `{ code, message }` and the UI branches on
//! `code`. No clinical logic lives here.
//!
//! Arguments: `--data-dir DIR` (else `WARDWATCH_DATA_DIR`, else the OS data
//! directory), `--user NAME` (else `WARDWATCH_USER`, else the login name: the
//! name the login screen offers) and `--demo` (loads the built-in demo ward
//! into the store and logs that user in without a password: the demo's
//! documented accounts, `demo::DEMO_ACCOUNTS`, unlock it later),
//! `--lock-after SECONDS` (else `WARDWATCH_LOCK_AFTER_S`, else 600: the
//! window locks after that long without input);
//! the audit keys' folder is `WARDWATCH_KEY_DIR`, else the OS config
//! directory (see `wardwatch_runtime::setup::key_dir`).
//!
//! Deployment: one runtime owns a store. On a single workstation the app
//! hosts it (when sources are configured, or with `--demo`); when another
//! process (`wardwatchctl serve`) already runs it, the app does not start a
//! second one but watches that runtime's store and says so. With neither,
//! the window shows a technical alarm: nobody is watching the streams.
//!
//! Updates are pushed: `store-changed` events tell the window when anyone
//! committed to the store (see `watch_store`).
//!
//! Commands are async and run their store work on the blocking pool, so a
//! slow query never freezes the window; the window closing, or SIGTERM or
//! SIGINT, drains the runtime (the writer stores what it already read)
//! before the process ends.

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

use tauri::Emitter;

use serde::Serialize;
use wardwatch_core::alarms::{AlarmView, Annotation};
use wardwatch_core::api::{self, Ctx, EcgStrip, PatientLive, PatientView};
use wardwatch_core::clock::SystemClock;
use wardwatch_core::model::PatientSummary;
use wardwatch_core::store::AuditKeys;
use wardwatch_runtime::lock::holder as runtime_holder;

/// The error shape the UI receives.
#[derive(Debug, Serialize)]
struct UiError {
    code: &'static str,
    message: String,
}

impl From<wardwatch_core::Error> for UiError {
    fn from(e: wardwatch_core::Error) -> Self {
        UiError {
            code: e.kind().code(),
            message: e.to_string(),
        }
    }
}

/// Who is logged in (with the session's token, for the logout), and the
/// runtime's own context, which serves the locked screen and needs no
/// user: a central station never hides an alarm.
struct AppState {
    user: Mutex<Option<(Ctx, Option<String>)>>,
    service: Mutex<Ctx>,
    data_dir: PathBuf,
    keys: AuditKeys,
    /// The login screen's suggested name.
    suggested_user: String,
    /// Seconds without input after which the window locks.
    lock_after_s: u64,
}

type CtxState = Arc<AppState>;

fn poisoned<T>(_: T) -> UiError {
    UiError {
        code: "internal",
        message: "the store is unavailable after an earlier failure: restart Wardwatch".into(),
    }
}

fn task_failed(e: impl std::fmt::Display) -> UiError {
    UiError {
        code: "internal",
        message: format!("a store task failed: {e}"),
    }
}

/// Runs `f` as the logged-in user on the store off the UI thread (Tauri's
/// blocking pool); `unauthenticated` while the window is locked.
async fn with_ctx<T: Send + 'static>(
    state: &CtxState,
    f: impl FnOnce(&mut Ctx) -> wardwatch_core::Result<T> + Send + 'static,
) -> Result<T, UiError> {
    let state = Arc::clone(state);
    tauri::async_runtime::spawn_blocking(move || {
        let mut user = state.user.lock().map_err(poisoned)?;
        // A session ended elsewhere (an admin deactivated the user, their
        // password changed, 12 h passed) locks the window at its next call.
        if let Some((ctx, Some(token))) = user.as_ref()
            && let Err(e) = api::check_session(ctx, token)
        {
            *user = None;
            return Err(UiError::from(e));
        }
        match user.as_mut() {
            Some((ctx, _)) => f(ctx).map_err(UiError::from),
            None => Err(UiError {
                code: "unauthenticated",
                message: "the window is locked: log in".into(),
            }),
        }
    })
    .await
    .map_err(task_failed)?
}

/// Whether a runtime watches this store, as the window shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
struct RuntimeStatus {
    /// `hosted` (this app runs it), `external` (another process does),
    /// `stopped` (this app's runtime ended), `none` (nobody runs one).
    state: &'static str,
    detail: String,
}

/// What this app knows of its own runtime; `None` when it hosts none.
type HostedRuntime = Arc<Mutex<Option<Result<(), String>>>>;

#[derive(Clone)]
struct RuntimeWatch {
    data_dir: PathBuf,
    hosted: Option<HostedRuntime>,
}

#[derive(Debug, Serialize)]
struct Session {
    /// `None` while the window is locked.
    user: Option<String>,
    role: Option<&'static str>,
    data_dir: String,
    /// The name the login screen offers.
    suggested_user: String,
    lock_after_s: u64,
    /// When the session ends at the latest (`auth::SESSION_MAX`), for the
    /// window's warning; `None` while locked or for a session without a
    /// token (the demo's).
    expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[tauri::command]
async fn session(state: tauri::State<'_, CtxState>) -> Result<Session, UiError> {
    let state = Arc::clone(&state);
    let user = state.user.lock().map_err(poisoned)?;
    let actor = user.as_ref().map(|(ctx, _)| ctx.actor.clone());
    let expires_at = match user.as_ref() {
        Some((ctx, Some(token))) => api::session_expires(ctx, token)?,
        _ => None,
    };
    Ok(Session {
        user: actor.as_ref().map(|a| a.username.clone()),
        role: actor.map(|a| a.role.as_str()),
        data_dir: state.data_dir.display().to_string(),
        suggested_user: state.suggested_user.clone(),
        lock_after_s: state.lock_after_s,
        expires_at,
    })
}

/// Logs `username` in (`api::Ctx::login`): the window unlocks as them, and
/// whoever was logged in before is logged out (a quick user switch).
#[tauri::command]
async fn login(
    state: tauri::State<'_, CtxState>,
    username: String,
    password: String,
) -> Result<(), UiError> {
    let state = Arc::clone(&state);
    tauri::async_runtime::spawn_blocking(move || {
        let (ctx, token) = Ctx::login_with(
            &state.data_dir,
            &state.keys,
            &username,
            &password,
            "desktop",
            Arc::new(SystemClock),
            Some(&wardwatch_runtime::directory::Ldap),
        )?;
        let previous = state
            .user
            .lock()
            .map_err(poisoned)?
            .replace((ctx, Some(token)));
        end_session(previous);
        Ok(())
    })
    .await
    .map_err(task_failed)?
}

/// Locks the window: the user is logged out; the locked screen shows the
/// ward's beds and alarms without patient data until someone logs in.
#[tauri::command]
async fn lock(state: tauri::State<'_, CtxState>) -> Result<(), UiError> {
    let state = Arc::clone(&state);
    tauri::async_runtime::spawn_blocking(move || {
        let previous = state.user.lock().map_err(poisoned)?.take();
        end_session(previous);
        Ok(())
    })
    .await
    .map_err(task_failed)?
}

fn end_session(previous: Option<(Ctx, Option<String>)>) {
    if let Some((ctx, Some(token))) = previous
        && let Err(e) = api::logout(&ctx, &token)
    {
        tracing::warn!(error = %e, "a session could not be ended");
    }
}

/// The locked screen's ward: beds and their worst alarms, no patient data.
#[tauri::command]
async fn locked_overview(
    state: tauri::State<'_, CtxState>,
) -> Result<Vec<api::LockedBed>, UiError> {
    let state = Arc::clone(&state);
    tauri::async_runtime::spawn_blocking(move || {
        let service = state.service.lock().map_err(poisoned)?;
        api::locked_overview(&service).map_err(UiError::from)
    })
    .await
    .map_err(task_failed)?
}

/// Whether anything runs the streams into this store right now.
#[tauri::command]
async fn runtime_status(watch: tauri::State<'_, RuntimeWatch>) -> Result<RuntimeStatus, UiError> {
    Ok(runtime_status_of(&watch))
}

/// The runtime's state as the window shows it (also pushed as
/// `runtime-status` when it changes, by `watch_store`).
fn runtime_status_of(watch: &RuntimeWatch) -> RuntimeStatus {
    let hosted = watch.hosted.as_ref().map(|h| {
        h.lock()
            .map(|s| s.clone())
            .unwrap_or(Some(Err("unknown".into())))
    });
    match hosted {
        Some(None) => RuntimeStatus {
            state: "hosted",
            detail: "this workstation runs the streams".into(),
        },
        Some(Some(Ok(()))) => RuntimeStatus {
            state: "stopped",
            detail: "the runtime stopped: restart Wardwatch".into(),
        },
        Some(Some(Err(e))) => RuntimeStatus {
            state: "stopped",
            detail: format!("the runtime stopped: {e}"),
        },
        None => match runtime_holder(&watch.data_dir) {
            Some(holder) => RuntimeStatus {
                state: "external",
                detail: format!("streams run by another Wardwatch runtime ({holder})"),
            },
            None => RuntimeStatus {
                state: "none",
                detail: "no runtime is running for this store: alarms are not being raised (start `wardwatchctl serve`)".into(),
            },
        },
    }
}

#[tauri::command]
async fn list_patients(state: tauri::State<'_, CtxState>) -> Result<Vec<PatientSummary>, UiError> {
    with_ctx(&state, move |ctx| api::list_patients(ctx)).await
}

#[tauri::command]
async fn show_patient(
    state: tauri::State<'_, CtxState>,
    mrn: String,
) -> Result<PatientView, UiError> {
    with_ctx(&state, move |ctx| api::show_patient(ctx, &mrn)).await
}

#[tauri::command]
async fn ward_live(state: tauri::State<'_, CtxState>) -> Result<Vec<PatientLive>, UiError> {
    with_ctx(&state, move |ctx| api::ward_live(ctx)).await
}

#[tauri::command]
async fn patient_live(
    state: tauri::State<'_, CtxState>,
    mrn: String,
) -> Result<PatientLive, UiError> {
    with_ctx(&state, move |ctx| api::patient_live(ctx, &mrn)).await
}

#[tauri::command]
async fn ecg_strip(
    state: tauri::State<'_, CtxState>,
    mrn: String,
    seconds: u32,
) -> Result<EcgStrip, UiError> {
    with_ctx(&state, move |ctx| api::ecg_strip(ctx, &mrn, seconds)).await
}

#[tauri::command]
async fn list_alarms(
    state: tauri::State<'_, CtxState>,
    open_only: bool,
) -> Result<Vec<AlarmView>, UiError> {
    with_ctx(&state, move |ctx| api::list_alarms(ctx, open_only)).await
}

#[tauri::command]
async fn ack_alarm(
    state: tauri::State<'_, CtxState>,
    id: i64,
    note: Option<String>,
) -> Result<AlarmView, UiError> {
    with_ctx(&state, move |ctx| api::ack_alarm(ctx, id, note.as_deref())).await
}

/// A time the UI sent as milliseconds since the epoch.
fn time_of(ms: i64) -> Result<chrono::DateTime<chrono::Utc>, UiError> {
    chrono::DateTime::from_timestamp_millis(ms).ok_or_else(|| UiError {
        code: "invalid_input",
        message: format!("{ms} is not a time"),
    })
}

/// One patient's history for the chart: `[from_ms, to_ms)` in `columns`
/// bins (`api::patient_history`).
#[tauri::command]
async fn patient_history(
    state: tauri::State<'_, CtxState>,
    mrn: String,
    from_ms: i64,
    to_ms: i64,
    columns: u32,
) -> Result<wardwatch_core::store::history::History, UiError> {
    let (from, to) = (time_of(from_ms)?, time_of(to_ms)?);
    with_ctx(&state, move |ctx| {
        api::patient_history(ctx, &mrn, from, to, columns)
    })
    .await
}

/// Full-rate history read back from the lake for a window whose samples
/// have left the store (at most 3 h): allowed and audited by
/// `api::plan_lake_history`, read by `wardwatch_sync::history` (pending
/// objects from the store, synced ones from the target), binned by
/// `api::history_from_lake`.
#[tauri::command]
async fn lake_history(
    state: tauri::State<'_, CtxState>,
    mrn: String,
    from_ms: i64,
    to_ms: i64,
    columns: u32,
) -> Result<wardwatch_core::store::history::History, UiError> {
    let (from, to) = (time_of(from_ms)?, time_of(to_ms)?);
    let asked = mrn.clone();
    with_ctx(&state, move |ctx| {
        api::plan_lake_history(ctx, &asked, from, to)
    })
    .await?;
    let found = wardwatch_sync::history::cleaned_samples(&state.data_dir, &mrn, from, to)
        .await
        .map_err(|e| UiError {
            code: "lake",
            message: format!("the lake could not be read: {e}"),
        })?;
    tracing::info!(
        objects = found.objects,
        bytes = found.bytes,
        samples = found.samples.len(),
        "history read back from the lake"
    );
    with_ctx(&state, move |ctx| {
        api::history_from_lake(ctx, &mrn, from, to, columns, &found.samples)
    })
    .await
}

/// The overview's sparklines (`api::ward_trends`).
#[tauri::command]
async fn ward_trends(
    state: tauri::State<'_, CtxState>,
    minutes: u32,
) -> Result<Vec<api::Trend>, UiError> {
    with_ctx(&state, move |ctx| api::ward_trends(ctx, minutes)).await
}

/// Exports the shown history window as CSV into the export folder
/// (`export_dir`), readable by the user only; returns the file's path.
#[tauri::command]
async fn export_history(
    state: tauri::State<'_, CtxState>,
    mrn: String,
    from_ms: i64,
    to_ms: i64,
    columns: u32,
) -> Result<String, UiError> {
    let (from, to) = (time_of(from_ms)?, time_of(to_ms)?);
    let name = format!(
        "{}-history-{}-{}.csv",
        mrn.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect::<String>(),
        from.format("%Y%m%dT%H%M"),
        to.format("%Y%m%dT%H%M")
    );
    let csv = with_ctx(&state, move |ctx| {
        api::export_history(ctx, &mrn, from, to, columns)
    })
    .await?;
    let dir = export_dir().ok_or_else(|| UiError {
        code: "storage",
        message: "no folder to save the export in: set HOME or WARDWATCH_EXPORT_DIR".into(),
    })?;
    let path = dir.join(name);
    write_private(&path, csv.as_bytes()).map_err(|e| UiError {
        code: "storage",
        message: format!("cannot save {}: {e}", path.display()),
    })?;
    Ok(path.display().to_string())
}

/// Where exports go: `WARDWATCH_EXPORT_DIR`, else `~/Downloads` when it
/// exists, else the home folder.
fn export_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("WARDWATCH_EXPORT_DIR") {
        return Some(PathBuf::from(d));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let downloads = home.join("Downloads");
    Some(if downloads.is_dir() { downloads } else { home })
}

/// Writes a file only its owner can read (patient data leaves the store).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Runs `f` as the logged-in user off the UI thread, for work whose errors
/// are not the store's (the catalogue's index): `f` maps them itself.
async fn with_ctx_ui<T: Send + 'static>(
    state: &CtxState,
    f: impl FnOnce(&mut Ctx) -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    with_ctx(state, |ctx| Ok(f(ctx))).await?
}

fn catalog_error(e: wardwatch_catalog::Error) -> UiError {
    UiError {
        code: "catalog",
        message: e.to_string(),
    }
}

#[derive(Debug, Serialize)]
struct CatalogHit {
    id: String,
    score: f32,
    entry: Option<wardwatch_core::store::catalog::CatalogEntry>,
    matched_columns: Vec<String>,
}

#[derive(Debug, Serialize)]
struct CatalogResults {
    total: usize,
    hits: Vec<CatalogHit>,
    facets: Option<wardwatch_catalog::Facets>,
}

/// Searches the dataset catalogue (data role or admin; audited), with the
/// facet counts over every match.
#[tauri::command]
async fn catalog_search(
    state: tauri::State<'_, CtxState>,
    query: String,
    limit: usize,
) -> Result<CatalogResults, UiError> {
    with_ctx_ui(&state, move |ctx| {
        api::authorize_catalog(ctx, "search", serde_json::json!({ "query": query }))?;
        let data_dir = ctx.data_dir().to_owned();
        let store = wardwatch_core::store::Store::open_dir(&data_dir)?;
        let catalog =
            wardwatch_catalog::Catalog::open(&wardwatch_catalog::Catalog::dir_of(&data_dir))
                .map_err(catalog_error)?;
        let found = catalog
            .search(&query, limit.clamp(1, 200), true)
            .map_err(catalog_error)?;
        let mut hits = Vec::new();
        for h in &found.hits {
            let entry = store.catalog_entry(&h.id)?;
            let matched_columns = entry
                .as_ref()
                .map(|e| {
                    wardwatch_catalog::matched_columns(e, &found.column_terms)
                        .into_iter()
                        .map(|c| c.name.clone())
                        .collect()
                })
                .unwrap_or_default();
            hits.push(CatalogHit {
                id: h.id.clone(),
                score: h.score,
                entry,
                matched_columns,
            });
        }
        Ok(CatalogResults {
            total: found.total,
            hits,
            facets: found.facets,
        })
    })
    .await
}

/// Brings the catalogue up to date with the store (admin; audited).
#[tauri::command]
async fn catalog_refresh(
    state: tauri::State<'_, CtxState>,
) -> Result<wardwatch_core::store::catalog::CatalogUpdate, UiError> {
    with_ctx_ui(&state, move |ctx| {
        api::authorize_catalog(ctx, "refresh", serde_json::json!({}))?;
        let data_dir = ctx.data_dir().to_owned();
        let mut store = wardwatch_core::store::Store::open_dir(&data_dir)?;
        let who = ctx.actor.username.clone();
        let r = wardwatch_catalog::refresh(&mut store, &data_dir, &who, chrono::Utc::now())
            .map_err(catalog_error)?;
        Ok(r.store)
    })
    .await
}

/// The lake's sync status per zone (data role or admin).
#[tauri::command]
async fn lake_status(
    state: tauri::State<'_, CtxState>,
) -> Result<wardwatch_core::store::lake::LakeStatus, UiError> {
    with_ctx(&state, move |ctx| api::lake_status(ctx)).await
}

#[derive(Debug, Serialize)]
struct AdminOverview {
    sources: Vec<wardwatch_core::ingest::source::SourceConfig>,
    ingest: Vec<wardwatch_core::store::SourceStatus>,
    targets: Vec<wardwatch_core::store::lake::LakeTarget>,
    users: Vec<wardwatch_core::store::User>,
    audit: Vec<wardwatch_core::store::AuditEntry>,
    verification: wardwatch_core::store::AuditVerification,
    settings: Vec<SettingView>,
    /// The ward's alarm rules in force, and whether an admin stored them.
    rules: wardwatch_core::alarms::Rules,
    rules_stored: bool,
}

#[derive(Debug, Serialize)]
struct SettingView {
    key: &'static str,
    holds: &'static str,
    /// `None`: the default applies.
    value: Option<String>,
}

/// The admin's view: sources and their ingest, lake targets, users and
/// roles, the newest audit entries and the trail's verification (admin;
/// each part checks the role itself).
#[tauri::command]
async fn admin_overview(state: tauri::State<'_, CtxState>) -> Result<AdminOverview, UiError> {
    with_ctx(&state, move |ctx| {
        let rules = api::ward_rules(ctx)?;
        Ok(AdminOverview {
            sources: api::list_sources(ctx)?,
            ingest: api::ingest_status(ctx)?,
            targets: api::lake_targets(ctx)?,
            users: api::list_users(ctx)?,
            audit: api::recent_audit(ctx, 200)?,
            verification: api::verify_audit(ctx)?,
            settings: api::settings(ctx)?
                .into_iter()
                // The rules have their own editor; the directory's JSON
                // stays with `wardwatchctl` (it may hold a bind secret's name).
                .filter(|(key, _, _)| !matches!(*key, "alarms.rules" | "ldap.directory"))
                .map(|(key, holds, value)| SettingView { key, holds, value })
                .collect(),
            rules: rules.0,
            rules_stored: rules.1,
        })
    })
    .await
}

/// Sets a setting, or with `value` `None` returns it to its default
/// (`api::set_setting`: admin, checked, audited).
#[tauri::command]
async fn set_setting(
    state: tauri::State<'_, CtxState>,
    key: String,
    value: Option<String>,
) -> Result<(), UiError> {
    with_ctx(&state, move |ctx| {
        api::set_setting(ctx, &key, value.as_deref())
    })
    .await
}

/// Replaces the ward's alarm rules (`api::set_ward_rules`: admin, checked,
/// audited; the runtime applies them within `RULES_REFRESH`).
#[tauri::command]
async fn set_ward_rules(
    state: tauri::State<'_, CtxState>,
    rules: wardwatch_core::alarms::Rules,
) -> Result<(), UiError> {
    with_ctx(&state, move |ctx| api::set_ward_rules(ctx, &rules)).await
}

/// Changes a user's role (`api::put_user`; the last admin stays one).
#[tauri::command]
async fn set_user_role(
    state: tauri::State<'_, CtxState>,
    username: String,
    role: String,
) -> Result<(), UiError> {
    with_ctx(&state, move |ctx| {
        let role = wardwatch_core::store::Role::parse(&role)?;
        api::put_user(ctx, &username, role)
    })
    .await
}

/// Deactivates or reactivates a user (`api::set_user_active`).
#[tauri::command]
async fn set_user_active(
    state: tauri::State<'_, CtxState>,
    username: String,
    active: bool,
) -> Result<(), UiError> {
    with_ctx(&state, move |ctx| {
        api::set_user_active(ctx, &username, active)
    })
    .await
}

/// Charts observations by hand (`api::chart_observations`).
#[tauri::command]
async fn chart_observations(
    state: tauri::State<'_, CtxState>,
    mrn: String,
    chart: api::Chart,
) -> Result<Vec<i64>, UiError> {
    with_ctx(&state, move |ctx| {
        api::chart_observations(ctx, &mrn, &chart)
    })
    .await
}

#[tauri::command]
async fn charted_observations(
    state: tauri::State<'_, CtxState>,
    mrn: String,
    hours: u32,
) -> Result<Vec<wardwatch_core::store::charted::Charted>, UiError> {
    with_ctx(&state, move |ctx| {
        api::charted_observations(ctx, &mrn, hours)
    })
    .await
}

/// The false-alarm review: `true`, `false` or `non_actionable`.
#[tauri::command]
async fn annotate_alarm(
    state: tauri::State<'_, CtxState>,
    id: i64,
    annotation: String,
) -> Result<AlarmView, UiError> {
    let annotation = match annotation.as_str() {
        "true" => Annotation::True,
        "false" => Annotation::False,
        "non_actionable" => Annotation::NonActionable,
        other => {
            return Err(UiError {
                code: "invalid_input",
                message: format!("`{other}` is not an annotation (true, false, non_actionable)"),
            });
        }
    };
    with_ctx(&state, move |ctx| api::annotate_alarm(ctx, id, annotation)).await
}

/// Sends an alarm's alert to its consenting patient (the UI asks for
/// confirmation first; `api::notify_patient` checks consent and role).
#[tauri::command]
async fn notify_patient(
    state: tauri::State<'_, CtxState>,
    alarm_id: i64,
    text: String,
) -> Result<i64, UiError> {
    with_ctx(&state, move |ctx| api::notify_patient(ctx, alarm_id, &text)).await
}

struct Args {
    data_dir: Option<PathBuf>,
    user: Option<String>,
    key_dir: Option<PathBuf>,
    demo: bool,
    lock_after_s: Option<u64>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        data_dir: std::env::var_os("WARDWATCH_DATA_DIR").map(PathBuf::from),
        user: std::env::var("WARDWATCH_USER").ok(),
        key_dir: std::env::var_os("WARDWATCH_KEY_DIR").map(PathBuf::from),
        demo: false,
        lock_after_s: std::env::var("WARDWATCH_LOCK_AFTER_S")
            .ok()
            .and_then(|v| v.parse().ok()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--data-dir" => {
                args.data_dir = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--data-dir needs a directory"))?
                        .into(),
                )
            }
            "--user" => {
                args.user = Some(
                    it.next()
                        .ok_or_else(|| anyhow::anyhow!("--user needs a name"))?,
                )
            }
            "--demo" => args.demo = true,
            "--lock-after" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--lock-after needs seconds"))?;
                args.lock_after_s =
                    Some(v.parse().map_err(|_| {
                        anyhow::anyhow!("--lock-after needs whole seconds, not `{v}`")
                    })?);
            }
            other => anyhow::bail!(
                "unknown argument `{other}` (known: --data-dir DIR, --user NAME, --demo, --lock-after SECONDS)"
            ),
        }
    }
    Ok(args)
}

/// Opens the store (creating it only for `--demo`: a mistyped path is an
/// error, never an empty ward).
/// The store's folder: `--data-dir`, else the shared default (a separate
/// `wardwatch-demo` beside it for `--demo`).
fn resolve_data_dir(args: &Args) -> anyhow::Result<PathBuf> {
    Ok(match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            let default = wardwatch_runtime::setup::data_dir(None)?;
            if args.demo {
                default.with_file_name("wardwatch-demo")
            } else {
                default
            }
        }
    })
}

/// Opens the store: for `--demo`, creates it, loads the demo ward and its
/// documented accounts, and returns its user logged in; otherwise nobody is
/// logged in (the login screen shows) and a folder without a store is an
/// error (`NoStore`).
fn open_store(
    args: &Args,
    data_dir: &std::path::Path,
    keys: &AuditKeys,
    user: &str,
) -> anyhow::Result<Option<Ctx>> {
    let clock = Arc::new(SystemClock);
    if args.demo {
        let mut ctx = Ctx::create(data_dir, keys, user, clock)?;
        api::load_demo_ward(&mut ctx, 42)?;
        if ctx.actor.role == wardwatch_core::store::Role::Admin {
            api::ensure_demo_accounts(&ctx)?;
        }
        return Ok(Some(ctx));
    }
    if !wardwatch_core::store::Store::exists_in(data_dir) {
        return Err(wardwatch_core::Error::NoStore {
            path: data_dir.to_owned(),
        }
        .into());
    }
    Ok(None)
}

fn main() -> anyhow::Result<()> {
    wardwatch_runtime::setup::crypto_without_exit_cleanup();
    let args = parse_args()?;
    let data_dir = resolve_data_dir(&args)?;
    // The app may host the runtime: it logs into the store as well, once
    // there is one (never creating a mistyped folder for its logs).
    let log_dir = (args.demo || wardwatch_core::store::Store::exists_in(&data_dir))
        .then(|| wardwatch_runtime::setup::log_dir(&data_dir));
    wardwatch_runtime::setup::init_tracing(log_dir.as_deref());
    let keys = AuditKeys::in_dir(wardwatch_runtime::setup::key_dir(args.key_dir.clone())?);
    wardwatch_runtime::setup::provide_store_key()?;
    wardwatch_runtime::vault::install(keys.dir());
    let user = wardwatch_runtime::setup::username(args.user.clone())?;
    let logged_in = open_store(&args, &data_dir, &keys, &user)?;
    // The runtime's own context: it starts the runtime and serves the
    // locked screen, whoever is (or is not) logged in.
    let service = Ctx::service(&data_dir, &keys, Arc::new(SystemClock))?;
    let data_dir = service.data_dir().to_owned();
    let app_slot: Arc<OnceLock<tauri::AppHandle>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let has_sources = api::configured_source_count(&service)? > 0;
    // One runtime per store: when another process runs it, watch its store.
    let external = runtime_holder(&data_dir);
    let mut runtime: Option<(JoinHandle<()>, HostedRuntime)> = None;
    match &external {
        Some(holder) => tracing::warn!(
            holder = %holder,
            "another Wardwatch runtime runs this store: this window watches it and starts none"
        ),
        None if args.demo || has_sources => {
            api::runtime_start(&service, "desktop app")?;
            runtime = Some(start_runtime(
                data_dir.clone(),
                keys.clone(),
                args.demo,
                app_slot.clone(),
                stop_rx,
            )?);
        }
        None => {}
    }
    let data_dir_for_watch = data_dir.clone();
    let watch = RuntimeWatch {
        data_dir,
        hosted: runtime.as_ref().map(|(_, state)| Arc::clone(state)),
    };
    let watch_for_push = watch.clone();
    let (state_keys, state_user) = (keys.clone(), user.clone());
    let state: CtxState = Arc::new(AppState {
        user: Mutex::new(logged_in.map(|ctx| (ctx, None))),
        service: Mutex::new(service),
        data_dir: data_dir_for_watch.clone(),
        keys,
        suggested_user: user,
        lock_after_s: lock_after_s(args.lock_after_s)?,
    });
    let app = tauri::Builder::default()
        .manage(state)
        .manage(watch.clone())
        .invoke_handler(tauri::generate_handler![
            session,
            login,
            lock,
            locked_overview,
            runtime_status,
            list_patients,
            show_patient,
            ward_live,
            patient_live,
            ecg_strip,
            list_alarms,
            ack_alarm,
            annotate_alarm,
            notify_patient,
            patient_history,
            lake_history,
            export_history,
            ward_trends,
            chart_observations,
            charted_observations,
            catalog_search,
            catalog_refresh,
            lake_status,
            admin_overview,
            set_setting,
            set_ward_rules,
            set_user_role,
            set_user_active
        ])
        .setup(move |app| {
            let _ = app_slot.set(app.handle().clone());
            Ok(())
        })
        .build(tauri::generate_context!())
        .map_err(|e| anyhow::anyhow!("the window could not start: {e}"))?;
    if args.demo {
        backfill_demo(
            data_dir_for_watch.clone(),
            state_keys.clone(),
            state_user.clone(),
        );
    }
    // Live updates are pushed: the window refreshes when the store changes.
    watch_store(app.handle().clone(), data_dir_for_watch, watch_for_push);
    // SIGTERM (a session logging out, a service manager) or SIGINT closes
    // the app the same way as its window: the runtime is drained.
    exit_on_signal(app.handle().clone());
    // `run_return` hands control back when the last window closes (`run`
    // would exit the process), so the runtime is drained below.
    let code = app.run_return(|_, _| {});
    let _ = stop_tx.send(true);
    if let Some((thread, _)) = runtime {
        tracing::info!("window closed: draining the runtime");
        if thread.join().is_err() {
            tracing::error!("the runtime thread panicked while stopping");
        }
    }
    if code != 0 {
        anyhow::bail!("the window ended with code {code}");
    }
    Ok(())
}

/// The demo's history: a year of minute data for every patient of the
/// ward (about 11 s and 900 MB for 24 on this kind of machine), built
/// straight into the store on a thread of its own, the first bed first (one
/// transaction per patient, so the runtime's writer is never held up for
/// long); skipped when an earlier run already built it.
fn backfill_demo(data_dir: PathBuf, keys: AuditKeys, user: String) {
    let spawned = std::thread::Builder::new()
        .name("wardwatch-backfill".into())
        .spawn(move || {
            let outcome = Ctx::open(&data_dir, &keys, &user, Arc::new(SystemClock))
                .and_then(|mut ctx| api::backfill_demo_history(&mut ctx, 366, 366, 0));
            match outcome {
                Ok(hours) => tracing::info!(hours, "demo history back-filled"),
                Err(e) => tracing::error!(error = %e, "the demo history could not be back-filled"),
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "the demo history could not be back-filled");
    }
}

/// Seconds without input after which the window locks: shared ward
/// workstations (`--lock-after`, else `WARDWATCH_LOCK_AFTER_S`; 30–86,400,
/// default 10 minutes).
fn lock_after_s(given: Option<u64>) -> anyhow::Result<u64> {
    match given {
        None => Ok(600),
        Some(s) if (30..=86_400).contains(&s) => Ok(s),
        Some(s) => anyhow::bail!("the lock delay must be 30 to 86400 seconds, not {s}"),
    }
}

/// How often the store is checked for changes, and the least time between
/// two `store-changed` events (a streaming ward changes it constantly).
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
const PUSH_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The runtime's state is checked this often for `runtime-status`.
const RUNTIME_CHECK_EVERY: u32 = 8;

/// Emits `store-changed` to the window whenever anyone commits to the store
/// (the runtime, this app, another workstation), at most once a second, and
/// `runtime-status` whenever the runtime's state changes (checked every
/// two seconds): the window is told, it never polls.
fn watch_store(app: tauri::AppHandle, data_dir: PathBuf, runtime: RuntimeWatch) {
    let spawned = std::thread::Builder::new()
        .name("wardwatch-watch".into())
        .spawn(move || {
            let mut watch = match api::StoreWatch::open(&data_dir) {
                Ok(w) => Some(w),
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch the store: the window refreshes on its timer only");
                    None
                }
            };
            let mut pending = false;
            let mut last_push: Option<std::time::Instant> = None;
            let mut status = runtime_status_of(&runtime);
            let mut ticks = 0u32;
            loop {
                std::thread::sleep(WATCH_EVERY);
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(RUNTIME_CHECK_EVERY) {
                    let now = runtime_status_of(&runtime);
                    if now != status {
                        status = now;
                        if app.emit("runtime-status", &status).is_err() {
                            return;
                        }
                    }
                }
                match watch.as_mut().map(api::StoreWatch::changed) {
                    Some(Ok(changed)) => pending |= changed,
                    Some(Err(e)) => tracing::warn!(error = %e, "cannot check the store for changes"),
                    None => {}
                }
                if pending && last_push.is_none_or(|t| t.elapsed() >= PUSH_AT_MOST_EVERY) {
                    pending = false;
                    last_push = Some(std::time::Instant::now());
                    if app.emit("store-changed", ()).is_err() {
                        return;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot watch the store: the window refreshes on its timer only");
    }
}

/// Asks the app to exit on SIGTERM or SIGINT (from a thread of its own).
fn exit_on_signal(app: tauri::AppHandle) {
    let spawned = std::thread::Builder::new()
        .name("wardwatch-signals".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch for SIGTERM: it will end the app without draining");
                    return;
                }
            };
            rt.block_on(async {
                use tokio::signal::unix::{SignalKind, signal};
                let (Ok(mut term), Ok(mut int)) = (
                    signal(SignalKind::terminate()),
                    signal(SignalKind::interrupt()),
                ) else {
                    tracing::error!("cannot watch for SIGTERM: it will end the app without draining");
                    return;
                };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::info!("signal received: closing");
                app.exit(0);
            });
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot watch for SIGTERM: it will end the app without draining");
    }
}

/// Runs the runtime (and, with `--demo`, the simulated ward feeding it) on
/// its own thread until the window closes. The returned state turns
/// `Some` when the runtime ends, with its error if it failed.
fn start_runtime(
    data_dir: PathBuf,
    keys: AuditKeys,
    demo: bool,
    app_slot: Arc<OnceLock<tauri::AppHandle>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<(JoinHandle<()>, HostedRuntime)> {
    let stopped = move || {
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    };
    // "Open patient" on a notification brings the window up on that alarm.
    let handler: wardwatch_notify::ActionHandler = Box::new(move |invoked| {
        if let Some(app) = app_slot.get() {
            let _ = app.emit("alarm-action", invoked.alarm_id);
        }
    });
    let notifier = wardwatch_notify::DesktopNotifier::with_action_handler(handler)?;
    let state: HostedRuntime = Arc::default();
    let ended = Arc::clone(&state);
    let thread = std::thread::Builder::new()
        .name("wardwatch-runtime".into())
        .spawn(move || {
            let outcome = run_runtime(data_dir, keys, demo, notifier, stopped);
            if let Err(e) = &outcome {
                tracing::error!(error = %e, "the runtime stopped");
            }
            if let Ok(mut s) = ended.lock() {
                *s = Some(outcome);
            }
        })?;
    Ok((thread, state))
}

fn run_runtime<F, Fut>(
    data_dir: PathBuf,
    keys: AuditKeys,
    demo: bool,
    notifier: wardwatch_notify::DesktopNotifier,
    stopped: F,
) -> Result<(), String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async move {
        if demo {
            let ctx = Ctx::service(&data_dir, &keys, Arc::new(SystemClock))
                .map_err(|e| format!("the demo feed could not start: {e}"))?;
            let feed =
                wardwatch_sim::demo::start(&ctx, wardwatch_core::demo::DEMO_BEDS, 42, stopped())
                    .await
                    .map_err(|e| format!("the demo feed could not start: {e}"))?;
            tokio::spawn(feed);
        }
        let outcome = wardwatch_runtime::serve(
            data_dir.clone(),
            keys.clone(),
            Arc::new(SystemClock),
            Box::new(notifier),
            stopped(),
        )
        .await;
        let said = match &outcome {
            Ok(_) => "stopped".to_owned(),
            Err(e) => format!("failed: {}", e.kind().code()),
        };
        let audited = Ctx::service(&data_dir, &keys, Arc::new(SystemClock))
            .and_then(|ctx| api::runtime_stop(&ctx, &said));
        if let Err(e) = audited {
            tracing::error!(error = %e, "the runtime's stop could not be audited");
        }
        outcome.map(|_| ()).map_err(|e| e.to_string())
    })
}
