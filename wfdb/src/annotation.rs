//! MIT-format annotation files (`.atr` and friends): sample positions, types
//! and the optional subtype, channel, number and aux string of each annotation.
//!
//! Format per PhysioNet's `annot(5)`: a stream of 16-bit little-endian words,
//! each with a 6-bit code `A` (high bits) and a 10-bit value `I` (low bits).
//! - `A` in 1..=49: an annotation of type `A`, `I` samples after the previous one.
//! - `A = 59` (SKIP): the next 4 bytes hold a 32-bit interval (PDP-11 order:
//!   high 16-bit word first, each word little-endian) added to the time of the
//!   next annotation; it exists because `I` only spans 0..=1023.
//! - `A = 60` (NUM), `61` (SUB), `62` (CHN): set the `num`, `subtyp`, `chan`
//!   field of the annotation just read; `num` and `chan` carry over to later
//!   annotations until changed, `subtyp` does not.
//! - `A = 63` (AUX): `I` bytes of aux text follow (padded to an even count),
//!   attached to the annotation just read.
//! - `A = 0, I = 0`: end of file. (`A = 0` with `I > 0` is a `NOTQRS` annotation.)

use std::path::Path;

use crate::error::{Error, Result};

/// One annotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// Sample index from the start of the record.
    pub sample: u64,
    /// Annotation type code (`anntyp`), see [`symbol_for_code`].
    pub code: u8,
    pub subtype: i8,
    pub channel: u8,
    pub num: i8,
    /// Aux text, e.g. `(N` for a rhythm label; trailing NULs removed.
    pub aux: Option<String>,
}

impl Annotation {
    /// The mnemonic (`N`, `V`, `+`, …) of this annotation's type.
    pub fn symbol(&self) -> &'static str {
        symbol_for_code(self.code)
    }

    /// Whether this annotation marks a beat (see [`is_beat`]).
    pub fn is_beat(&self) -> bool {
        is_beat(self.symbol())
    }
}

/// Mnemonics of annotation codes 0..=41 as defined in WFDB's `ecgcodes.h`;
/// unused codes map to the empty string.
const SYMBOLS: [&str; 42] = [
    " ", "N", "L", "R", "a", "V", "F", "J", "A", "S", "E", "j", "/", "Q", "~", "", "|", "", "s",
    "T", "*", "D", "\"", "=", "p", "B", "^", "t", "+", "u", "?", "!", "[", "]", "e", "n", "@", "x",
    "f", "(", ")", "r",
];

/// The mnemonic for an annotation code, or `""` for codes without one.
pub fn symbol_for_code(code: u8) -> &'static str {
    SYMBOLS.get(usize::from(code)).copied().unwrap_or("")
}

/// The beat symbols used by PhysioNet's beat-by-beat comparison (`bxb`):
/// `N L R B A a J S V r F e j n E / f Q ?`.
pub fn is_beat(symbol: &str) -> bool {
    matches!(
        symbol,
        "N" | "L"
            | "R"
            | "B"
            | "A"
            | "a"
            | "J"
            | "S"
            | "V"
            | "r"
            | "F"
            | "e"
            | "j"
            | "n"
            | "E"
            | "/"
            | "f"
            | "Q"
            | "?"
    )
}

const SKIP: u16 = 59;
const NUM: u16 = 60;
const SUB: u16 = 61;
const CHN: u16 = 62;
const AUX: u16 = 63;

/// Reads an MIT-format annotation file.
pub fn read_annotations(path: impl AsRef<Path>) -> Result<Vec<Annotation>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_annotations(&bytes, path)
}

/// Parses MIT-format annotation bytes; `path` only labels errors.
pub fn parse_annotations(bytes: &[u8], path: &Path) -> Result<Vec<Annotation>> {
    let err = |offset: usize, message: &str| Error::Annotation {
        path: path.to_path_buf(),
        offset,
        message: message.to_string(),
    };
    let mut out: Vec<Annotation> = Vec::new();
    let mut time: i64 = 0;
    let (mut num, mut channel) = (0i8, 0u8);
    let mut pos = 0usize;
    while pos < bytes.len() {
        let Some(word) = bytes.get(pos..pos + 2) else {
            return Err(err(pos, "file ends in the middle of a 16-bit word"));
        };
        let word = u16::from_le_bytes([word[0], word[1]]);
        let (code, value) = (word >> 10, word & 0x03ff);
        let at = pos;
        pos += 2;
        match code {
            0 if value == 0 => return Ok(out),
            SKIP => {
                let Some(b) = bytes.get(pos..pos + 4) else {
                    return Err(err(at, "SKIP interval is truncated"));
                };
                let high = u32::from(u16::from_le_bytes([b[0], b[1]]));
                let low = u32::from(u16::from_le_bytes([b[2], b[3]]));
                time += i64::from(((high << 16) | low) as i32);
                pos += 4;
            }
            NUM | SUB | CHN | AUX => {
                let Some(last) = out.last_mut() else {
                    return Err(err(at, "NUM/SUB/CHN/AUX word before any annotation"));
                };
                match code {
                    NUM => {
                        num = value as u8 as i8;
                        last.num = num;
                    }
                    SUB => last.subtype = value as u8 as i8,
                    CHN => {
                        channel = value as u8;
                        last.channel = channel;
                    }
                    _ => {
                        let len = usize::from(value);
                        let Some(text) = bytes.get(pos..pos + len) else {
                            return Err(err(at, "aux string runs past the end of the file"));
                        };
                        let text = String::from_utf8_lossy(text);
                        last.aux = Some(text.trim_end_matches('\0').to_string());
                        pos += len + len % 2;
                    }
                }
            }
            _ => {
                time += i64::from(value);
                let sample =
                    u64::try_from(time).map_err(|_| err(at, "annotation time is negative"))?;
                out.push(Annotation {
                    sample,
                    code: code as u8,
                    subtype: 0,
                    channel,
                    num,
                    aux: None,
                });
            }
        }
    }
    // A missing end-of-file word is tolerated: some writers omit it.
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn word(code: u16, value: u16) -> [u8; 2] {
        ((code << 10) | value).to_le_bytes()
    }

    fn parse(bytes: &[u8]) -> Result<Vec<Annotation>> {
        parse_annotations(bytes, Path::new("t.atr"))
    }

    #[test]
    fn rhythm_label_with_aux_then_beat() {
        // The start of mitdb 100.atr: `+` at 18 with aux "(N", then N at 77.
        let mut b = Vec::new();
        b.extend(word(28, 18));
        b.extend(word(AUX, 3));
        b.extend(b"(N\0\0");
        b.extend(word(1, 59));
        b.extend(word(0, 0));
        let a = parse(&b).unwrap();
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].sample, a[0].symbol(), a[0].aux.as_deref()),
            (18, "+", Some("(N"))
        );
        assert_eq!(
            (a[1].sample, a[1].symbol(), a[1].aux.as_deref()),
            (77, "N", None)
        );
        assert!(!a[0].is_beat() && a[1].is_beat());
    }

    #[test]
    fn skip_adds_a_pdp11_long_interval() {
        let mut b = Vec::new();
        b.extend(word(SKIP, 0));
        // 0x0001_0002 = 65538 written high word first.
        b.extend([0x01, 0x00, 0x02, 0x00]);
        b.extend(word(5, 10));
        let a = parse(&b).unwrap();
        assert_eq!((a[0].sample, a[0].symbol()), (65_548, "V"));
    }

    #[test]
    fn num_and_chan_persist_subtype_does_not() {
        let mut b = Vec::new();
        b.extend(word(1, 10));
        b.extend(word(NUM, 3));
        b.extend(word(CHN, 1));
        b.extend(word(SUB, 2));
        b.extend(word(1, 10));
        let a = parse(&b).unwrap();
        assert_eq!((a[0].num, a[0].channel, a[0].subtype), (3, 1, 2));
        assert_eq!((a[1].num, a[1].channel, a[1].subtype), (3, 1, 0));
    }

    #[test]
    fn truncated_input_is_an_error_with_offset() {
        let cases: [(&[u8], usize); 4] = [
            (&[0x12], 0),
            (&[0x12, 0x70, 0x03, 0xfc, b'(', b'N'], 2),
            (&[0x00, 0xec, 0x01], 0),
            (&[0x03, 0xf0], 0),
        ];
        for (bytes, offset) in cases {
            match parse(bytes) {
                Err(Error::Annotation { offset: o, .. }) => assert_eq!(o, offset, "{bytes:?}"),
                other => panic!("{bytes:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn beat_symbols() {
        for s in "N L R B A a J S V r F e j n E / f Q ?".split(' ') {
            assert!(is_beat(s), "{s}");
        }
        for s in ["+", "~", "|", "\"", "x", "[", "!"] {
            assert!(!is_beat(s), "{s}");
        }
    }
}
