//! Damaged copies of real records: truncation, a flipped byte, a missing file.
//! Each must give an error naming the file, never a panic or wrong samples.

use std::path::Path;

use wardwatch_wfdb::{Error, ErrorKind, MultiRecord, Record, read_annotations};

use crate::data_dir;

fn copy_100(to: &Path, dat_len: Option<usize>, flip: Option<usize>) {
    let src = data_dir().join("mitdb");
    std::fs::copy(src.join("100.hea"), to.join("100.hea")).expect("copy header");
    let mut dat = std::fs::read(src.join("100.dat")).expect("read dat");
    if let Some(len) = dat_len {
        dat.truncate(len);
    }
    if let Some(i) = flip {
        dat[i] ^= 0x01;
    }
    std::fs::write(to.join("100.dat"), dat).expect("write dat");
}

#[test]
fn truncated_signal_file_is_reported_with_sizes() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_100(dir.path(), Some(1000), None);
    let record = Record::open(dir.path().join("100.hea")).expect("header is fine");
    match record.read_raw(0) {
        Err(Error::Truncated {
            path,
            expected_bytes,
            found_bytes,
            ..
        }) => {
            assert!(path.ends_with("100.dat"));
            assert_eq!((expected_bytes, found_bytes), (1_950_000, 1000));
        }
        other => panic!("expected a truncation error, got {other:?}"),
    }
}

#[test]
fn flipped_bit_fails_the_checksum() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_100(dir.path(), None, Some(3000));
    let record = Record::open(dir.path().join("100.hea")).expect("header is fine");
    let err = record
        .verify_checksums()
        .expect_err("checksum must catch the flip");
    assert!(matches!(err, Error::Checksum { signal: 0, .. }), "{err}");
    assert!(err.to_string().contains("MLII"), "{err}");
}

#[test]
fn missing_files_are_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let err = Record::open(dir.path().join("nope.hea")).expect_err("no header");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    std::fs::copy(data_dir().join("mitdb/100.hea"), dir.path().join("100.hea")).expect("copy");
    let record = Record::open(dir.path().join("100.hea")).expect("header alone opens");
    assert_eq!(record.missing_files().len(), 1);
    let err = record.read_raw(0).expect_err("no data file");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("100.dat"), "{err}");
    assert!(read_annotations(dir.path().join("100.atr")).is_err());
}

#[test]
fn single_and_multi_segment_openers_point_to_each_other() {
    let multi = data_dir().join("mimic3wdb-matched/s25047/s25047-2704-05-04-10-44.hea");
    let err = Record::open(&multi).expect_err("multi-segment via Record");
    assert!(err.to_string().contains("MultiRecord::open"), "{err}");
    let err = MultiRecord::open(data_dir().join("mitdb/100.hea")).expect_err("single via Multi");
    assert!(err.to_string().contains("Record::open"), "{err}");
}

#[test]
fn asking_for_a_signal_that_does_not_exist() {
    let record = Record::open(data_dir().join("mitdb/100.hea")).expect("opens");
    let err = record.read_raw(2).expect_err("only two signals");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        err.to_string(),
        "signal index 2 out of range: record `100` has 2 signals"
    );
}
