//! The WFDB reader: a header, an annotation file and signal bytes in every
//! storage format, from a broken or hostile record, give an error, never a
//! panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wardwatch_wfdb::{Format, Header, parse_annotations};

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz.hea");
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = Header::parse(text, path);
    }
    let _ = parse_annotations(bytes, Path::new("fuzz.atr"));
    for code in [8, 16, 61, 80, 160, 212, 310, 311, 24, 32] {
        if let Some(format) = Format::from_code(code) {
            let n = format.samples_in(bytes.len() as u64) as usize;
            let _ = format.decode(bytes, n);
        }
    }
});
