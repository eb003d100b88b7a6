//! The audit trail is tamper-evident: whoever holds the database file (and
//! not the key folder) can drop the triggers and rewrite rows, and
//! `verify_audit` finds every such change and says where. Refusals and
//! attempts by unknown names are audited; users can be deactivated, and the
//! last admin cannot be removed.

use std::path::Path;

use wardwatch_core::api::{self, Ctx};
use wardwatch_core::store::{AuditKeys, AuditProblemKind as Kind, Role};
use wardwatch_core::{Error, ErrorKind};

use crate::{clock, private_tempdir};

/// A store with its own key folder (beside, not inside, the data folder)
/// and a trail of 10 sealed entries: its creation, a demo ward, users and
/// reads.
struct Trail {
    _dir: tempfile::TempDir,
    data: std::path::PathBuf,
    keys: AuditKeys,
}

fn trail() -> Trail {
    let dir = private_tempdir();
    let data = dir.path().join("data");
    let keys = AuditKeys::in_dir(dir.path().join("keys"));
    let mut admin = Ctx::create(&data, &keys, "admin", clock()).expect("store");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    for name in ["nurse.a", "nurse.b", "dr.c"] {
        api::put_user(&admin, name, Role::Clinician).expect("user");
    }
    let mrns: Vec<String> = api::list_patients(&admin)
        .expect("list")
        .into_iter()
        .map(|p| p.mrn)
        .collect();
    for mrn in &mrns[..4] {
        api::show_patient(&admin, mrn).expect("read");
    }
    let t = Trail {
        _dir: dir,
        data,
        keys,
    };
    let v = t.verify();
    assert!(v.intact(), "{:?}", v.problems);
    assert!(v.entries >= 10 && v.verified == v.entries, "{v:?}");
    t
}

impl Trail {
    /// Opens the database as an intruder would: no Wardwatch, no key, the
    /// triggers dropped first.
    fn tamper(&self, sql: &str) {
        let conn = wardwatch_core::store::cipher::connect(&self.data).expect("open the file");
        conn.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
            .expect("drop the triggers");
        conn.execute_batch(sql).expect("tamper");
    }

    fn admin(&self) -> Ctx {
        Ctx::open(&self.data, &self.keys, "admin", clock()).expect("open")
    }

    fn verify(&self) -> wardwatch_core::store::AuditVerification {
        api::verify_audit(&self.admin()).expect("verify")
    }

    /// The problems `verify` finds, as (kind, entry), without the report of
    /// the triggers that opening put back.
    fn problems(&self) -> Vec<(Kind, Option<i64>)> {
        let v = self.verify();
        assert!(!v.intact());
        v.problems
            .iter()
            .filter(|p| p.kind != Kind::TriggersMissing)
            .map(|p| (p.kind.clone(), p.seq))
            .collect()
    }
}

#[test]
fn an_edited_entry_is_found_and_named() {
    let t = trail();
    t.tamper("UPDATE audit_log SET actor = 'nurse.b' WHERE seq = 5");
    assert_eq!(t.problems(), vec![(Kind::Edited, Some(5))]);
}

#[test]
fn a_backdated_entry_is_found() {
    let t = trail();
    t.tamper("UPDATE audit_log SET ts_ms = 0 WHERE seq = 3");
    assert_eq!(t.problems(), vec![(Kind::Edited, Some(3))]);
}

#[test]
fn a_deleted_entry_is_found_where_it_was() {
    let t = trail();
    t.tamper("DELETE FROM audit_log WHERE seq = 4");
    assert_eq!(t.problems(), vec![(Kind::Deleted, Some(5))]);
}

#[test]
fn a_forged_entry_is_found_whatever_its_seal() {
    // A copy of a real entry's seal, at the next place in the chain.
    let t = trail();
    t.tamper(
        "INSERT INTO audit_log (ts_ms, actor, action, target, detail, seq, key_id, prev_mac, mac)
         SELECT ts_ms + 1, 'dr.c', 'patient.read', target, detail,
                (SELECT max(seq) + 1 FROM audit_log), key_id,
                (SELECT mac FROM audit_log ORDER BY seq DESC LIMIT 1), mac
         FROM audit_log WHERE seq = 2",
    );
    let found = t.problems();
    assert!(
        found.iter().any(|(k, _)| *k == Kind::Edited),
        "a forged seal: {found:?}"
    );
    // A row slipped in without any seal, and one that repeats a number.
    let t = trail();
    t.tamper(
        "INSERT INTO audit_log (ts_ms, actor, action, detail) VALUES (0, 'x', 'users.put', '{}');",
    );
    assert!(t.problems().contains(&(Kind::Inserted, None)));
    let t = trail();
    t.tamper(
        "DROP INDEX audit_log_seq;
         INSERT INTO audit_log (ts_ms, actor, action, target, detail, seq, key_id, prev_mac, mac)
         SELECT ts_ms, actor, action, target, detail, NULL, key_id, prev_mac, mac
         FROM audit_log WHERE seq = 6;
         UPDATE audit_log SET seq = 6 WHERE seq IS NULL AND mac IS NOT NULL",
    );
    assert!(t.problems().contains(&(Kind::Inserted, Some(6))));
}

#[test]
fn reordered_entries_are_found() {
    let t = trail();
    // Swap the rows of entries 3 and 4 (their ids), keeping their content.
    t.tamper(
        "UPDATE audit_log SET id = -1 WHERE seq = 3;
         UPDATE audit_log SET id = (SELECT id FROM audit_log WHERE seq = 2) + 1 WHERE seq = 4;
         UPDATE audit_log SET id = (SELECT id FROM audit_log WHERE seq = 4) + 1 WHERE seq = 3;",
    );
    let found = t.problems();
    assert!(found.contains(&(Kind::Reordered, Some(3))), "{found:?}");
}

#[test]
fn cutting_the_end_off_or_emptying_the_log_is_found() {
    let t = trail();
    t.tamper("DELETE FROM audit_log WHERE seq > 7");
    let found = t.problems();
    assert!(
        found
            .iter()
            .any(|(k, s)| *k == Kind::Deleted && s.is_some_and(|s| s > 7)),
        "{found:?}"
    );
    let t = trail();
    t.tamper("DELETE FROM audit_log");
    assert!(t.problems().iter().any(|(k, _)| *k == Kind::Deleted));
}

#[test]
fn dropped_triggers_are_put_back_and_reported() {
    let t = trail();
    t.tamper("SELECT 1");
    let admin = t.admin();
    // Put back at open: the file refuses edits again.
    let conn = wardwatch_core::store::cipher::connect(&t.data).expect("open the file");
    assert!(
        conn.execute("DELETE FROM audit_log WHERE seq = 1", [])
            .is_err()
    );
    let v = api::verify_audit(&admin).expect("verify");
    assert!(v.problems.iter().any(|p| p.kind == Kind::TriggersMissing));
    let recent = api::recent_audit(&admin, 20).expect("audit");
    assert!(recent.iter().any(|e| e.action == "audit.triggers_restored"));
}

#[test]
fn a_lost_key_makes_old_entries_unverifiable_and_says_so() {
    let t = trail();
    for f in std::fs::read_dir(t.keys.dir()).expect("keys") {
        let f = f.expect("entry").path();
        let store_key = f
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("store-"));
        if f.extension().is_some_and(|e| e == "key") && !store_key {
            std::fs::remove_file(f).expect("lose the key");
        }
    }
    let v = t.verify();
    assert!(v.problems.iter().all(|p| p.kind == Kind::Unverifiable));
    assert!(v.problems.len() >= 10);
    let recent = api::recent_audit(&t.admin(), 50).expect("audit");
    assert!(recent.iter().any(|e| e.action == "audit.key_replaced"));
    // What is written under the new key verifies.
    assert!(v.verified >= 1, "{v:?}");
}

#[test]
fn nothing_in_the_data_folder_can_reseal_the_trail() {
    let t = trail();
    let in_data = walk(&t.data);
    let keys: Vec<Vec<u8>> = walk(t.keys.dir())
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .map(|p| std::fs::read(p).expect("key"))
        .collect();
    assert!(!keys.is_empty());
    for f in in_data {
        let bytes = std::fs::read(&f).expect("read");
        for k in &keys {
            assert!(
                !bytes.windows(k.len()).any(|w| w == k.as_slice()),
                "{} holds the audit key",
                f.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn refusals_and_strangers_are_audited() {
    let t = trail();
    let admin = t.admin();
    api::put_user(&admin, "viewer.v", Role::Viewer).expect("user");
    let viewer = Ctx::open(&t.data, &t.keys, "viewer.v", clock()).expect("viewer");
    let e = api::ack_alarm(&viewer, 1, None).expect_err("refused");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e = Ctx::open(&t.data, &t.keys, "mallory", clock()).expect_err("stranger");
    assert!(matches!(e, Error::UnknownUser { .. }));
    let recent = api::recent_audit(&admin, 10).expect("audit");
    let seen = |actor: &str, action: &str| {
        recent
            .iter()
            .any(|e| e.actor == actor && e.action == action)
    };
    assert!(seen("viewer.v", "access.denied"), "{recent:?}");
    assert!(seen("mallory", "access.unknown_user"), "{recent:?}");
    assert!(t.verify().intact());
}

#[test]
fn a_first_admin_needs_a_real_name() {
    for bad in ["", "\u{1b}[31mroot", "a\nb", "x\u{202e}", &"a".repeat(65)] {
        let dir = private_tempdir();
        let keys = AuditKeys::in_dir(dir.path().join("keys"));
        let e = Ctx::create(&dir.path().join("data"), &keys, bad, clock()).expect_err("refused");
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad:?}");
        // Nobody became its admin: a proper name still can.
        let ok = Ctx::create(&dir.path().join("data"), &keys, "admin", clock()).expect("admin");
        assert_eq!(ok.actor.role, Role::Admin);
        // The refused name, escaped, not raw, in the error text.
        assert!(!e.to_string().contains('\u{1b}'));
    }
}

#[test]
fn users_are_deactivated_and_the_last_admin_stays() {
    let t = trail();
    let admin = t.admin();
    let e = api::put_user(&admin, "admin", Role::Viewer).expect_err("last admin");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = api::set_user_active(&admin, "admin", false).expect_err("last admin");
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    api::set_user_active(&admin, "nurse.a", false).expect("deactivate");
    let e = Ctx::open(&t.data, &t.keys, "nurse.a", clock()).expect_err("inactive");
    assert!(matches!(e, Error::InactiveUser { .. }), "{e:?}");
    // A role change keeps them deactivated; reactivation lets them in.
    api::put_user(&admin, "nurse.a", Role::Viewer).expect("role");
    assert!(Ctx::open(&t.data, &t.keys, "nurse.a", clock()).is_err());
    api::set_user_active(&admin, "nurse.a", true).expect("activate");
    let nurse = Ctx::open(&t.data, &t.keys, "nurse.a", clock()).expect("back");
    assert_eq!(nurse.actor.role, Role::Viewer);
    // With a second admin, the first may step down.
    api::put_user(&admin, "dr.c", Role::Admin).expect("second admin");
    api::put_user(&admin, "admin", Role::Clinician).expect("step down");
    let e = api::set_user_active(&admin, "nope", false).expect_err("unknown");
    assert_eq!(e.kind(), ErrorKind::NotFound);
}
