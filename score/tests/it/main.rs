//! Integration tests of the scoring crate against real annotated recordings in
//! the shared test data (see `data_dir`).

mod analysis;
mod bedside;
mod mimic;
mod qrs;

use std::path::PathBuf;

/// The shared test data folder: `WARDWATCH_TESTDATA`, else `../shared/data`
/// beside the workspace. Panics with the path when it is absent, so a missing
/// data set fails loudly instead of skipping tests.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("WARDWATCH_TESTDATA").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data")),
        PathBuf::from,
    );
    let probe = dir.join("mitdb/100.hea");
    assert!(
        probe.is_file(),
        "test data missing: `{}` not found; set WARDWATCH_TESTDATA to the folder holding mitdb/, challenge2015/ and mimic3wdb-matched/",
        probe.display()
    );
    dir
}

#[test]
fn data_dir_is_present() {
    assert!(data_dir().join("challenge2015/a103l.hea").is_file());
}
