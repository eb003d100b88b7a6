//! `wardwatch`, the desktop shell: a Tauri 2 window over `wardwatch-core`.
//!
//! Each command decodes its input, calls `wardwatch_core::api` and encodes the
//! result; errors reach the UI as `{ code, message }` and the UI branches on
//! `code`. No clinical logic lives here.
//!
//! Arguments: `--data-dir DIR` (else `WARDWATCH_DATA_DIR`, else the OS data
//! directory), `--user NAME` (else `WARDWATCH_USER`, else the login name) and
//! `--demo` (loads the built-in demo ward into the store before opening).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use tauri::Emitter;

use serde::Serialize;
use wardwatch_core::alarms::AlarmView;
use wardwatch_core::api::{self, Ctx, EcgStrip, PatientLive, PatientView};
use wardwatch_core::clock::SystemClock;
use wardwatch_core::model::PatientSummary;
use wardwatch_core::runtime;

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

type CtxState = Mutex<Ctx>;

fn with_ctx<T>(
    state: &CtxState,
    f: impl FnOnce(&mut Ctx) -> wardwatch_core::Result<T>,
) -> Result<T, UiError> {
    let mut ctx = state.lock().map_err(|_| UiError {
        code: "internal",
        message: "the store is unavailable after an earlier failure: restart Wardwatch".into(),
    })?;
    f(&mut ctx).map_err(UiError::from)
}

#[derive(Debug, Serialize)]
struct Session {
    user: String,
    role: &'static str,
    data_dir: String,
}

#[tauri::command]
fn session(state: tauri::State<'_, CtxState>) -> Result<Session, UiError> {
    with_ctx(&state, |ctx| {
        Ok(Session {
            user: ctx.actor.username.clone(),
            role: ctx.actor.role.as_str(),
            data_dir: ctx
                .store
                .path()
                .parent()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        })
    })
}

#[tauri::command]
fn list_patients(state: tauri::State<'_, CtxState>) -> Result<Vec<PatientSummary>, UiError> {
    with_ctx(&state, |ctx| api::list_patients(ctx))
}

#[tauri::command]
fn show_patient(state: tauri::State<'_, CtxState>, mrn: String) -> Result<PatientView, UiError> {
    with_ctx(&state, |ctx| api::show_patient(ctx, &mrn))
}

#[tauri::command]
fn ward_live(state: tauri::State<'_, CtxState>) -> Result<Vec<PatientLive>, UiError> {
    with_ctx(&state, |ctx| api::ward_live(ctx))
}

#[tauri::command]
fn patient_live(state: tauri::State<'_, CtxState>, mrn: String) -> Result<PatientLive, UiError> {
    with_ctx(&state, |ctx| api::patient_live(ctx, &mrn))
}

#[tauri::command]
fn ecg_strip(
    state: tauri::State<'_, CtxState>,
    mrn: String,
    seconds: u32,
) -> Result<EcgStrip, UiError> {
    with_ctx(&state, |ctx| api::ecg_strip(ctx, &mrn, seconds))
}

#[tauri::command]
fn list_alarms(
    state: tauri::State<'_, CtxState>,
    open_only: bool,
) -> Result<Vec<AlarmView>, UiError> {
    with_ctx(&state, |ctx| api::list_alarms(ctx, open_only))
}

#[tauri::command]
fn ack_alarm(
    state: tauri::State<'_, CtxState>,
    id: i64,
    note: Option<String>,
) -> Result<AlarmView, UiError> {
    with_ctx(&state, |ctx| api::ack_alarm(ctx, id, note.as_deref()))
}

struct Args {
    data_dir: Option<PathBuf>,
    user: Option<String>,
    demo: bool,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        data_dir: std::env::var_os("WARDWATCH_DATA_DIR").map(PathBuf::from),
        user: std::env::var("WARDWATCH_USER").ok(),
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

fn open_ctx(args: &Args) -> anyhow::Result<Ctx> {
    let data_dir = match &args.data_dir {
        Some(d) => d.clone(),
        None => {
            let base = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
                .ok_or_else(|| anyhow::anyhow!("cannot find a data directory: pass --data-dir"))?;
            base.join(if args.demo {
                "wardwatch-demo"
            } else {
                "wardwatch"
            })
        }
    };
    let user = args
        .user
        .clone()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".into());
    let mut ctx = Ctx::open(&data_dir, &user, Arc::new(SystemClock))?;
    if args.demo {
        api::load_demo_ward(&mut ctx, 42)?;
    }
    Ok(ctx)
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WARDWATCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = parse_args()?;
    let ctx = open_ctx(&args)?;
    let data_dir = ctx
        .store
        .path()
        .parent()
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("the store has no folder"))?;
    let app_slot: Arc<OnceLock<tauri::AppHandle>> = Arc::default();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let has_sources = !ctx.store.sources()?.is_empty();
    let runtime = if args.demo || has_sources {
        Some(start_runtime(
            data_dir,
            ctx.actor.username.clone(),
            args.demo,
            app_slot.clone(),
            stop_rx,
        )?)
    } else {
        None
    };
    let app = tauri::Builder::default()
        .manage(Mutex::new(ctx))
        .invoke_handler(tauri::generate_handler![
            session,
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
    app.run(move |_, event| {
        if let tauri::RunEvent::Exit = event {
            let _ = stop_tx.send(true);
        }
    });
    if let Some(t) = runtime {
        let _ = t.join();
    }
    Ok(())
}

/// Runs the runtime (and, with `--demo`, the simulated ward feeding it) on
/// its own thread until the window closes.
fn start_runtime(
    data_dir: PathBuf,
    user: String,
    demo: bool,
    app_slot: Arc<OnceLock<tauri::AppHandle>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
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
    Ok(std::thread::Builder::new()
        .name("wardwatch-runtime".into())
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    tracing::error!(error = %e, "cannot start the runtime");
                    return;
                }
            };
            rt.block_on(async move {
                if demo {
                    match Ctx::open(&data_dir, &user, Arc::new(SystemClock)) {
                        Ok(ctx) => match wardwatch_sim::demo::start(
                            &ctx,
                            wardwatch_core::demo::DEMO_BEDS,
                            42,
                            stopped(),
                        )
                        .await
                        {
                            Ok(feed) => {
                                tokio::spawn(feed);
                            }
                            Err(e) => tracing::error!(error = %e, "the demo feed could not start"),
                        },
                        Err(e) => tracing::error!(error = %e, "the demo feed could not start"),
                    }
                }
                if let Err(e) = runtime::serve(
                    data_dir,
                    Arc::new(SystemClock),
                    Box::new(notifier),
                    stopped(),
                )
                .await
                {
                    tracing::error!(error = %e, "the runtime stopped");
                }
            });
        })?)
}
