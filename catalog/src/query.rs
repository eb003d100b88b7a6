//! Shorthands the catalogue's queries accept on top of tantivy's query
//! language (docs/catalog.md): a date field with a day, month or year
//! means that whole span.
//!
//! - `date:2026-03` → `date:[2026-03-01T00:00:00Z TO 2026-04-01T00:00:00Z}`
//! - `created:2026`, `date:2026-03-05` likewise;
//! - `date:>=2026-03`, `date:>2026-03` (after March), `date:<2026-03`,
//!   `date:<=2026-03` (up to the end of March).
//!
//! A word ending in `*` is a prefix (tantivy's own parser would drop the
//! star and look for the word itself):
//!
//! - `quarant*` → any of the text fields having a word that starts so;
//! - `column:sp*` (a text field: lowercased, one word);
//! - `dataset:vital*`, `id:raw/observations/*` (a keyword field: as typed).
//!
//! Anything else passes through unchanged, quoted phrases included.

use chrono::{Months, NaiveDate};

/// The date fields.
const DATE_FIELDS: [&str; 5] = ["date", "first", "last", "created", "modified"];

/// The span `[start, end)` a short date names, as RFC 3339.
fn span(value: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = value.split('-').collect();
    let num = |s: &str, len: usize| {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<u32>().ok())
            .flatten()
    };
    let (start, end) = match parts.as_slice() {
        [y] => {
            let s = NaiveDate::from_ymd_opt(num(y, 4)? as i32, 1, 1)?;
            (s, s.checked_add_months(Months::new(12))?)
        }
        [y, m] => {
            let s = NaiveDate::from_ymd_opt(num(y, 4)? as i32, num(m, 2)?, 1)?;
            (s, s.checked_add_months(Months::new(1))?)
        }
        [y, m, d] => {
            let s = NaiveDate::from_ymd_opt(num(y, 4)? as i32, num(m, 2)?, num(d, 2)?)?;
            (s, s.succ_opt()?)
        }
        _ => return None,
    };
    let f = |d: NaiveDate| format!("{}T00:00:00Z", d.format("%Y-%m-%d"));
    Some((f(start), f(end)))
}

/// The tokenized (full-text) fields, which are also the default fields.
pub const TEXT_FIELDS: [&str; 5] = ["name", "description", "column", "changes", "text"];

/// `prefix` as a regular expression matching the terms that start with it,
/// inside tantivy's `/…/` (its own slash escaped).
fn prefix_regex(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if "\\.+*?()|[]{}^$#&-~/".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out.push_str(".*");
    out
}

/// A `word*` or `field:word*` token as regex queries on the term
/// dictionary, or `None` when `rest` is not a prefix.
fn prefix(sign: &str, rest: &str, t: &str) -> Result<Option<String>, String> {
    let Some(body) = rest.strip_suffix('*') else {
        return Ok(None);
    };
    if body.contains(['"', '[', '{', '*']) || body.ends_with(':') && body.len() > 1 {
        return Ok(None);
    }
    let (field, word) = match body.split_once(':') {
        Some((f, w)) => (Some(f), w),
        None => (None, body),
    };
    let text = field.is_none_or(|f| TEXT_FIELDS.contains(&f));
    if word.is_empty() || text && !word.chars().all(char::is_alphanumeric) {
        return Err(format!(
            "`{t}`: a prefix is the start of one word (letters and digits), such as `quarant*`"
        ));
    }
    let word = if text {
        word.to_lowercase()
    } else {
        word.to_owned()
    };
    let re = prefix_regex(&word);
    Ok(Some(match field {
        Some(f) => format!("{sign}{f}:/{re}/"),
        None => {
            let any: Vec<String> = TEXT_FIELDS.iter().map(|f| format!("{f}:/{re}/")).collect();
            format!("{sign}({})", any.join(" OR "))
        }
    }))
}

/// Rewrites one whitespace-delimited token, or `None` to keep it.
fn token(t: &str) -> Result<Option<String>, String> {
    let (sign, rest) = match t.strip_prefix(['+', '-']) {
        Some(r) => (&t[..1], r),
        None => ("", t),
    };
    if let Some(p) = prefix(sign, rest, t)? {
        return Ok(Some(p));
    }
    let Some((field, value)) = rest.split_once(':') else {
        return Ok(None);
    };
    if !DATE_FIELDS.contains(&field) || value.starts_with(['[', '{']) || value.contains('T') {
        return Ok(None);
    }
    let (op, date) = ["<=", ">=", "<", ">"]
        .iter()
        .find_map(|op| value.strip_prefix(op).map(|d| (*op, d)))
        .unwrap_or(("", value));
    let Some((start, end)) = span(date) else {
        return Err(format!(
            "`{t}`: a date is YYYY, YYYY-MM, YYYY-MM-DD or RFC 3339 (2026-03-01T00:00:00Z)"
        ));
    };
    Ok(Some(match op {
        "" => format!("{sign}{field}:[{start} TO {end}}}"),
        ">=" => format!("{sign}{field}:>={start}"),
        ">" => format!("{sign}{field}:>={end}"),
        "<" => format!("{sign}{field}:<{start}"),
        _ => format!("{sign}{field}:<{end}"),
    }))
}

/// The query with its date shorthands expanded.
pub fn rewrite(query: &str) -> Result<String, String> {
    let mut out = String::with_capacity(query.len() + 32);
    let mut quoted = false;
    let mut depth = 0i32;
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| -> Result<(), String> {
        if !word.is_empty() {
            match token(word)? {
                Some(t) => out.push_str(&t),
                None => out.push_str(word),
            }
            word.clear();
        }
        Ok(())
    };
    for ch in query.chars() {
        match ch {
            '"' => {
                quoted = !quoted;
                word.push(ch);
            }
            '[' | '{' if !quoted => {
                depth += 1;
                word.push(ch);
            }
            ']' | '}' if !quoted => {
                depth -= 1;
                word.push(ch);
            }
            '(' | ')' if !quoted && depth == 0 => {
                flush(&mut word, &mut out)?;
                out.push(ch);
            }
            c if c.is_whitespace() && !quoted && depth <= 0 => {
                flush(&mut word, &mut out)?;
                out.push(c);
            }
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_dates_become_spans_and_everything_else_stays() {
        assert_eq!(
            rewrite("zone:curated date:2026-03").as_deref(),
            Ok("zone:curated date:[2026-03-01T00:00:00Z TO 2026-04-01T00:00:00Z}")
        );
        assert_eq!(
            rewrite("(created:2026 AND -modified:2026-12-31)").as_deref(),
            Ok(
                "(created:[2026-01-01T00:00:00Z TO 2027-01-01T00:00:00Z} AND -modified:[2026-12-31T00:00:00Z TO 2027-01-01T00:00:00Z})"
            )
        );
        assert_eq!(
            rewrite("date:>2026-02 date:<=2026-03").as_deref(),
            Ok("date:>=2026-03-01T00:00:00Z date:<2026-04-01T00:00:00Z")
        );
        let kept =
            "ward:\"Cardio A\" date:[2026-03-01T00:00:00Z TO 2026-03-02T00:00:00Z} rows:>10 spo2";
        assert_eq!(rewrite(kept).as_deref(), Ok(kept));
        assert!(rewrite("date:March").is_err());
    }

    #[test]
    fn a_trailing_star_is_a_prefix_of_a_word() {
        assert_eq!(
            rewrite("Quarant* -column:SP*").as_deref(),
            Ok(
                "(name:/quarant.*/ OR description:/quarant.*/ OR column:/quarant.*/ OR changes:/quarant.*/ OR text:/quarant.*/) -column:/sp.*/"
            )
        );
        assert_eq!(
            rewrite("id:raw/observations/date=2026-03* zone:cur*").as_deref(),
            Ok("id:/raw\\/observations\\/date=2026\\-03.*/ zone:/cur.*/")
        );
        assert_eq!(
            rewrite("\"research bo\"*").as_deref(),
            Ok("\"research bo\"*")
        );
        assert!(rewrite("spo-2*").is_err());
        assert!(rewrite("date:2026-13").is_err());
    }
}
