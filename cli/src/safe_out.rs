//! Standard output as a terminal can take it: every character that could
//! make the output lie (see `wardwatch_core::text`) is written as a
//! `\uXXXX` escape, except the newlines and tabs that lay the output out.
//! That escape is also valid inside a JSON string and reads back as the
//! same character, so `--json` output stays exact JSON (and unsafe
//! characters occur in JSON only inside strings). Names, alarm notes,
//! reasons and errors all pass through here, whoever typed them.

use std::io::{self, Write};

use wardwatch_core::text::is_unsafe;

#[derive(Debug)]
pub struct SafeOut<W: Write> {
    inner: W,
    /// The start of a UTF-8 sequence split across writes.
    pending: Vec<u8>,
}

impl<W: Write> SafeOut<W> {
    pub fn new(inner: W) -> SafeOut<W> {
        SafeOut {
            inner,
            pending: Vec::new(),
        }
    }

    fn emit(&mut self, text: &str) -> io::Result<()> {
        let mut start = 0;
        for (i, c) in text.char_indices() {
            if c != '\n' && c != '\t' && is_unsafe(c) {
                self.inner.write_all(&text.as_bytes()[start..i])?;
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(self.inner, "\\u{u:04x}")?;
                }
                start = i + c.len_utf8();
            }
        }
        self.inner.write_all(&text.as_bytes()[start..])
    }
}

impl<W: Write> Write for SafeOut<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.pending.extend_from_slice(buf);
        let bytes = std::mem::take(&mut self.pending);
        let mut rest = &bytes[..];
        loop {
            match std::str::from_utf8(rest) {
                Ok(text) => {
                    self.emit(text)?;
                    break;
                }
                Err(e) => {
                    let (good, bad) = rest.split_at(e.valid_up_to());
                    self.emit(std::str::from_utf8(good).unwrap_or_default())?;
                    match e.error_len() {
                        // Not text: passed on as it is.
                        Some(n) => {
                            self.inner.write_all(&bad[..n])?;
                            rest = &bad[n..];
                        }
                        // A sequence the next write completes.
                        None => {
                            self.pending = bad.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            self.inner.write_all(&pending)?;
        }
        self.inner.flush()
    }
}

impl<W: Write> Drop for SafeOut<W> {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(parts: &[&[u8]]) -> String {
        let mut out = SafeOut::new(Vec::new());
        for p in parts {
            out.write_all(p).expect("write");
        }
        out.flush().expect("flush");
        String::from_utf8(std::mem::take(&mut out.inner)).expect("utf8")
    }

    #[test]
    fn controls_and_overrides_are_escaped_and_layout_is_kept() {
        assert_eq!(
            through(&[
                "ok\tZoë\n".as_bytes(),
                "evil\u{1b}[2J\u{202e}gpj.exe\n".as_bytes()
            ]),
            "ok\tZoë\nevil\\u001b[2J\\u202egpj.exe\n"
        );
    }

    #[test]
    fn a_character_split_across_writes_is_whole_again() {
        let rlo = "\u{202e}".as_bytes();
        let e = "é".as_bytes();
        assert_eq!(
            through(&[&[b'a', rlo[0]], &rlo[1..], &[e[0]], &[e[1], b'\n']]),
            "a\\u202eé\n"
        );
    }

    #[test]
    fn json_output_reads_back_as_the_same_value() {
        let v = serde_json::json!({ "actor": "x\u{202e}\u{7f}\u{85}y" });
        let json = through(&[serde_json::to_string_pretty(&v).expect("json").as_bytes()]);
        assert!(!json.chars().any(|c| c != '\n' && is_unsafe(c)));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&json).expect("json"),
            v
        );
    }
}
