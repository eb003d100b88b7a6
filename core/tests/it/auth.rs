//! Logins, lockout with back-off, sessions: as an attacker at a shared ward
//! workstation would try them.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use wardwatch_core::api::{self, Ctx};
use wardwatch_core::clock::Clock;
use wardwatch_core::store::{AuditKeys, Role};
use wardwatch_core::{Error, ErrorKind};

use crate::private_tempdir;

/// A clock the test moves on.
#[derive(Debug)]
struct Moving(Mutex<DateTime<Utc>>);

impl Clock for Moving {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().expect("clock")
    }
}

impl Moving {
    fn advance(&self, d: Duration) {
        *self.0.lock().expect("clock") += d;
    }
}

const ADMIN_PW: &str = "night shift on ward 7";
const NURSE_PW: &str = "blue kettle by the window";

struct Ward {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    keys: AuditKeys,
    clock: Arc<Moving>,
}

fn ward() -> Ward {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = AuditKeys::in_dir(dir.path().join("keys"));
    let clock = Arc::new(Moving(Mutex::new(crate::clock().now())));
    let admin = Ctx::create_admin(&data, &keys, "admin", ADMIN_PW, clock.clone()).expect("store");
    api::put_user(&admin, "nurse.kim", Role::Clinician).expect("user");
    api::set_password(&admin, "nurse.kim", NURSE_PW).expect("password");
    Ward {
        _dir: dir,
        data,
        keys,
        clock,
    }
}

impl Ward {
    fn login(&self, user: &str, pw: &str) -> Result<(Ctx, String), Error> {
        Ctx::login(&self.data, &self.keys, user, pw, "cli", self.clock.clone())
    }

    fn resume(&self, token: &str) -> Result<Ctx, Error> {
        Ctx::resume(&self.data, &self.keys, token, self.clock.clone())
    }

    fn admin(&self) -> Ctx {
        self.login("admin", ADMIN_PW).expect("admin login").0
    }
}

#[test]
fn a_store_is_created_with_a_real_password_and_its_admin_logs_in() {
    let dir = private_tempdir();
    let keys = AuditKeys::in_dir(dir.path().join("keys"));
    for weak in ["admin", "password123", "short"] {
        let e = Ctx::create_admin(&dir.path().join("d"), &keys, "admin", weak, crate::clock())
            .expect_err(weak);
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    }
    let w = ward();
    let (ctx, token) = w.login("admin", ADMIN_PW).expect("login");
    assert_eq!(ctx.actor.role, Role::Admin);
    assert_eq!(token.len(), 64);
    let again = w.resume(&token).expect("resume");
    assert_eq!(again.actor.username, "admin");
    api::logout(&again, &token).expect("logout");
    assert!(matches!(w.resume(&token), Err(Error::SessionEnded)));
    // The store has neither the password nor the token in clear.
    drop((ctx, again));
    let db = std::fs::read(w.data.join("wardwatch.db")).expect("db");
    for secret in [ADMIN_PW, NURSE_PW, &token] {
        assert!(
            !db.windows(secret.len()).any(|win| win == secret.as_bytes()),
            "{secret}"
        );
    }
}

#[test]
fn every_failed_login_looks_the_same_and_is_audited() {
    let w = ward();
    let admin = w.admin();
    api::put_user(&admin, "no.password", Role::Viewer).expect("user");
    api::put_user(&admin, "gone", Role::Viewer).expect("user");
    api::set_password(&admin, "gone", "a long forgotten phrase").expect("pw");
    api::set_user_active(&admin, "gone", false).expect("deactivate");
    for (user, pw) in [
        ("nurse.kim", "wrong wrong wrong"),
        ("mallory", NURSE_PW),
        ("no.password", ""),
        ("gone", "a long forgotten phrase"),
    ] {
        let e = w.login(user, pw).expect_err(user);
        assert!(matches!(e, Error::LoginFailed), "{user}: {e:?}");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    }
    let trail = api::recent_audit(&admin, 50).expect("audit");
    for user in ["nurse.kim", "mallory", "no.password", "gone"] {
        assert!(
            trail
                .iter()
                .any(|e| e.actor == user && e.action == "login.failed"),
            "{user}"
        );
    }
}

#[test]
fn repeated_failures_lock_the_account_with_back_off() {
    let w = ward();
    for _ in 0..5 {
        assert!(matches!(
            w.login("nurse.kim", "guess guess guess"),
            Err(Error::LoginFailed)
        ));
    }
    // Locked for a minute: even the right password is refused, unchecked.
    let e = w.login("nurse.kim", NURSE_PW).expect_err("locked");
    assert!(matches!(e, Error::AccountLocked { .. }), "{e:?}");
    w.clock.advance(Duration::seconds(61));
    // One more failure after the lock doubles it.
    assert!(matches!(
        w.login("nurse.kim", "guess again please"),
        Err(Error::LoginFailed)
    ));
    w.clock.advance(Duration::seconds(61));
    assert!(matches!(
        w.login("nurse.kim", NURSE_PW),
        Err(Error::AccountLocked { .. })
    ));
    w.clock.advance(Duration::seconds(60));
    let (ctx, _) = w
        .login("nurse.kim", NURSE_PW)
        .expect("unlocked after 2 min");
    assert_eq!(ctx.actor.role, Role::Clinician);
    // A success ends the count: one failure locks nothing.
    assert!(matches!(
        w.login("nurse.kim", "one more typo here"),
        Err(Error::LoginFailed)
    ));
    w.login("nurse.kim", NURSE_PW).expect("not locked");
    // An admin's reset lifts a lock at once.
    for _ in 0..6 {
        let _ = w.login("nurse.kim", "guess guess guess");
    }
    assert!(matches!(
        w.login("nurse.kim", NURSE_PW),
        Err(Error::AccountLocked { .. })
    ));
    api::set_password(&w.admin(), "nurse.kim", "a brand new phrase").expect("reset");
    w.login("nurse.kim", "a brand new phrase")
        .expect("after the reset");
    let trail = api::recent_audit(&w.admin(), 100).expect("audit");
    assert!(
        trail
            .iter()
            .any(|e| e.actor == "nurse.kim" && e.action == "login.locked")
    );
}

/// A session resumed again and again (a monitoring script running
/// `wardwatchctl ingest status` every second) records its use once a
/// minute, not a write each time: every commit by another connection makes
/// the runtime's writer read its pages and open blocks again (issue 16).
#[test]
fn resuming_a_session_within_a_minute_of_its_recorded_use_writes_nothing() {
    let w = ward();
    let (_, token) = w.login("nurse.kim", NURSE_PW).expect("login");
    let watcher = wardwatch_core::store::Store::open_dir(&w.data).expect("open");
    let before = watcher.data_version().expect("version");
    for _ in 0..3 {
        w.clock.advance(Duration::seconds(15));
        w.resume(&token).expect("resumed");
    }
    assert_eq!(
        watcher.data_version().expect("version"),
        before,
        "no commit within the minute"
    );
    w.clock.advance(Duration::seconds(20));
    w.resume(&token).expect("resumed");
    assert_ne!(
        watcher.data_version().expect("version"),
        before,
        "its use recorded once the last is over a minute old"
    );
}

#[test]
fn sessions_end_when_idle_at_their_limit_and_with_their_user() {
    let w = ward();
    let (_, token) = w.login("nurse.kim", NURSE_PW).expect("login");
    w.clock.advance(Duration::minutes(59));
    w.resume(&token).expect("used within the hour");
    w.clock.advance(Duration::minutes(61));
    assert!(matches!(w.resume(&token), Err(Error::SessionEnded)), "idle");

    // Used every 50 minutes, a session still ends 12 h after its login.
    let (_, token) = w.login("nurse.kim", NURSE_PW).expect("login");
    for _ in 0..14 {
        w.clock.advance(Duration::minutes(50));
        w.resume(&token).expect("in use");
    }
    w.clock.advance(Duration::minutes(50));
    assert!(matches!(w.resume(&token), Err(Error::SessionEnded)), "12 h");

    // Deactivation and a password change end them at once, also for a
    // client that holds its context (the desktop app checks each call).
    let (held, token) = w.login("nurse.kim", NURSE_PW).expect("login");
    api::check_session(&held, &token).expect("open");
    api::set_user_active(&w.admin(), "nurse.kim", false).expect("deactivate");
    assert!(matches!(w.resume(&token), Err(Error::SessionEnded)));
    assert!(matches!(
        api::check_session(&held, &token),
        Err(Error::SessionEnded)
    ));
    api::set_user_active(&w.admin(), "nurse.kim", true).expect("activate");
    let (nurse, token) = w.login("nurse.kim", NURSE_PW).expect("login");
    let e = api::change_password(&nurse, "not the current one", "another fine phrase")
        .expect_err("needs the current password");
    assert_eq!(e.kind(), ErrorKind::Unauthenticated);
    api::change_password(&nurse, NURSE_PW, "another fine phrase").expect("change");
    assert!(matches!(w.resume(&token), Err(Error::SessionEnded)));
    w.login("nurse.kim", "another fine phrase")
        .expect("the new password");
    // Only admins set other users' passwords.
    let e = api::set_password(&nurse, "admin", "taken over by a nurse").expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
}
