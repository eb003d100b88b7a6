//! PhysioNet/CinC Challenge 2015 record a103l: format 16 inside a `.mat` file.

use wardwatch_wfdb::Record;

use crate::data_dir;

#[test]
fn a103l_mat_container_reads_82500_by_3_with_checksums() {
    let record = Record::open(data_dir().join("challenge2015/a103l.hea")).expect("header parses");
    assert_eq!(record.fs_hz(), 250.0);
    assert_eq!(record.header().comments, ["Asystole", "False alarm"]);
    let names: Vec<&str> = record
        .signals()
        .iter()
        .map(|s| s.description.as_str())
        .collect();
    assert_eq!(names, ["II", "V", "PLETH"]);
    assert!(record.signals().iter().all(|s| s.byte_offset == 24));
    for (i, first) in [(0, -171), (1, 9127), (2, 6042)] {
        let raw = record.read_raw(i).expect("signal reads");
        assert_eq!(raw.len(), 82_500);
        assert_eq!(
            raw[0], first,
            "signal {i} starts at its header's initial value"
        );
    }
    record
        .verify_checksums()
        .expect("checksums match the header");
    assert_eq!(record.signals()[0].gain_adu_per_unit, 7247.0);
    assert_eq!(record.signals()[2].units, "NU");
}
