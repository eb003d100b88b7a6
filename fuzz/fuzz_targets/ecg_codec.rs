//! The ECG block codec: a stored block, damaged or not, decodes to samples
//! or an error, never a panic; and any samples round-trip exactly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wardwatch_core::ingest::codec::{decode, encode};

fuzz_target!(|input: &[u8]| {
    let Some((head, body)) = input.split_first_chunk::<3>() else {
        return;
    };
    // As a stored block: the codec id and sample count a row would give.
    let encoding = i64::from(head[0] % 4);
    let n = usize::from(u16::from_le_bytes([head[1], head[2]]));
    let _ = decode(encoding, body, n);
    // As samples: 4 bytes each, a gap where the top byte says so.
    let samples: Vec<Option<i32>> = body
        .chunks_exact(4)
        .map(|c| {
            let v = i32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            (c[3] != 0x80).then_some(v >> 4)
        })
        .collect();
    if let Ok((encoding, bytes)) = encode(&samples) {
        let back = decode(encoding, &bytes, samples.len()).expect("a block just encoded decodes");
        assert_eq!(back, samples, "the codec changed the samples");
    }
});
