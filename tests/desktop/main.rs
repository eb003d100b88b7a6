//! End-to-end tests of the desktop app: the real `wardwatch` binary in a real
//! webkit2gtk window on the X display the test script provides (Xvfb), driven
//! over WebDriver by Debian's `WebKitWebDriver`.
//!
//! Run through `scripts/test.sh`, which starts Xvfb and sets `DISPLAY`.

mod audio;
mod webdriver;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::SystemClock;
use webdriver::Driver;

/// The audit keys' folder for tests: `WARDWATCH_KEY_DIR` (the test script
/// sets a fresh one per run, and the binaries under test inherit it), else
/// one under the system's temporary folder.
pub fn keys() -> wardwatch_core::store::AuditKeys {
    wardwatch_core::store::AuditKeys::in_dir(
        std::env::var_os("WARDWATCH_KEY_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("wardwatch-test-keys")),
    )
}

/// The app under test: `WARDWATCH_APP` (scripts/test.sh sets the binary
/// the Debian package installed), else this checkout's release build.
static APP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    if let Some(app) = std::env::var_os("WARDWATCH_APP") {
        assert!(
            Path::new(&app).exists(),
            "WARDWATCH_APP names {}, which does not exist (did the package install fail?)",
            Path::new(&app).display()
        );
        return app.to_string_lossy().into_owned();
    }
    let built = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/release/wardwatch"
    );
    assert!(
        Path::new(built).exists(),
        "no app to test: set WARDWATCH_APP to the wardwatch binary, or build it with scripts/package.sh"
    );
    built.to_owned()
});

/// nurse.jones's password in the tests' stores.
const PW: &str = "ward round at eight";

fn demo_store(dir: &Path, seed: u64) -> Vec<wardwatch_core::model::PatientRecord> {
    let mut ctx = Ctx::create(dir, &keys(), "nurse.jones", Arc::new(SystemClock))
        .expect("open a fresh store");
    api::load_demo_ward(&mut ctx, seed).expect("load the demo ward");
    api::set_password(&ctx, "nurse.jones", PW).expect("a password");
    store_of(&ctx).patients().expect("read back the ward")
}

/// The app on `data_dir`, past its login screen as nurse.jones (the name
/// `--user` suggests there).
fn logged_in(data_dir: &str) -> Driver {
    let driver = Driver::start(&APP, &["--data-dir", data_dir, "--user", "nurse.jones"]);
    log_in(&driver, None, PW);
    driver
}

/// Fills the login form (the suggested name unless `user`) and submits it.
fn log_in(driver: &Driver, user: Option<&str>, pw: &str) {
    driver.wait_for_text(".locked-note", Duration::from_secs(60));
    if let Some(user) = user {
        driver.clear("#login-user");
        driver.type_into("#login-user", user);
    }
    driver.clear("#login-password");
    driver.type_into("#login-password", pw);
    driver.click("#login-submit");
}

#[test]
fn ward_overview_lists_every_patient_and_opens_a_record() {
    let dir = private_tempdir();
    let ward = demo_store(dir.path(), 7);
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = logged_in(data_dir);

    let beds = driver.wait_for_count(".bed", ward.len(), Duration::from_secs(60));
    assert_eq!(beds.len(), ward.len(), "one card per patient");
    let page = driver.text("#beds");
    for r in &ward {
        assert!(
            page.contains(&r.display_name()),
            "{} missing from the overview",
            r.mrn
        );
        assert!(
            page.contains(&r.mrn),
            "MRN {} missing from the overview",
            r.mrn
        );
    }
    assert!(driver.text("#session").contains("nurse.jones (admin)"));

    // Filtering narrows the list to the matching patient.
    let target = &ward[5];
    driver.type_into("#filter", &target.mrn);
    driver.wait_for_count(".bed", 1, Duration::from_secs(10));

    // Opening a card shows that patient's record, allergies and SpO2 scale included.
    driver.click(&format!(".bed[data-mrn='{}']", target.mrn));
    let name = driver.wait_for_text("#detail-name", Duration::from_secs(10));
    assert_eq!(name, target.display_name());
    let detail = driver.text("#detail");
    for c in &target.conditions {
        assert!(detail.contains(c.as_str()), "condition `{c}` not shown");
    }
    assert!(detail.contains(&format!("scale {}", target.spo2_scale.number())));
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/ward-overview.png"
    )));
    // Night theme by default (a ward at night); the day theme on request,
    // remembered by the window.
    assert_eq!(
        driver.execute("return document.documentElement.dataset.theme"),
        "night"
    );
    driver.click("#theme");
    assert_eq!(
        driver.execute("return document.documentElement.dataset.theme"),
        "day"
    );
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/ward-overview-day.png"
    )));
    driver.click("#theme");
    assert_eq!(
        driver.execute("return document.documentElement.dataset.theme"),
        "night"
    );

    // The read was attributed to the user in the audit log.
    drop(driver);
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("reopen");
    let audit = api::recent_audit(&ctx, 20).expect("audit");
    assert!(
        audit
            .iter()
            .any(|e| e.action == "patient.read" && e.target.as_deref() == Some(target.mrn.as_str())),
        "patient.read of {} not audited: {:?}",
        target.mrn,
        audit.iter().map(|e| &e.action).collect::<Vec<_>>()
    );
}

#[test]
fn empty_store_tells_the_user_how_to_import() {
    let dir = private_tempdir();
    let ctx = Ctx::create(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock))
        .expect("create the store");
    api::set_password(&ctx, "nurse.jones", PW).expect("a password");
    drop(ctx);
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = logged_in(data_dir);
    let text = driver.wait_for_text(".empty", Duration::from_secs(60));
    assert!(text.contains("wardwatchctl import patients"), "{text}");
    // Nothing runs the streams for this store: the ward must see that, as a
    // technical alarm, not silence.
    let inop = driver.wait_for_text("#runtime", Duration::from_secs(60));
    assert!(inop.contains("no runtime is running"), "{inop}");
}

/// Issue 8: the desktop app beside `serve` started a second runtime, and
/// each scored half of every ECG. Beside a running runtime it now watches
/// that one and starts none.
#[test]
fn beside_a_running_runtime_the_app_watches_it_and_starts_none() {
    let dir = private_tempdir();
    let ward = demo_store(dir.path(), 7);
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    api::put_source(
        &ctx,
        &wardwatch_core::ingest::source::SourceConfig::Sse {
            name: "ward".into(),
            url: "http://127.0.0.1:9/streams/vitals".into(),
        },
    )
    .expect("a source, so the app would host a runtime of its own");
    drop(ctx);
    // This test process plays `wardwatchctl serve`: it holds the store's lock.
    let serve = wardwatch_runtime::lock::RuntimeLock::acquire(dir.path(), chrono::Utc::now())
        .expect("the runtime lock");
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = logged_in(data_dir);
    driver.wait_for_count(".bed", ward.len(), Duration::from_secs(60));
    let state = driver.wait_for_attribute("#runtime", "data-state", Duration::from_secs(60));
    assert_eq!(state, "external");
    let holder = wardwatch_runtime::lock::holder(dir.path()).expect("still held");
    assert!(
        holder.contains(&format!("PID {}", std::process::id())),
        "{holder}"
    );
    // What that runtime raises reaches this window by a push (the window
    // learns the store changed), not by the window's own slow timer.
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    let now = chrono::Utc::now();
    store_of(&ctx)
        .apply_condition(
            &wardwatch_core::alarms::ConditionEvent {
                mrn: Some(ward[1].mrn.clone()),
                key: "asystole".into(),
                started: true,
                priority: wardwatch_core::alarms::Priority::High,
                latched: true,
                message: "ASYSTOLE".into(),
                at: now,
            },
            now,
        )
        .expect("raise");
    let pushed = driver.wait_for_attribute("body", "data-pushed", Duration::from_secs(60));
    assert!(pushed.parse::<u32>().unwrap_or(0) >= 1, "{pushed}");
    let bar = driver.wait_for_text("#alarms", Duration::from_secs(60));
    assert!(bar.contains("ASYSTOLE"), "{bar}");
    drop(driver);
    drop(serve);
}

#[test]
fn an_active_alarm_is_shown_and_acknowledged_from_the_alarm_bar() {
    let dir = private_tempdir();
    let ward = demo_store(dir.path(), 7);
    // A patient who consents to alerts: the alarm is sent on to them.
    let target = ward
        .iter()
        .find(|r| r.alert_consent)
        .expect("a consenting patient on the demo ward");
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    let now = chrono::Utc::now();
    let event = wardwatch_core::alarms::ConditionEvent {
        mrn: Some(target.mrn.clone()),
        key: "asystole".into(),
        started: true,
        priority: wardwatch_core::alarms::Priority::High,
        latched: true,
        message: "ASYSTOLE".into(),
        at: now,
    };
    let id = store_of(&ctx)
        .apply_condition(&event, now)
        .expect("raise")
        .expect("notice")
        .alarm_id;
    drop(ctx);

    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = logged_in(data_dir);
    let text = driver.wait_for_text(
        &format!(".alarm[data-alarm='{id}']"),
        Duration::from_secs(60),
    );
    assert!(text.contains("ASYSTOLE"), "{text}");
    assert!(
        text.contains(&format!("Bed {}", target.bed.clone().unwrap_or_default())),
        "{text}"
    );
    // The patient's card is outlined in the high-priority colour.
    driver.wait_for_count(
        &format!(".bed.alarm-high[data-mrn='{}']", target.mrn),
        1,
        Duration::from_secs(10),
    );
    driver.click(&format!(".alarm[data-alarm='{id}'] .ack"));
    // `#alarms`: the runtime's (hidden) INOP banner is an `.alarm` too.
    let left = driver.wait_for_count(
        &format!("#alarms .alarm[data-alarm='{id}']"),
        0,
        Duration::from_secs(60),
    );
    assert!(left.is_empty(), "the acknowledged alarm stays in the bar");

    // The alarm log: the acknowledged alarm among the past ones, reviewed
    // as false, and sent on to the patient after a confirmation.
    driver.click("#tab-alarms");
    let row = format!("#past-alarms tr[data-alarm='{id}']");
    let state = driver.wait_for_text(&format!("{row} .state"), Duration::from_secs(10));
    assert!(state.contains("acknowledged by nurse.jones"), "{state}");
    driver.click(&format!("{row} .mark-false"));
    let review = driver.wait_for_text(&format!("{row} .annotation"), Duration::from_secs(10));
    assert_eq!(review, "false");
    let summary = driver.text("#shift-summary");
    // (Unless a nursing shift began since the alarm: then it is the last
    // shift's, and this one's summary rightly leaves it out.)
    if shift_start(now) == shift_start(chrono::Utc::now()) {
        assert!(
            summary.contains(target.bed.as_deref().unwrap_or("?")),
            "the shift summary counts the bed's alarm: {summary}"
        );
    }
    driver.click(&format!("{row} .alert-patient"));
    let question = driver.wait_for_text("#patient-alert h3", Duration::from_secs(10));
    assert!(question.contains(&target.display_name()), "{question}");
    // Nothing is sent before the confirmation.
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    assert!(api::list_messages(&ctx).expect("messages").is_empty());
    driver.click("#patient-alert-send");
    let open = driver.wait_for_count("#patient-alert", 0, Duration::from_secs(60));
    assert!(open.is_empty(), "the confirmation stays open after sending");
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/alarm-log.png"
    )));
    drop(driver);
    let sent = api::list_messages(&ctx).expect("messages");
    assert_eq!(sent.len(), 1, "{sent:?}");
    drop(ctx);

    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("reopen");
    let alarm = store_of(&ctx).alarm(id).expect("read").expect("alarm");
    assert_eq!(
        (alarm.state.as_str(), alarm.acked_by.as_deref()),
        ("acknowledged", Some("nurse.jones"))
    );
    let alarm = store_of(&ctx).alarm(id).expect("read").expect("alarm");
    assert_eq!(alarm.annotation.as_deref(), Some("false"));
    let audit = api::recent_audit(&ctx, 50).expect("audit");
    for action in ["alarm.ack", "patient.message"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.actor == "nurse.jones"),
            "{action} not audited"
        );
    }
}

#[test]
fn the_demo_shows_a_live_ward() {
    let dir = private_tempdir();
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = Driver::start(&APP, &["--demo", "--data-dir", data_dir]);
    driver.wait_for_count(".bed", 24, Duration::from_secs(60));
    // Live numbers arrive from the simulated ward within seconds.
    let hr = driver.wait_for_text(".bed .v[data-vital='HR']", Duration::from_secs(60));
    assert!(
        hr.chars().any(|c| c.is_ascii_digit()),
        "no live heart rate: {hr}"
    );
    driver.click(".bed");
    let strip = driver.wait_for_attribute("#ecg", "data-samples", Duration::from_secs(30));
    assert!(
        strip.parse::<usize>().unwrap_or(0) > 250,
        "no ECG strip drawn: {strip}"
    );
    // The demo streams each bed's pleth: it is drawn under the ECG.
    let pulse = driver.wait_for_attribute("#pulse", "data-samples", Duration::from_secs(30));
    assert!(
        pulse.parse::<usize>().unwrap_or(0) > 250,
        "no pleth strip drawn: {pulse}"
    );
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/live-demo.png"
    )));
}

/// A shared ward workstation: it opens on the login screen, which shows
/// every bed and its alarm but no patient; a wrong password is refused;
/// a nurse logs in, locks it, and a doctor takes over (quick user switch).
#[test]
fn the_window_opens_locked_shows_alarms_not_patients_and_switches_users() {
    let dir = private_tempdir();
    let ward = demo_store(dir.path(), 7);
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    api::put_user(&ctx, "dr.okafor", wardwatch_core::store::Role::Clinician).expect("user");
    api::set_password(&ctx, "dr.okafor", "cardiology on call").expect("pw");
    let now = chrono::Utc::now();
    store_of(&ctx)
        .apply_condition(
            &wardwatch_core::alarms::ConditionEvent {
                mrn: Some(ward[3].mrn.clone()),
                key: "asystole".into(),
                started: true,
                priority: wardwatch_core::alarms::Priority::High,
                latched: true,
                message: "ASYSTOLE".into(),
                at: now,
            },
            now,
        )
        .expect("raise");
    drop(ctx);
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = Driver::start(&APP, &["--data-dir", data_dir, "--user", "nurse.jones"]);
    // Locked: every bed, the alarm in its colour, and no patient data.
    let beds = driver.wait_for_count(
        "body.is-locked .locked-bed",
        ward.len(),
        Duration::from_secs(60),
    );
    assert_eq!(beds.len(), ward.len());
    let alarmed = driver.wait_for_count(
        "body.is-locked .locked-bed.alarm-high",
        1,
        Duration::from_secs(30),
    );
    assert_eq!(alarmed.len(), 1);
    let page = driver.text("body");
    for r in &ward {
        assert!(
            !page.contains(&r.mrn) && !page.contains(&r.family_name),
            "{} shown while locked",
            r.mrn
        );
    }
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/locked.png"
    )));
    // A wrong password is refused, and says nothing more.
    log_in(&driver, None, "not the password at all");
    let refused = driver.wait_for_text("#login-error", Duration::from_secs(30));
    assert!(refused.contains("wrong user name or password"), "{refused}");
    log_in(&driver, None, PW);
    let beds = driver.wait_for_count(".bed", ward.len(), Duration::from_secs(60));
    assert_eq!(beds.len(), ward.len());
    assert!(driver.text("#session").contains("nurse.jones"));
    // Locked by hand: the patients leave the window, the alarm stays.
    driver.click("#lock");
    let alarmed = driver.wait_for_count(
        "body.is-locked .locked-bed.alarm-high",
        1,
        Duration::from_secs(30),
    );
    assert_eq!(alarmed.len(), 1);
    assert_eq!(
        driver
            .wait_for_count(".bed", 0, Duration::from_secs(10))
            .len(),
        0
    );
    assert!(!driver.text("body").contains(&ward[3].mrn));
    // The doctor takes over the workstation.
    log_in(&driver, Some("dr.okafor"), "cardiology on call");
    let beds = driver.wait_for_count(".bed", ward.len(), Duration::from_secs(60));
    assert_eq!(beds.len(), ward.len());
    assert!(driver.text("#session").contains("dr.okafor (clinician)"));
    // An admin deactivates the doctor elsewhere: the window locks.
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    api::set_user_active(&ctx, "dr.okafor", false).expect("deactivate");
    drop(ctx);
    let locked = driver.wait_for_count("body.is-locked", 1, Duration::from_secs(60));
    assert_eq!(
        locked.len(),
        1,
        "the window stayed open for a deactivated user"
    );
    drop(driver);
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("reopen");
    let audit = api::recent_audit(&ctx, 100).expect("audit");
    let seen =
        |actor: &str, action: &str| audit.iter().any(|e| e.actor == actor && e.action == action);
    assert!(seen("nurse.jones", "login.failed"));
    assert!(seen("nurse.jones", "login.ok"));
    assert!(seen("nurse.jones", "logout"));
    assert!(seen("dr.okafor", "login.ok"));
}

/// Left alone, the window locks itself: the patients leave the screen.
#[test]
fn an_idle_window_locks_itself() {
    let dir = private_tempdir();
    let ward = demo_store(dir.path(), 7);
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = Driver::start(
        &APP,
        &[
            "--data-dir",
            data_dir,
            "--user",
            "nurse.jones",
            "--lock-after",
            "30",
        ],
    );
    log_in(&driver, None, PW);
    let beds = driver.wait_for_count(".bed", ward.len(), Duration::from_secs(60));
    assert_eq!(beds.len(), ward.len());
    // Nobody touches it: the window says it is about to lock …
    let warning = driver.wait_for_text("#session-warning", Duration::from_secs(60));
    assert!(warning.starts_with("Locking in"), "{warning}");
    // … and within a generous bound after the 30 s, locks.
    let locked = driver.wait_for_count(
        "body.is-locked .locked-bed",
        ward.len(),
        Duration::from_secs(120),
    );
    assert_eq!(locked.len(), ward.len());
    assert_eq!(
        driver
            .wait_for_count(".bed", 0, Duration::from_secs(10))
            .len(),
        0
    );
    assert!(driver.text("#session").contains("locked"));
}

/// The store under `ctx`, opened on its own, to check what the app wrote.
fn store_of(ctx: &Ctx) -> wardwatch_core::store::Store {
    wardwatch_core::store::Store::open_dir(ctx.data_dir()).expect("open the store")
}

/// A temporary folder only its owner can reach, as a store's folder must be
/// (a store is refused in a folder other users can read).
pub fn private_tempdir() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    tempfile::Builder::new()
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("temp dir")
}

/// Issue 8: closing ended the process at once (`App::run` exits), so the
/// hosted runtime was never drained. Closing now stops the runtime the
/// normal way: the writer stores what it read, the lock is released, and the
/// runtime's log says it stopped. (Closed here by SIGTERM, as a session
/// logging out does: WebDriver's Close Window kills the app outright.)
#[test]
fn closing_the_app_drains_the_hosted_runtime() {
    let dir = private_tempdir();
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = Driver::start(&APP, &["--demo", "--data-dir", data_dir]);
    driver.wait_for_count(".bed", 24, Duration::from_secs(60));
    let hr = driver.wait_for_text(".bed .v[data-vital='HR']", Duration::from_secs(60));
    assert!(hr.chars().any(|c| c.is_ascii_digit()), "no live data: {hr}");
    let holder = wardwatch_runtime::lock::holder(dir.path()).expect("the app hosts the runtime");
    let pid = holder
        .strip_prefix("held by PID ")
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the holder names its PID")
        .to_owned();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let log_path = dir.path().join("logs/wardwatch.log");
    loop {
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        if log.contains("runtime stopped") && wardwatch_runtime::lock::holder(dir.path()).is_none()
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the runtime was not drained when the app closed: {log}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    drop(driver);
}

/// Heart rate at 1 Hz for the last `seconds`, stored as a monitor's stream
/// would leave it (full-rate samples and their minute rollups).
fn stream_heart_rate(dir: &Path, mrn: &str, seconds: i64) {
    use wardwatch_core::store::{IngestBatch, IngestItem, Store};
    let now = chrono::Utc::now();
    let items = (0..seconds)
        .map(|i| {
            let at = now - chrono::Duration::seconds(seconds - i);
            let obs = serde_json::json!({"resourceType": "Observation", "id": format!("hr-{i}"),
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                "subject": {"identifier": {"value": mrn}},
                "effectiveDateTime": at.to_rfc3339(),
                "valueQuantity": {"value": 70.0 + (i % 20) as f64, "code": "/min"}});
            IngestItem::decode(i.to_string(), obs.to_string().into_bytes(), now)
        })
        .collect();
    let batch = IngestBatch {
        source: "monitor".into(),
        shard: "0".into(),
        items,
        ordered: true,
    };
    let mut store = Store::open_dir(dir).expect("store");
    let stored = store.store_batch(&batch, now).expect("stored");
    assert_eq!(
        stored.outcome.stored as i64, seconds,
        "{:?}",
        stored.outcome
    );
}

fn percentile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[(((xs.len() - 1) as f64) * p).round() as usize]
}

/// A year of one patient's minute history opens as charts, zooms to
/// seconds of full-rate samples, shows as a table and exports as CSV.
/// The open time of 20 opens is written to `target/` (a figure for the
/// closing note, not an assertion).
#[test]
fn a_year_of_history_opens_zooms_to_seconds_and_exports() {
    let dir = private_tempdir();
    let ward = demo_store(dir.path(), 7);
    let mut ctx =
        Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    api::backfill_demo_history(&mut ctx, 2, 366, 0).expect("a year of history");
    drop(ctx);
    let mut beds = ward.clone();
    beds.sort_by(|a, b| a.bed.cmp(&b.bed).then(a.mrn.cmp(&b.mrn)));
    let target = &beds[0];
    stream_heart_rate(dir.path(), &target.mrn, 600);

    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = logged_in(data_dir);
    driver.wait_for_count(".bed", ward.len(), Duration::from_secs(60));
    driver.click(&format!(".bed[data-mrn='{}']", target.mrn));
    driver.wait_for_text("#detail-name", Duration::from_secs(10));
    driver.click("#open-history");
    let opened = |n: usize| {
        driver.wait_for_script(
            &format!("return Number(document.body.dataset.historyOpens || 0) >= {n} && document.body.dataset.historyMs"),
            Duration::from_secs(60),
        )
    };
    opened(1);
    assert_eq!(
        driver.execute("return document.getElementById('history').dataset.resolution"),
        "minutes"
    );
    let bins: usize = driver
        .execute("return document.getElementById('history').dataset.bins")
        .as_str()
        .and_then(|b| b.parse().ok())
        .unwrap_or(0);
    assert!(
        bins >= 500,
        "a year decimated to the chart's width: {bins} columns"
    );
    for panel in [
        "heart_rate",
        "spo2",
        "resp_rate",
        "systolic_bp",
        "temperature_c",
    ] {
        driver.wait_for_count(
            &format!("#history-charts .uplot[data-panel='{panel}']"),
            1,
            Duration::from_secs(5),
        );
    }
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/history-year.png"
    )));

    // 20 more opens of the year, timed from the request to the painted chart.
    let mut ms = Vec::new();
    for n in 2..=21 {
        driver.click("[data-range='1 y']");
        let t = opened(n);
        ms.push(
            t.as_str()
                .and_then(|t| t.parse::<f64>().ok())
                .unwrap_or(f64::NAN),
        );
    }
    let (p50, p99) = (percentile(&mut ms.clone(), 0.5), percentile(&mut ms, 0.99));
    let report = format!(
        "history: a year of minute data, request to painted chart, 20 opens: p50 {p50:.1} ms, p99 {p99:.1} ms\n"
    );
    eprint!("{report}");
    std::fs::write(
        concat!(env!("CARGO_TARGET_TMPDIR"), "/history-open.txt"),
        report,
    )
    .expect("write the figure");

    // Down to seconds: the last ten minutes are the monitor's own samples.
    driver.click("[data-range='10 min']");
    opened(22);
    assert_eq!(
        driver.execute("return document.getElementById('history').dataset.resolution"),
        "samples"
    );
    driver.wait_for_count(
        "#history-charts .uplot[data-panel='heart_rate']",
        1,
        Duration::from_secs(5),
    );
    let status = driver.text("#history-status");
    assert!(status.contains("full-rate samples"), "{status}");
    // Zooming out goes back to minute summaries.
    driver.click("#history-zoom-out");
    opened(23);
    driver.click("[data-range='1 w']");
    opened(24);
    assert_eq!(
        driver.execute("return document.getElementById('history').dataset.resolution"),
        "minutes"
    );

    // The shown window as a table, and as a CSV file only its owner reads.
    driver.click("#history-table-toggle");
    let rows = driver.wait_for_script(
        "return document.querySelectorAll('#history-table tbody tr').length",
        Duration::from_secs(10),
    );
    assert!(rows.as_u64().unwrap_or(0) > 100, "{rows}");
    driver.click("#history-export");
    let path = driver.wait_for_script(
        "return document.getElementById('history-status').dataset.exported",
        Duration::from_secs(20),
    );
    let path = std::path::PathBuf::from(path.as_str().expect("a path"));
    let csv = std::fs::read_to_string(&path).expect("the export");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&path).expect("meta").permissions(),
    );
    std::fs::remove_file(&path).expect("remove the export");
    assert!(
        csv.starts_with("time_utc,hr_mean,hr_min,hr_max"),
        "{}",
        &csv[..80.min(csv.len())]
    );
    assert!(csv.lines().count() > 100);
    assert_eq!(mode & 0o077, 0, "the export is the user's only");
    assert!(
        driver
            .execute("return document.body.dataset.uiError || ''")
            .as_str()
            == Some("")
    );
    drop(driver);
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("reopen");
    let audit = api::recent_audit(&ctx, 100).expect("audit");
    for action in ["patient.history", "patient.export"] {
        assert!(
            audit
                .iter()
                .any(|e| e.action == action && e.target.as_deref() == Some(target.mrn.as_str())),
            "{action} not audited"
        );
    }
}

/// The start of the nursing shift `t` falls in, as the alarm log's shift
/// summary has it (07:00, 15:00, 23:00 local time; `ui/src/alarms.ts`).
fn shift_start(t: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDateTime {
    use chrono::Timelike;
    let local = t.with_timezone(&chrono::Local).naive_local();
    let hours_in = (local.hour() + 24 - 7) % 8;
    let start = local - chrono::Duration::hours(i64::from(hours_in));
    start
        .with_minute(0)
        .and_then(|s| s.with_second(0))
        .and_then(|s| s.with_nanosecond(0))
        .unwrap_or(start)
}

/// A nurse charts what no monitor streams; the runtime the app hosts
/// ingests it and NEWS2 is complete within seconds. A wrong entry is
/// refused with the reason and charts nothing.
#[test]
fn charting_consciousness_and_oxygen_completes_news2_live() {
    let dir = private_tempdir();
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = Driver::start(&APP, &["--demo", "--data-dir", data_dir]);
    driver.wait_for_count(".bed", 24, Duration::from_secs(60));
    driver.wait_for_text(".bed .v[data-vital='HR']", Duration::from_secs(60));
    driver.click(".bed");
    driver.wait_for_text("#detail-name", Duration::from_secs(60));
    // The live detail shows "No NEWS2 yet" until the runtime has scored
    // this patient; wait for the score itself, not for any text.
    let news = driver.wait_for_script(
        "const e = document.querySelector('#news2.news-box'); return e ? e.textContent : false",
        Duration::from_secs(60),
    );
    let news = news.as_str().unwrap_or_default();
    assert!(
        news.contains("missing"),
        "streamed vitals alone leave NEWS2 partial: {news}"
    );
    driver.click("#open-chart");
    // Half a blood pressure: refused, with the reason.
    driver.type_into("#chart-form input[name='sbp']", "120");
    driver.click("#chart-submit");
    let refused = driver.wait_for_text("#chart-result", Duration::from_secs(60));
    assert!(refused.contains("both systolic and diastolic"), "{refused}");
    driver.clear("#chart-form input[name='sbp']");
    // Responds to voice; 2 L/min by nasal cannula.
    driver.click("#chart-form input[name='acvpu'][value='V']");
    driver.click("#chart-form input[name='o2'][value='oxygen']");
    driver.execute("document.querySelector(\"#chart-form select[name='o2_device']\").value = 'nasal cannula'; return 1");
    driver.type_into("#chart-form input[name='o2_flow']", "2");
    driver.click("#chart-submit");
    driver.wait_for_script(
        "return document.getElementById('chart-result').dataset.ok === 'true'",
        Duration::from_secs(60),
    );
    let charted = driver.wait_for_text("#charted", Duration::from_secs(60));
    assert!(
        charted.contains("ACVPU V") && charted.contains("nasal cannula"),
        "{charted}"
    );
    let news = driver.wait_for_script(
        "const t = document.getElementById('news2')?.textContent || ''; return t.includes('consciousness +3') && t.includes('air or oxygen +2') && t",
        Duration::from_secs(60),
    );
    assert!(
        !news.as_str().unwrap_or_default().contains("missing"),
        "{news}"
    );
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/patient-charted.png"
    )));
    drop(driver);
    let ctx = Ctx::service(dir.path(), &keys(), Arc::new(SystemClock)).expect("open");
    let audit = api::recent_audit(&ctx, 200).expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "observation.chart")
            .count(),
        1,
        "one charting, the refused one not"
    );
}

fn raise(
    dir: &Path,
    mrn: &str,
    key: &str,
    priority: wardwatch_core::alarms::Priority,
    message: &str,
) -> i64 {
    let ctx = Ctx::open(dir, &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    let now = chrono::Utc::now();
    let event = wardwatch_core::alarms::ConditionEvent {
        mrn: Some(mrn.to_owned()),
        key: key.into(),
        started: true,
        priority,
        latched: true,
        message: message.into(),
        at: now,
    };
    store_of(&ctx)
        .apply_condition(&event, now)
        .expect("raise")
        .expect("notice")
        .alarm_id
}

/// A recording without its first 0.3 s: what the sound server still had
/// buffered when the test acted (a pause's last pulse) comes out there.
/// Each recording is under way (`audio::Recording::start` has seen its first
/// samples) 0.5 s before the action it measures.
fn after_output_latency(samples: &[i16]) -> &[i16] {
    &samples[(audio::RATE * 3 / 10).min(samples.len())..]
}

/// The central station sounds: a high-priority alarm as IEC 60601-1-8's
/// 10-pulse burst, a medium one as 3 pulses at another pitch; audio paused
/// by the user is silent (and says so) and comes back; an acknowledged
/// alarm stops sounding. Recorded from the app's real audio output.
#[test]
fn alarms_sound_their_iec_patterns_pause_and_stop_when_acknowledged() {
    use wardwatch_core::alarms::Priority;
    let dir = private_tempdir();
    let ward = demo_store(dir.path(), 7);
    let high = raise(
        dir.path(),
        &ward[1].mrn,
        "asystole",
        Priority::High,
        "ASYSTOLE",
    );
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = logged_in(data_dir);
    driver.wait_for_text(
        &format!(".alarm[data-alarm='{high}']"),
        Duration::from_secs(60),
    );
    driver.click("#count"); // a touch of the window: no autoplay policy holds the sound back
    driver.wait_for_script(
        "return document.body.dataset.sound === 'high'",
        Duration::from_secs(10),
    );

    // Paused: silent, and the header says so with the time left.
    driver.click("#sound-pause");
    driver.wait_for_script(
        "return document.body.dataset.sound === 'paused'",
        Duration::from_secs(5),
    );
    assert!(driver.text("#sound").contains("AUDIO PAUSED"));
    // (The first half second may still hold what the sound server had
    // buffered before the pause.)
    let quiet = audio::record(Duration::from_secs(3))[audio::RATE / 2..].to_vec();
    assert!(audio::pulses(&quiet).is_empty(), "sound while paused");
    assert!(
        audio::sox_rms(&quiet) < 0.001,
        "sound while paused: RMS {}",
        audio::sox_rms(&quiet)
    );

    // Resumed: one high-priority burst, from its start.
    // (The next burst is 10 s after this one: the recording ends before.)
    let recording = audio::Recording::start(Duration::from_secs(9));
    std::thread::sleep(Duration::from_millis(500));
    driver.click("#sound-pause");
    let recorded = recording.finish();
    let burst = audio::pulses(after_output_latency(&recorded));
    assert_eq!(
        burst.len(),
        10,
        "a high-priority burst is 10 pulses, in {:.1} s recorded, the window's sound {} after: {burst:?}",
        recorded.len() as f64 / audio::RATE as f64,
        driver.execute("return document.body.dataset.sound")
    );
    for p in &burst {
        assert!(
            (100.0..=220.0).contains(&p.ms),
            "pulse of {} ms: {burst:?}",
            p.ms
        );
        assert!(
            (620.0..=700.0).contains(&p.hz),
            "pulse at {} Hz: {burst:?}",
            p.hz
        );
    }
    // 3 + 2, twice: the fifth-to-sixth gap is the longest.
    let gaps: Vec<f64> = burst.windows(2).map(|w| w[1].at_ms - w[0].at_ms).collect();
    let longest = gaps.iter().copied().fold(0.0, f64::max);
    assert_eq!(gaps[4], longest, "{gaps:?}");

    // Acknowledged: the sound stops.
    driver.click(&format!(".alarm[data-alarm='{high}'] .ack"));
    driver.wait_for_script(
        "return document.body.dataset.sound === 'silent'",
        Duration::from_secs(10),
    );
    let quiet = audio::record(Duration::from_secs(2))[audio::RATE / 2..].to_vec();
    assert!(
        audio::pulses(&quiet).is_empty(),
        "an acknowledged alarm still sounds"
    );

    // A medium-priority alarm: 3 pulses, lower; recorded from a burst's
    // start (pause, then resume), 5 s of its 7 s cycle.
    let medium = raise(
        dir.path(),
        &ward[2].mrn,
        "spo2_low",
        Priority::Medium,
        "SpO2 LOW",
    );
    driver.wait_for_text(
        &format!(".alarm[data-alarm='{medium}']"),
        Duration::from_secs(30),
    );
    driver.wait_for_script(
        "return document.body.dataset.sound === 'medium'",
        Duration::from_secs(10),
    );
    driver.click("#sound-pause");
    driver.wait_for_script(
        "return document.body.dataset.sound === 'paused'",
        Duration::from_secs(5),
    );
    let recording = audio::Recording::start(Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(500));
    driver.click("#sound-pause");
    let burst = audio::pulses(after_output_latency(&recording.finish()));
    assert_eq!(
        burst.len(),
        3,
        "a medium-priority burst is 3 pulses: {burst:?}"
    );
    for p in &burst {
        assert!(
            (500.0..=545.0).contains(&p.hz),
            "pulse at {} Hz: {burst:?}",
            p.hz
        );
    }
}

/// The admin's view shows the audit trail verified, the users and their
/// roles; the data view searches the catalogue once it is refreshed, and
/// shows the lake's zones. A clinician sees neither (the backend refuses).
#[test]
fn admin_and_data_views_show_the_audit_state_users_catalogue_and_zones() {
    let dir = private_tempdir();
    let _ward = demo_store(dir.path(), 7);
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = logged_in(data_dir);
    driver.wait_for_count(".bed", 24, Duration::from_secs(60));
    driver.click("#tab-admin");
    let state = driver.wait_for_text("#audit-state", Duration::from_secs(30));
    assert!(state.starts_with("verified:"), "{state}");
    let users = driver.text("#users");
    assert!(
        users.contains("nurse.jones") && users.contains("admin"),
        "{users}"
    );
    // The trail's newest entries: this very session's reads among them.
    let trail = driver.text("#audit-log");
    assert!(
        trail.contains("nurse.jones") && trail.contains("patients.list"),
        "{trail}"
    );

    // The ward's limits: a low above the high is refused with the backend's
    // reason, and nothing is stored.
    driver.clear("#rule-hr-low");
    driver.type_into("#rule-hr-low", "140");
    driver.click("#rules-save");
    driver.click("#ward-rules .confirm-yes");
    let refused = driver.wait_for_text("#rules-result", Duration::from_secs(10));
    assert!(
        refused.contains("hr.low (140) must be below hr.high (130)"),
        "{refused}"
    );
    // A lower high limit, confirmed: saved, audited, and shown as stored.
    driver.clear("#rule-hr-low");
    driver.type_into("#rule-hr-low", "40");
    driver.clear("#rule-hr-high");
    driver.type_into("#rule-hr-high", "120");
    driver.click("#rules-save");
    driver.click("#ward-rules .confirm-yes");
    let saved = driver.wait_for_script(
        "const r = document.getElementById('admin-result'); return r && r.textContent.includes('saved') && r.textContent",
        Duration::from_secs(10),
    );
    assert!(
        saved
            .as_str()
            .unwrap_or_default()
            .contains("within 10 seconds"),
        "{saved}"
    );
    assert_eq!(
        driver.execute("return document.getElementById('rule-hr-high').value"),
        "120"
    );
    // An archival rule under its floor (3 years) is refused; one above it
    // is kept.
    let archive = "tr[data-key='archive.after_days']";
    driver.type_into(&format!("{archive} input"), "365");
    driver.click(&format!("{archive} .setting-save"));
    driver.click(&format!("{archive} .confirm-yes"));
    let refused =
        driver.wait_for_text(&format!("{archive} .chart-result"), Duration::from_secs(10));
    assert!(refused.contains("from 1095"), "{refused}");
    driver.clear(&format!("{archive} input"));
    driver.type_into(&format!("{archive} input"), "1460");
    driver.click(&format!("{archive} .setting-save"));
    driver.click(&format!("{archive} .confirm-yes"));
    driver.wait_for_script(
        "const r = document.getElementById('admin-result'); return r && r.textContent.includes('archive.after_days is saved')",
        Duration::from_secs(10),
    );
    assert!(driver.text(archive).contains("1460"));
    let trail = driver.text("#audit-log");
    assert!(trail.contains("settings.set"), "{trail}");
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/admin-view.png"
    )));
    driver.click("#tab-data");
    driver.wait_for_text("#zones", Duration::from_secs(30));
    driver.click("#catalog-refresh");
    let total = driver.wait_for_script(
        "const t = document.getElementById('catalog-total'); return t && t.textContent",
        Duration::from_secs(60),
    );
    let total = total.as_str().unwrap_or_default().to_owned();
    let n: usize = total
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        n > 0 && total.ends_with("matches"),
        "the lake's datasets: {total}"
    );
    let results = driver.text("#catalog-results");
    assert!(results.contains("cleaned/observations"), "{results}");
    driver.screenshot(Path::new(concat!(
        env!("CARGO_TARGET_TMPDIR"),
        "/data-view.png"
    )));
    drop(driver);

    // What the window stored is what the runtime reads.
    let ctx = Ctx::open(dir.path(), &keys(), "nurse.jones", Arc::new(SystemClock)).expect("open");
    let (rules, stored) = api::ward_rules(&ctx).expect("rules");
    assert!(stored);
    assert_eq!((rules.hr.low, rules.hr.high), (Some(40.0), Some(120.0)));
    assert_eq!(
        store_of(&ctx)
            .setting("archive.after_days")
            .expect("setting")
            .as_deref(),
        Some("1460")
    );

    // A clinician: no admin tab, and the command itself refuses.
    api::put_user(&ctx, "dr.ade", wardwatch_core::store::Role::Clinician).expect("a clinician");
    api::set_password(&ctx, "dr.ade", PW).expect("password");
    drop(ctx);
    let driver = Driver::start(&APP, &["--data-dir", data_dir, "--user", "dr.ade"]);
    log_in(&driver, None, PW);
    driver.wait_for_count(".bed", 24, Duration::from_secs(60));
    assert_eq!(
        driver.execute("return document.getElementById('tab-admin').hidden"),
        true
    );
    driver.execute(
        "window.__asked = null; window.__TAURI_INTERNALS__.invoke('admin_overview').then(() => { window.__asked = 'allowed' }, e => { window.__asked = e.code }); return 1",
    );
    let refused = driver.wait_for_script("return window.__asked", Duration::from_secs(10));
    assert_eq!(
        refused, "permission_denied",
        "the backend refuses a clinician"
    );
}

/// axe-core (Deque's WCAG 2 rules, from the UI's dev dependencies) over the
/// document as it stands: the violations of `serious` or `critical` impact,
/// as "rule: target" lines. Injected over WebDriver, so the window's own
/// CSP and bundle stay as shipped.
fn accessibility_violations(driver: &Driver) -> Vec<String> {
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../ui/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core in ui/node_modules (scripts/setup.sh runs npm ci)");
    driver.execute(&format!("{axe}\n; return 1"));
    driver.execute(
        "window.__axe = null; axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] }).then(r => { window.__axe = JSON.stringify(r.violations.map(v => ({ id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }))) }, e => { window.__axe = JSON.stringify([{ id: 'axe failed: ' + e, impact: 'critical', nodes: [] }]) }); return 1",
    );
    let found = driver.wait_for_script("return window.__axe", Duration::from_secs(60));
    let found: serde_json::Value =
        serde_json::from_str(found.as_str().unwrap_or("[]")).expect("axe's JSON");
    found
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| format!("{}: {}", v["id"], v["nodes"]))
        .collect()
}

/// Every view passes axe-core's WCAG 2.1 A/AA rules without a serious or
/// critical violation (contrast, names of controls, labels, roles), in the
/// night and the day theme.
#[test]
fn every_view_passes_an_accessibility_audit() {
    let dir = private_tempdir();
    let _ward = demo_store(dir.path(), 7);
    let data_dir = dir.path().to_str().expect("utf-8 temp path");
    let driver = Driver::start(&APP, &["--data-dir", data_dir, "--user", "nurse.jones"]);
    driver.wait_for_text(".locked-note", Duration::from_secs(60));
    let mut problems = Vec::new();
    let mut audit = |view: &str, driver: &Driver| {
        for v in accessibility_violations(driver) {
            problems.push(format!("{view}: {v}"));
        }
    };
    audit("login", &driver);
    log_in(&driver, None, PW);
    driver.wait_for_count(".bed", 24, Duration::from_secs(60));
    audit("ward overview (night)", &driver);
    driver.click("#theme");
    audit("ward overview (day)", &driver);
    driver.click("#theme");
    driver.click(".bed");
    driver.wait_for_text("#detail-name", Duration::from_secs(30));
    audit("patient", &driver);
    driver.click("#open-history");
    driver.wait_for_script(
        "return Number(document.body.dataset.historyOpens || 0) >= 1",
        Duration::from_secs(60),
    );
    audit("history", &driver);
    driver.execute(
        "document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' })); return 1",
    );
    driver.click("#tab-alarms");
    driver.wait_for_text("#alarm-log h2", Duration::from_secs(30));
    audit("alarms", &driver);
    driver.click("#tab-admin");
    driver.wait_for_text("#audit-state", Duration::from_secs(30));
    audit("admin", &driver);
    driver.click("#tab-data");
    driver.wait_for_text("#zones", Duration::from_secs(30));
    audit("data", &driver);
    assert!(
        problems.is_empty(),
        "{} violations:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
