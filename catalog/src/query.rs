//! Shorthands the catalogue's queries accept on top of tantivy's query
//! language (docs/catalog.md): a date field with a day, month or year
//! means that whole span.
//!
//! - `date:2026-03` → `date:[2026-03-01T00:00:00Z TO 2026-04-01T00:00:00Z}`
//! - `created:2026`, `date:2026-03-05` likewise;
//! - `date:>=2026-03`, `date:>2026-03` (after March), `date:<2026-03`,
//!   `date:<=2026-03` (up to the end of March).
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

/// Rewrites one whitespace-delimited token, or `None` to keep it.
fn token(t: &str) -> Result<Option<String>, String> {
    let (sign, rest) = match t.strip_prefix(['+', '-']) {
        Some(r) => (&t[..1], r),
        None => ("", t),
    };
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
        assert!(rewrite("date:2026-13").is_err());
    }
}
