//! What a hostile user tries from a terminal: names that carry terminal
//! control sequences or bidirectional overrides, a tampered audit trail,
//! credentials in a source URL, the last admin demoting themselves.

use std::process::Command;

use crate::{ctl, private_tempdir, stderr, stdout};

fn as_user(data: &std::path::Path, user: &str, args: &[&str]) -> std::process::Output {
    crate::ctl_as(data, user, args)
}

#[test]
fn hostile_names_are_shown_escaped_and_kept_exact_in_json() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    // Clear the screen, then show "admin" right-to-left.
    let hostile = "\u{1b}[2J\u{1b}[1;1H\u{202e}nimda";
    // Without a session the error names the user, escaped.
    let o = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--user", hostile, "patients", "list"])
        .output()
        .expect("run");
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        !err.contains('\u{1b}') && !err.contains('\u{202e}'),
        "{err:?}"
    );
    assert!(err.contains("\\u{1b}[2J"), "{err}");
    // With a password: refused like any wrong login, and audited.
    let o = as_user(&data, hostile, &["patients", "list"]);
    assert!(
        stderr(&o).contains("wrong user name or password"),
        "{}",
        stderr(&o)
    );

    // The attempt is in the trail; a terminal sees it escaped...
    let o = ctl(&data, &["audit", "--limit", "5"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("login.failed"), "{out}");
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out:?}"
    );
    assert!(
        out.contains("\\u001b[2J") && out.contains("\\u202enimda"),
        "{out}"
    );
    // ...and JSON reads back the exact name.
    let o = ctl(&data, &["audit", "--limit", "5", "--json"]);
    assert!(!stdout(&o).contains('\u{202e}'));
    let entries: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        entries
            .as_array()
            .expect("array")
            .iter()
            .any(|e| e["actor"] == hostile)
    );
}

#[test]
fn audit_verify_passes_an_untouched_trail_and_names_a_tampered_entry() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    assert!(ctl(&data, &["patients", "list"]).status.success());
    let o = ctl(&data, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("the audit trail is intact"),
        "{}",
        stdout(&o)
    );

    // Someone with the file, not the key: drop the triggers, backdate the
    // demo load to 1970.
    let conn = wardwatch_core::store::cipher::connect(&data).expect("open the file");
    conn.execute_batch(
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET ts_ms = 0 WHERE seq = 2;",
    )
    .expect("tamper");
    drop(conn);
    let o = ctl(&data, &["audit", "verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("edited") && out.contains("entry 2 "), "{out}");
    assert!(out.contains("audit_log_no_update was missing"), "{out}");
    let o = ctl(&data, &["audit", "verify", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["problems"]
            .as_array()
            .expect("problems")
            .iter()
            .any(|p| p["kind"] == "edited" && p["seq"] == 2)
    );
}

#[test]
fn a_source_url_with_a_credential_is_refused_and_never_echoed() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["init"]).status.success());
    for url in [
        "https://ward:hunter2@gw.example/stream",
        "https://gw.example/stream?access_token=hunter2",
    ] {
        let o = ctl(&data, &["sources", "add", "sse", "ward-a", url]);
        assert!(!o.status.success(), "{url}");
        let err = stderr(&o);
        assert!(err.contains("holds a credential"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
    let o = ctl(&data, &["sources", "list"]);
    assert!(!stdout(&o).contains("ward-a"));
}

#[test]
fn the_last_admin_stays_and_users_can_be_deactivated() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["init"]).status.success());
    let o = ctl(&data, &["users", "add", "admin", "--role", "viewer"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("last active admin"), "{}", stderr(&o));
    assert!(
        ctl(
            &data,
            &[
                "users",
                "add",
                "nurse.kim",
                "--role",
                "clinician",
                "--new-password-file",
                crate::pw_file(),
            ],
        )
        .status
        .success()
    );
    assert!(
        as_user(&data, "nurse.kim", &["patients", "list"])
            .status
            .success()
    );
    assert!(
        ctl(&data, &["users", "deactivate", "nurse.kim"])
            .status
            .success()
    );
    let o = as_user(&data, "nurse.kim", &["patients", "list"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("wrong user name or password"),
        "{}",
        stderr(&o)
    );
    let o = ctl(&data, &["users", "list"]);
    assert!(stdout(&o).contains("inactive"), "{}", stdout(&o));
    assert!(
        ctl(&data, &["users", "activate", "nurse.kim"])
            .status
            .success()
    );
    assert!(
        as_user(&data, "nurse.kim", &["patients", "list"])
            .status
            .success()
    );
    // A data-role user may not start the runtime.
    assert!(
        ctl(
            &data,
            &[
                "users",
                "add",
                "sci",
                "--role",
                "data",
                "--new-password-file",
                crate::pw_file()
            ],
        )
        .status
        .success()
    );
    let o = as_user(&data, "sci", &["serve"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("start the runtime"), "{}", stderr(&o));
}

fn ctl_keys(data: &std::path::Path, keys: &std::path::Path, args: &[&str]) -> std::process::Output {
    ctl_keys_command(data, keys, args)
        .output()
        .expect("run wardwatchctl")
}

/// `wardwatchctl` as the admin, with its own key folder.
fn ctl_keys_command(data: &std::path::Path, keys: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"));
    c.arg("--data-dir")
        .arg(data)
        .arg("--key-dir")
        .arg(keys)
        .args(["--user", "admin", "--password-file", crate::pw_file()])
        .args(args);
    c
}

/// Someone with the store *and* the key folder cuts the newest entries
/// off, puts the triggers back and rewrites the head beside the keys: the
/// trail verifies locally, but not against the head the lake keeps.
#[test]
fn a_trail_rewritten_with_the_keys_in_hand_still_fails_against_the_lake() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    assert!(ctl_keys(&data, &keys, &["demo", "load"]).status.success());
    assert!(
        ctl_keys(&data, &keys, &["patients", "list"])
            .status
            .success()
    );
    // The embedded lake target (a folder in the data directory) takes it.
    let o = ctl_keys(&data, &keys, &["sync", "run", "--once", "--flush"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("audit chain head"), "{}", stdout(&o));
    let o = ctl_keys(&data, &keys, &["audit", "verify", "--lake"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));

    let conn = wardwatch_core::store::cipher::connect(&data).expect("open the file");
    let (chain, newest): (String, i64) = conn
        .query_row(
            "SELECT (SELECT id FROM audit_chain), (SELECT max(seq) FROM audit_log)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("read");
    let keep = newest - 4;
    conn.execute_batch(&format!(
        "DROP TRIGGER audit_log_no_delete;
         DELETE FROM audit_log WHERE seq > {keep};
         CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
         BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    ))
    .expect("tamper");
    let mac: Vec<u8> = conn
        .query_row("SELECT mac FROM audit_log WHERE seq = ?1", [keep], |r| {
            r.get(0)
        })
        .expect("mac");
    drop(conn);
    let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(
        keys.join(format!("head-{chain}.json")),
        format!(r#"{{"seq":{keep},"mac":"{hex}"}}"#),
    )
    .expect("rewrite the head");

    let o = ctl_keys(&data, &keys, &["audit", "verify"]);
    assert!(
        o.status.success(),
        "locally it looks intact: {}",
        stdout(&o)
    );
    let o = ctl_keys(&data, &keys, &["audit", "verify", "--lake"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    // Entries written since refill the cut places: either way the lake's
    // head no longer matches.
    assert!(out.contains("the lake (local) records"), "{out}");
}

/// `wardwatchctl` without a password or a session, with each: the session
/// `login` keeps serves later commands until `logout`, and only for its
/// user.
#[test]
fn login_keeps_a_session_that_logout_and_a_password_change_end() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let bare = |user: &str, args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
            .arg("--data-dir")
            .arg(&data)
            .args(["--user", user])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run wardwatchctl");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("wait")
    };
    // A new store with no password to give is refused, and none is made.
    let o = bare("admin", &["init"], None);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("--password-stdin"), "{}", stderr(&o));
    assert!(!data.join("wardwatch.db").exists());
    let o = bare("admin", &["--password-stdin", "init"], Some("short\n"));
    assert!(stderr(&o).contains("at least 10"), "{}", stderr(&o));
    let o = bare(
        "admin",
        &["--password-stdin", "init"],
        Some("theatre list at seven\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    // init logged the admin in: no password needed now.
    assert!(bare("admin", &["patients", "list"], None).status.success());
    assert!(bare("admin", &["logout"], None).status.success());
    let o = bare("admin", &["patients", "list"], None);
    assert!(stderr(&o).contains("not logged in"), "{}", stderr(&o));
    let o = bare(
        "admin",
        &["--password-stdin", "login"],
        Some("wrong, sadly, wrong\n"),
    );
    assert!(stderr(&o).contains("wrong user name or password"));
    let o = bare(
        "admin",
        &["--password-stdin", "login"],
        Some("theatre list at seven\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("logged in as admin (admin)"));
    // Another user's name does not ride on the admin's session.
    assert!(!bare("nurse", &["patients", "list"], None).status.success());
    // A password change ends the old sessions and keeps the new one.
    let new = dir.path().join("new.pw");
    std::fs::write(&new, "recovery room at nine\n").expect("pw");
    let o = bare(
        "admin",
        &[
            "--password-stdin",
            "passwd",
            "--new-password-file",
            new.to_str().expect("utf8"),
        ],
        Some("theatre list at seven\n"),
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(bare("admin", &["patients", "list"], None).status.success());
    let o = bare(
        "admin",
        &["--password-stdin", "login"],
        Some("theatre list at seven\n"),
    );
    assert!(!o.status.success(), "the old password is gone");
    let o = ctl(&data, &["patients", "list"]);
    assert!(!o.status.success(), "nor is the test password the admin's");
}

/// `wardwatchctl` with its own key folder, in a D-Bus session of its own
/// whose Secret Service is a real gnome-keyring, unlocked with a password:
/// the keyring's files live under `home`, so every call sees the same
/// keyring. Output goes through files: the keyring daemon may outlive the
/// call. Returns success and standard output (and error, on failure).
fn ctl_in_keyring(
    home: &std::path::Path,
    data: &std::path::Path,
    keys: &std::path::Path,
    args: &[&str],
) -> (bool, String) {
    ctl_in_keyring_with(home, data, keys, args, "")
}

/// [`ctl_in_keyring`] with `input` on standard input.
fn ctl_in_keyring_with(
    home: &std::path::Path,
    data: &std::path::Path,
    keys: &std::path::Path,
    args: &[&str],
    input: &str,
) -> (bool, String) {
    let log = home.join("out.txt");
    let errs = home.join("err.txt");
    let file = std::fs::File::create(&log).expect("output file");
    let err_file = std::fs::File::create(&errs).expect("error file");
    let status = Command::new("dbus-run-session")
        .args([
            "--",
            "sh",
            "-c",
            "printf %s \"$WARDWATCH_TEST_KEYRING_PW\" | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1 && printf '%s\\n' \"$WARDWATCH_TEST_INPUT\" | \"$@\"",
            "sh",
            env!("CARGO_BIN_EXE_wardwatchctl"),
        ])
        .arg("--data-dir")
        .arg(data)
        .arg("--key-dir")
        .arg(keys)
        .args(["--user", "admin", "--password-file", crate::pw_file()])
        .args(args)
        .env("HOME", home)
        .env("XDG_DATA_HOME", home.join("share"))
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env("WARDWATCH_TEST_KEYRING_PW", "keyring unlock words")
        .env("WARDWATCH_TEST_INPUT", input)
        // Only what the test gives: no AWS keys from the environment.
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(std::process::Stdio::null())
        .stdout(file)
        .stderr(err_file)
        .status()
        .expect("run dbus-run-session");
    let out = std::fs::read_to_string(&log).unwrap_or_default();
    if !status.success() {
        // What went wrong, for the assertion's message.
        let err = std::fs::read_to_string(&errs).unwrap_or_default();
        return (false, format!("{out}{err}"));
    }
    (true, out)
}

/// The same without any D-Bus session: no keyring to ask.
fn ctl_without_keyring(
    data: &std::path::Path,
    keys: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    ctl_keys_command(data, keys, args)
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .output()
        .expect("run wardwatchctl")
}

#[test]
fn keys_moved_into_a_real_gnome_keyring_open_the_store_and_leave_no_key_file() {
    let dir = private_tempdir();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("run")).expect("home");
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    assert!(ctl_keys(&data, &keys, &["demo", "load"]).status.success());
    let key_files = |keys: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(keys)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".key"))
                    .collect()
            })
            .unwrap_or_default()
    };
    let before = key_files(&keys);
    assert!(
        before.iter().any(|k| k.starts_with("store-")) && before.len() >= 2,
        "a store key and an audit key: {before:?}"
    );

    let (ok, out) = ctl_in_keyring(&home, &data, &keys, &["keys", "to-keyring"]);
    assert!(ok, "{out}");
    assert!(out.contains("moved into the OS keyring"), "{out}");
    assert!(key_files(&keys).is_empty(), "{:?}", key_files(&keys));
    // The store opens with its key from the keyring; the trail verifies
    // with the audit key from there too.
    let (ok, out) = ctl_in_keyring(&home, &data, &keys, &["keys", "list", "--json"]);
    assert!(ok, "{out}");
    let listed: serde_json::Value = serde_json::from_str(&out).expect("json");
    let places: Vec<&str> = listed
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["where"].as_str().unwrap_or(""))
        .collect();
    assert!(
        places.len() >= 2 && places.iter().all(|w| *w == "keyring"),
        "{out}"
    );
    let (ok, out) = ctl_in_keyring(&home, &data, &keys, &["patients", "list"]);
    assert!(ok && out.lines().count() > 5, "{out}");
    let (ok, out) = ctl_in_keyring(&home, &data, &keys, &["audit", "verify"]);
    assert!(ok, "{out}");
    // No keyring, no key: a clear refusal naming the keyring, never an
    // empty store nor a new audit key in place of the moved one.
    let o = ctl_without_keyring(&data, &keys, &["patients", "list"]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("is in the OS keyring, which cannot be read"),
        "{err}"
    );
    // Back into the folder, e.g. for a key backup: works without a keyring.
    let (ok, out) = ctl_in_keyring(&home, &data, &keys, &["keys", "to-folder"]);
    assert!(ok, "{out}");
    assert_eq!(
        key_files(&keys).len(),
        before.len(),
        "{:?}",
        key_files(&keys)
    );
    let o = ctl_without_keyring(&data, &keys, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = ctl_without_keyring(&data, &keys, &["audit", "--limit", "20"]);
    let trail = stdout(&o);
    assert!(
        trail.contains("keys.to_keyring") && trail.contains("keys.to_folder"),
        "{trail}"
    );
    assert!(!trail.contains("audit.key_replaced"), "{trail}");
}

/// `wardwatchctl` as `user`, logged in with the password in `pw_file`.
fn ctl_pw(
    data: &std::path::Path,
    user: &str,
    pw_file: &std::path::Path,
    args: &[&str],
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
        .arg("--data-dir")
        .arg(data)
        .args(["--user", user, "--password-file"])
        .arg(pw_file)
        .args(args)
        .output()
        .expect("run wardwatchctl")
}

fn directory_setting(url: &str) -> String {
    serde_json::json!({
        "url": url,
        "bind": "uid={user},ou=people,dc=hospital,dc=test",
        "group_base": "ou=groups,dc=hospital,dc=test",
        "group_roles": {
            "cn=ward-nurses,ou=groups,dc=hospital,dc=test": "clinician",
            "cn=ward-doctors,ou=groups,dc=hospital,dc=test": "clinician",
            "cn=data-team,ou=groups,dc=hospital,dc=test": "data",
        },
    })
    .to_string()
}

/// Logins against OpenLDAP's slapd on loopback (scripts/peers.sh starts
/// it with scripts/ldap/hospital.ldif): the directory's groups give the
/// role; an unmapped group, a wrong password, an unknown name, a hostile
/// name and a deactivated user are refused; a directory that cannot answer
/// says so, and local accounts still log in.
#[test]
fn directory_users_log_in_with_the_role_their_groups_give() {
    let url = std::env::var("WARDWATCH_LDAP_URL").expect(
        "WARDWATCH_LDAP_URL is not set: run the tests through scripts/test.sh (scripts/peers.sh starts slapd)",
    );
    let directory_pw = std::env::var("WARDWATCH_LDAP_PASSWORD").expect("WARDWATCH_LDAP_PASSWORD");
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let pw = dir.path().join("directory-password");
    std::fs::write(&pw, &directory_pw).expect("password file");
    let wrong = dir.path().join("wrong-password");
    std::fs::write(&wrong, "not the directory password").expect("password file");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    let o = ctl(
        &data,
        &[
            "settings",
            "set",
            "ldap.directory",
            &directory_setting(&url),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));

    // A nurse of the directory: in, as a clinician, registered on the way.
    let o = ctl_pw(&data, "nurse.okafor", &pw, &["patients", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).lines().count() > 5, "{}", stdout(&o));
    let o = ctl_pw(&data, "analyst.rao", &pw, &["patients", "list"]);
    assert!(!o.status.success(), "the data role reads no patient");
    assert!(stderr(&o).contains("may not"), "{}", stderr(&o));
    let users = stdout(&ctl(&data, &["users", "list", "--json"]));
    let users: serde_json::Value = serde_json::from_str(&users).expect("json");
    let role = |name: &str| {
        users
            .as_array()
            .expect("users")
            .iter()
            .find(|u| u["username"] == name)
            .map(|u| u["role"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(role("nurse.okafor").as_deref(), Some("clinician"));
    assert_eq!(role("analyst.rao").as_deref(), Some("data"));

    // Refused, all with the same answer.
    for (user, file) in [
        ("nurse.okafor", &wrong),
        ("porter.kim", &pw),
        ("nobody", &pw),
        ("*)(uid=*", &pw),
    ] {
        let o = ctl_pw(&data, user, file, &["patients", "list"]);
        assert!(!o.status.success(), "{user} got in");
        assert!(
            stderr(&o).contains("wrong user name or password"),
            "{user}: {}",
            stderr(&o)
        );
    }
    assert_eq!(
        role("porter.kim"),
        None,
        "an unmapped group registers no one"
    );
    // An admin's deactivation outranks the directory.
    assert!(
        ctl(&data, &["users", "deactivate", "nurse.okafor"])
            .status
            .success()
    );
    let o = ctl_pw(&data, "nurse.okafor", &pw, &["patients", "list"]);
    assert!(!o.status.success(), "a deactivated user got in");

    // The directory down: a clear error; the local admin still logs in.
    let closed = format!("ldap://127.0.0.1:{}", {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        l.local_addr().expect("addr").port()
    });
    assert!(
        ctl(
            &data,
            &[
                "settings",
                "set",
                "ldap.directory",
                &directory_setting(&closed)
            ]
        )
        .status
        .success()
    );
    let o = ctl_pw(&data, "dr.lindqvist", &pw, &["patients", "list"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("directory (LDAP) cannot answer"),
        "{}",
        stderr(&o)
    );
    assert!(ctl(&data, &["patients", "list"]).status.success());

    let trail = stdout(&ctl(&data, &["audit", "--limit", "200"]));
    for action in [
        "users.role_from_directory",
        "login.no_directory_role",
        "login.directory_error",
        "login.failed",
    ] {
        assert!(trail.contains(action), "{action} audited:\n{trail}");
    }
}

/// The headless runtime's own identity: a service account logs in for
/// `serve` and nothing else.
#[test]
fn a_service_account_runs_the_runtime_and_cannot_log_in_interactively() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    assert!(ctl(&data, &["demo", "load"]).status.success());
    let o = ctl(
        &data,
        &[
            "users",
            "add",
            "svc.ward5",
            "--role",
            "clinician",
            "--service",
            "--new-password-file",
            crate::pw_file(),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("service account"), "{}", stdout(&o));
    assert!(
        stdout(&ctl(&data, &["users", "list"])).contains("svc.ward5"),
        "listed"
    );
    // Not at a terminal: neither a command nor a kept session.
    for args in [vec!["patients", "list"], vec!["login"]] {
        let o = as_user(&data, "svc.ward5", &args);
        assert!(!o.status.success(), "{args:?} as a service account");
        assert!(
            stderr(&o).contains("wrong user name or password"),
            "{}",
            stderr(&o)
        );
    }
    // `serve` as it: the runtime starts (its heartbeat appears) and stops.
    let mut child = Command::new(env!("CARGO_BIN_EXE_wardwatchctl"))
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--user",
            "svc.ward5",
            "--password-file",
            crate::pw_file(),
            "serve",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !data.join("heartbeat.json").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().expect("output");
            panic!(
                "serve ended ({status}): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no heartbeat from the service account's runtime"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().expect("serve exits");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trail = stdout(&ctl(&data, &["audit", "--limit", "100"]));
    let started = trail
        .lines()
        .any(|l| l.contains("svc.ward5") && l.contains("runtime.start"));
    assert!(started, "{trail}");
    assert!(trail.contains("login.service_interactive"), "{trail}");
}

/// S3 credentials kept in a real gnome-keyring reach a real S3 server
/// (SeaweedFS checks them) through an AWS profile whose
/// `credential_process` is `wardwatchctl keys credential-process`; no key
/// is in the environment, a file, or the store.
#[test]
fn s3_credentials_in_the_os_keyring_sync_the_lake_through_an_aws_profile() {
    let url = std::env::var("WARDWATCH_SEAWEEDFS_S3_URL")
        .expect("WARDWATCH_SEAWEEDFS_S3_URL: run the tests through scripts/test.sh");
    let key = std::env::var("WARDWATCH_SEAWEEDFS_ACCESS_KEY").expect("key");
    let secret = std::env::var("WARDWATCH_SEAWEEDFS_SECRET_KEY").expect("secret");
    let dir = private_tempdir();
    let home = dir.path().join("home");
    std::fs::create_dir_all(home.join("run")).expect("home");
    std::fs::create_dir_all(home.join(".aws")).expect("aws");
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    assert!(ctl_keys(&data, &keys, &["demo", "load"]).status.success());
    let bucket = format!("keyring-{}", std::process::id());
    let (rt, client) = crate::lake::seaweedfs_bucket(&url, &key, &secret, &bucket);
    std::fs::write(
        home.join(".aws/config"),
        format!(
            "[profile hospital-lake]\ncredential_process = {} keys credential-process lake\n",
            env!("CARGO_BIN_EXE_wardwatchctl")
        ),
    )
    .expect("aws config");

    let (ok, out) = ctl_in_keyring_with(
        &home,
        &data,
        &keys,
        &["keys", "cloud-set", "lake", "--access-key-id", &key],
        &secret,
    );
    assert!(ok, "{out}");
    let (ok, out) = ctl_in_keyring(
        &home,
        &data,
        &keys,
        &[
            "sync",
            "targets",
            "add",
            "seaweed",
            &format!("s3://{bucket}/hospital"),
            "--endpoint",
            &url,
            "--region",
            "us-east-1",
            "--profile",
            "hospital-lake",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = ctl_in_keyring(&home, &data, &keys, &["sync", "run", "--once", "--flush"]);
    assert!(ok, "{out}");
    let listed = rt
        .block_on(
            client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix("hospital/")
                .send(),
        )
        .expect("list");
    assert!(listed.key_count().unwrap_or(0) >= 1, "objects written");
    // The secret is in no file of the data or key folder, nor the profile.
    let config = std::fs::read_to_string(home.join(".aws/config")).expect("read");
    assert!(!config.contains(&secret));
    for folder in [&data, &keys] {
        for (file, bytes) in crate::stream::files_with_bytes(folder) {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "the secret in {file}"
            );
        }
    }
    // Without the keyring the profile yields nothing: a clear failure.
    let (ok, _) = ctl_in_keyring(&home, &data, &keys, &["keys", "cloud-remove", "lake"]);
    assert!(ok);
    let (ok, out) = ctl_in_keyring(&home, &data, &keys, &["sync", "run", "--once", "--flush"]);
    assert!(!ok, "synced without credentials: {out}");
    // A Kinesis source may name keyring credentials, never keys.
    let (ok, out) = ctl_in_keyring(
        &home,
        &data,
        &keys,
        &[
            "sources",
            "add",
            "kinesis",
            "ward-k",
            "--endpoint",
            "http://127.0.0.1:9",
            "--stream",
            "vitals",
            "--credentials",
            "keyring:lake",
        ],
    );
    assert!(ok, "{out}");
    let o = ctl_keys(
        &data,
        &keys,
        &[
            "sources",
            "add",
            "kinesis",
            "ward-x",
            "--endpoint",
            "http://127.0.0.1:9",
            "--stream",
            "vitals",
            "--credentials",
            "AKIA:secret",
        ],
    );
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("secret"), "{}", stderr(&o));
}

/// A store made in clear (as before encryption came) holding a demo ward,
/// whose admin has the test password; its keys in `keys`.
fn clear_ward(data: &std::path::Path, keys: &std::path::Path) {
    use std::sync::Arc;
    use wardwatch_core::api::{self, Ctx};
    use wardwatch_core::store::{AuditKeys, Store};
    Store::create_dir(data).expect("a store in clear");
    let clock = Arc::new(wardwatch_core::clock::SystemClock);
    let mut c = Ctx::open(data, &AuditKeys::in_dir(keys), "admin", clock).expect("open");
    api::set_password(&c, "admin", crate::PASSWORD).expect("password");
    api::load_demo_ward(&mut c, 4).expect("ward");
}

/// A store made in clear (before encryption came) is encrypted in place by
/// `store encrypt`, and `store rekey` rotates its key; nothing is lost.
#[test]
fn store_encrypt_and_rekey_work_in_place_from_the_command_line() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    clear_ward(&data, &keys);
    let db = data.join("wardwatch.db");
    let header = |db: &std::path::Path| std::fs::read(db).expect("read")[..16].to_vec();
    assert_eq!(header(&db), b"SQLite format 3\0");
    let before = stdout(&ctl_keys(&data, &keys, &["patients", "list", "--json"]));
    let o = ctl_keys(&data, &keys, &["store", "check", "--quick"]);
    assert!(stdout(&o).contains("in clear"), "{}", stdout(&o));

    let o = ctl_keys(&data, &keys, &["store", "encrypt"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("store encrypted with key"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).contains("back it up"), "{}", stdout(&o));
    assert_ne!(header(&db), b"SQLite format 3\0");
    let o = ctl_keys(&data, &keys, &["store", "check"]);
    assert!(
        stdout(&o).contains("encrypted (SQLCipher"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        stdout(&ctl_keys(&data, &keys, &["patients", "list", "--json"])),
        before
    );
    // Again: refused, with the command to use instead.
    let o = ctl_keys(&data, &keys, &["store", "encrypt"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("store rekey"), "{}", stderr(&o));

    let o = ctl_keys(&data, &keys, &["store", "rekey"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("store key rotated"), "{}", stdout(&o));
    assert_eq!(
        stdout(&ctl_keys(&data, &keys, &["patients", "list", "--json"])),
        before
    );
    let o = ctl_keys(&data, &keys, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}

/// A store whose key is derived from an admin's passphrase: no key file
/// anywhere; every use needs the passphrase.
#[test]
fn a_passphrase_derived_key_opens_the_store_only_with_the_passphrase() {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = dir.path().join("keys");
    clear_ward(&data, &keys);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    let first = write("first", "night shift on ward five\n");
    let second = write("second", "a brand new phrase for 2027\n");
    let wrong = write("wrong", "not the phrase at all, no\n");
    let short = write("short", "too short\n");
    let with = |p: &std::path::Path, args: &[&str]| {
        ctl_keys_command(&data, &keys, args)
            .env("WARDWATCH_STORE_PASSPHRASE_FILE", p)
            .output()
            .expect("run")
    };
    let o = ctl_keys(
        &data,
        &keys,
        &[
            "store",
            "encrypt",
            "--passphrase-file",
            short.to_str().expect("utf8"),
        ],
    );
    assert!(!o.status.success(), "a short passphrase");
    let o = ctl_keys(
        &data,
        &keys,
        &[
            "store",
            "encrypt",
            "--passphrase-file",
            first.to_str().expect("utf8"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let store_keys: Vec<_> = std::fs::read_dir(&keys)
        .expect("keys")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("store-"))
        .collect();
    assert!(store_keys.is_empty(), "no key file for a passphrase key");

    let o = ctl_keys(&data, &keys, &["patients", "list"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("is encrypted and its key"),
        "{}",
        stderr(&o)
    );
    let o = with(&wrong, &["patients", "list"]);
    assert!(!o.status.success(), "a wrong passphrase opened it");
    let o = with(&first, &["patients", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).lines().count() > 3);

    // A new passphrase: the old one no longer opens it.
    let o = with(
        &first,
        &[
            "store",
            "rekey",
            "--passphrase-file",
            second.to_str().expect("utf8"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(with(&second, &["patients", "list"]).status.success());
    assert!(!with(&first, &["patients", "list"]).status.success());
    let o = with(&second, &["audit", "verify"]);
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
}
