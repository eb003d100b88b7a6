//! Sample storage formats: pure byte ⇄ sample codecs for WFDB formats 212, 16
//! and 80, the "invalid sample" sentinel of each, and the header checksum.
//!
//! Layouts follow PhysioNet's `signal(5)` specification. Samples of all
//! signals in one file are interleaved frame by frame; the codecs here work on
//! that flat stream and leave de-interleaving to the record reader.
//! - 212: pairs of 12-bit two's-complement samples in 3 bytes: byte 0 holds the
//!   low 8 bits of the first sample, the low nibble of byte 1 its high 4 bits,
//!   the high nibble of byte 1 the high 4 bits of the second sample, byte 2 its
//!   low 8 bits. A trailing odd sample takes 2 bytes.
//! - 16: 16-bit two's complement, little-endian.
//! - 80: 8-bit offset binary (stored byte minus 128).
//!
//! WFDB reserves the smallest value of each format (-2048, -32768, -128) to
//! mean "no valid sample here" (`WFDB_INVALID_SAMPLE`).

/// A supported storage format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// 12-bit packed pairs.
    F212,
    /// 16-bit little-endian.
    F16,
    /// 8-bit offset binary.
    F80,
}

impl Format {
    /// The format for a header's format code, if this reader supports it.
    pub fn from_code(code: u16) -> Option<Format> {
        match code {
            212 => Some(Format::F212),
            16 => Some(Format::F16),
            80 => Some(Format::F80),
            _ => None,
        }
    }

    pub fn code(self) -> u16 {
        match self {
            Format::F212 => 212,
            Format::F16 => 16,
            Format::F80 => 80,
        }
    }

    /// The stored value WFDB reads as "missing".
    pub fn invalid_sample(self) -> i32 {
        match self {
            Format::F212 => -2048,
            Format::F16 => -32768,
            Format::F80 => -128,
        }
    }

    /// Largest representable value.
    pub fn max_sample(self) -> i32 {
        match self {
            Format::F212 => 2047,
            Format::F16 => 32767,
            Format::F80 => 127,
        }
    }

    /// Bytes that `samples` consecutive samples occupy.
    pub fn bytes_for(self, samples: u64) -> u64 {
        match self {
            Format::F212 => samples / 2 * 3 + (samples % 2) * 2,
            Format::F16 => samples * 2,
            Format::F80 => samples,
        }
    }

    /// How many whole samples `bytes` bytes hold.
    pub fn samples_in(self, bytes: u64) -> u64 {
        match self {
            Format::F212 => bytes / 3 * 2 + u64::from(bytes % 3 == 2),
            Format::F16 => bytes / 2,
            Format::F80 => bytes,
        }
    }

    /// Decodes the first `samples` samples of `bytes`. The caller checks the
    /// length with [`Format::bytes_for`]; missing bytes decode as nothing, so
    /// the result is shorter rather than wrong.
    pub fn decode(self, bytes: &[u8], samples: usize) -> Vec<i32> {
        let mut out = Vec::with_capacity(samples);
        match self {
            Format::F16 => out.extend(
                bytes
                    .chunks_exact(2)
                    .take(samples)
                    .map(|b| i32::from(i16::from_le_bytes([b[0], b[1]]))),
            ),
            Format::F80 => out.extend(bytes.iter().take(samples).map(|&b| i32::from(b) - 128)),
            Format::F212 => {
                let sign12 = |v: i32| if v >= 2048 { v - 4096 } else { v };
                for chunk in bytes.chunks(3) {
                    if out.len() >= samples || chunk.len() < 2 {
                        break;
                    }
                    let (b0, b1) = (i32::from(chunk[0]), i32::from(chunk[1]));
                    out.push(sign12(b0 | ((b1 & 0x0f) << 8)));
                    if out.len() < samples
                        && let Some(&b2) = chunk.get(2)
                    {
                        out.push(sign12(i32::from(b2) | ((b1 & 0xf0) << 4)));
                    }
                }
            }
        }
        out
    }

    /// Encodes samples; values outside the format's range are clamped.
    /// Used by tests and by tools that write recordings.
    pub fn encode(self, samples: &[i32]) -> Vec<u8> {
        let lo = self.invalid_sample();
        let hi = self.max_sample();
        let clamp = |v: i32| v.clamp(lo, hi);
        match self {
            Format::F16 => samples
                .iter()
                .flat_map(|&v| (clamp(v) as i16).to_le_bytes())
                .collect(),
            Format::F80 => samples.iter().map(|&v| (clamp(v) + 128) as u8).collect(),
            Format::F212 => {
                let mut out = Vec::with_capacity(self.bytes_for(samples.len() as u64) as usize);
                for pair in samples.chunks(2) {
                    let a = clamp(pair[0]) & 0x0fff;
                    out.push((a & 0xff) as u8);
                    match pair.get(1) {
                        Some(&b) => {
                            let b = clamp(b) & 0x0fff;
                            out.push(((a >> 8) | ((b >> 8) << 4)) as u8);
                            out.push((b & 0xff) as u8);
                        }
                        None => out.push((a >> 8) as u8),
                    }
                }
                out
            }
        }
    }
}

/// The WFDB header checksum: the sum of all samples of a signal, modulo 2^16,
/// read as a signed 16-bit number.
pub fn checksum(samples: &[i32]) -> i16 {
    samples.iter().fold(0i32, |acc, &v| acc.wrapping_add(v)) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn format_212_known_bytes() {
        // 0x123 and -1 (0xfff): byte0 = 0x23, byte1 = 0xf1, byte2 = 0xff.
        assert_eq!(Format::F212.decode(&[0x23, 0xf1, 0xff], 2), vec![0x123, -1]);
        assert_eq!(Format::F212.encode(&[0x123, -1]), vec![0x23, 0xf1, 0xff]);
        // A trailing odd sample occupies two bytes.
        assert_eq!(Format::F212.decode(&[0x00, 0x08], 1), vec![-2048]);
        assert_eq!(Format::F212.bytes_for(3), 5);
        assert_eq!(Format::F212.samples_in(5), 3);
    }

    #[test]
    fn format_16_and_80_known_bytes() {
        assert_eq!(
            Format::F16.decode(&[0x00, 0x80, 0xff, 0x7f], 2),
            vec![-32768, 32767]
        );
        assert_eq!(Format::F80.decode(&[0, 128, 255], 3), vec![-128, 0, 127]);
    }

    #[test]
    fn short_input_decodes_shorter_not_wrong() {
        assert_eq!(Format::F16.decode(&[1, 0, 2], 5), vec![1]);
        assert_eq!(Format::F212.decode(&[1], 2), Vec::<i32>::new());
    }

    #[test]
    fn checksum_wraps_to_signed_16_bits() {
        assert_eq!(checksum(&[32767, 1]), -32768);
        assert_eq!(checksum(&[]), 0);
    }

    proptest! {
        #[test]
        fn round_trip(samples in prop::collection::vec(-2048i32..=2047, 0..200)) {
            for format in [Format::F212, Format::F16] {
                let bytes = format.encode(&samples);
                prop_assert_eq!(bytes.len() as u64, format.bytes_for(samples.len() as u64));
                prop_assert_eq!(format.decode(&bytes, samples.len()), samples.clone());
            }
            let small: Vec<i32> = samples.iter().map(|v| v / 16).collect();
            prop_assert_eq!(Format::F80.decode(&Format::F80.encode(&small), small.len()), small);
        }
    }
}
