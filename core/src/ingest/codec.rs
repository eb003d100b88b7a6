//! The ECG block codec: integer samples, delta-encoded (consecutive ECG
//! samples differ little), zigzag + LEB128 varints, then zstd. Lossless, so a
//! replayed recording comes back bit-exact. Missing samples are kept with a
//! presence bitmap.

use crate::error::{Error, Result};

/// Codec ids stored in `ecg_blocks.encoding`: never renumber.
pub const DELTA_VARINT_ZSTD: i64 = 1;
pub const DELTA_VARINT_ZSTD_WITH_GAPS: i64 = 2;

const ZSTD_LEVEL: i32 = 3;

/// Encodes samples; returns the codec id and the bytes.
pub fn encode(samples: &[Option<i32>]) -> Result<(i64, Vec<u8>)> {
    let mut raw = Vec::with_capacity(samples.len() * 2);
    let gaps = samples.iter().any(Option::is_none);
    if gaps {
        let mut bitmap = vec![0u8; samples.len().div_ceil(8)];
        for (i, s) in samples.iter().enumerate() {
            if s.is_some() {
                bitmap[i / 8] |= 1 << (i % 8);
            }
        }
        raw.extend_from_slice(&bitmap);
    }
    let mut prev: i64 = 0;
    for s in samples.iter().flatten() {
        let v = i64::from(*s);
        let delta = v - prev;
        prev = v;
        let mut z = ((delta << 1) ^ (delta >> 63)) as u64; // zigzag
        loop {
            let byte = (z & 0x7f) as u8;
            z >>= 7;
            if z == 0 {
                raw.push(byte);
                break;
            }
            raw.push(byte | 0x80);
        }
    }
    let compressed = COMPRESSOR
        .with(|c| match &mut *c.borrow_mut() {
            Ok(c) => c.compress(&raw),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        })
        .map_err(|e| Error::InvalidInput {
            what: "ECG block",
            reason: format!("cannot compress: {e}"),
        })?;
    Ok((
        if gaps {
            DELTA_VARINT_ZSTD_WITH_GAPS
        } else {
            DELTA_VARINT_ZSTD
        },
        compressed,
    ))
}

thread_local! {
    // One zstd context per thread, made once: creating one per block
    // allocated and zeroed its tables every second per patient (about 3 % of
    // the writer's time in the pipeline benchmark). The context is reset by
    // every call, so a block's bytes do not depend on the blocks before it.
    static COMPRESSOR: std::cell::RefCell<std::io::Result<zstd::bulk::Compressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Compressor::new(ZSTD_LEVEL));
    static DECOMPRESSOR: std::cell::RefCell<std::io::Result<zstd::bulk::Decompressor<'static>>> =
        std::cell::RefCell::new(zstd::bulk::Decompressor::new());
}

/// Decodes `n` samples stored with codec `encoding`.
pub fn decode(encoding: i64, bytes: &[u8], n: usize) -> Result<Vec<Option<i32>>> {
    let corrupt = |why: &str| Error::InvalidInput {
        what: "stored ECG block",
        reason: why.to_owned(),
    };
    // Upper bound: bitmap + 5 bytes per i32 delta (a delta needs at most 33 bits → 5 bytes).
    let raw = DECOMPRESSOR
        .with(|d| match &mut *d.borrow_mut() {
            Ok(d) => d.decompress(bytes, n.div_ceil(8) + n * 5 + 16),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        })
        .map_err(|e| corrupt(&format!("zstd: {e}")))?;
    let (present, mut rest): (Vec<bool>, &[u8]) = match encoding {
        DELTA_VARINT_ZSTD => (vec![true; n], &raw[..]),
        DELTA_VARINT_ZSTD_WITH_GAPS => {
            let len = n.div_ceil(8);
            if raw.len() < len {
                return Err(corrupt("bitmap truncated"));
            }
            let bitmap = &raw[..len];
            (
                (0..n)
                    .map(|i| bitmap[i / 8] & (1 << (i % 8)) != 0)
                    .collect(),
                &raw[len..],
            )
        }
        other => return Err(corrupt(&format!("unknown codec {other}"))),
    };
    let mut out = Vec::with_capacity(n);
    let mut prev: i64 = 0;
    for p in present {
        if !p {
            out.push(None);
            continue;
        }
        let mut z: u64 = 0;
        let mut shift = 0;
        loop {
            let (&byte, tail) = rest
                .split_first()
                .ok_or_else(|| corrupt("samples truncated"))?;
            rest = tail;
            z |= u64::from(byte & 0x7f) << shift;
            shift += 7;
            if byte & 0x80 == 0 {
                break;
            }
            if shift > 63 {
                return Err(corrupt("varint too long"));
            }
        }
        let delta = ((z >> 1) as i64) ^ -((z & 1) as i64);
        prev += delta;
        out.push(Some(
            i32::try_from(prev).map_err(|_| corrupt("sample out of range"))?,
        ));
    }
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_and_without_gaps_and_extremes() -> Result<()> {
        let cases: Vec<Vec<Option<i32>>> = vec![
            vec![],
            vec![Some(995), Some(1011), Some(1020), Some(-4)],
            vec![Some(i32::MIN), Some(i32::MAX), Some(0), Some(i32::MIN)],
            vec![None, Some(3), None, None, Some(-7), Some(8)],
        ];
        for c in cases {
            let (enc, bytes) = encode(&c)?;
            assert_eq!(decode(enc, &bytes, c.len())?, c);
        }
        Ok(())
    }

    #[test]
    fn corrupt_block_is_an_error_not_a_panic() -> Result<()> {
        let (enc, mut bytes) = encode(&[Some(1), Some(2), Some(3)])?;
        assert!(decode(enc, &bytes, 4).is_err(), "wrong count");
        assert!(decode(9, &bytes, 3).is_err(), "unknown codec");
        bytes.truncate(bytes.len() / 2);
        assert!(decode(enc, &bytes, 3).is_err(), "truncated");
        Ok(())
    }

    #[test]
    fn smooth_ecg_compresses_well() -> Result<()> {
        let s: Vec<Option<i32>> = (0..2500)
            .map(|i| Some((200.0 * (i as f64 / 40.0).sin()) as i32))
            .collect();
        let (_, bytes) = encode(&s)?;
        assert!(
            bytes.len() < s.len(),
            "{} bytes for {} samples",
            bytes.len(),
            s.len()
        );
        Ok(())
    }
}
