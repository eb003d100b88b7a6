//! Roles are enforced by the backend, and the audit trail cannot be rewritten.

use wardwatch_core::api;
use wardwatch_core::store::Role;
use wardwatch_core::{Error, ErrorKind};

use crate::ctx;

#[test]
fn first_user_is_admin_and_strangers_are_refused() {
    let store = crate::private_tempdir();
    let admin = ctx(store.path(), "admin");
    assert_eq!(admin.actor.role, Role::Admin);
    let stranger =
        wardwatch_core::api::Ctx::open(store.path(), &crate::keys(), "mallory", crate::clock());
    assert!(matches!(stranger, Err(Error::UnknownUser { .. })));
}

#[test]
fn viewer_reads_patients_but_cannot_import() {
    let store = crate::private_tempdir();
    let mut admin = ctx(store.path(), "admin");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    api::put_user(&admin, "nurse", Role::Viewer).expect("add user");
    let mut nurse = ctx(store.path(), "nurse");
    assert_eq!(api::list_patients(&nurse).expect("list").len(), 24);
    let e = api::import_patients(&mut nurse, std::path::Path::new("x.csv")).expect_err("forbidden");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    let e = api::load_demo_ward(&mut nurse, 1).expect_err("forbidden");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
}

#[test]
fn unknown_mrn_is_not_found_and_reads_are_audited() {
    let store = crate::private_tempdir();
    let mut admin = ctx(store.path(), "admin");
    api::load_demo_ward(&mut admin, 3).expect("demo");
    let e = api::show_patient(&admin, "NOPE").expect_err("not found");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    let mrn = crate::store_of(&admin).patients().expect("patients")[0]
        .mrn
        .clone();
    api::show_patient(&admin, &mrn).expect("show");
    let audit = api::recent_audit(&admin, 1).expect("audit");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].target.as_deref()),
        ("patient.read", Some(mrn.as_str()))
    );
}
