//! Text that reaches a terminal, a log or a notification: characters that
//! could make it lie are escaped. A name read from a registry, a stream or
//! a command line may hold an ESC (terminal control sequences can move the
//! cursor, rewrite earlier lines, retitle the window), a newline (a forged
//! extra line) or a bidirectional override (U+202E shows `exe.txt` as
//! `txt.exe`: the "Trojan Source" attack, CVE-2021-42574, Unicode TR #9).
//! They are shown as `\u{…}` escapes, so the reader sees that something is
//! there and what it is.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal raw: the C0 and C1 controls and
/// DEL (Unicode general category Cc), and the invisible formatting
/// characters that reorder or hide text: the bidirectional embeddings,
/// overrides and isolates (U+202A–U+202E, U+2066–U+2069), the directional
/// marks (U+200E, U+200F, U+061C), zero-width characters (U+200B–U+200D,
/// U+2060, U+FEFF) and the line and paragraph separators (U+2028, U+2029).
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200B}'..='\u{200F}'
                | '\u{061C}'
                | '\u{2060}'
                | '\u{FEFF}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// `s` with every unsafe character (see [`is_unsafe`]) shown as `\u{XX}`;
/// borrowed, and free, when there is none.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(is_unsafe) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// [`printable`] for whole lines of output: newlines and tabs between
/// fields are the output's own and stay; every other unsafe character is
/// escaped. For text whose every field went through [`printable`] already
/// this changes nothing.
pub fn printable_lines(s: &str) -> Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && c != '\t' && is_unsafe(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c != '\n' && c != '\t' && is_unsafe(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// JSON output with every unsafe character inside its strings written as a
/// `\uXXXX` escape (which JSON parsers read back as the same character):
/// `serde_json` escapes the C0 controls but leaves DEL, the C1 controls and
/// the bidirectional overrides raw. Unsafe characters occur in JSON text
/// only inside strings, so this stays valid JSON with the same value.
pub fn json_escaped(json: &str) -> Cow<'_, str> {
    if !json.chars().any(is_unsafe) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 8);
    for c in json.chars() {
        if is_unsafe(c) && c != '\n' {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Query parameters whose values are credentials (OAuth 2.0's
/// `access_token`, RFC 6750 §2.3; AWS SigV4's presigned `X-Amz-Signature`,
/// `X-Amz-Credential`, `X-Amz-Security-Token`; Azure's `sig`; and the
/// usual `token`, `key`, `secret`, `password` spellings), compared without
/// case, `-` or `_`.
const SECRET_PARAMS: &[&str] = &[
    "accesstoken",
    "token",
    "apikey",
    "key",
    "secret",
    "clientsecret",
    "password",
    "passwd",
    "pwd",
    "pass",
    "auth",
    "authorization",
    "sig",
    "signature",
    "xamzsignature",
    "xamzcredential",
    "xamzsecuritytoken",
    "sessiontoken",
    "refreshtoken",
    "idtoken",
];

fn is_secret_param(name: &str) -> bool {
    let norm: String = name
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_PARAMS.contains(&norm.as_str())
}

/// Whether a URL carries a credential: a `user:password@` part or a query
/// parameter named like one (see [`SECRET_PARAMS`]).
pub fn url_has_secret(url: &str) -> bool {
    redact_secrets(url) != url
}

/// `s` (a URL, or any text that quotes URLs, such as an HTTP client's
/// error) with credentials replaced by `***`: the userinfo of every
/// `scheme://user:password@host`, and the value of every query parameter
/// named like a credential. What lists, status, alarms, audit details and
/// logs show of a source's URL.
pub fn redact_secrets(s: &str) -> Cow<'_, str> {
    let mut out = String::with_capacity(s.len());
    let mut changed = false;
    let mut rest = s;
    // Userinfo: between "://" and the last '@' before the authority ends.
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#') || c.is_whitespace() || "\"'<>)".contains(c)
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&tail[at..end]);
                changed = true;
            }
            None => out.push_str(&tail[..end]),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    // Query parameters: NAME=VALUE after '?', '&' or ';'.
    let text = out;
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let bytes = text.as_bytes();
    while i < bytes.len() {
        let c = bytes[i];
        out.push(c as char);
        i += 1;
        if c != b'?' && c != b'&' && c != b';' {
            // Copy the rest of a multi-byte character whole.
            if c >= 0x80 {
                out.pop();
                let ch_start = i - 1;
                let ch = text[ch_start..].chars().next().unwrap_or('\u{fffd}');
                out.push(ch);
                i = ch_start + ch.len_utf8();
            }
            continue;
        }
        let name_end = text[i..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
            .map_or(text.len(), |n| i + n);
        if name_end < text.len() && bytes[name_end] == b'=' && is_secret_param(&text[i..name_end]) {
            let value_end = text[name_end + 1..]
                .find(|c: char| {
                    matches!(c, '&' | '#' | ';') || c.is_whitespace() || "\"'<>)".contains(c)
                })
                .map_or(text.len(), |n| name_end + 1 + n);
            out.push_str(&text[i..=name_end]);
            if value_end > name_end + 1 {
                out.push_str("***");
                changed = true;
            }
            i = value_end;
        }
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(s)
    }
}

/// `bytes` as lowercase hex digits (key ids, seals, tokens).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of an even-length string of hex digits; None for anything else.
pub fn from_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_newline_and_overrides_are_shown_not_obeyed() {
        assert_eq!(printable("nurse.kim"), "nurse.kim");
        assert_eq!(printable("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\ny"), "x\\u{a}y");
        assert_eq!(printable("doc\u{202e}fdp.exe"), "doc\\u{202e}fdp.exe");
        assert_eq!(printable("Zoë Ünal 李"), "Zoë Ünal 李");
        assert_eq!(printable_lines("a\tb\nc\u{9b}d\n"), "a\tb\nc\\u{9b}d\n");
    }

    #[test]
    fn credentials_in_urls_and_error_texts_are_masked() {
        let cases = [
            ("http://gw:8700/stream", "http://gw:8700/stream"),
            (
                "https://alice:s3cret@gw/ward?x=1",
                "https://***@gw/ward?x=1",
            ),
            (
                "https://gw/s?ward=A&access_token=abc.def&n=2",
                "https://gw/s?ward=A&access_token=***&n=2",
            ),
            ("https://gw/s?API-KEY=k1#f", "https://gw/s?API-KEY=***#f"),
            (
                "error sending request for url (https://bob:pw@gw/s?sig=zz): refused",
                "error sending request for url (https://***@gw/s?sig=***): refused",
            ),
            (
                "https://gw/s?monkey=1&keyboard=2",
                "https://gw/s?monkey=1&keyboard=2",
            ),
            ("Zoë https://gw/ü?token=t ü", "Zoë https://gw/ü?token=*** ü"),
        ];
        for (raw, shown) in cases {
            assert_eq!(redact_secrets(raw), shown, "{raw}");
            assert_eq!(url_has_secret(raw), raw != shown, "{raw}");
        }
    }

    #[test]
    fn json_stays_json_with_the_same_value() {
        let v = serde_json::json!({ "name": "a\u{202e}b\u{7f}c\u{1b}" });
        let text = serde_json::to_string_pretty(&v).expect("json");
        let safe = json_escaped(&text);
        assert!(!safe.chars().any(|c| c != '\n' && is_unsafe(c)), "{safe}");
        let back: serde_json::Value = serde_json::from_str(&safe).expect("still json");
        assert_eq!(back, v);
    }
}
