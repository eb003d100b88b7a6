//! `wardwatchctl` as an admin runs it: real binary, real store in a temp dir.

mod alarms;
mod catalog;
mod lake;
mod security;
mod stream;
mod supervised;

use std::path::Path;
use std::process::{Command, Output};

pub fn ctl(data_dir: &Path, args: &[&str]) -> Output {
    ctl_as(data_dir, "admin", args)
}

/// `wardwatchctl` as `user`, logged in for the command with the test
/// password (`pw_file`); the admin's when a command creates the store.
pub fn ctl_as(data_dir: &Path, user: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--user", user, "--password-file", pw_file()])
        .args(args)
        .output()
        .expect("run wardwatchctl")
}

/// The password every test user has.
pub const PASSWORD: &str = "correct horse battery staple";

/// A file holding [`PASSWORD`] (owner-only), for `--password-file` and
/// `--new-password-file`: in the run's key folder when the test script
/// made one, else in the system's temporary folder.
pub fn pw_file() -> &'static str {
    static FILE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    FILE.get_or_init(|| {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::env::var_os("WARDWATCH_KEY_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        std::fs::create_dir_all(&dir).expect("a folder for the password file");
        let path = dir.join(format!("test-password-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .expect("the password file");
        std::io::Write::write_all(&mut f, PASSWORD.as_bytes()).expect("write it");
        path.to_str().expect("a UTF-8 temporary path").to_owned()
    })
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn list_json(data_dir: &Path) -> serde_json::Value {
    let o = ctl(data_dir, &["patients", "list", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("json")
}

#[test]
fn export_import_list_show_round_trip() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let csv = dir.path().join("ward.csv");
    let o = ctl(
        &data,
        &["demo", "export", "--format", "csv", "--count", "30", "-o"],
    );
    assert!(!o.status.success(), "-o needs a value");
    let o = ctl(
        &data,
        &[
            "demo",
            "export",
            "--count",
            "30",
            "-o",
            csv.to_str().expect("utf8"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // Only `init` makes a store; importing into a path without one is refused.
    let o = ctl(&data, &["import", "patients", csv.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no Wardwatch store"), "{}", stderr(&o));
    let o = ctl(&data, &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("admin is its admin"), "{}", stdout(&o));
    let o = ctl(&data, &["import", "patients", csv.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("30 inserted, 0 updated, 0 unchanged, 0 rejected"),
        "{}",
        stdout(&o)
    );
    let o = ctl(&data, &["import", "patients", csv.to_str().expect("utf8")]);
    assert!(
        stdout(&o).contains("0 inserted, 0 updated, 30 unchanged"),
        "{}",
        stdout(&o)
    );

    let list = list_json(&data);
    assert_eq!(list.as_array().map(Vec::len), Some(30));
    let mrn = list[0]["mrn"].as_str().expect("mrn").to_owned();
    let o = ctl(&data, &["patients", "show", &mrn]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains(&mrn));
    assert!(stdout(&o).contains("NEWS2 SpO2  scale"));

    let o = ctl(&data, &["patients", "show", "NO-SUCH-MRN"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("`NO-SUCH-MRN` not found"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn malformed_file_exits_non_zero_names_the_entry_and_changes_nothing() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let o = ctl(&data, &["demo", "load", "--seed", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // A bundle whose 2nd entry is a Patient without an MRN, plus a good patient.
    let bundle = dir.path().join("bundle.json");
    std::fs::write(
        &bundle,
        r#"{"resourceType":"Bundle","entry":[
          {"resource":{"resourceType":"Patient","id":"ok","identifier":[{"type":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/v2-0203","code":"MR"}]},"value":"NEW1"}],"name":[{"family":"New","given":["Person"]}],"gender":"male","birthDate":"1970-05-05"}},
          {"resource":{"resourceType":"Patient","id":"nomrn","name":[{"family":"X"}],"birthDate":"1970-05-05"}}
        ]}"#,
    )
    .expect("write");
    let o = ctl(
        &data,
        &["import", "patients", bundle.to_str().expect("utf8")],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("rejected entry 2 (Patient/nomrn)"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        list_json(&data).as_array().map(Vec::len),
        Some(25),
        "the good patient is stored"
    );

    // Broken files: a non-zero exit and the store exactly as it was.
    let before = list_json(&data);
    let broken = dir.path().join("broken.csv");
    std::fs::write(
        &broken,
        "mrn,family_name,given_name,birth_date,sex,ward\nA,\"unterminated,x,1970-01-01,F,W\n",
    )
    .expect("w");
    let o = ctl(
        &data,
        &["import", "patients", broken.to_str().expect("utf8")],
    );
    assert_ne!(o.status.code(), Some(0));
    let not_json = dir.path().join("broken.json");
    std::fs::write(&not_json, "{\"resourceType\":\"Bundle\",\"entry\":[{").expect("w");
    let o = ctl(
        &data,
        &["import", "patients", not_json.to_str().expect("utf8")],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("broken.json"), "{}", stderr(&o));
    assert_eq!(list_json(&data), before);
}

/// The false all-clear of issue 8: a mistyped `--data-dir` made an empty
/// store, its caller the admin, and `alarms list --active` said "0 alarms".
#[test]
fn a_mistyped_data_dir_is_an_error_not_an_empty_ward() {
    let dir = private_tempdir();
    let data = dir.path().join("wardwatch");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    let typo = dir.path().join("wardwach");
    for args in [
        &["alarms", "list", "--active"][..],
        &["patients", "list"][..],
        &["serve"][..],
    ] {
        let o = ctl(&typo, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stdout(&o));
        assert!(
            stderr(&o).contains("no Wardwatch store") && stderr(&o).contains("wardwach"),
            "{args:?}: {}",
            stderr(&o)
        );
        assert!(!stdout(&o).contains("0 alarms"), "{}", stdout(&o));
        assert!(!typo.exists(), "{args:?} created the mistyped folder");
    }
    // `init` on the existing store changes nothing and says so.
    let o = ctl(&data, &["init"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("already exists"), "{}", stdout(&o));
}

/// An existing folder others can read is never chmod-ed behind the admin's
/// back: `init` refuses and says what to do.
#[test]
fn init_refuses_a_folder_others_can_read_and_leaves_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = private_tempdir();
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).expect("mkdir");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o750)).expect("chmod");
    let o = ctl(&shared, &["init"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("chmod 700"), "{}", stderr(&o));
    let mode = std::fs::metadata(&shared)
        .expect("stat")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o750);
    assert_eq!(std::fs::read_dir(&shared).expect("ls").count(), 0);
}

/// `store space` tells an admin where the store's bytes are: each table
/// (the demo's year of minutes in the rollups), the free pages and the
/// WAL; the tables and the free pages make up the file.
#[test]
fn store_space_says_where_the_bytes_are() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    let o = ctl(&data, &["store", "space", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let tables = v["tables"].as_array().expect("tables");
    let bytes = |name: &str| {
        tables
            .iter()
            .find(|t| t["table"] == name)
            .and_then(|t| t["bytes"].as_i64())
    };
    assert!(bytes("vital_rollups").is_some_and(|b| b > 0), "{v}");
    assert!(bytes("patients").is_some_and(|b| b > 0), "{v}");
    let used: i64 = tables.iter().filter_map(|t| t["bytes"].as_i64()).sum();
    assert_eq!(
        used + v["free_bytes"].as_i64().expect("free"),
        v["file_bytes"].as_i64().expect("file"),
        "{v}"
    );
    let o = ctl(&data, &["store", "space"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    for line in [
        "vital_rollups",
        "(free pages)",
        "database file",
        "write-ahead log",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

#[test]
fn unregistered_user_is_refused_with_advice() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    // Neither a session nor a password: not logged in.
    let o = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--user", "mallory", "patients", "list"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("wardwatchctl login"), "{}", stderr(&o));
    // A password for a name nobody registered: the same answer as a wrong
    // password, so the name's existence is not told.
    let o = ctl_as(&data, "mallory", &["patients", "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("wrong user name or password"),
        "{}",
        stderr(&o)
    );
}

pub fn testdata(rel: &str) -> std::path::PathBuf {
    let base = std::env::var_os("WARDWATCH_TESTDATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"));
    let p = base.join(rel);
    assert!(
        p.exists(),
        "reference recording {} is missing: set WARDWATCH_TESTDATA",
        p.display()
    );
    p
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
        .args(args)
        .output()
        .expect("run")
}

#[test]
fn news2_full_partial_and_impossible() {
    let o = run(&[
        "news2",
        "--rr",
        "18",
        "--spo2",
        "95",
        "--scale",
        "1",
        "--air",
        "--sbp",
        "120",
        "--pulse",
        "80",
        "--consciousness",
        "A",
        "--temp",
        "37.1",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(
        (v["aggregate"].as_u64(), v["complete"].as_bool()),
        (Some(1), Some(true))
    );

    // Scale 2 on oxygen, SpO2 97: 3 points; partial because pulse etc. are missing.
    let o = run(&["news2", "--spo2", "97", "--scale", "2", "--oxygen"]);
    let text = stdout(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(text.contains("aggregate: 5 (PARTIAL"), "{text}");
    assert!(text.contains("missing respiration rate"), "{text}");

    let o = run(&["news2", "--spo2", "130"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("130"), "{}", stderr(&o));
    let o = run(&["news2", "--consciousness", "X"]);
    assert_eq!(o.status.code(), Some(1));
    let o = run(&["news2", "--air", "--oxygen"]);
    assert_eq!(o.status.code(), Some(2), "air and oxygen conflict");
}

#[test]
fn ecg_analyze_reference_records() {
    let hea = testdata("mitdb/100.hea");
    let o = run(&[
        "ecg",
        "analyze",
        hea.to_str().expect("utf8"),
        "--signal",
        "MLII",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["beat_count"].as_u64(), Some(2273));
    assert_eq!(v["r_peaks"].as_array().map(Vec::len), Some(2273));

    let hea = testdata("challenge2015/a103l.hea");
    let o = run(&["ecg", "analyze", hea.to_str().expect("utf8"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        !text.to_lowercase().contains("asystole"),
        "false asystole on a103l: {text}"
    );

    let o = run(&[
        "ecg",
        "analyze",
        hea.to_str().expect("utf8"),
        "--signal",
        "9",
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("out of range"), "{}", stderr(&o));
}

/// Issue 15: a record's pleth decides its ECG findings. v704s (Challenge
/// 2015) is a false VT alarm: its V lead reads a VT at the alarm while the
/// pleth beats regularly at about 74 /min, so the VT is suppressed and the
/// report says which signal decided.
#[test]
fn ecg_analyze_decides_with_every_signal_of_a_record() {
    let hea = testdata("challenge2015/v704s.hea");
    let o = run(&["ecg", "analyze", hea.to_str().expect("utf8"), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let names: Vec<&str> = v["bedside"]["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["II", "V", "PLETH"], "RESP is not analysed");
    let decisions = v["bedside"]["decisions"].as_array().expect("decisions");
    let last_vt = decisions
        .iter()
        .rev()
        .find(|d| d["finding"]["kind"] == "ventricular_tachycardia")
        .expect("a VT finding");
    assert_eq!(last_vt["verdict"], "suppressed", "{last_vt}");
    let pleth = last_vt["evidence"]
        .as_array()
        .expect("evidence")
        .iter()
        .find(|e| e["channel"] == "PLETH")
        .expect("the pleth's evidence");
    assert_eq!(pleth["says"], "contradicts");

    let o = run(&["ecg", "analyze", hea.to_str().expect("utf8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.lines().any(|l| l
            .contains("ventricular tachycardia on V, suppressed (pulse present)")
            && l.contains("PLETH pulse at")),
        "{text}"
    );
}

#[test]
fn ecg_analyze_sample_column_needs_a_rate_and_numbers() {
    let dir = private_tempdir();
    let col = dir.path().join("ecg.csv");
    // 10 s of a synthetic 75 bpm spike train at 250 Hz
    let mut text = String::from("mV\n");
    for i in 0..2500 {
        let v = if i % 200 < 5 { 1.2 } else { 0.0 };
        text.push_str(&format!("{v}\n"));
    }
    std::fs::write(&col, &text).expect("w");
    let o = run(&["ecg", "analyze", col.to_str().expect("utf8")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--fs"), "{}", stderr(&o));
    let o = run(&[
        "ecg",
        "analyze",
        col.to_str().expect("utf8"),
        "--fs",
        "250",
        "--json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));

    std::fs::write(&col, "mV\n0.1\n0.2\nabc\n").expect("w");
    let o = run(&["ecg", "analyze", col.to_str().expect("utf8"), "--fs", "250"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("line 4"), "{}", stderr(&o));
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
