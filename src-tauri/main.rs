//! `wardwatch`, the desktop shell: a Tauri 2 window over `wardwatch-core`.
//!
//! Each command decodes its input, calls `wardwatch_core::api` and encodes the
//! result; errors reach the UI as `{ code, message }` and the UI branches on
//! `code`. No clinical logic lives here.
//!
//! Arguments: `--data-dir DIR` (else `WARDWATCH_DATA_DIR`, else the OS data
//! directory), `--user NAME` (else `WARDWATCH_USER`, else the login name) and
//! `--demo` (loads the built-in demo ward into the store before opening);
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
use wardwatch_core::alarms::AlarmView;
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

type CtxState = Arc<Mutex<Ctx>>;

/// Runs `f` on the store off the UI thread (Tauri's blocking pool).
async fn with_ctx<T: Send + 'static>(
    state: &CtxState,
    f: impl FnOnce(&mut Ctx) -> wardwatch_core::Result<T> + Send + 'static,
) -> Result<T, UiError> {
    let state = Arc::clone(state);
    tauri::async_runtime::spawn_blocking(move || {
        let mut ctx = state.lock().map_err(|_| UiError {
            code: "internal",
            message: "the store is unavailable after an earlier failure: restart Wardwatch".into(),
        })?;
        f(&mut ctx).map_err(UiError::from)
    })
    .await
    .map_err(|e| UiError {
        code: "internal",
        message: format!("a store task failed: {e}"),
    })?
}

/// Whether a runtime watches this store, as the window shows it.
#[derive(Debug, Clone, Serialize)]
struct RuntimeStatus {
    /// `hosted` (this app runs it), `external` (another process does),
    /// `stopped` (this app's runtime ended), `none` (nobody runs one).
    state: &'static str,
    detail: String,
}

/// What this app knows of its own runtime; `None` when it hosts none.
type HostedRuntime = Arc<Mutex<Option<Result<(), String>>>>;

struct RuntimeWatch {
    data_dir: PathBuf,
    hosted: Option<HostedRuntime>,
}

#[derive(Debug, Serialize)]
struct Session {
    user: String,
    role: &'static str,
    data_dir: String,
}

#[tauri::command]
async fn session(state: tauri::State<'_, CtxState>) -> Result<Session, UiError> {
    with_ctx(&state, move |ctx| {
        Ok(Session {
            user: ctx.actor.username.clone(),
            role: ctx.actor.role.as_str(),
            data_dir: ctx.data_dir().display().to_string(),
        })
    })
    .await
}

/// Whether anything runs the streams into this store right now.
#[tauri::command]
async fn runtime_status(watch: tauri::State<'_, RuntimeWatch>) -> Result<RuntimeStatus, UiError> {
    let hosted = watch.hosted.as_ref().map(|h| {
        h.lock()
            .map(|s| s.clone())
            .unwrap_or(Some(Err("unknown".into())))
    });
    Ok(match hosted {
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
    })
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

struct Args {
    data_dir: Option<PathBuf>,
    user: Option<String>,
    key_dir: Option<PathBuf>,
    demo: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        data_dir: std::env::var_os("WARDWATCH_DATA_DIR").map(PathBuf::from),
        user: std::env::var("WARDWATCH_USER").ok(),
        key_dir: std::env::var_os("WARDWATCH_KEY_DIR").map(PathBuf::from),
        demo: false,
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
            other => anyhow::bail!(
                "unknown argument `{other}` (known: --data-dir DIR, --user NAME, --demo)"
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

fn open_ctx(args: &Args, data_dir: &std::path::Path, keys: &AuditKeys) -> anyhow::Result<Ctx> {
    let data_dir = data_dir.to_owned();
    let user = wardwatch_runtime::setup::username(args.user.clone())?;
    let clock = Arc::new(SystemClock);
    Ok(if args.demo {
        let mut ctx = Ctx::create(&data_dir, keys, &user, clock)?;
        api::load_demo_ward(&mut ctx, 42)?;
        ctx
    } else {
        Ctx::open(&data_dir, keys, &user, clock)?
    })
}

fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let data_dir = resolve_data_dir(&args)?;
    // The app may host the runtime: it logs into the store as well, once
    // there is one (never creating a mistyped folder for its logs).
    let log_dir = (args.demo || wardwatch_core::store::Store::exists_in(&data_dir))
        .then(|| wardwatch_runtime::setup::log_dir(&data_dir));
    wardwatch_runtime::setup::init_tracing(log_dir.as_deref());
    let keys = AuditKeys::in_dir(wardwatch_runtime::setup::key_dir(args.key_dir.clone())?);
    let ctx = open_ctx(&args, &data_dir, &keys)?;
    let data_dir = ctx.data_dir().to_owned();
    let app_slot: Arc<OnceLock<tauri::AppHandle>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let has_sources = api::configured_source_count(&ctx)? > 0;
    // One runtime per store: when another process runs it, watch its store.
    let external = runtime_holder(&data_dir);
    let mut runtime: Option<(JoinHandle<()>, HostedRuntime)> = None;
    match &external {
        Some(holder) => tracing::warn!(
            holder = %holder,
            "another Wardwatch runtime runs this store: this window watches it and starts none"
        ),
        None if args.demo || has_sources => match api::runtime_start(&ctx, "desktop app") {
            // Refused (the data role): the window shows that nobody watches.
            Err(e) => tracing::warn!(error = %e, "this user may not start the runtime"),
            Ok(()) => {
                runtime = Some(start_runtime(
                    data_dir.clone(),
                    keys.clone(),
                    ctx.actor.username.clone(),
                    args.demo,
                    app_slot.clone(),
                    stop_rx,
                )?);
            }
        },
        None => {}
    }
    let data_dir_for_watch = data_dir.clone();
    let watch = RuntimeWatch {
        data_dir,
        hosted: runtime.as_ref().map(|(_, state)| Arc::clone(state)),
    };
    let ctx: CtxState = Arc::new(Mutex::new(ctx));
    let app = tauri::Builder::default()
        .manage(ctx)
        .manage(watch)
        .invoke_handler(tauri::generate_handler![
            session,
            runtime_status,
            list_patients,
            show_patient,
            ward_live,
            patient_live,
            ecg_strip,
            list_alarms,
            ack_alarm
        ])
        .setup(move |app| {
            let _ = app_slot.set(app.handle().clone());
            Ok(())
        })
        .build(tauri::generate_context!())
        .map_err(|e| anyhow::anyhow!("the window could not start: {e}"))?;
    // Live updates are pushed: the window refreshes when the store changes.
    watch_store(app.handle().clone(), data_dir_for_watch);
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

/// How often the store is checked for changes, and the least time between
/// two `store-changed` events (a streaming ward changes it constantly).
const WATCH_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
const PUSH_AT_MOST_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Emits `store-changed` to the window whenever anyone commits to the store
/// (the runtime, this app, another workstation), at most once a second.
fn watch_store(app: tauri::AppHandle, data_dir: PathBuf) {
    let spawned = std::thread::Builder::new()
        .name("wardwatch-watch".into())
        .spawn(move || {
            let mut watch = match api::StoreWatch::open(&data_dir) {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(error = %e, "cannot watch the store: the window refreshes on its timer only");
                    return;
                }
            };
            let mut pending = false;
            let mut last_push: Option<std::time::Instant> = None;
            loop {
                std::thread::sleep(WATCH_EVERY);
                match watch.changed() {
                    Ok(changed) => pending |= changed,
                    Err(e) => tracing::warn!(error = %e, "cannot check the store for changes"),
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
    user: String,
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
            let outcome = run_runtime(data_dir, keys, user, demo, notifier, stopped);
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
    user: String,
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
            let ctx = Ctx::open(&data_dir, &keys, &user, Arc::new(SystemClock))
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
        let audited = Ctx::open(&data_dir, &keys, &user, Arc::new(SystemClock))
            .and_then(|ctx| api::runtime_stop(&ctx, &said));
        if let Err(e) = audited {
            tracing::error!(error = %e, "the runtime's stop could not be audited");
        }
        outcome.map(|_| ()).map_err(|e| e.to_string())
    })
}
